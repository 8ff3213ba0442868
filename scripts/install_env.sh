#!/usr/bin/env bash
# Build the pinned environment: install_env.sh PYTHON VENV_DIR
# Order matters: facenet-pytorch pins torch<2.3 and numpy<2, so it goes in last with --no-deps
# (its code runs on the pinned torch); opencv-contrib-python-headless must be the only OpenCV
# package, since a second one silently replaces the contrib build and removes DualTVL1.
set -euo pipefail
python_bin="$1"
venv="$2"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$python_bin" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
# The registry mirror makes pip warn about every missing find-links folder: keep the log readable.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet "${pip[@]}" install -q -r "$repo/requirements.txt" -c "$repo/requirements.lock"
quiet "${pip[@]}" install -q --no-deps -r "$repo/requirements-nodeps.txt"

# Fail now, not in the middle of a run, if a component the pipeline needs is missing.
"$venv/bin/python" -W ignore::UserWarning - <<'PY'
import cv2
assert hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create"), \
    "OpenCV without contrib's DualTVL1: another OpenCV package replaced opencv-contrib-python-headless"
import dlib, face_recognition_models, facenet_pytorch, torch, torchvision, snakemake, dvc, skimage
from facenet_pytorch import MTCNN
import os
assert os.path.exists(face_recognition_models.pose_predictor_model_location()), "dlib 68-point model missing"
print(f"environment ok: torch {torch.__version__}, OpenCV {cv2.__version__}, dlib {dlib.__version__}")
PY
