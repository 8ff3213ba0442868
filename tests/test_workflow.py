"""Smoke run of the Snakemake workflow on the tiny synthetic config, in a scratch copy of the repo
(the run itself is the session fixture ``smoke_run`` of conftest.py)."""

import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from workflow_run import REPO, settings_folder, snakemake, workflow_copy


def test_main_job_builds_the_synthetic_composite(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "protocols" / "synthetic.csv")
    assert len(table) == 36
    assert set(table["dataset"]) == {"syn_casme2", "syn_samm", "syn_smic"}
    assert table["subject"].nunique() == 6 and table["fold"].nunique() == 6
    assert table["subject"].str.match(r"^syn_(casme2|samm|smic)/").all()
    assert table.groupby("class").size().to_dict() == {"negative": 12, "positive": 12, "surprise": 12}
    for dataset in ("syn_casme2", "syn_samm", "syn_smic"):
        manifest = pd.read_csv(smoke_run / "results" / "manifest" / f"{dataset}.csv")
        assert len(manifest) == 12
    log = (smoke_run / "results" / "logs" / "synthetic" / "demo.log").read_text()
    assert "36/36" in log  # the generator's progress bar reached the end


def test_class_names_follow_the_config_order_from_protocol_to_metrics(smoke_run):
    """config.yaml lists the synthetic classes out of alphabetical order: every stage must use it."""
    results = smoke_run / "results"
    config = yaml.safe_load((smoke_run / "config" / "config.yaml").read_text())
    classes = list(config["protocols"]["synthetic"]["classes"])
    assert classes != sorted(classes)
    table = pd.read_csv(results / "protocols" / "synthetic.csv")
    assert dict(zip(table["class"], table["label"])) == {name: i for i, name in enumerate(classes)}
    predictions = pd.read_csv(settings_folder(results / "predictions" / "synthetic" / "amnet2d") / "seed0" / "fold0.csv")
    assert [c for c in predictions.columns if c.startswith("prob_")] == [f"prob_{name}" for name in classes]
    merged = predictions.merge(table[["subject", "sample", "class"]], on=["subject", "sample"])
    assert (merged["label"].map(dict(enumerate(classes))) == merged["class"]).all()
    metrics = yaml.safe_load((results / "metrics" / "synthetic.json").read_text())
    assert metrics["classes"] == classes
    seed = metrics["methods"]["famnet"]["seeds"]["0"]
    support = table["class"].value_counts().to_dict()
    assert {name: seed["per_class"][name]["support"] for name in classes} == support
    assert [sum(row) for row in seed["confusion"]] == [support[name] for name in classes]


def test_main_job_ends_with_the_results_table(smoke_run):
    results = smoke_run / "results"
    table = pd.read_csv(results / "tables" / "all.csv")
    expected = {(slice_, method) for slice_ in ("all", "syn_casme2", "syn_samm", "syn_smic")
                # a network run at other sizes than its paper's says so in its name (ci.yaml's sizes)
                for method in ("AMNet2D (width 0.25)", "AMNet3D (width 0.25)", "FAMNet (width 0.25)",
                               "STSTNet, selected: 2 candidates, 1 inner split", "OFF-ApexNet",
                               "HTNet (dim 16, 1 block per level)", "SSSNet (32 x 32 input)")}
    assert set(zip(table["slice"], table["method"])) == expected and len(table) == len(expected)
    assert (table["protocol"] == "synthetic").all() and (table["data"] == "synthetic").all()
    assert table["uf1"].between(0, 100).all() and table["uar"].between(0, 100).all()
    assert (table.loc[table["slice"] == "all", "samples"] == 36).all()
    assert (table["seeds"] == 1).all() and table["config_hash"].str.len().eq(12).all()
    # what built the models, as they recorded it: the device resolved when the DAG was built (no GPU here)
    assert (table["device"] == "cpu").all() and table["code_version"].nunique() == 1
    info = json.loads((settings_folder(results / "models" / "synthetic" / "amnet2d") / "seed0" / "fold0" / "config.json").read_text())
    assert info["training"]["device"] == "cpu" and info["provenance"]["device"] == "cpu"
    assert info["provenance"]["code_version"] == str(table["code_version"].iloc[0])
    assert "| synthetic | loso | all | FAMNet (width 0.25) |" in (results / "tables" / "all.md").read_text()
    for variant in ("amnet2d", "amnet3d", "famnet", "ststnet", "off_apexnet", "htnet", "sssnet"):
        assert len(list((settings_folder(results / "predictions" / "synthetic" / variant) / "seed0").glob("fold*.csv"))) == 6
    for figure in ("synthetic_confusion.png", "synthetic_per_subject.png", "synthetic_forest.png",
                   "synthetic_selection.png"):
        assert (results / "figures" / figure).stat().st_size > 5000
    for fold in range(6):
        model_dir = settings_folder(results / "models" / "synthetic" / "amnet3d") / "seed0" / f"fold{fold}"
        assert {p.name for p in model_dir.iterdir()} >= {"model.safetensors", "config.json", "train_log.csv"}


def test_every_row_says_how_sure_it_is_and_methods_are_compared_in_pairs(smoke_run):
    """Six held-out subjects: the overall rows get a bootstrap interval (config.yaml's evaluation
    section, min_units 5), the per-dataset rows (2 subjects) say why they have none; one seed
    leaves the seed spread blank; every method is compared with FAMNet on the same resamples."""
    results = smoke_run / "results"
    table = pd.read_csv(results / "tables" / "all.csv")
    overall, per_dataset = table[table["slice"] == "all"], table[table["slice"] != "all"]
    assert (overall["ci_note"] == "6 subjects resampled").all()
    for metric in ("uf1", "uar"):
        low, high = overall[f"{metric}_ci_low"], overall[f"{metric}_ci_high"]
        assert low.between(0, 100).all() and high.between(0, 100).all() and (low <= high).all()
    assert per_dataset[["uf1_ci_low", "uar_ci_high"]].isna().all().all()
    assert (per_dataset["ci_note"] == "not defined: 2 subjects < 5").all()
    assert table[["uf1_std", "uar_std"]].isna().all().all()                  # one seed: no spread
    oracle = overall.dropna(subset=["uf1_test_epoch_oracle"])
    assert len(oracle) == 6 and (oracle["uf1_test_epoch_oracle_ci_low"] <= oracle["uf1_test_epoch_oracle_ci_high"]).all()
    markdown = (results / "tables" / "all.md").read_text()
    assert "UF1 [CI]" in markdown and "± 0.00" not in markdown and "95 % bootstrap interval" in markdown
    metrics = json.loads((results / "metrics" / "synthetic.json").read_text())
    assert metrics["bootstrap"] == {"resamples": 2000, "seed": 0, "level": 0.95, "min_units": 5, "max_redraws": 100,
                                    "unit": "subject", "min_seeds": 3}
    # one seed: no interval covers retraining, and no comparison is called distinguishable
    assert (table["retraining"] == "not covered: 1 seed").all()
    assert not comparisons_of(results)["assessed"].any() and not comparisons_of(results)["distinguishable"].any()
    assert "Retraining variance not covered" in (results / "tables" / "all.md").read_text()
    famnet = metrics["methods"]["famnet"]["scores"]["all"]
    assert overall.set_index("variant").loc["famnet", "uf1_ci_low"] == pytest.approx(100 * famnet["uf1_ci_low"], abs=0.006)
    comparisons = pd.read_csv(results / "tables" / "comparisons.csv")
    assert set(comparisons["variant"]) == {"amnet2d", "amnet3d", "ststnet", "off_apexnet", "htnet", "sssnet"}
    assert (comparisons["reference"] == "FAMNet (width 0.25)").all() and (comparisons["slice"] == "all").all()
    assert (comparisons["uf1_diff_ci_low"] <= comparisons["uf1_diff_ci_high"]).all()
    assert comparisons["uf1_p"].between(2 / 2001, 1).all()
    assert "- synthetic: UF1 not distinguishable from FAMNet (width 0.25)'s at this level: none; distinguishable: none; " \
           "not assessed, retraining variance not covered: AMNet2D (width 0.25) (1 seed; reference 1 seed)" \
           in (results / "tables" / "comparisons.md").read_text()


def comparisons_of(results):
    return pd.read_csv(results / "tables" / "comparisons.csv")


def test_a_selected_method_searches_on_inner_training_subjects_and_records_its_choice(smoke_run):
    """config/ci.yaml has STSTNet select its lr from two candidates on one inner split (2 inner
    folds) of each outer fold's training subjects: never the held-out subject."""
    results = smoke_run / "results"
    protocol = pd.read_csv(results / "protocols" / "synthetic.csv")
    subjects = set(protocol["subject"])
    chosen = {}
    for fold in range(6):
        info = json.loads((settings_folder(results / "models" / "synthetic" / "ststnet") / "seed0" / f"fold{fold}" /
                           "config.json").read_text())
        held_out = set(protocol.loc[protocol["fold"] == fold, "subject"])
        selection = info["selection"]
        (inner,) = selection["inner_splits"]
        assert not held_out & (set(inner["train_subjects"]) | set(inner["val_subjects"]))
        assert set(inner["train_subjects"]) | set(inner["val_subjects"]) == subjects - held_out
        assert [c["label"] for c in selection["candidates"]] == ["lr=0.0002", "lr=0.002"]
        best = max(c["inner_uf1"] for c in selection["candidates"])
        assert selection["candidates"][selection["chosen"]]["inner_uf1"] == best
        assert info["training"]["lr"] == selection["chosen_settings"]["lr"]
        assert info["provenance"]["settings"]["selection"]["grid"] == {"lr": [0.0002, 0.002]}
        predictions = pd.read_csv(settings_folder(results / "predictions" / "synthetic" / "ststnet") / "seed0" / f"fold{fold}.csv")
        assert (predictions["selected"] == selection["chosen_label"]).all()
        chosen[str(fold)] = selection["chosen_label"]
    metrics = json.loads((results / "metrics" / "synthetic.json").read_text())
    assert metrics["methods"]["ststnet"]["selection"]["chosen"] == {"0": chosen}
    assert metrics["methods"]["amnet2d"]["selection"] is None
    table = pd.read_csv(results / "tables" / "all.csv")
    overall = table[table["slice"] == "all"].set_index("variant")
    assert overall.loc["ststnet", "selection"] == "selected: 2 candidates, 1 inner split"
    assert overall.loc["ststnet", "search_epochs"] == 40 and overall.loc["htnet", "search_epochs"] == 0
    assert overall.loc["htnet", "selection"] == "fixed"
    comparison = comparisons_of(results).set_index("variant").loc["ststnet"]
    assert (comparison["search_epochs"], comparison["reference_search_epochs"]) == (40, 0)
    assert "selected: 2 candidates, 1 inner split (40 search epochs)" in (results / "tables" / "all.md").read_text()
    assert (results / "figures" / "synthetic_selection.png").stat().st_size > 5000


def test_second_run_has_nothing_to_do(smoke_run):
    result = snakemake(smoke_run, "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_slurm_profile_gives_the_train_jobs_its_resources(smoke_run):
    # A dry run through profiles/slurm needs no cluster and shows what each job would ask sbatch for.
    result = snakemake(smoke_run, "--workflow-profile", "profiles/slurm", "--dry-run", "--forcerun", "train",
                        "--config", "training={device: cuda}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    train_jobs = re.findall(r"^rule train:\n(?:    .*\n)*?    resources: (.*)$", output, flags=re.M)
    assert len(train_jobs) == 36     # 6 folds x 6 methods
    for resources in train_jobs:   # -> sbatch --mem 8000 -t 120 --gpus=1
        assert {"mem_mb=8000", "runtime=120", "gpu=1"} <= set(resources.split(", ")), resources


def test_bad_config_key_stops_the_workflow_with_the_key_named(tmp_path):
    work = workflow_copy(tmp_path)
    config = yaml.safe_load((work / "config" / "ci.yaml").read_text())
    config["synthetic"]["demo"]["sise"] = "tiny"
    (work / "config" / "ci.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(work, "--dry-run")
    assert result.returncode != 0
    assert "config error at synthetic.demo: unknown key" in result.stdout + result.stderr


def test_bad_dataset_fails_with_the_dataset_named(tmp_path):
    work = workflow_copy(tmp_path)
    (work / "config" / "ci.yaml").write_text(yaml.safe_dump({
        "datasets": {"casme2": {"format": "casme2", "root": "nowhere", "annotation": "nowhere.xlsx"}}}))
    (work / "nowhere.xlsx").write_bytes(b"not a spreadsheet")
    (work / "nowhere").mkdir()   # the root exists (a missing one is named before any job: next test)
    result = snakemake(work, "results/manifest/casme2.csv")
    assert result.returncode != 0
    log = (work / "results" / "logs" / "manifest" / "casme2.log").read_text()
    assert "error: dataset 'casme2': cannot read annotation sheet nowhere.xlsx" in log
    assert not (work / "results" / "manifest" / "casme2.csv").exists()


def test_protocol_with_undefined_datasets_is_refused(tmp_path):
    work = workflow_copy(tmp_path)
    result = snakemake(work, "--dry-run", "results/protocols/megc2019.csv")
    assert result.returncode != 0
    assert "protocol 'megc2019' needs datasets ['smic', 'casme2', 'samm']" in result.stdout + result.stderr


def test_a_missing_dataset_root_is_named_by_the_dry_run(tmp_path):
    result = snakemake(workflow_copy(tmp_path), "--dry-run", "results/manifest/casme2.csv", "--config",
                       "datasets={casme2: {format: casme2, root: nowhere/CASME2_RAW_selected, "
                       "annotation: nowhere/CASME2-coding-20140508.xlsx}}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert ("dataset 'casme2': root folder nowhere/CASME2_RAW_selected does not exist; annotation sheet "
            "nowhere/CASME2-coding-20140508.xlsx does not exist (check datasets.casme2 in the config)") in output


def test_baselines_sit_beside_famnet_with_their_papers_numbers_and_the_oracle(smoke_run):
    """config/ci.yaml turns the test-epoch oracle on: its columns are filled for every trained method,
    empty for the fused FAMNet, and never change the main scores' source (the saved predictions)."""
    results = smoke_run / "results"
    table = pd.read_csv(results / "tables" / "all.csv")
    overall = table[table["slice"] == "all"].set_index("variant")
    for variant in ("amnet2d", "amnet3d", "ststnet", "off_apexnet", "htnet"):
        assert overall.loc[variant, "uf1_test_epoch_oracle"] >= 0
    assert pd.isna(overall.loc["famnet", "uf1_test_epoch_oracle"])
    assert overall.loc[["ststnet", "off_apexnet", "htnet"], "paper_uf1"].tolist() == [73.53, 71.96, 86.03]
    assert overall.loc["ststnet", ["paper_alt_uf1", "paper_alt_uar"]].tolist() == [72.09, 72.50]   # authors' Python rerun
    assert (overall.loc[["ststnet", "off_apexnet", "htnet"], "paper_protocol"] == "megc2019").all()
    assert overall.loc[["ststnet", "off_apexnet", "htnet"], "diff_uf1"].isna().all()   # another protocol
    metrics = yaml.safe_load((results / "metrics" / "synthetic.json").read_text())
    config = yaml.safe_load((smoke_run / "config" / "ci.yaml").read_text())
    for variant, epochs in (("ststnet", config["models"]["ststnet"]["training"]["epochs"]),
                            ("amnet2d", config["training"]["epochs"])):
        folds = metrics["methods"][variant]["test_epoch_oracle"]["seeds"]["0"]["folds"]
        assert len(folds) == 6 and all(f["last_epoch"] == epochs for f in folds)
        # Per held-out subject the oracle is never below the last epoch, and the last epoch's
        # accuracy is the saved model's (the held-out predictions the main columns score).
        per_subject = metrics["methods"][variant]["seeds"]["0"]["per_subject_accuracy"]
        protocol = pd.read_csv(results / "protocols" / "synthetic.csv")
        subject_of_fold = dict(zip(protocol["fold"], protocol["subject"]))
        for f in folds:
            assert f["accuracy"] >= f["last_accuracy"]
            assert f["last_accuracy"] == pytest.approx(per_subject[subject_of_fold[f["fold"]]])
            assert (f["saved_epoch"], f["saved_accuracy"]) == (f["last_epoch"], f["last_accuracy"])
        model = settings_folder(results / "models" / "synthetic" / variant) / "seed0" / "fold0"
        info = yaml.safe_load((model / "config.json").read_text())
        assert len(pd.read_csv(model / "test_epochs.csv")) == epochs * info["samples"]["test"]
    st = yaml.safe_load((settings_folder(results / "models" / "synthetic" / "ststnet") / "seed0" / "fold0" / "config.json").read_text())
    assert st["input_spec"] == {"kind": "flow", "channels": ["u", "v", "strain"], "size": 28, "per_image": "minmax_255",
                                "standardise": False}
    # The paper's recipe (Adam, batch 256, constant lr, no flip) with config.yaml's demo departures over it.
    demo = yaml.safe_load((smoke_run / "config" / "config.yaml").read_text())["models"]["ststnet"]["training"]
    assert (st["training"]["optimizer"], st["training"]["batch_size"], st["training"]["lr_schedule"],
            st["training"]["hflip"]) == ("adam", 256, "constant", 0.0)
    # ci.yaml has STSTNet select its lr: the saved model's is the winner's, the rest the recipe
    assert st["training"]["lr"] == st["selection"]["chosen_settings"]["lr"] and st["training"]["lr"] in (demo["lr"], 0.002)
    assert st["training"]["epochs"] == config["models"]["ststnet"]["training"]["epochs"]


def test_the_report_gathers_the_table_figures_protocol_counts_and_qc(smoke_run, tmp_path):
    """`snakemake --report` (./pipeline.sh run writes it) over the smoke run: one HTML file that holds
    the results table, every figure, the protocol counts and every QC montage, with the config hash
    and the code version on its first page."""
    out = tmp_path / "report.html"
    result = snakemake(smoke_run, "--report", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    html = out.read_text()
    results = smoke_run / "results"
    qc = sorted(p.name for p in (results / "qc").glob("*/*/*.png"))
    assert len(qc) == 6
    for entry in ["all.csv", "comparisons.csv", "synthetic_confusion.png", "synthetic_per_subject.png",
                  "synthetic_forest.png", "synthetic_selection.png", "synthetic.json", *qc]:
        assert entry in html, entry
    for category in ("Results", "Figures", "Protocols", "Quality control"):
        assert category in html, category
    table = pd.read_csv(results / "tables" / "all.csv")
    assert f"Config hash <strong>{table['config_hash'].iloc[0]}</strong>" in html
    assert f"code version <strong>{table['code_version'].iloc[0]}</strong>" in html


@pytest.fixture(scope="module")
def cross_dataset_run(smoke_run, tmp_path_factory):
    """The smoke run's copy with the cross-dataset protocols added (config/cross_dataset.yaml): only
    their training, fusion, evaluation and the table run; generation and preprocessing are the smoke run's."""
    work = tmp_path_factory.mktemp("cross") / "wf"
    shutil.copytree(smoke_run, work, symlinks=True)
    result = snakemake(work, configfiles=("config/ci.yaml", "config/cross_dataset.yaml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rule preprocess:" not in result.stdout + result.stderr   # the smoke run's artefacts, reused
    return work


def test_lodo_and_holdout_reach_the_table_and_never_train_on_a_held_out_dataset(cross_dataset_run):
    results = cross_dataset_run / "results"
    table = pd.read_csv(results / "tables" / "all.csv")
    splits = table.groupby("protocol")["split"].agg(set).to_dict()
    assert splits == {"synthetic": {"loso"}, "synthetic_lodo": {"lodo"},
                      "synthetic_holdout": {"holdout:syn_casme2+syn_smic->syn_samm"}}
    every = table[table["slice"] == "all"].set_index(["protocol", "method"])
    assert set(every.loc["synthetic_lodo", "samples"]) == {36}        # every sample held out once
    assert set(every.loc["synthetic_holdout", "samples"]) == {12}     # only syn_samm's 2 x 6 are scored
    assert set(table.loc[table["protocol"] == "synthetic_holdout", "slice"]) == {"all", "syn_samm"}
    assert "| synthetic_lodo | lodo | all | FAMNet (width 0.25) |" in (results / "tables" / "all.md").read_text()
    # lodo resamples datasets: three are too few for an interval, and the table says so
    assert set(table.loc[table["protocol"] == "synthetic_lodo", "ci_note"]) == {"not defined: 3 datasets < 5",
                                                                               "not defined: 1 dataset < 5"}
    for protocol, folds in (("synthetic_lodo", 3), ("synthetic_holdout", 1)):
        report = json.loads((results / "protocols" / f"{protocol}.json").read_text())
        assert report["folds"] == folds and len(report["held_out_datasets"]) == folds
        rows = pd.read_csv(results / "protocols" / f"{protocol}.csv", dtype=str)
        dataset_of = dict(zip(rows["subject"], rows["dataset"]))
        for variant in ("amnet2d", "amnet3d", "ststnet", "off_apexnet", "htnet"):
            runs = sorted((settings_folder(results / "models" / protocol / variant) / "seed0").glob("fold*/config.json"))
            assert len(runs) == folds, (protocol, variant)
            for path in runs:
                info = json.loads(path.read_text())
                held_out = set(report["held_out_datasets"][str(info["fold"])])
                trained_on = {dataset_of[s] for s in info["train_subjects"]}
                assert trained_on and not trained_on & held_out, (protocol, variant, info["fold"])
                assert {dataset_of[s] for s in info["held_out_subjects"]} == held_out
                if protocol == "synthetic_holdout":
                    assert trained_on == {"syn_casme2", "syn_smic"}
        assert len(list((settings_folder(results / "predictions" / protocol / "famnet") / "seed0").glob("fold*.csv"))) == folds


def test_the_smoke_runs_claims_table_names_every_claim_and_why_it_gets_no_verdict(smoke_run):
    """config.yaml's claims on the smoke run (no ablation trained, one seed): the 2D + 3D fusion
    claim is compared but not assessed (1 seed), the ablation claims are not tested here and say
    what would test them (tests/test_claims.py checks verdicts on a known-better ablation)."""
    results = smoke_run / "results"
    claims = pd.read_csv(results / "tables" / "claims.csv").set_index(["claim_id", "than"])
    config = yaml.safe_load((smoke_run / "config" / "config.yaml").read_text())
    assert sorted(set(claims.index.get_level_values(0))) == sorted(c["id"] for c in config["evaluation"]["claims"])
    fusion = claims.loc[("fusion_2d_3d", "amnet2d")]
    assert fusion["verdict"] == "not assessed" and "1 seed" in fusion["why"] and pd.notna(fusion["uf1_diff"])
    au = claims.loc[("au", "famnet-no_au")]
    assert au["verdict"] == "not tested here" and au["why"].startswith("famnet-no_au not in this run; add no_au")
    markdown = (results / "tables" / "claims.md").read_text()
    assert "| Fusing the 2D and the 3D network improves on each | **not assessed** | FAMNet (width 0.25) |" in markdown


@pytest.fixture(scope="module")
def external_run(smoke_run, tmp_path_factory):
    """The smoke run's copy with examples/tinyflownet's method added (its package copied and put on
    PYTHONPATH, its overlay as given in the example): only TinyFlowNet's training, the evaluation
    and the tables run."""
    base = tmp_path_factory.mktemp("external")
    work = base / "wf"
    shutil.copytree(smoke_run, work, symlinks=True)
    package = base / "package"
    shutil.copytree(REPO / "examples" / "tinyflownet", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(package / "famnet.yaml", work / "config" / "tinyflownet.yaml")
    env = {"PYTHONPATH": str(package)}
    result = snakemake(work, configfiles=("config/ci.yaml", "config/tinyflownet.yaml"), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, package, env, result.stdout + result.stderr


def test_an_external_method_runs_through_the_workflow_and_reaches_the_table(external_run):
    work, _, _, output = external_run
    trained = re.findall(r"^(?:local)?rule train:\n(?:    .*\n)*?    wildcards: (.*)$", output, flags=re.M)
    assert len(trained) == 6 and all("variant=tinyflownet" in w for w in trained)   # the others reused
    results = work / "results"
    table = pd.read_csv(results / "tables" / "all.csv")
    mine = table[table["variant"] == "tinyflownet"].set_index("slice")
    assert list(mine["method"].unique()) == ["TinyFlowNet"] and set(mine.index) == {"all", "syn_casme2", "syn_samm",
                                                                                     "syn_smic"}
    assert mine.loc["all", "uf1_ci_low"] <= mine.loc["all", "uf1"] <= mine.loc["all", "uf1_ci_high"]
    assert mine.loc["all", "uf1_test_epoch_oracle"] >= 0                      # the oracle analysis, as for any method
    comparisons = pd.read_csv(results / "tables" / "comparisons.csv")
    assert "tinyflownet" in set(comparisons["variant"])
    folder = settings_folder(results / "models" / "synthetic" / "tinyflownet")
    info = json.loads((folder / "seed0" / "fold0" / "config.json").read_text())
    code = info["provenance"]["settings"]["code"]
    assert code["entry_point"] == "tinyflownet:TinyFlowNet" and len(code["source"]) == 16
    assert info["input_spec"]["per_image"] == "minmax" and info["training"]["epochs"] == 30   # its declaration
    assert info["model_config"] == {"num_classes": 3, "width": 8}
    # the leakage guard held: each fold's held-out subject is absent from its training subjects
    for fold in range(6):
        fold_info = json.loads((folder / "seed0" / f"fold{fold}" / "config.json").read_text())
        assert fold_info["held_out_subjects"] and not set(fold_info["held_out_subjects"]) & set(fold_info["train_subjects"])


def test_an_edit_of_the_external_code_retrains_its_models_and_nothing_else(external_run):
    work, package, env, _ = external_run
    source = package / "tinyflownet" / "__init__.py"
    original = source.read_text()
    source.write_text(original.replace("nn.MaxPool2d(2)", "nn.AvgPool2d(2)"))
    try:
        plan = snakemake(work, "--dry-run", configfiles=("config/ci.yaml", "config/tinyflownet.yaml"), env=env)
    finally:
        source.write_text(original)
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output[-3000:]
    trained = re.findall(r"^(?:local)?rule train:\n(?:    .*\n)*?    wildcards: (.*)$", output, flags=re.M)
    assert len(trained) == 6 and all("variant=tinyflownet" in w for w in trained)


def test_an_external_method_that_cannot_load_or_that_no_dataset_feeds_is_refused_before_any_job(external_run, tmp_path):
    work, _, env, _ = external_run
    overlay = yaml.safe_load((work / "config" / "tinyflownet.yaml").read_text())
    overlay["external_methods"]["tinyflownet"]["entry_point"] = "tinyflownet:TinyFlowNett"
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(overlay))
    shutil.copy(tmp_path / "typo.yaml", work / "config" / "typo.yaml")
    result = snakemake(work, "--dry-run", configfiles=("config/ci.yaml", "config/typo.yaml"), env=env)
    assert result.returncode != 0
    assert "external method 'tinyflownet': module tinyflownet has no TinyFlowNett" in result.stdout + result.stderr
    listed = yaml.safe_load((work / "config" / "tinyflownet.yaml").read_text())
    listed["training"]["methods"].append("mynet")
    (work / "config" / "unknown.yaml").write_text(yaml.safe_dump(listed))
    result = snakemake(work, "--dry-run", configfiles=("config/ci.yaml", "config/unknown.yaml"), env=env)
    assert result.returncode != 0
    assert "config error at training.methods: 'mynet' is neither a built-in method" in result.stdout + result.stderr
