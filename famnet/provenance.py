"""What built each artefact, model and predictions file, and the checks their consumers make.

Snakemake's metadata is one line of defence against a stale or mixed output; it is lost when a run
is interrupted (SIGINT to Snakemake alone lets the running job finish without a record), and a
config change then goes unseen. So every output carries its own provenance, written atomically
with it, and every consumer compares it with what the run's config asks for:

- a preprocessed artefact: the preprocess settings that shape its arrays (``preprocess_provenance``:
  the resolved section less the keys that do not change an array), in the npz itself and its
  sidecar; the train job refuses artefacts whose settings differ from the config's, or from each
  other, naming dataset, subject and the differing keys (``check_artefacts``);
- a model (config.json) and its predictions (column ``model_hash``): everything the workflow
  passes its train job (``model_settings``: protocol table content, method and ablation, model and
  training settings with the device resolved, classes, AUs, the artefacts' settings hashes); the
  evaluate job refuses predictions whose hash is not the run's (``check_model_hash``);
- a fused prediction: the two branches' hashes and the fusion settings (``fused_hash``).

The code version (``code_version``: ``git describe`` of the checkout the job ran from) and the
device are recorded beside the hash, not in it: a commit does not retrain every model, but the
table names the code and device that built each row's models (famnet.tables). docs/provenance.md
explains what triggers a rebuild and what refuses a stale input.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

# Preprocess keys that never change an artefact's arrays (how fast or how compressed it is written).
NOT_IN_ARRAYS = ("threads", "compress")


class ProvenanceError(ValueError):
    """An input built under other settings than the run asks for (or than its siblings)."""


def digest(value) -> str:
    """16 hex digits of sha256 over canonical JSON (sorted keys; tuples as lists)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_version(where=None) -> str:
    """``git describe --always --dirty`` of the checkout ``where`` (default: the one this package is
    imported from, else the working directory), or the package version outside git."""
    from famnet import __version__

    places = [where] if where else [Path(__file__).resolve().parent.parent, Path.cwd()]
    for place in places:
        try:
            return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                                  check=True, cwd=place).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
    return __version__


def differences(old, new, prefix: str = "") -> list[str]:
    """'key.sub: old -> new' for every leaf that differs between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                out.append(f"{name}: (absent) -> {json.dumps(new[key], default=str)}")
            elif key not in new:
                out.append(f"{name}: {json.dumps(old[key], default=str)} -> (absent)")
            else:
                out += differences(old[key], new[key], name)
        return out
    if json.dumps(old, sort_keys=True, default=str) == json.dumps(new, sort_keys=True, default=str):
        return []
    return [f"{prefix}: {json.dumps(old, default=str)} -> {json.dumps(new, default=str)}"]


def preprocess_provenance(settings: dict, format_name: str | None = None) -> dict:
    """{"settings", "hash"} of resolved preprocess settings (preprocess.settings.resolve, with the
    dataset's fps), less the keys in NOT_IN_ARRAYS and, for a format that declares the keys its
    preprocessing reads (famnet.datasets.formats: preprocess_keys), less every other key."""
    from famnet.datasets.formats import get_format

    used = get_format(format_name).preprocess_keys if format_name else None
    shaping = {k: v for k, v in settings.items() if k not in NOT_IN_ARRAYS and (used is None or k in used)}
    shaping = json.loads(json.dumps(shaping, default=str))
    return {"settings": shaping, "hash": digest(shaping)}


def expected_preprocess(section: dict | None, format_name: str | None = None) -> dict:
    """The provenance an artefact of a dataset must carry under a config's preprocess section
    with the dataset's fps in it (what the workflow passes the preprocess job)."""
    from preprocess.settings import resolve

    return preprocess_provenance(resolve(section), format_name)


# The manifest columns that decide what a subject's preprocessing reads and writes (its AUs and
# emotion do not: an AU-sheet edit rebuilds no artefact).
PREPROCESS_COLUMNS = ("subject", "sample", "frames_dir", "frame_pattern", "onset", "apex", "offset", "n_frames",
                      "apex_source", "fixes", "flow_file", "apex_file")


def source_files(row) -> list:
    """What one manifest row's preprocessing reads: a release's two images (read whole), or the
    sample's frame folder (every file in it)."""
    root = Path(str(row["frames_dir"]))
    if str(row.get("flow_file", "") or ""):
        return [root / str(row["flow_file"]), root / str(row["apex_file"])]
    return [root]


def _content_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file_entry(path: Path) -> list:
    """A release image by content (small, and copies keep their bytes); a frame folder by a listing
    of names, sizes and modification times (hashing every frame of a dataset would take minutes;
    a replaced or re-encoded frame changes its size or time)."""
    if path.is_dir():
        with os.scandir(path) as entries:
            listing = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())
        return [str(path), "listing", listing]
    try:
        return [str(path), "sha256", _content_hash(path)]
    except OSError:
        return [str(path), "missing"]


def path_fingerprint(path: Path) -> str:
    """A dataset root or sheet as it is now (the DVC run's data, famnet.dvc_run): a file by content,
    a folder by the listing of every file under it (relative names, sizes, modification times; the
    policy of ``_file_entry``: a whole dataset's frames would take minutes to hash)."""
    if path.is_file():
        return "sha256:" + _content_hash(path)
    if not path.is_dir():
        return "missing"
    listing = []
    for folder, subfolders, files in os.walk(path):
        subfolders.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(folder, name))
            listing.append((os.path.relpath(os.path.join(folder, name), path), stat.st_size, stat.st_mtime_ns))
    return f"listing:{len(listing)} files:" + digest(listing)


def subject_fingerprint(rows) -> str:
    """The fingerprint of what one subject's preprocessing reads: its manifest rows' preprocessing
    columns and its source files (``source_files``). Recorded in the artefact; the preprocess job
    reruns when it changes and the train job refuses an artefact whose fingerprint is not its
    files' now (docs/provenance.md)."""
    columns = [c for c in PREPROCESS_COLUMNS if c in rows.columns]
    files = [_file_entry(path) for row in rows.to_dict("records") for path in source_files(row)]
    return digest({"rows": rows[columns].astype(str).to_dict("records"), "files": files})


def data_digest(fingerprints: dict) -> str:
    """One hash of a dataset's subjects' fingerprints ({subject: fingerprint}): a model's settings
    carry it per dataset, so a changed source file retrains the models that read it."""
    return digest(dict(sorted(fingerprints.items())))


def check_artefacts(found: dict[tuple[str, str], dict | None], expected: dict[str, dict] | None = None,
                    fingerprints: dict[tuple[str, str], str] | None = None, paths: dict | None = None) -> None:
    """``found``: {(dataset, subject): the artefact's provenance or None}; ``expected``: {dataset:
    provenance} the run asks for (None: only require the artefacts of a dataset to agree);
    ``fingerprints``: {(dataset, subject): subject_fingerprint of its source files now}. Raises
    ProvenanceError naming every subject whose artefact differs, with the differing keys, or whose
    source files changed since it was built (``paths``: the artefacts, for the command that fixes it)."""
    by_dataset: dict[str, dict[str, dict]] = {}
    for (dataset, _), have in found.items():
        if have:
            by_dataset.setdefault(dataset, {}).setdefault(have["hash"], have)
    # Where the run names no settings for a dataset, its artefacts must agree: the first one found
    # stands for them when they do not.
    reference = {dataset: next(iter(hashes.values())) for dataset, hashes in by_dataset.items() if len(hashes) > 1}
    reference.update(expected or {})
    problems = []
    for (dataset, subject), have in found.items():
        want = reference.get(dataset)
        if want is None:
            continue
        if have is None:
            problems.append(f"dataset {dataset!r}, subject {subject!r}: the artefact records no provenance "
                            f"(written before it was recorded)")
        elif have["hash"] != want["hash"]:
            changed = "; ".join(differences(have["settings"], want["settings"])) or "hash only"
            problems.append(f"dataset {dataset!r}, subject {subject!r}: built with other preprocess settings "
                            f"(artefact -> {'run' if expected else 'other artefacts'}): {changed}")
    stale = []
    for key, now in (fingerprints or {}).items():
        have = found.get(key)
        if have is not None and have.get("inputs") != now:
            stale.append(key)
            problems.append(f"dataset {key[0]!r}, subject {key[1]!r}: its source files (or manifest rows) changed "
                            f"since the artefact was built (recorded {have.get('inputs') or 'nothing'}, now {now})")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        fix = "Rebuild them: rerun snakemake, which rebuilds an artefact whose settings or source files changed"
        if stale and paths:
            fix = ("Rebuild them: snakemake --forcerun " + " ".join(str(paths[k]) for k in stale[:10] if k in paths)
                   + " (then rerun as before)")
        raise ProvenanceError(f"{len(problems)} preprocessed artefact(s) do not match what this run asks for:\n  "
                              + "\n  ".join(shown) + f"\n{fix}")


def model_settings(protocol: str, branch: str, ablation: str, model: dict, training: dict, classes, aus,
                   protocol_table_digest: str, preprocess_hashes: dict[str, str], selection: dict | None = None,
                   data: dict[str, str] | None = None, code: dict | None = None) -> dict:
    """Everything that determines a fold's model but the fold and seed (recorded beside it): the
    protocol table's content (the columns the method reads: protocol_table_digest), the method, its
    model, recipe and search (famnet.selection; absent for a fixed recipe), classes and AUs, the
    artefacts' settings hashes and their source data (``data``: {dataset: data_digest}); for an
    external method, its code's identity (``code``: famnet.external.code_identity)."""
    settings = {
        "protocol": protocol, "protocol_table": protocol_table_digest, "branch": branch,
        "ablation": ablation or "none", "model": model, "training": training, "classes": list(classes),
        "aus": [int(a) for a in aus], "preprocess": dict(sorted(preprocess_hashes.items()))}
    if data is not None:
        settings["data"] = dict(sorted(data.items()))
    if selection:
        settings["selection"] = selection
    if code:
        settings["code"] = code
    return json.loads(json.dumps(settings, default=str))


def dataset_fingerprints(manifest_path, subjects=None) -> dict[str, str]:
    """{subject: subject_fingerprint} of every subject of a manifest (or of ``subjects`` only), as
    its files are now."""
    from famnet.datasets import read_manifest

    manifest = read_manifest(manifest_path)
    if subjects is not None:
        manifest = manifest[manifest["subject"].isin(set(subjects))]
    return {subject: subject_fingerprint(rows) for subject, rows in manifest.groupby("subject", sort=True)}


def train_job_settings(protocol: str, branch: str, ablation: str, model: dict, training: dict, classes, aus,
                       protocol_csv, preprocess: dict[str, dict], selection: dict | None = None,
                       fingerprints: dict[str, dict[str, str]] | None = None) -> dict:
    """The provenance settings of one train job, from what the workflow passes it: the rule
    (workflow/rules/provenance.smk, which names the model's folder by their hash) and the job
    (``famnet train``, which records them and refuses to run if its own hash differs) both call this.
    ``preprocess``: {dataset: {"format", "settings"}}; ``fingerprints``: {dataset: {subject:
    fingerprint}} of the protocol's datasets (None: not recorded)."""
    from famnet.methods import method

    artefacts = {d: expected_preprocess(p["settings"], p.get("format"))["hash"] for d, p in preprocess.items()}
    table = read_table_for_digest(protocol_csv)
    data = None
    if fingerprints is not None:     # the protocol's subjects only: another sample's file retrains nothing here
        subjects = set(table["subject"])
        data = {d: data_digest({s: f for s, f in prints.items() if s in subjects}) for d, prints in fingerprints.items()}
    code = None
    if method(branch).kind == "external":     # the user's code is not this package's: its edits retrain
        from famnet.external import ExternalSpec, code_identity
        code = code_identity(ExternalSpec.from_dict(branch, method(branch).external))
    return model_settings(protocol, branch, ablation, model, training, classes, aus,
                          table_digest(table, reads_aus=method(branch).multitask), artefacts, selection, data, code)


# Protocol table columns no model reads: an edit there retrains nothing. The AU column is read only by
# a method with an AU head (famnet.methods: multitask).
UNREAD_COLUMNS = ("emotion", "apex_source", "frames_dir", "frame_pattern", "onset", "apex", "offset")


def read_table_for_digest(path):
    """A protocol table as text cells, as its digest reads it."""
    import pandas as pd

    from famnet.io import ID_TYPES

    return pd.read_csv(path, dtype={**ID_TYPES, "aus": str}, keep_default_na=False)


def table_digest(table, reads_aus: bool = True) -> str:
    """The content hash of a protocol table (read_table_for_digest) over the columns a model reads
    (labels, folds, subjects, samples, datasets; AUs only for ``reads_aus``)."""
    unread = UNREAD_COLUMNS + (() if reads_aus else ("aus",))
    return digest(table[[c for c in table.columns if c not in unread]].to_dict("split"))


def protocol_table_digest(path, reads_aus: bool = True) -> str:
    """table_digest of the protocol table at ``path``."""
    return table_digest(read_table_for_digest(path), reads_aus)


def fused_hash(hash_2d: str, hash_3d: str, weight: float, mode: str) -> str:
    return digest({"2d": hash_2d, "3d": hash_3d, "fusion": {"weight": float(weight), "mode": mode}})


def check_model_hash(frame, expected: str, what: str, path, config_json=None, expected_settings=None) -> None:
    """Every row of a predictions file carries ``expected`` in ``model_hash``, else ProvenanceError
    naming the file (and the keys that differ, from the model's config.json when given)."""
    found = sorted(set(frame["model_hash"].astype(str))) if "model_hash" in frame else ["(none recorded)"]
    if found == [expected]:
        return
    detail = ""
    if config_json is not None and expected_settings is not None and Path(config_json).is_file():
        recorded = json.loads(Path(config_json).read_text()).get("provenance", {}).get("settings")
        if recorded is not None:
            detail = "; differing: " + ("; ".join(differences(recorded, expected_settings)) or "none listed")
    raise ProvenanceError(f"{what}: {path} comes from a model built under other settings than this run's "
                          f"(model_hash {', '.join(found)}, the run's {expected}{detail}). Its folder is named for "
                          f"the run's settings, so it was copied or edited there: rebuild it with snakemake "
                          f"--forcerun {path} (then rerun as before)")


__all__ = ["NOT_IN_ARRAYS", "PREPROCESS_COLUMNS", "UNREAD_COLUMNS", "ProvenanceError", "digest", "code_version",
           "differences", "preprocess_provenance", "expected_preprocess", "source_files", "subject_fingerprint",
           "data_digest", "dataset_fingerprints", "check_artefacts", "model_settings", "train_job_settings",
           "read_table_for_digest", "table_digest", "protocol_table_digest", "fused_hash", "check_model_hash"]
