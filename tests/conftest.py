"""Shared fixtures: one tiny synthetic copy of every dataset layout, generated once per session."""

import os
import shutil
from pathlib import Path

import pytest

from famnet.datasets import build_manifest
from famnet.datasets.synthetic import generate
from workflow_run import snakemake, workflow_copy

ALL_FORMATS = ("casme2", "samm", "smic", "mmew", "casme3")


@pytest.fixture(scope="session")
def synthetic_tiny(tmp_path_factory):
    """(out_dir, info) of the tiny synthetic data in all five layouts. Read-only: use syn_copy to corrupt."""
    out_dir = tmp_path_factory.mktemp("synthetic") / "syn"
    info = generate(out_dir, size="tiny", seed=0, formats=ALL_FORMATS, progress=False)
    return out_dir, info


def _link_frames_copy_the_rest(source, destination):
    """copytree's copy function: frames (.jpg) become hard links, every other file a real copy.

    About ten times faster than copying ~1700 frames. A test may delete or rename frames in its
    copy, but must never write into one in place (that would change the session's original too);
    sheets, truth.csv and generation.json are real copies and may be edited freely.
    """
    if str(source).endswith(".jpg"):
        try:
            os.link(source, destination)
            return destination
        except OSError:
            pass  # another file system: fall back to a copy
    return shutil.copy2(source, destination)


@pytest.fixture
def syn_copy(synthetic_tiny, tmp_path):
    """(out_dir, info) of a private copy of the synthetic data that a test may break (see above)."""
    source, info = synthetic_tiny
    copy = tmp_path / "syn"
    shutil.copytree(source, copy, copy_function=_link_frames_copy_the_rest)
    return copy, info


def layout_paths(out_dir, info, fmt):
    """Absolute (frames root, annotation sheet or None) of one format in a generated folder."""
    layout = info["layouts"][fmt]
    annotation = layout["annotation"]
    return Path(out_dir) / layout["root"], (Path(out_dir) / annotation if annotation else None)


def manifest_for(out_dir, info, fmt, name=None, errata="none"):
    """The manifest the real adapter builds for one format of a generated folder (the built-in
    errata name rows of the real releases, so synthetic data reads without them, as in the workflow)."""
    root, annotation = layout_paths(out_dir, info, fmt)
    return build_manifest(name or f"syn_{fmt}", fmt, root, annotation, errata=errata)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole workflow on config/ci.yaml, run once per session in a scratch copy; read-only.

    tests/test_workflow.py checks what it built; tests/test_slurm.py compares a SLURM run's table with it."""
    work = workflow_copy(tmp_path_factory.mktemp("smoke"))
    result = snakemake(work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


def write_per_fold(tmp_path, stem, frame):
    """One CSV per fold of ``frame``, as the train rule writes them; their paths in fold order."""
    paths = []
    for fold, part in frame.groupby("fold"):
        path = tmp_path / f"{stem}_{fold}.csv"
        part.to_csv(path, index=False)
        paths.append(path)
    return paths
