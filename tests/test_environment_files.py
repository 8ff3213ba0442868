"""The pins in requirements.txt, requirements.lock and environment.yml never disagree."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def _pins(lines):
    pins = {}
    for line in lines:
        match = PIN.match(line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _unpinned(lines):
    return [l for l in lines if l.strip() and not l.lstrip().startswith("#") and not PIN.match(l)]


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-nodeps.txt", "requirements.lock"):
        lines = (REPO / name).read_text().splitlines()
        assert _unpinned(lines) == [], f"{name} has unpinned lines"


def test_environment_yml_mirrors_requirements():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == _pins((REPO / "requirements.txt").read_text().splitlines())


def test_lock_agrees_with_direct_pins():
    direct = _pins((REPO / "requirements.txt").read_text().splitlines())
    lock = _pins((REPO / "requirements.lock").read_text().splitlines())
    for name, version in direct.items():
        if name in lock:  # pip freeze leaves out setuptools
            assert lock[name] == version, f"{name}: requirements.txt {version} vs lock {lock[name]}"
    assert direct["torch"] == "2.14.1" and direct["torchvision"] == "0.29.1"
    assert "facenet-pytorch" not in direct and "facenet-pytorch" not in lock


def test_installed_environment_matches_pins():
    from importlib.metadata import version

    direct = _pins((REPO / "requirements.txt").read_text().splitlines())
    direct.update(_pins((REPO / "requirements-nodeps.txt").read_text().splitlines()))
    for name, pinned in direct.items():
        assert version(name) == pinned, name


def test_opencv_has_contrib_dualtvl1():
    import cv2

    assert callable(cv2.optflow.DualTVL1OpticalFlow_create)
