"""Three subjects of the public MEGC2019 release through the whole workflow (manifest -> protocol ->
preprocess -> train a few epochs -> table), and a method that needs a clip refused before any job.

Uses the shared copy of the release (tests/test_public_release.py says where it is) and the real
CASME II sheet for the AU join. Sized for CI: 3 folds, 5 variants, 2 epochs."""

import json

import pandas as pd
import pytest
import yaml
from test_public_release import RELEASE, SHEETS, copy_release, pytestmark  # noqa: F401  (same skip)
from workflow_run import snakemake, workflow_copy

from famnet.datasets.megc2019_public import LIST_NAME

SUBJECTS = {("casme2", "sub01"), ("casme2", "sub02"), ("smic", "s01")}
CLASSES = {"negative": ["negative"], "positive": ["positive"], "surprise": ["surprise"]}


def overlay(root, methods) -> dict:
    return {
        "run": {"protocols": ["pub3"]},
        "datasets": {"megc2019_public": {"format": "megc2019_public", "root": str(root), "annotation": None,
                                         "au_sheets": {"casme2": str(SHEETS["casme2"])}}},
        "protocols": {"pub3": {"datasets": ["megc2019_public"], "classes": CLASSES,
                               "expected": {"samples": 18, "subjects": 3, "per_dataset": {"casme2": 12, "smic": 6},
                                            "classes": {"negative": 10, "positive": 4, "surprise": 4}}}},
        "preprocess": {"crop_size": 32},
        "models": {"amnet2d": {"input": "flow", "width": 0.25}},
        "training": {"methods": methods, "ablations": ["input_apex"], "epochs": 2, "batch_size": 8, "seeds": [0]},
    }


def three_subjects(out):
    raw = pd.read_csv(RELEASE / LIST_NAME, dtype=str, keep_default_na=False)
    keep = raw[[(d, s) in SUBJECTS for d, s in zip(raw["dataset"], raw["sub"])]]
    return copy_release(out, keep)


@pytest.fixture(scope="module")
def public_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("public")
    root = three_subjects(base / "release")
    work = workflow_copy(base)
    (work / "config" / "pub3.yaml").write_text(yaml.safe_dump(overlay(root, ["amnet2d", "ststnet", "off_apexnet", "htnet"])))
    result = snakemake(work, configfiles=("config/ci.yaml", "config/pub3.yaml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


def test_the_release_runs_end_to_end_with_sources_aus_and_every_method_in_the_table(public_run):
    results = public_run / "results"
    manifest = pd.read_csv(results / "manifest" / "megc2019_public.csv", dtype=str, keep_default_na=False)
    assert len(manifest) == 18 and (manifest.query("source == 'casme2'")["aus"] != "").all()
    assert (manifest.query("source == 'smic'")["aus"] == "").all()
    report = json.loads((results / "protocols" / "pub3.json").read_text())
    assert (report["samples"], report["subjects"], report["folds"]) == (18, 3, 3)
    sidecar = json.loads((results / "preprocessed" / "megc2019_public" / "smic" / "s01.json").read_text())
    assert sidecar["flow_encoding"] == "minmax_255" and sidecar["arrays"]["flow"]["shape"] == [6, 3, 28, 28]
    assert "clip" not in sidecar["arrays"] and (results / "qc" / "megc2019_public" / "casme2" / "sub02.png").is_file()
    table = pd.read_csv(results / "tables" / "all.csv")
    variants = {"amnet2d", "amnet2d-input_apex", "ststnet", "off_apexnet", "htnet"}
    assert set(table["variant"]) == variants
    assert set(zip(table["slice"], table["variant"])) == {(s, v) for s in ("all", "casme2", "smic") for v in variants}
    overall = table[table["slice"] == "all"]
    assert (overall["samples"] == 18).all() and (overall["subjects"] == 3).all()
    assert table["uf1_test_epoch_oracle"].notna().all()       # ci.yaml turns the oracle on
    assert (table.loc[table["slice"] == "casme2", "samples"] == 12).all()


def test_a_clip_method_is_refused_for_the_release_before_any_job_runs(tmp_path):
    root = three_subjects(tmp_path / "release")
    work = workflow_copy(tmp_path)
    (work / "config" / "pub3.yaml").write_text(yaml.safe_dump(overlay(root, ["amnet2d", "amnet3d"])))
    result = snakemake(work, configfiles=("config/ci.yaml", "config/pub3.yaml"))
    assert result.returncode != 0
    assert "method 'amnet3d' reads input 'clip_diff', which dataset 'megc2019_public'" in result.stdout + result.stderr
    assert not (work / "results").exists()
