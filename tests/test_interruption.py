"""A run interrupted by SIGINT to Snakemake alone, a preprocess setting changed, a plain rerun: the
rerun builds everything of the new setting, keeps what the old one built, and the table equals a
clean run's (docs/provenance.md).

The probe this reproduces: Snakemake stops on SIGINT, the job it was running (same process group,
not signalled) finishes its outputs with no metadata and an incomplete marker, which Snakemake
ignores after a checkpoint; a setting changed next once went unseen for that output. Now each
setting's outputs have a folder of their own (named by the settings' hash), so the crop-48
artefacts cannot stand in for crop-32 ones."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_run import tool_env, workflow_copy

# The smoke run's config with its cheapest method: six preprocess and six train jobs, about a minute.
OVERLAY = {"training": {"methods": ["ststnet"]}}


def start(work, configfiles):
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", *configfiles],
                            cwd=work, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def jobs_running(work) -> bool:
    """A famnet job of this workflow copy is still running (they outlive Snakemake): a process whose
    command mentions famnet and whose working directory is the copy."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"famnet" in (proc / "cmdline").read_bytes() and os.readlink(proc / "cwd") == str(work):
                return True
        except OSError:
            continue
    return False


def incomplete_markers(work) -> list:
    root = work / ".snakemake" / "incomplete"
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


@pytest.fixture(scope="module")
def interrupted_then_rerun(smoke_run, tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("interrupted"))
    shutil.copytree(smoke_run / "results" / "synthetic", work / "results" / "synthetic")   # no generation job
    (work / "config" / "one_method.yaml").write_text(yaml.safe_dump(OVERLAY))
    (work / "config" / "crop48.yaml").write_text(yaml.safe_dump({"preprocess": {"crop_size": 48}}))
    # 1. crop_size 48; SIGINT to Snakemake alone once two artefacts exist (others are being built).
    process = start(work, ("config/ci.yaml", "config/one_method.yaml", "config/crop48.yaml"))
    artefacts = work / "results" / "preprocessed"
    deadline = time.monotonic() + 600
    while len(list(artefacts.glob("*/*/*.npz"))) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be interrupted:\n" + process.stdout.read()[-3000:]
    os.kill(process.pid, signal.SIGINT)
    first_log = process.communicate(timeout=300)[0]
    deadline = time.monotonic() + 300
    while jobs_running(work) and time.monotonic() < deadline:    # the orphaned job finishes its outputs
        time.sleep(0.5)
    state = {"log": first_log, "markers": [str(p) for p in incomplete_markers(work)],
             "artefacts": sorted(str(p.relative_to(artefacts)) for p in artefacts.glob("*/*/*.npz"))}
    # 2. The setting changed back to ci.yaml's 32, a plain rerun.
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/ci.yaml",
                             "config/one_method.yaml"], cwd=work, env=tool_env(), capture_output=True, text=True,
                            timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    state["rerun"] = result.stdout + result.stderr
    again = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--cores", "2", "--configfile",
                            "config/ci.yaml", "config/one_method.yaml"], cwd=work, env=tool_env(),
                           capture_output=True, text=True, timeout=300)
    state["again"] = again.stdout + again.stderr
    return work, state


def test_the_interruption_left_what_the_probe_saw(interrupted_then_rerun):
    _, state = interrupted_then_rerun
    assert state["artefacts"], state["log"][-2000:]
    assert state["markers"], "no incomplete marker after SIGINT: the probe's state was not reproduced\n" + \
        state["log"][-2000:]


def test_the_new_setting_has_every_artefact_and_the_old_ones_are_kept(interrupted_then_rerun):
    from preprocess.artifact import load_subject

    work, state = interrupted_then_rerun
    root = work / "results" / "preprocessed"
    crops = {}
    for path in sorted(root.glob("*/*/*.npz")):
        artefact = load_subject(path, keys=["apex_rgb"])
        crop = artefact["provenance"]["settings"]["crop_size"]
        assert artefact["provenance"]["hash"] == path.parent.name, path            # the folder is its settings'
        assert artefact["meta"]["provenance"] == artefact["provenance"], path      # sidecar and arrays agree
        assert artefact["apex_rgb"].shape[1:] == (crop, crop, 3), path
        crops.setdefault(crop, []).append(str(path.relative_to(root)))
    assert len(crops[32]) == 6                                                     # every subject at crop 32
    # what the interrupted crop-48 run finished is still there, untouched by the rerun
    assert sorted(crops[48]) == state["artefacts"] and len(crops[48]) >= 2
    # no incomplete marker names an output of the settings now in use
    from base64 import urlsafe_b64decode

    marked = ["".join(p.lstrip("@") for p in m.relative_to(work / ".snakemake" / "incomplete").parts)
              for m in incomplete_markers(work) if m.name != "migration_underway"]
    assert not [path for path in marked if any(folder in urlsafe_b64decode(path).decode()
                                                for folder in {p.split("/")[1] for p in crops[32]})]
    assert "results/stale" not in state["rerun"] and not (work / "results" / "stale").exists()
    assert "Nothing to be done" in state["again"], state["again"][-2000:]
    # every model records artefacts of the run's settings
    for config in (work / "results" / "models").rglob("config.json"):
        recorded = json.loads(config.read_text())["provenance"]["settings"]["preprocess"]
        assert set(recorded) == {"syn_casme2", "syn_samm", "syn_smic"}, config


def test_the_table_equals_a_clean_runs(interrupted_then_rerun, smoke_run):
    work, _ = interrupted_then_rerun
    columns = ["slice", "method", "uf1", "uar", "uf1_ci_low", "uf1_ci_high", "uar_ci_low", "uar_ci_high", "samples",
               "selection"]
    ours = pd.read_csv(work / "results" / "tables" / "all.csv")[columns].sort_values(["slice", "method"])
    clean = pd.read_csv(smoke_run / "results" / "tables" / "all.csv")
    clean = clean[clean["variant"] == "ststnet"][columns].sort_values(["slice", "method"])
    assert len(ours) == 4
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), clean.reset_index(drop=True))
    assert np.isfinite(ours["uf1"]).all()
