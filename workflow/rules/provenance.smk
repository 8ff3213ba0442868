# What each output must have been built with, and the rebuild of those that were not
# (famnet/provenance.py, docs/provenance.md).
#
# Snakemake reruns a job whose params or code changed only while it holds the job's metadata. A
# run interrupted by SIGINT to Snakemake alone lets the running job finish its outputs with no
# metadata and an incomplete marker, which Snakemake then ignores for jobs after a checkpoint (all
# of ours). So every preprocess and train job has one more input, a marker file of its own under
# results/stale/ (created old, mtime 0). When the DAG is built and the job's existing outputs were
# left by an interrupted job, or record other settings than the config asks for now, the marker is
# touched: it is then newer than the outputs and Snakemake reruns the job as for any updated input
# (the dry run says "Updated input files: results/stale/..."). The marker's path never changes, so
# the set of inputs Snakemake records stays the same and nothing reruns twice; a dry run that finds
# an output stale touches its marker too, which only says what the next run would do anyway.
import functools
import os

from famnet.provenance import digest, expected_preprocess, file_digest, fused_hash, model_settings


def read_incomplete_markers():
    """Outputs Snakemake marked incomplete (.snakemake/incomplete/<urlsafe base64 of the path>,
    a long path split into '@'-prefixed parts: snakemake 9's FilePersistence), read once."""
    from base64 import urlsafe_b64decode

    root = Path(".snakemake") / "incomplete"
    paths = set()
    if not root.is_dir():
        return paths
    for marker in root.rglob("*"):
        if not marker.is_file() or marker.name == "migration_underway":
            continue
        encoded = "".join(part.lstrip("@") for part in marker.relative_to(root).parts)
        try:
            paths.add(os.path.normpath(urlsafe_b64decode(encoded).decode()))
        except ValueError:
            continue
    return paths


INCOMPLETE = read_incomplete_markers()


def resolved_device():
    """training.device with auto resolved once, when the DAG is built, and recorded in the jobs'
    training settings: the GPU is claimed when it will be used, and a CPU node never silently
    runs what the DAG planned for a GPU (or the reverse). The main process's answer travels to the
    jobs (local, SLURM's default --export) in FAMNET_RESOLVED_DEVICE. Without NVIDIA device files
    CUDA cannot be there, and torch is not imported."""
    requested = training().get("device", "auto")
    if requested != "auto":
        return requested
    if "FAMNET_RESOLVED_DEVICE" not in os.environ:
        present = Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()
        if present:
            import torch

            present = torch.cuda.is_available()
        os.environ["FAMNET_RESOLVED_DEVICE"] = "cuda" if present else "cpu"
    return os.environ["FAMNET_RESOLVED_DEVICE"]


def preprocess_section(dataset):
    """What the preprocess job of a dataset is given: the section with the dataset's fps."""
    return json.loads(preprocess_settings_json(dataset))


@functools.lru_cache(maxsize=None)
def expected_artefact(dataset):
    return expected_preprocess(preprocess_section(dataset))


def protocol_table_digest(protocol):
    """The protocol table's content hash, read once per version of the file: a table the protocol
    checkpoint rebuilds during this run is hashed again."""
    path = checkpoints.protocol.get(protocol=protocol).output.table
    return _digest_of_version(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _digest_of_version(path, mtime_ns):
    return file_digest(path)


def expected_model_settings(protocol, variant):
    """The provenance settings a trained variant's config.json must record (the train job builds
    the same from what it is passed)."""
    branch, ablation = variant_info(variant)
    return model_settings(protocol, branch, ablation or "none", method_model(branch), method_training(branch),
                          protocol_classes(protocol), protocol_aus(protocol), protocol_table_digest(protocol),
                          {d: expected_artefact(d)["hash"] for d in protocol_spec(protocol)["datasets"]},
                          method_selection(branch, ablation))


def expected_model_hash(protocol, variant):
    """The model_hash every prediction of a variant must carry (a fused one: both branches')."""
    if variant in fused_variants():
        suffix = variant[len("famnet"):]
        famnet = models().get("famnet", {})
        return fused_hash(expected_model_hash(protocol, f"amnet2d{suffix}"),
                          expected_model_hash(protocol, f"amnet3d{suffix}"),
                          famnet.get("fusion_weight", 0.5), famnet.get("fusion_mode", "softmax_mean"))
    return digest(expected_model_settings(protocol, variant))


def recorded_artefact_hash(npz):
    import numpy as np

    try:
        with np.load(npz, allow_pickle=False) as data:
            return json.loads(str(data["provenance"]))["hash"] if "provenance" in data.files else None
    except (OSError, ValueError, KeyError):
        return None


def recorded_model_hash(config_json):
    try:
        return json.loads(Path(config_json).read_text()).get("provenance", {}).get("hash")
    except (OSError, ValueError):
        return None


def stale(outputs, recorded, expected):
    """Why an existing output must be rebuilt ('' if it need not): its job was interrupted, or it
    records other settings than the config's."""
    present = [path for path in outputs if Path(path).exists()]
    if not present:
        return ""
    if any(os.path.normpath(path) in INCOMPLETE for path in outputs):
        return "incomplete"
    return "" if recorded() == expected() else "settings"


def stale_marker(kind, key, reason):
    """The job's marker path; created with mtime 0 if missing, touched now when ``reason``."""
    path = Path("results") / "stale" / kind / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (0, 0))
    if reason:
        path.touch()
    return str(path)


def stale_artefact(wildcards):
    npz = f"{PREPROCESSED}/{wildcards.dataset}/{wildcards.subject}.npz"
    outputs = [npz, f"{PREPROCESSED}/{wildcards.dataset}/{wildcards.subject}.json",
               f"results/qc/{wildcards.dataset}/{wildcards.subject}.png"]
    reason = stale(outputs, lambda: recorded_artefact_hash(npz),
                   lambda: expected_artefact(wildcards.dataset)["hash"])
    return stale_marker("preprocess", f"{wildcards.dataset}/{wildcards.subject}", reason)


def stale_model(wildcards):
    where = f"{wildcards.protocol}/{wildcards.variant}/seed{wildcards.seed}/fold{wildcards.fold}"
    folder = f"results/models/{where}"
    outputs = [f"{folder}/{name}" for name in ("model.safetensors", "config.json", "train_log.csv",
                                                "test_epochs.csv")] + [f"results/predictions/{where}.csv"]
    reason = stale(outputs, lambda: recorded_model_hash(f"{folder}/config.json"),
                   lambda: expected_model_hash(wildcards.protocol, wildcards.variant))
    return stale_marker("train", where, reason)
