"""DVC round trip on the tiny synthetic config, named as an overlay in params.yaml: init -> repro ->
push to a local remote -> fresh clone -> pull -> Snakemake plans nothing -> identical tables; a
training param changed in the overlay marks exactly the stage that reads it as changed; the
`config` stage's merge and data fingerprints (docs/dvc.md)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_run import settings_folder, tool_env

REPO = Path(__file__).resolve().parent.parent
COPIED = ("Snakefile", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "workflow", "config", "profiles", "famnet", "preprocess")


def _env() -> dict:
    return {**tool_env(), "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def _run(cwd: Path, *command: str, timeout: int = 900) -> str:
    result = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def _project(work: Path) -> Path:
    """A git + DVC project whose params.yaml names the tiny CI sizes (config/ci.yaml) as its overlay."""
    work.mkdir()
    for name in COPIED:
        source = REPO / name
        (shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
         if source.is_dir() else shutil.copy(source, work / name))
    (work / "params.yaml").write_text("configfiles: [config/ci.yaml]\n")
    _run(work, "git", "init", "-q")
    _run(work, "dvc", "init", "-q")
    _run(work, "git", "add", "-A")
    _run(work, "git", "commit", "-qm", "project")
    return work


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    base = tmp_path_factory.mktemp("dvc")
    origin = _project(base / "origin")
    remote = base / "remote"
    _run(origin, "dvc", "remote", "add", "-d", "local", str(remote))
    _run(origin, "dvc", "repro")
    _run(origin, "git", "add", "-A")
    _run(origin, "git", "commit", "-qm", "results")
    _run(origin, "dvc", "push")
    _run(base, "git", "clone", "-q", str(origin), "clone")
    clone = base / "clone"
    pulled = _run(clone, "dvc", "pull")
    return origin, clone, pulled


def test_repro_builds_the_tables_and_records_every_stage(round_trip):
    origin, _, _ = round_trip
    lock = yaml.safe_load((origin / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"config", "preprocess", "train", "evaluate"}
    # The overlay's values, merged over config.yaml's, are what the stages read and record.
    assert lock["stages"]["train"]["params"]["results/run/config.yaml"]["training"]["epochs"] == 2
    assert lock["stages"]["config"]["params"]["params.yaml"]["configfiles"] == ["config/ci.yaml"]
    assert set(lock["stages"]["preprocess"]["params"]["results/run/data.yaml"]) == {"syn_casme2", "syn_samm", "syn_smic"}
    assert (origin / "results" / "tables" / "all.csv").is_file()
    confusion = pd.read_csv(origin / "results" / "plots" / "confusion" / "synthetic.csv")
    assert list(confusion.columns) == ["method", "seed", "actual", "predicted"]
    assert len(confusion) == 7 * 36      # 7 methods (FAMNet, its branches, 4 baselines) x 36 samples
    metrics = json.loads(_run(origin, "dvc", "metrics", "show", "--json"))
    workspace = next(iter(metrics.values()))          # the only revision shown: the workspace
    famnet = workspace["data"]["results/metrics/synthetic.json"]["data"]["methods"]["famnet"]
    assert 0 <= famnet["scores"]["all"]["uf1"] <= 1
    plots = _run(origin, "dvc", "plots", "show", "-o", str(origin.parent / "plots"))
    assert "could not find" not in plots and (origin.parent / "plots" / "index.html").is_file()


def test_a_fresh_clone_pulls_everything_and_snakemake_plans_nothing(round_trip):
    origin, clone, pulled = round_trip
    assert (clone / "results" / "tables" / "all.csv").read_bytes() == \
        (origin / "results" / "tables" / "all.csv").read_bytes()
    models = settings_folder(clone / "results" / "models" / "synthetic" / "amnet3d")
    assert (models / "seed0" / "fold0" / "model.safetensors").is_file()
    # Only the config stage, which reads the config files and dataset roots on every repro.
    assert _run(clone, "dvc", "status").split() == ["config:", "always", "changed"]
    # Restored files carry the pull's timestamps: --touch marks them up to date in DAG order.
    merged = ("--configfile", "results/run/config.yaml")
    _run(clone, sys.executable, "-m", "snakemake", *merged, "--touch", "--cores", "1")
    plan = _run(clone, sys.executable, "-m", "snakemake", *merged, "--dry-run", "--cores", "1")
    assert "Nothing to be done" in plan, plan[-2000:]
    assert (clone / "results" / "tables" / "all.csv").read_bytes() == \
        (origin / "results" / "tables" / "all.csv").read_bytes()


def test_a_training_param_change_in_the_overlay_marks_exactly_the_train_stage(round_trip):
    """Only `train` reads the training section; `evaluate` follows when repro changes the
    predictions it depends on, `preprocess` stays cached. `dvc repro config` merges the edit."""
    _, clone, _ = round_trip
    overlay_path = clone / "config" / "ci.yaml"
    original = overlay_path.read_text()
    overlay = yaml.safe_load(original)
    overlay["training"]["epochs"] = 3
    overlay_path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    try:
        _run(clone, "dvc", "repro", "config")
        status = _run(clone, "dvc", "status")
    finally:
        overlay_path.write_text(original)
        _run(clone, "dvc", "repro", "config")
    assert status.split() == ["config:", "always", "changed",
                              "train:", "changed", "deps:", "results/run/config.yaml:", "modified:", "training"]
    assert _run(clone, "dvc", "status").split() == ["config:", "always", "changed"]
