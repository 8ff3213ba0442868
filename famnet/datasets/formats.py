"""Every dataset format, declared once: what its release provides and what it can feed.

A format is one adapter module (``famnet/datasets/<name>.py``, its ``load``) plus this entry. The
config check, the command line, the manifest, preprocessing, the synthetic generator and the
workflow's input check all read this table, so a new format is one module and one entry here.

``provides``:
- ``frames``: a video release (frames on disk, onset / apex / offset in a sheet): preprocessing
  detects and aligns the face and computes flow, crops and clips from the frames;
- ``arrays``: a release of precomputed images (the MEGC2019 composite's public flows and apex
  crops): preprocessing reads them into the artefact as they are; what they do not contain (an
  onset frame, a clip) is not in the artefact, and a method that needs it is refused when the
  workflow is built (:func:`input_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass

VIDEO_INPUTS = ("apex", "flow", "apex_flow", "clip", "clip_diff", "flow_regions")
VIDEO_ARRAYS = ("sample", "onset_rgb", "apex_rgb", "flow", "clip", "landmarks", "align_matrix", "face_box",
                "face_score", "face_frame", "onset", "apex", "offset", "apex_source")


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    provides: str = "frames"              # frames | arrays (module docstring)
    fps: float | None = None              # recording frame rate (frames formats); a dataset's `fps` overrides
    greyscale: bool = False               # the release's frames are single-channel
    needs_annotation: bool = True         # datasets.<name>.annotation is required
    inputs: tuple[str, ...] = VIDEO_INPUTS   # model input kinds (famnet.data.INPUTS) it can feed
    arrays: tuple[str, ...] = VIDEO_ARRAYS   # the artefact arrays its preprocessing writes
    flow_encoding: str = "pixels"         # pixels: zero-centred displacements | minmax_255: per-image 0..255
    sources: tuple[str, ...] | None = None   # source datasets of a composite release (None: the dataset itself)
    options: tuple[str, ...] = ()         # dataset config keys only this format reads
    # The emotion words its sheet (or folders) use, lower-cased: any other word in a row is a typo
    # or an unknown label, reported with the row unless datasets.<name>.accept_emotions lists it.
    emotions: tuple[str, ...] = ()
    # The preprocess keys its preprocessing reads (None: all): only these enter its artefacts' hash,
    # so a setting the format never uses rebuilds none of its artefacts.
    preprocess_keys: tuple[str, ...] | None = None
    list_file: str | None = None          # the release's own sample list (relative to its root): a manifest input


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("casme2", "CASME II raw or cropped frames + the 2014 coding sheet", fps=200,
           emotions=("disgust", "fear", "happiness", "others", "repression", "sadness", "surprise")),
    Format("samm", "SAMM frames + the v2 FACS code sheet", fps=200, greyscale=True,
           emotions=("anger", "contempt", "disgust", "fear", "happiness", "other", "sadness", "surprise")),
    Format("smic", "SMIC-HS frames in emotion folders (no sheet)", fps=100, needs_annotation=False,
           emotions=("negative", "positive", "surprise")),
    Format("mmew", "MMEW micro-expression frames + its sheet", fps=90,
           emotions=("anger", "disgust", "fear", "happiness", "others", "sadness", "surprise")),
    Format("casme3", "CAS(ME)^3 part A frames + the v2 label sheet", fps=30,
           emotions=("anger", "disgust", "fear", "happy", "others", "sad", "surprise")),
    Format("megc2019_public",
           "the MEGC2019 composite's public release: 28x28 onset->apex flow images (u, v, strain, min-max "
           "scaled per image) and 224x224 apex crops, with its sample list",
           provides="arrays", needs_annotation=False,
           inputs=("apex", "flow", "apex_flow", "flow_regions"),
           arrays=("sample", "apex_rgb", "flow", "landmarks", "align_matrix", "face_box", "face_score"),
           flow_encoding="minmax_255", sources=("casme2", "samm", "smic"), options=("au_sheets",),
           emotions=("negative", "positive", "surprise"),
           # preprocess/release.py: the crop's side and colour, MTCNN's box for dlib (device, limits), fps
           preprocess_keys=("crop_size", "colour", "device", "min_face_size", "min_face_score", "fps"),
           list_file="combined_3_class2_for_optical_flow.csv"),
)}

FLOW_ENCODINGS = ("pixels", "minmax_255")
# The artefact arrays each model input kind reads (famnet.data reads exactly these).
INPUT_ARRAYS = {"apex": ("apex_rgb",), "flow": ("flow",), "apex_flow": ("apex_rgb", "flow"), "clip": ("clip",),
                "clip_diff": ("clip",), "flow_regions": ("flow", "landmarks", "align_matrix")}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise ValueError(f"unknown dataset format {name!r}; one of {sorted(FORMATS)}")
    return FORMATS[name]


def frame_rates() -> dict[str, float]:
    """Release frame rates of the video formats."""
    return {name: f.fps for name, f in FORMATS.items() if f.fps}


def input_problem(dataset: str, format_name: str, input_kind: str, method: str) -> str | None:
    """Why ``method`` reading ``input_kind`` cannot run on ``dataset`` (of ``format_name``), or None."""
    fmt = get_format(format_name)
    if input_kind in fmt.inputs:
        return None
    return (f"method {method!r} reads input {input_kind!r}, which dataset {dataset!r} (format {fmt.name}: "
            f"{fmt.description}) cannot provide; it provides {list(fmt.inputs)}. Remove {method!r} from "
            f"training.methods, choose another models.{method}.input, or leave the dataset out of the protocol")


__all__ = ["Format", "FORMATS", "FLOW_ENCODINGS", "INPUT_ARRAYS", "get_format", "frame_rates", "input_problem"]
