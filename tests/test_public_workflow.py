"""Three subjects of the public MEGC2019 release through the whole workflow (manifest -> protocol ->
preprocess -> train a few epochs -> table), and a method that needs a clip refused before any job.

Uses the shared copy of the release (tests/test_public_release.py says where it is) and the real
CASME II sheet for the AU join. Sized for CI: 3 folds, 5 variants, 2 epochs."""

import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from test_public_release import RELEASE, SHEETS, copy_release, pytestmark  # noqa: F401  (same skip)
from workflow_run import settings_folder, snakemake, workflow_copy

from famnet.datasets.megc2019_public import LIST_NAME

SUBJECTS = {("casme2", "sub01"), ("casme2", "sub02"), ("smic", "s01")}
CLASSES = {"negative": ["negative"], "positive": ["positive"], "surprise": ["surprise"]}


def overlay(root, methods, work=None) -> dict:
    """The 3-subject config; ``root`` relative to ``work`` when given (a copy of both stays valid)."""
    root = os.path.relpath(root, work) if work else str(root)
    return {
        "run": {"protocols": ["pub3"]},
        "datasets": {"megc2019_public": {"format": "megc2019_public", "root": root, "annotation": None,
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
    (work / "config" / "pub3.yaml").write_text(yaml.safe_dump(overlay(root, ["amnet2d", "ststnet", "off_apexnet", "htnet"],
                                                                      work)))
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
    artefacts = settings_folder(results / "preprocessed" / "megc2019_public")
    sidecar = json.loads((artefacts / "smic" / "s01.json").read_text())
    assert sidecar["flow_encoding"] == "minmax_255" and sidecar["arrays"]["flow"]["shape"] == [6, 3, 28, 28]
    assert "clip" not in sidecar["arrays"]
    assert (results / "qc" / "megc2019_public" / artefacts.name / "casme2" / "sub02.png").is_file()
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


# --- nothing stale: the data's content, dry runs, settings switched and back, damaged outputs -----

def jobs_run(output: str) -> dict:
    """{rule: jobs} that snakemake started (or, in a dry run, planned): its job headers, which also
    count the jobs added once a checkpoint has run ({} when it had nothing to do)."""
    from collections import Counter

    return dict(Counter(re.findall(r"^(?:local)?(?:checkpoint|rule) (\w+):$", output, re.M)))


def snapshot(results) -> dict:
    """Every file under results/ with its size and modification time."""
    return {str(p.relative_to(results)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(results.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def edited_runs(public_run, tmp_path_factory):
    """The 3-subject run copied (release and workflow), then edited step by step as a user would;
    STSTNet alone (its models' folder does not depend on the other methods). Each step's snakemake
    output and what changed are kept for the tests below."""
    base = tmp_path_factory.mktemp("edited")
    shutil.copytree(public_run.parent, base / "copy", symlinks=True)
    work, release = base / "copy" / "wf", base / "copy" / "release"
    config = yaml.safe_load((work / "config" / "pub3.yaml").read_text())
    config["training"]["methods"], config["training"]["ablations"] = ["ststnet"], []
    configs = ("config/ci.yaml", "config/pub3.yaml")

    def write(cfg):
        (work / "config" / "pub3.yaml").write_text(yaml.safe_dump(cfg))

    def run(*args):
        result = snakemake(work, *args, configfiles=configs)
        return {"code": result.returncode, "out": result.stdout + result.stderr,
                "jobs": jobs_run(result.stdout + result.stderr)}

    steps = {}
    write(config)
    steps["one_method"] = run()
    # a setting changed, a dry run, the setting changed back: nothing under results/ may change
    before = snapshot(work / "results")
    changed = yaml.safe_load(yaml.safe_dump(config))
    changed["models"] = {**changed.get("models", {}), "ststnet": {"training": {"epochs": 3}}}
    write(changed)
    steps["dry_changed"] = run("--dry-run")
    steps["dry_changed_files"] = snapshot(work / "results") == before
    write(config)
    steps["back"] = run()
    steps["back_files"] = snapshot(work / "results") == before
    # switched for real, then back: the second switch retrains nothing
    write(changed)
    steps["switched"] = run()
    write(config)
    steps["switched_back"] = run()
    # a label edited in the release's own list (casme2 sub01 EP19_05f: negative -> surprise)
    listed = release / "combined_3_class2_for_optical_flow.csv"
    table = pd.read_csv(listed, dtype=str, keep_default_na=False)
    edited = (table["sub"] == "sub01") & (table["filename_o"] == "EP19_05f")
    assert table.loc[edited, "label"].tolist() == ["0"]
    table.loc[edited, "label"] = "2"
    table.to_csv(listed, index=False)
    steps["label"] = run()            # the expected counts no longer hold: refused, naming them
    config["protocols"]["pub3"]["expected"]["classes"] = {"negative": 9, "positive": 4, "surprise": 5}
    write(config)
    steps["label_counts"] = run()
    steps["label_table"] = pd.read_csv(work / "results" / "protocols" / "pub3.csv", dtype=str)
    # a flow image replaced by another's (same size, other content)
    flows = release / "datasets" / "STSNet_whole_norm_u_v_os"
    target = flows / "sub01_EP02_01f .png"
    target.unlink()
    shutil.copy(flows / "sub02_EP01_11f .png", target)
    steps["flow"] = run()
    # a truncated artefact
    npz = next((work / "results" / "preprocessed" / "megc2019_public").glob("*/smic/s01.npz"))
    with open(npz, "r+b") as handle:
        handle.truncate(1000)
    steps["truncated"] = run()
    steps["truncated_again"] = run()
    steps["npz"] = npz
    # an evaluate job whose Snakemake metadata is gone (as after an interruption), then an
    # evaluation setting changed: Snakemake cannot see it, the table job refuses the metrics naming
    # the command that rebuilds them, and that command does
    metrics = "results/metrics/pub3.json"
    steps["cleanup"] = run("--cleanup-metadata", metrics)
    config["evaluation"] = {"bootstrap": {"resamples": 500}}
    write(config)
    steps["evaluation"] = run()
    steps["evaluation_fixed"] = run("--forcerun", metrics)
    steps["metrics"] = json.loads((work / metrics).read_text())
    steps["nothing_left"] = run("--dry-run")
    return work, steps


def test_a_dry_run_after_a_change_writes_nothing_and_reverting_retrains_nothing(edited_runs):
    _, steps = edited_runs
    assert steps["one_method"]["code"] == 0 and "train" not in steps["one_method"]["jobs"]   # fewer methods: no retraining
    assert steps["dry_changed"]["code"] == 0 and steps["dry_changed"]["jobs"].get("train") == 3
    assert steps["dry_changed_files"]                      # the dry run created and touched nothing
    assert steps["back"]["code"] == 0 and "Nothing to be done" in steps["back"]["out"] and steps["back_files"]


def test_a_setting_switched_and_back_retrains_nothing_the_second_time(edited_runs):
    work, steps = edited_runs
    assert steps["switched"]["jobs"].get("train") == 3
    assert "train" not in steps["switched_back"]["jobs"] and steps["switched_back"]["code"] == 0
    # both settings' models are kept, each in its own folder; `famnet runs` says which one is in use
    from famnet.cli import settings_folders

    folders = settings_folders(work / "results").query("kind == 'models' and name == 'pub3/ststnet'")
    assert len(folders) >= 2 and folders["current"].sum() == 1
    assert any(s.startswith("epochs 3,") for s in folders["settings"]) and \
        any(s.startswith("epochs 20,") for s in folders["settings"])


def test_a_label_edited_in_the_release_list_reaches_the_protocol_and_retrains_its_models(edited_runs):
    _, steps = edited_runs
    assert steps["label"]["code"] != 0 and "surprise" in steps["label"]["out"] and "expected" in steps["label"]["out"]
    assert steps["label_counts"]["code"] == 0, steps["label_counts"]["out"][-3000:]
    row = steps["label_table"].query("sample == 'EP19_05f'")
    assert row["class"].tolist() == ["surprise"] and row["label"].tolist() == ["2"]
    assert steps["label_counts"]["jobs"].get("train") == 3 and "preprocess" not in steps["label_counts"]["jobs"]


def test_a_replaced_flow_image_rebuilds_that_subject_and_its_models(edited_runs):
    _, steps = edited_runs
    assert steps["flow"]["code"] == 0, steps["flow"]["out"][-3000:]
    assert steps["flow"]["jobs"].get("preprocess") == 1 and steps["flow"]["jobs"].get("train") == 3
    assert "subject=casme2/sub01" in steps["flow"]["out"]


def test_a_truncated_artefact_is_named_and_a_plain_rerun_rebuilds_it(edited_runs):
    _, steps = edited_runs
    out = steps["truncated"]["out"]
    assert steps["truncated"]["code"] != 0 and "Traceback" not in out.split("Error in rule train")[0]
    assert f"subject 'megc2019_public/smic/s01': the artefact {steps['npz'].relative_to(steps['npz'].parents[4])}" \
        in out or "the artefact" in out
    assert steps["truncated_again"]["code"] == 0, steps["truncated_again"]["out"][-3000:]
    assert steps["truncated_again"]["jobs"].get("preprocess") == 1
    assert np.load(steps["npz"])["flow"].shape[1:] == (3, 28, 28)


def test_metrics_of_other_evaluation_settings_are_refused_by_the_table_with_the_fix(edited_runs):
    work, steps = edited_runs
    assert steps["cleanup"]["code"] == 0 and steps["evaluation"]["code"] != 0
    refusal = steps["evaluation"]["out"]          # the failed job's log, as snakemake shows it
    assert "results/metrics/pub3.json was computed under other evaluation settings" in refusal
    assert "snakemake --forcerun results/metrics/pub3.json" in refusal
    assert steps["evaluation_fixed"]["code"] == 0, steps["evaluation_fixed"]["out"][-3000:]
    assert steps["evaluation_fixed"]["jobs"].get("evaluate") == 1 and steps["evaluation_fixed"]["jobs"].get("tables") == 1
    assert steps["metrics"]["bootstrap"]["resamples"] == 500
    assert steps["metrics"]["evaluation"]["bootstrap"]["resamples"] == 500
    assert "Nothing to be done" in steps["nothing_left"]["out"]
