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


def file_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


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


def preprocess_provenance(settings: dict) -> dict:
    """{"settings", "hash"} of resolved preprocess settings (preprocess.settings.resolve, with the
    dataset's fps), less the keys in NOT_IN_ARRAYS."""
    shaping = {k: v for k, v in settings.items() if k not in NOT_IN_ARRAYS}
    shaping = json.loads(json.dumps(shaping, default=str))
    return {"settings": shaping, "hash": digest(shaping)}


def expected_preprocess(section: dict | None) -> dict:
    """The provenance an artefact of a dataset must carry under a config's preprocess section
    with the dataset's fps in it (what the workflow passes the preprocess job)."""
    from preprocess.settings import resolve

    return preprocess_provenance(resolve(section))


def check_artefacts(found: dict[tuple[str, str], dict | None], expected: dict[str, dict] | None = None) -> None:
    """``found``: {(dataset, subject): the artefact's provenance or None}; ``expected``: {dataset:
    provenance} the run asks for (None: only require the artefacts of a dataset to agree). Raises
    ProvenanceError naming every subject whose artefact differs, with the differing keys."""
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
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ProvenanceError(f"{len(problems)} preprocessed artefact(s) do not match the settings this run asks "
                              f"for:\n  " + "\n  ".join(shown) + "\nRebuild them: rerun snakemake (it rebuilds "
                              "every artefact whose recorded settings differ from the config), or delete those "
                              "artefacts' .npz files and rerun")


def model_settings(protocol: str, branch: str, ablation: str, model: dict, training: dict, classes, aus,
                   protocol_table_digest: str, preprocess_hashes: dict[str, str], selection: dict | None = None) -> dict:
    """Everything that determines a fold's model but the fold and seed (recorded beside it); a
    selected method's search (famnet.selection) too, absent for a fixed recipe."""
    settings = {
        "protocol": protocol, "protocol_table": protocol_table_digest, "branch": branch,
        "ablation": ablation or "none", "model": model, "training": training, "classes": list(classes),
        "aus": [int(a) for a in aus], "preprocess": dict(sorted(preprocess_hashes.items()))}
    if selection:
        settings["selection"] = selection
    return json.loads(json.dumps(settings, default=str))


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
                          f"(model_hash {', '.join(found)}, the run's {expected}{detail}). Rerun snakemake: it "
                          f"retrains every model whose recorded settings differ from the config")


__all__ = ["NOT_IN_ARRAYS", "ProvenanceError", "digest", "file_digest", "code_version", "differences",
           "preprocess_provenance", "expected_preprocess", "check_artefacts", "model_settings", "fused_hash",
           "check_model_hash"]
