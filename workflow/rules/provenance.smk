# What each output is built from, and the folder it is written to (famnet/provenance.py,
# docs/provenance.md).
#
# Every artefact, model and prediction lives in a folder named by the hash of what built it:
#   results/preprocessed/<dataset>/<artefact hash>/<subject>.npz   the preprocess settings its format reads
#   results/models/<protocol>/<variant>/<model hash>/seed<s>/fold<k>/   everything its train job is given,
#   results/predictions/<protocol>/<variant>/<model hash>/seed<s>/fold<k>.csv   the source data's fingerprints too
# So a changed setting or source file is a new folder: nothing is ever stale in place, nothing
# trained under other settings is overwritten (switching back finds it again), and building the DAG
# reads files but never writes one (a dry run changes nothing). Within a folder a subject's source
# files are a param of its preprocess job (Snakemake reruns it when they change) and are checked
# again by every train job. The functions here only compute; the hashes come from the same
# functions the jobs call (famnet.provenance), and each job refuses to run when its own differs.
import functools
import os

from famnet.provenance import dataset_fingerprints, digest, expected_preprocess, fused_hash, train_job_settings


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


def preprocess_spec(dataset):
    """What a train job is told of a dataset's artefacts: its format and preprocess section."""
    return {"format": dataset_spec(dataset)["format"], "settings": preprocess_section(dataset)}


@functools.lru_cache(maxsize=None)
def expected_artefact(dataset):
    return expected_preprocess(preprocess_section(dataset), dataset_spec(dataset)["format"])


def artefact_dir(dataset):
    """results/preprocessed/<dataset>/<hash of the preprocess settings its format reads>."""
    return f"{PREPROCESSED}/{dataset}/{expected_artefact(dataset)['hash']}"


def manifest_path(dataset):
    return checkpoints.manifest.get(dataset=dataset).output.manifest


def fingerprints_of(dataset):
    """{subject: fingerprint of its manifest rows and source files}, read once per manifest version."""
    path = manifest_path(dataset)
    return _fingerprints_of_version(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _fingerprints_of_version(path, mtime_ns):
    return dataset_fingerprints(path)


def subject_inputs(dataset, subject):
    """The preprocess job's param: its subject's fingerprint (a changed source file reruns it)."""
    return fingerprints_of(dataset)[f"{dataset}/{subject}"]


def protocol_csv(protocol):
    return checkpoints.protocol.get(protocol=protocol).output.table


def train_settings(protocol, variant):
    """The provenance settings of a trained variant's jobs (famnet.provenance.train_job_settings,
    which the job calls again with what the rule passes it)."""
    branch, ablation = variant_info(variant)
    datasets = protocol_spec(protocol)["datasets"]
    return _train_settings(protocol, variant, branch, ablation, protocol_csv(protocol),
                           os.stat(protocol_csv(protocol)).st_mtime_ns,
                           tuple((d, os.stat(manifest_path(d)).st_mtime_ns) for d in datasets))


@functools.lru_cache(maxsize=None)
def _train_settings(protocol, variant, branch, ablation, table, table_mtime, manifests):
    datasets = [d for d, _ in manifests]
    return train_job_settings(protocol, branch, ablation or "none", method_model(branch), method_training(branch),
                              protocol_classes(protocol), protocol_aus(protocol), table,
                              {d: preprocess_spec(d) for d in datasets}, method_selection(branch, ablation),
                              {d: fingerprints_of(d) for d in datasets})


def expected_model_hash(protocol, variant):
    """The folder name (and model_hash column) of a variant's models and predictions (a fused
    one: both branches' with the fusion settings)."""
    if variant in fused_variants():
        suffix = variant[len("famnet"):]
        famnet = models().get("famnet", {})
        return fused_hash(expected_model_hash(protocol, f"amnet2d{suffix}"),
                          expected_model_hash(protocol, f"amnet3d{suffix}"),
                          famnet.get("fusion_weight", 0.5), famnet.get("fusion_mode", "softmax_mean"))
    return digest(train_settings(protocol, variant))


def check_folder_hash(kind, found, expected):
    """A job asked for under another hash than the config's would write another setting's folder
    with this one's output: refused (such a path can only come from a target typed by hand)."""
    if found != expected:
        raise WorkflowError(f"{kind} {found} is not this config's ({expected}): its folder holds what other "
                            f"settings built. Ask for the outputs of this config (snakemake --cores N), or run with "
                            f"the config that built it")
    return found
