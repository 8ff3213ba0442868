"""Fusion of saved predictions, pooled evaluation of a protocol, the results table and figures."""

import numpy as np
import pandas as pd
import pytest
from conftest import write_per_fold

from famnet.fuse import fuse_files, fuse_frames, read_predictions
from famnet.tables import build_table, evaluate_protocol, method_name, table_markdown, write_figures

CLASSES = ["negative", "positive", "surprise"]


def predictions(samples, logits, fold=0, seed=0):
    frame = pd.DataFrame({"dataset": [s[0] for s in samples], "subject": [s[1] for s in samples],
                          "sample": [s[2] for s in samples], "fold": fold, "label": [s[3] for s in samples],
                          "prediction": np.argmax(logits, axis=1), "seed": seed})
    for i, name in enumerate(CLASSES):
        frame[f"logit_{name}"] = np.asarray(logits)[:, i]
    return frame


SAMPLES = [("a", "a/s1", "x1", 0), ("a", "a/s1", "x2", 1)]


def test_fusion_averages_the_branches_softmax():
    two_d = predictions(SAMPLES, [[4.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    three_d = predictions(SAMPLES[::-1], [[0.0, 5.0, 0.0], [0.0, 0.0, 0.0]])  # other row order
    fused = fuse_frames(two_d, three_d, weight=0.5, mode="softmax_mean")
    soft = lambda z: np.exp(z) / np.exp(z).sum()
    expected_x2 = 0.5 * soft(np.array([0.0, 0.0, 1.0])) + 0.5 * soft(np.array([0.0, 5.0, 0.0]))
    row = fused[fused["sample"] == "x2"].iloc[0]
    assert [row[f"prob_{c}"] for c in CLASSES] == pytest.approx(expected_x2)
    assert row["prediction"] == 1 and row["label"] == 1
    assert np.allclose(fused[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1.0)
    only_2d = fuse_frames(two_d, three_d, weight=1.0, mode="softmax_mean")
    assert list(only_2d.sort_values("sample")["prediction"]) == [0, 2]


def test_fusion_refuses_a_sample_missing_from_one_branch(tmp_path):
    two_d = predictions(SAMPLES, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    three_d = predictions(SAMPLES[:1], [[1.0, 0.0, 0.0]])
    two_d.to_csv(tmp_path / "a.csv", index=False)
    three_d.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match=r"subject 'a/s1', sample 'x2': no 3D prediction"):
        fuse_files(tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "f.csv")
    assert not (tmp_path / "f.csv").exists()


def test_fusion_refuses_branches_of_different_folds_or_seeds():
    two_d = predictions(SAMPLES, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"disagree on the seeds .*subject 'a/s1', sample 'x1', 2D 0 vs 3D 1"):
        fuse_frames(two_d, predictions(SAMPLES, [[1.0, 0.0, 0.0]] * 2, seed=1), 0.5, "softmax_mean")
    with pytest.raises(ValueError, match=r"disagree on the folds"):
        fuse_frames(two_d, predictions(SAMPLES, [[1.0, 0.0, 0.0]] * 2, fold=3), 0.5, "softmax_mean")


def test_ids_that_look_like_numbers_stay_text_through_the_oracle(tmp_path):
    """Sample '0101' and subject '006' (SAMM's) must join as written: every reader types ids as text."""
    from famnet.oracle import oracle_pooled

    table = pd.DataFrame({"dataset": ["samm"] * 2, "subject": ["006", "007"], "sample": ["0101", "0102"],
                          "label": [0, 1], "fold": [0, 1]})
    new = table.assign(epoch=1, prediction=[0, 1], saved=True)
    old = table.assign(epoch=1, prediction=[1, 1])            # written before the saved column existed
    new.iloc[:1].to_csv(tmp_path / "e0.csv", index=False)
    old.iloc[1:].to_csv(tmp_path / "e1.csv", index=False)
    pooled, choices = oracle_pooled(table, [tmp_path / "e0.csv", tmp_path / "e1.csv"], "ststnet", 0)
    assert pooled["sample"].tolist() == ["0101", "0102"] and pooled["prediction"].tolist() == [0, 1]
    assert choices["saved_epoch"].tolist() == [1, 1]
    moved = table.assign(fold=[1, 0])                         # a table of another protocol build
    with pytest.raises(ValueError, match=r"subject '006', sample '0101' fold 0 label 0; the protocol table fold 1"):
        oracle_pooled(moved, [tmp_path / "e0.csv", tmp_path / "e1.csv"], "ststnet", 0)


def test_evaluate_refuses_predictions_of_a_model_built_under_other_settings(tmp_path):
    """A fold's predictions whose model_hash is not the run's (a model trained before a setting
    changed): refused naming variant, seed, file and, from the model's config.json, what differs."""
    import json

    from famnet.provenance import ProvenanceError, digest

    run_settings = {"training": {"epochs": 40, "lr": 0.001}, "protocol_table": "abc"}
    old_settings = {"training": {"epochs": 20, "lr": 0.001}, "protocol_table": "abc"}
    root = tmp_path / "results"
    paths = []
    for fold, settings in ((0, run_settings), (1, old_settings)):
        path = root / "predictions" / "p" / "ststnet" / "seed0" / f"fold{fold}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        # a short commit id can be all digits: it must come back as written (text), not as the number 12345
        protocol_table()[lambda t: t["fold"] == fold].assign(prediction=0, seed=0, model_hash=digest(settings),
                                                            code_version="0012345", device="cpu").to_csv(path, index=False)
        config = root / "models" / "p" / "ststnet" / "seed0" / f"fold{fold}" / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"provenance": {"settings": settings, "hash": digest(settings)}}))
        paths.append(path)
    expected = {"ststnet": {"hash": digest(run_settings), "settings": run_settings}}
    with pytest.raises(ProvenanceError) as caught:
        evaluate_protocol("p", protocol_table(), CLASSES, {"ststnet": {0: paths}}, expected_models=expected)
    message = str(caught.value)
    assert f"ststnet seed 0: {paths[1]} comes from a model built under other settings" in message
    assert f"model_hash {digest(old_settings)}, the run's {digest(run_settings)}" in message
    assert "differing: training.epochs: 20 -> 40" in message
    # retrained under the run's settings (by code v2 on a GPU): accepted, and the table says what built it
    read_predictions(paths[1]).assign(model_hash=digest(run_settings), code_version="v2",
                                 device="cuda (bf16)").to_csv(paths[1], index=False)
    files = {"ststnet": {0: paths}, "htnet": {0: write_run(tmp_path, "htnet", 0, [0, 1, 2, 0])}}
    document = evaluate_protocol("p", protocol_table(), CLASSES, files, expected_models=expected)
    assert document["methods"]["ststnet"]["built_by"] == {"code_version": ["0012345", "v2"],
                                                          "device": ["cpu", "cuda (bf16)"]}
    table = build_table([document], {}, {"p": False}, "abc", "v9")
    overall = table[table["slice"] == "all"].set_index("variant")
    assert overall.loc["ststnet", "code_version"] == "0012345+v2" and overall.loc["ststnet", "device"] == "cpu+cuda (bf16)"
    # predictions written before models recorded provenance: the table's own version, device unknown
    assert overall.loc["htnet", "code_version"] == "v9" and overall.loc["htnet", "device"] == "not recorded"
    markdown = table_markdown(table)
    assert "| p | loso | all | STSTNet ‡ |" in markdown or "| p | loso | all | HTNet ‡ |" in markdown
    assert "rows marked ‡ by other code" in markdown and "device cpu+cuda (bf16), not recorded" in markdown


def protocol_table():
    rows = [("d1", "d1/s1", "p1", 0, 0), ("d1", "d1/s1", "p2", 1, 0), ("d2", "d2/s2", "p3", 2, 1),
            ("d2", "d2/s2", "p4", 0, 1)]
    return pd.DataFrame(rows, columns=["dataset", "subject", "sample", "label", "fold"])


def write_run(tmp_path, variant, seed, predicted):
    return write_per_fold(tmp_path, f"{variant}_{seed}", protocol_table().assign(prediction=predicted, seed=seed))


def test_evaluation_pools_folds_and_summarises_seeds(tmp_path):
    files = {"amnet2d": {0: write_run(tmp_path, "amnet2d", 0, [0, 1, 2, 0]),
                         1: write_run(tmp_path, "amnet2d", 1, [0, 1, 1, 1])},
             "famnet-no_au": {0: write_run(tmp_path, "famnet-no_au", 0, [0, 1, 2, 0])}}
    document = evaluate_protocol("p", protocol_table(), CLASSES, files)
    summary = {row["slice"]: row for row in document["methods"]["amnet2d"]["summary"]}
    assert summary["all"]["seeds"] == 2 and summary["all"]["samples"] == 4
    # seed 0 is perfect; seed 1: F1 (2/3, 1/2, 0) -> UF1 7/18, recall (1/2, 1, 0) -> UAR 1/2
    assert summary["all"]["uf1"] == pytest.approx((1 + 7 / 18) / 2)
    assert summary["all"]["uar"] == pytest.approx((1 + 0.5) / 2)
    # sample standard deviation (ddof 1): two seeds a, b give |a - b| / sqrt(2); one seed gives none
    assert summary["all"]["uf1_std"] == pytest.approx((1 - 7 / 18) / np.sqrt(2))
    assert summary["all"]["uf1_std"] == pytest.approx(np.std([1, 7 / 18], ddof=1))
    assert document["methods"]["famnet-no_au"]["summary"][0]["uf1_std"] is None
    assert set(summary) == {"all", "d1", "d2"}
    assert document["methods"]["amnet2d"]["seeds"][1]["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]

    table = build_table([document], {"p": {"uf1": 80.0, "uar": 70.0}}, {"p": True}, "abc", "v1")
    assert list(table["method"].unique()) == ["AMNet2D", "FAMNet w/o AU task"]
    assert len(table) == 6 and (table["data"] == "synthetic").all()
    # paper numbers only beside the full FAMNet's overall row; here there is none
    assert table["paper_uf1"].isna().all()
    assert "| p | loso | all | AMNet2D |" in table_markdown(table)
    one_seed = table[table["variant"] == "famnet-no_au"].iloc[0]
    assert np.isnan(one_seed["uf1_std"]) and table.iloc[0]["uf1_std"] == pytest.approx(100 * 0.43212, abs=0.01)
    # two subjects < min_units 5: no interval, and the note says why
    assert table["uf1_ci_low"].isna().all() and set(table["ci_note"]) >= {"not defined: 2 subjects < 5"}
    assert "± 0.00" not in table_markdown(table)

    write_figures(document, tmp_path / "c.png", tmp_path / "s.png")
    assert (tmp_path / "c.png").stat().st_size > 5000 and (tmp_path / "s.png").stat().st_size > 5000


def test_paper_numbers_and_differences_sit_on_famnet_overall(tmp_path):
    files = {"famnet": {0: write_run(tmp_path, "famnet", 0, [0, 1, 2, 0])}}
    document = evaluate_protocol("p", protocol_table(), CLASSES, files)
    table = build_table([document], {"p": {"uf1": 84.03, "uar": 83.75}}, {"p": False}, "abc", "v1")
    overall = table[(table["slice"] == "all")].iloc[0]
    assert overall["uf1"] == 100.0 and overall["paper_uf1"] == 84.03 and overall["diff_uf1"] == pytest.approx(15.97)
    assert table[table["slice"] != "all"]["paper_uf1"].isna().all() and overall["data"] == "real"


def write_epochs(tmp_path, variant, per_epoch):
    """test_epochs.csv per fold: per_epoch[epoch - 1] = the 4 samples' predictions at that epoch."""
    table = protocol_table()
    frames = [table.assign(epoch=epoch, prediction=predicted) for epoch, predicted in enumerate(per_epoch, start=1)]
    return write_per_fold(tmp_path, f"{variant}_epochs", pd.concat(frames))


def test_baselines_carry_their_papers_numbers_and_the_oracle_has_columns_of_its_own(tmp_path):
    # Labels 0, 1, 2, 0. Epoch 1 gets fold 0 right (2/2) and fold 1 wrong; epoch 2, the last, the reverse.
    epochs = [[0, 1, 0, 1], [1, 0, 2, 0]]
    files = {"ststnet": {0: write_run(tmp_path, "ststnet", 0, epochs[-1])},
             "htnet": {0: write_run(tmp_path, "htnet", 0, [0, 1, 2, 0])}}
    oracle = {"ststnet": {0: write_epochs(tmp_path, "ststnet", epochs)}}
    plain = evaluate_protocol("megc2019", protocol_table(), CLASSES, files)
    document = evaluate_protocol("megc2019", protocol_table(), CLASSES, files, oracle)
    assert document["methods"]["ststnet"]["summary"] == plain["methods"]["ststnet"]["summary"]   # main scores untouched
    folds = document["methods"]["ststnet"]["test_epoch_oracle"]["seeds"][0]["folds"]
    assert [(f["fold"], f["epoch"], f["accuracy"], f["last_accuracy"]) for f in folds] == [(0, 1, 1.0, 0.0), (1, 2, 1.0, 1.0)]
    table = build_table([document], {}, {"megc2019": False}, "abc", "v1")
    st = table[(table["variant"] == "ststnet") & (table["slice"] == "all")].iloc[0]
    # Last epoch: p1, p2 wrong, p3, p4 right -> F1 negative 2·1/(2·1+1+1) = 0.5, positive 0, surprise 1.
    assert st["method"] == "STSTNet" and st["uf1"] == pytest.approx(100 * (0.5 + 0 + 1) / 3)
    assert st["uf1_test_epoch_oracle"] == 100.0 and st["uar_test_epoch_oracle"] == 100.0
    assert (st["paper_uf1"], st["paper_uar"], st["paper_protocol"]) == (73.53, 76.05, "megc2019")
    assert (st["paper_alt_uf1"], st["paper_alt_uar"]) == (72.09, 72.50)     # the authors' Python rerun
    assert st["diff_uf1"] == pytest.approx(st["uf1"] - 73.53)
    ht = table[(table["variant"] == "htnet") & (table["slice"] == "all")].iloc[0]
    assert np.isnan(ht["uf1_test_epoch_oracle"]) and ht["paper_selection"] == "best test epoch per subject"
    markdown = table_markdown(table)
    assert "UF1 test-epoch oracle" in markdown and "megc2019 (best test epoch per subject)" in markdown
    # On another protocol the papers' numbers stay, named with their protocol, and no difference is taken.
    elsewhere = build_table([evaluate_protocol("synthetic", protocol_table(), CLASSES, files)], {}, {"synthetic": True},
                            "abc", "v1")
    row = elsewhere[(elsewhere["variant"] == "ststnet") & (elsewhere["slice"] == "all")].iloc[0]
    assert row["paper_uf1"] == 73.53 and np.isnan(row["diff_uf1"]) and np.isnan(row["uf1_test_epoch_oracle"])
    assert "UF1 test-epoch oracle" not in table_markdown(elsewhere)


def test_ststnets_two_published_pairs_show_with_their_sources(tmp_path):
    """73.53 / 76.05: the authors' MATLAB model; 72.09 / 72.50: their Python rerun of the recipe run here."""
    files = {"ststnet": {0: write_run(tmp_path, "ststnet", 0, [0, 1, 2, 0])},
             "htnet": {0: write_run(tmp_path, "htnet", 0, [0, 1, 2, 0])},
             "famnet": {0: write_run(tmp_path, "famnet", 0, [0, 1, 2, 0])}}
    document = evaluate_protocol("megc2019", protocol_table(), CLASSES, files)
    table = build_table([document], {"megc2019": {"uf1": 84.03, "uar": 83.75}}, {"megc2019": False}, "abc", "v1")
    overall = table[table["slice"] == "all"].set_index("variant")
    st = overall.loc["ststnet"]
    assert (st["paper_uf1"], st["paper_uar"], st["paper_alt_uf1"], st["paper_alt_uar"]) == (73.53, 76.05, 72.09, 72.50)
    assert "MATLAB" in st["paper_source"] and "Python rerun" in st["paper_alt_source"]
    assert "STSTNet_python_logfile.txt" in st["paper_alt_source"]
    assert overall.loc["htnet", "paper_source"].startswith("Wang et al.")
    assert pd.isna(overall.loc["htnet", "paper_alt_uf1"])
    assert overall.loc["famnet", "paper_source"] == "Fu et al., IJCNN 2025 (protocols.megc2019.paper)"
    markdown = table_markdown(table)
    header, rule, *rows = markdown.splitlines()[:2 + len(table)]
    assert "paper UF1 / UAR, 2nd source" in header and header.count("|") == rule.count("|")
    assert all(row.count("|") == header.count("|") for row in rows)
    assert "| 73.53 | 76.05 | 72.09 / 72.50 |" in markdown
    assert "STSTNet 73.53 / 76.05: Liong et al., FG 2019" in markdown
    assert "72.09 / 72.50 (2nd source): the authors' Python rerun" in markdown
    assert "FAMNet 84.03 / 83.75: Fu et al., IJCNN 2025" in markdown
    # Without a second pair in the table the column is left out.
    only_htnet = table[table["variant"] == "htnet"]
    assert "2nd source" not in table_markdown(only_htnet)
    assert "HTNet 86.03 / 84.75: Wang et al." in table_markdown(only_htnet)


def test_an_oracle_without_per_epoch_predictions_says_how_to_get_them(tmp_path):
    files = {"ststnet": {0: write_run(tmp_path, "ststnet", 0, [0, 1, 2, 0])}}
    empty = tmp_path / "empty.csv"
    pd.DataFrame(columns=["epoch", "dataset", "subject", "sample", "fold", "label", "prediction"]).to_csv(empty, index=False)
    with pytest.raises(ValueError, match="report_test_epoch_oracle off"):
        evaluate_protocol("p", protocol_table(), CLASSES, files, {"ststnet": {0: [empty, empty]}})


def test_a_missing_prediction_is_an_error_not_a_drop(tmp_path):
    paths = write_run(tmp_path, "amnet3d", 0, [0, 1, 2, 0])[:1]   # fold 1's file left out
    with pytest.raises(ValueError, match=r"no prediction for dataset 'd2', subject 'd2/s2', sample 'p3' \(2 missing\)"):
        evaluate_protocol("p", protocol_table(), CLASSES, {"amnet3d": {0: paths}})


def test_method_names():
    assert method_name("amnet3d-no_attention") == "AMNet3D w/o attention"
    assert method_name("famnet") == "FAMNet"
    assert [method_name(m) for m in ("ststnet", "off_apexnet", "htnet")] == ["STSTNet", "OFF-ApexNet", "HTNet"]


def test_au_f1_is_scored_on_the_samples_with_au_labels(tmp_path):
    table = protocol_table().assign(aus=["6+12", "4", "", "6"])     # p3 has no AU labels
    frame = table.assign(prediction=[0, 1, 2, 0], seed=0, au_4=[0.1, 0.9, 0.9, 0.2], au_6=[0.8, 0.1, 0.9, 0.3],
                         au_12=[0.7, 0.6, 0.1, 0.1]).drop(columns="aus")
    frame.to_csv(tmp_path / "p.csv", index=False)
    fused = table.assign(prediction=[0, 1, 2, 0], seed=0).drop(columns="aus")
    fused.to_csv(tmp_path / "f.csv", index=False)
    document = evaluate_protocol("p", table, CLASSES, {"amnet2d": {0: [tmp_path / "p.csv"]},
                                                      "famnet": {0: [tmp_path / "f.csv"]}})
    au = document["methods"]["amnet2d"]["seeds"][0]["au"]
    # over p1, p2, p4: AU4 1 TP; AU6 1 TP + 1 FN -> 2/3; AU12 1 TP + 1 FP -> 2/3 (p3's 0.9s are ignored)
    assert au["samples"] == 3 and au["f1"] == pytest.approx({"4": 1.0, "6": 2 / 3, "12": 2 / 3})
    assert au["mean_f1"] == pytest.approx((1 + 4 / 3) / 3)
    assert document["methods"]["famnet"]["seeds"][0]["au"] is None


def test_plot_data_repeats_the_confusion_and_scores_are_keyed_by_slice(tmp_path):
    from famnet.tables import plot_data

    files = {"amnet2d": {0: write_run(tmp_path, "amnet2d", 0, [0, 1, 1, 1])}}
    document = evaluate_protocol("p", protocol_table(), CLASSES, files)
    confusion_rows, subject_rows = plot_data(document)
    assert len(confusion_rows) == 4 and set(confusion_rows["method"]) == {"AMNet2D"}
    pairs = sorted(zip(confusion_rows["actual"], confusion_rows["predicted"]))
    assert pairs == [("negative", "negative"), ("negative", "positive"), ("positive", "positive"),
                     ("surprise", "positive")]
    assert dict(zip(subject_rows["subject"], subject_rows["accuracy"])) == {"d1/s1": 1.0, "d2/s2": 0.0}
    scores = document["methods"]["amnet2d"]["scores"]
    assert set(scores) == {"all", "d1", "d2"} and scores["all"]["uar"] == pytest.approx(0.5)


def test_code_version_is_git_describe_or_the_package_version(tmp_path):
    import subprocess

    from famnet import __version__
    from famnet.tables import code_version

    assert code_version(tmp_path) == __version__          # not a git checkout
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "add", "f"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "m"],
                   cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert code_version(tmp_path) == head
    (tmp_path / "f").write_text("y")
    assert code_version(tmp_path) == f"{head}-dirty"
