"""The per-subject artefact: ``results/preprocessed/{dataset}/{subject}.npz`` + ``.json`` sidecar.

Schema (N = the subject's processed samples, in manifest order; docs/artifacts.md):

=================  ======================  =========  =============================================
key                shape                   dtype      meaning
=================  ======================  =========  =============================================
sample             (N,)                    str        sample id (manifest ``sample``)
onset_rgb          (N, S, S, 3)            uint8      aligned onset crop, RGB, S = crop_size
apex_rgb           (N, S, S, 3)            uint8      aligned apex crop, RGB
flow               (N, 3, F, F)            float16    onset->apex u, v (pixels of the F grid), strain
clip               (N, T, 3, C, C)         uint8      T frames onset..offset, RGB, C = clip_size
landmarks          (N, 68, 2)              float32    dlib landmarks on the face frame, frame pixels
align_matrix       (N, 2, 3)               float32    frame pixels -> S x S crop (scale by s/S for side s)
face_box           (N, 4)                  float32    MTCNN box x0, y0, x1, y1, frame pixels
face_score         (N,)                    float32    MTCNN probability
face_frame         (N,)                    int32      frame number the face was found on (normally onset)
onset/apex/offset  (N,)                    int32      frame numbers (apex estimated where unknown)
apex_source        (N,)                    str        annotated | fixed | estimated
provenance         ()                      str        JSON: what built it (below)
=================  ======================  =========  =============================================

The sidecar JSON holds ``dataset``, ``subject`` (namespaced), ``samples`` (per-sample metadata:
apex_source, estimated apex and its candidate scores, face frame/score, frames used, damaged frames
substituted), ``skipped``
(sample, reason), ``settings`` (the resolved preprocess config), ``schema`` (shapes above) and
``provenance`` (famnet.provenance: the settings that shape the arrays and their ``hash``, the
subject's manifest rows' hash, the code version), which the npz holds too; the train job checks it.
Both files are written to a temporary file in the same folder and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from famnet.io import atomic_write

SCHEMA_VERSION = 1
ARRAY_KEYS = ("sample", "onset_rgb", "apex_rgb", "flow", "clip", "landmarks", "align_matrix", "face_box",
              "face_score", "face_frame", "onset", "apex", "offset", "apex_source")


def sidecar_path(path) -> Path:
    return Path(path).with_suffix(".json")


def write_subject(path, arrays: dict, meta: dict, compress: bool = True, keys=None) -> None:
    """Write the npz (arrays) and its JSON sidecar (meta), each atomically; the npz goes last.

    ``keys``: the arrays the dataset's format provides (famnet.datasets.formats; default all of
    ARRAY_KEYS, the video formats'); each must be there, and only those are written."""
    path = Path(path)
    keys = tuple(keys or ARRAY_KEYS)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"artefact {path} lacks arrays {missing}")
    meta = {"flow_encoding": "pixels", **meta, "schema_version": SCHEMA_VERSION,
            "arrays": {k: {"shape": list(np.shape(arrays[k])), "dtype": str(np.asarray(arrays[k]).dtype)}
                       for k in keys}}

    # The provenance travels inside the npz too: the arrays are what a consumer reads, so a sidecar
    # rewritten by a job killed before its npz cannot vouch for stale arrays (famnet.provenance).
    extra = {"provenance": np.array(json.dumps(meta["provenance"], sort_keys=True))} if "provenance" in meta else {}

    def write_npz(tmp):
        with open(tmp, "wb") as handle:
            (np.savez_compressed if compress else np.savez)(handle, **{k: np.asarray(arrays[k]) for k in keys},
                                                            **extra)

    def write_json(tmp):
        Path(tmp).write_text(json.dumps(meta, indent=1, default=_json_default) + "\n")

    atomic_write(sidecar_path(path), write_json)
    atomic_write(path, write_npz)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def load_subject(path, keys=None) -> dict:
    """Every array of a subject's artefact (keys as in the module doc) plus ``meta`` (the sidecar);
    with ``keys``, only those arrays are read and decompressed (``sample`` always is).

    Strings come back as str arrays; nothing is unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"preprocessed artefact {path} does not exist (run the preprocess rule)")
    with np.load(path, allow_pickle=False) as data:
        wanted = data.files if keys is None else ["sample", *[k for k in keys if k != "sample"]]
        missing = [k for k in wanted if k not in data.files]
        if missing:
            raise ValueError(f"preprocessed artefact {path} has no arrays {missing} (its dataset's format does not "
                             f"provide them, or the schema is stale: rerun the preprocess rule)")
        out = {k: data[k] for k in wanted}
        out["provenance"] = json.loads(str(data["provenance"])) if "provenance" in data.files else None
    side = sidecar_path(path)
    out["meta"] = json.loads(side.read_text()) if side.is_file() else {}
    return out


def empty_arrays(settings: dict) -> dict:
    """Arrays with N = 0 (every sample of the subject skipped), with the right trailing shapes."""
    s, c, f, t = settings["crop_size"], settings["clip_size"], settings["flow_size"], settings["clip_length"]
    return {"sample": np.zeros(0, dtype="<U1"), "onset_rgb": np.zeros((0, s, s, 3), np.uint8),
            "apex_rgb": np.zeros((0, s, s, 3), np.uint8), "flow": np.zeros((0, 3, f, f), np.float16),
            "clip": np.zeros((0, t, 3, c, c), np.uint8), "landmarks": np.zeros((0, 68, 2), np.float32),
            "align_matrix": np.zeros((0, 2, 3), np.float32), "face_box": np.zeros((0, 4), np.float32),
            "face_score": np.zeros(0, np.float32), "face_frame": np.zeros(0, np.int32),
            "onset": np.zeros(0, np.int32), "apex": np.zeros(0, np.int32), "offset": np.zeros(0, np.int32),
            "apex_source": np.zeros(0, dtype="<U1")}


def skip_report(sidecars, dataset: str) -> dict:
    """One dataset's run report from its subjects' sidecars: samples processed and skipped (with reasons),
    and every damaged frame replaced by a readable one."""
    subjects, skipped, substituted, processed, fallbacks = [], [], [], 0, []
    for path in sorted(map(Path, sidecars)):
        meta = json.loads(path.read_text())
        subjects.append(meta["subject"])
        processed += len(meta["samples"])
        skipped += [{"subject": meta["subject"], **entry} for entry in meta["skipped"]]
        substituted += [{"subject": meta["subject"], "sample": sample["sample"], **entry}   # .get: older sidecars
                        for sample in meta["samples"] for entry in sample.get("substitutions", [])]
        fallbacks += [{"subject": meta["subject"], "sample": sample["sample"], "face_source": sample["face_source"]}
                      for sample in meta["samples"] if sample.get("face_fallback")]
    return {"dataset": dataset, "subjects": len(subjects), "samples_processed": processed,
            "samples_skipped": len(skipped), "skipped": skipped,
            "frames_substituted": len(substituted), "substitutions": substituted,
            "face_fallbacks": len(fallbacks), "face_fallback_samples": fallbacks}


def write_skip_report(sidecars, dataset: str, out) -> dict:
    report = skip_report(sidecars, dataset)
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1) + "\n"))
    return report
