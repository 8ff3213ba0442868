"""Intervals by bootstrap over held-out subjects and paired comparisons (famnet/bootstrap.py), checked
against independent computations: scipy.stats.bootstrap and plain loops over the same resampled
subjects, scored with famnet.metrics' per-sample UF1 / UAR."""

import numpy as np
import pandas as pd
import pytest
from conftest import write_per_fold
from scipy import stats

from famnet.bootstrap import (BootstrapSettings, SliceResamples, paired_p_value, resample_counts, resample_indices,
                              scores_of_confusions, unit_confusions)
from famnet.metrics import confusion, uf1_uar
from famnet.tables import build_comparisons, build_table, comparisons_markdown, evaluate_protocol, write_forest

CLASSES = ["surprise", "negative", "positive"]     # not alphabetical: ids are the config's order


def random_predictions(subjects: int, accuracy: float, seed: int, dataset=lambda s: "d1") -> pd.DataFrame:
    """Subjects with 1 to 9 samples each; class 2 is never predicted (a fixed-label-set case)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(subjects):
        for k in range(int(rng.integers(1, 10))):
            label = int(rng.integers(0, 3))
            prediction = label if rng.random() < accuracy and label != 2 else int(rng.integers(0, 2))
            rows.append({"dataset": dataset(s), "subject": f"{dataset(s)}/s{s:02d}", "sample": f"x{s}_{k}",
                         "fold": s, "label": label, "prediction": prediction})
    return pd.DataFrame(rows)


def loop_scores(frame: pd.DataFrame, units: list, indices: np.ndarray) -> np.ndarray:
    """R × 2 (UF1, UAR) by the plain route: concatenate the drawn subjects' rows, score them."""
    by_unit = {u: part for u, part in frame.groupby("subject")}
    scores = []
    for row in indices:
        pooled = pd.concat([by_unit[units[i]] for i in row])
        scores.append(uf1_uar(pooled["label"], pooled["prediction"], len(CLASSES)))
    return np.array(scores)


def test_batched_scores_equal_the_metrics_module():
    frame = random_predictions(20, 0.6, seed=1)
    matrix = confusion(frame["label"], frame["prediction"], 3)
    uf1, uar = scores_of_confusions(matrix[None])
    assert (uf1[0], uar[0]) == pytest.approx(uf1_uar(frame["label"], frame["prediction"], 3))
    units = sorted(frame["subject"].unique())
    stacked = unit_confusions(frame, units, "subject", 3)
    assert stacked.shape == (20, 3, 3) and (stacked.sum(axis=0) == matrix).all()


def test_counts_are_the_drawn_indices():
    settings = BootstrapSettings(resamples=300, seed=4)
    indices = resample_indices(7, settings)
    counts = resample_counts(indices, 7)
    assert counts.shape == (300, 7) and (counts.sum(axis=1) == 7).all()
    assert all((np.bincount(row, minlength=7) == c).all() for row, c in zip(indices, counts))


def test_interval_equals_scipy_bootstrap_with_the_same_draws():
    frame = random_predictions(15, 0.55, seed=2)
    settings = BootstrapSettings(resamples=400, seed=7, level=0.9)
    units = sorted(frame["subject"].unique())
    ours = SliceResamples(units, "subject", settings)
    columns = ours.interval_columns(ours.scores([frame], len(CLASSES)))
    by_unit = {u: part for u, part in frame.groupby("subject")}

    def uf1_of(drawn, axis=-1):
        pooled = pd.concat([by_unit[units[int(i)]] for i in drawn])
        return uf1_uar(pooled["label"], pooled["prediction"], len(CLASSES))[0]

    # scipy draws rng.integers(0, n, (resamples, n)) from the generator it is given: the same subjects.
    theirs = stats.bootstrap((np.arange(len(units)),), uf1_of, n_resamples=400, vectorized=False, batch=None,
                             method="percentile", confidence_level=0.9, rng=np.random.default_rng(7))
    assert columns["uf1_ci_low"] == pytest.approx(theirs.confidence_interval.low, abs=1e-12)
    assert columns["uf1_ci_high"] == pytest.approx(theirs.confidence_interval.high, abs=1e-12)
    # and a plain loop with the same indices, for UAR too
    looped = loop_scores(frame, units, resample_indices(len(units), settings))
    assert columns["uar_ci_low"] == pytest.approx(np.quantile(looped[:, 1], 0.05), abs=1e-12)
    assert columns["uar_ci_high"] == pytest.approx(np.quantile(looped[:, 1], 0.95), abs=1e-12)
    assert columns["ci_note"] == "15 subjects resampled"


def test_protocol_intervals_average_seeds_and_pair_methods_like_a_loop(tmp_path):
    def dataset(s):
        return "d1" if s < 8 else "d2"
    seed0 = random_predictions(14, 0.7, seed=3, dataset=dataset)
    table = seed0.drop(columns="prediction")
    seed1 = table.assign(prediction=np.random.default_rng(9).integers(0, 3, len(table)))
    baseline = table.assign(prediction=np.random.default_rng(11).integers(0, 3, len(table)))
    files = {"amnet2d": {0: write_per_fold(tmp_path, "a0", seed0), 1: write_per_fold(tmp_path, "a1", seed1)},
             "ststnet": {0: write_per_fold(tmp_path, "b0", baseline)}}
    settings = BootstrapSettings(resamples=250, seed=1)
    document = evaluate_protocol("p", table, CLASSES, files, bootstrap=settings, reference="ststnet")
    assert document["reference"] == {"variant": "ststnet", "method": "STSTNet", "asked": "ststnet"}

    for name, part in [("all", table), ("d1", table[table["dataset"] == "d1"]), ("d2", table[table["dataset"] == "d2"])]:
        units = sorted(part["subject"].unique())
        indices = resample_indices(len(units), settings)
        in_slice = lambda f: f[f["subject"].isin(units)]
        mine = (loop_scores(in_slice(seed0), units, indices) + loop_scores(in_slice(seed1), units, indices)) / 2
        theirs = loop_scores(in_slice(baseline), units, indices)
        row = document["methods"]["amnet2d"]["scores"][name]
        assert row["uf1_ci_low"] == pytest.approx(np.quantile(mine[:, 0], 0.025), abs=1e-12)
        assert row["uar_ci_high"] == pytest.approx(np.quantile(mine[:, 1], 0.975), abs=1e-12)
        compared = next(c for c in document["comparisons"] if c["slice"] == name)
        difference = mine[:, 0] - theirs[:, 0]
        assert compared["variant"] == "amnet2d" and compared["reference_variant"] == "ststnet"
        assert compared["uf1_diff"] == pytest.approx(row["uf1"] - document["methods"]["ststnet"]["scores"][name]["uf1"])
        assert compared["uf1_diff_ci_low"] == pytest.approx(np.quantile(difference, 0.025), abs=1e-12)
        expected_p = min(1, 2 * min((1 + (difference <= 0).sum()) / 251, (1 + (difference >= 0).sum()) / 251))
        assert compared["uf1_p"] == pytest.approx(expected_p)
    # the seed spread is its own column, untouched by the interval
    assert document["methods"]["amnet2d"]["scores"]["all"]["uf1_std"] > 0


def test_a_method_against_itself_differs_by_zero_with_p_one(tmp_path):
    frame = random_predictions(12, 0.6, seed=6)
    paths = write_per_fold(tmp_path, "same", frame)
    document = evaluate_protocol("p", frame.drop(columns="prediction"), CLASSES,
                                 {"htnet": {0: paths}, "ststnet": {0: paths}})
    assert document["reference"]["variant"] == "htnet"   # no famnet: the first method
    (row,) = [c for c in document["comparisons"] if c["slice"] == "all"]
    assert (row["uf1_diff"], row["uf1_diff_ci_low"], row["uf1_diff_ci_high"], row["uf1_p"]) == (0, 0, 0, 1)
    assert row["uar_p"] == 1
    assert paired_p_value(np.zeros(50)) == 1.0


def test_right_everywhere_against_wrong_everywhere_excludes_zero(tmp_path):
    frame = random_predictions(10, 1.0, seed=8)
    table = frame.drop(columns="prediction")
    right = table.assign(prediction=table["label"])
    wrong = table.assign(prediction=(table["label"] + 1) % 3)
    settings = BootstrapSettings(resamples=500)
    document = evaluate_protocol("p", table, CLASSES, {"famnet": {0: write_per_fold(tmp_path, "r", right)},
                                                       "ststnet": {0: write_per_fold(tmp_path, "w", wrong)}},
                                 bootstrap=settings)
    (row,) = [c for c in document["comparisons"] if c["slice"] == "all"]
    assert row["reference_variant"] == "famnet" and row["variant"] == "ststnet"
    assert row["uf1_diff"] == -1 and row["uf1_diff_ci_high"] < 0 and row["uar_diff_ci_high"] < 0
    assert row["uf1_p"] == pytest.approx(2 / 501)
    comparisons = build_comparisons([document], "abc", "v1")
    assert comparisons.iloc[0]["distinguishable"] and comparisons.iloc[0]["uf1_diff"] == -100.0
    markdown = comparisons_markdown(comparisons)
    assert "UF1 not distinguishable from FAMNet's at this level: none; distinguishable: STSTNet." in markdown
    write_forest(document, tmp_path / "forest.png")
    assert (tmp_path / "forest.png").stat().st_size > 5000


def interval_width(subjects: int) -> float:
    frame = random_predictions(subjects, 0.6, seed=12)
    units = sorted(frame["subject"].unique())
    resamples = SliceResamples(units, "subject", BootstrapSettings(resamples=1000))
    columns = resamples.interval_columns(resamples.scores([frame], len(CLASSES)))
    return columns["uf1_ci_high"] - columns["uf1_ci_low"]


def test_the_interval_shrinks_as_subjects_are_added():
    widths = [interval_width(n) for n in (10, 40, 160)]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[2] < 0.6 * widths[0]


def test_too_few_units_and_lodo_resample_datasets(tmp_path):
    frame = random_predictions(9, 0.6, seed=13, dataset=lambda s: f"d{s % 3}")
    frame["fold"] = frame["dataset"].str[1:].astype(int)
    frame["fold_by"] = "dataset"
    table = frame.drop(columns="prediction")
    document = evaluate_protocol("p_lodo", table, CLASSES, {"amnet2d": {0: write_per_fold(tmp_path, "l", frame)}})
    assert document["split"] == "lodo" and document["bootstrap"]["unit"] == "dataset"
    summary = document["methods"]["amnet2d"]["summary"]
    assert summary[0]["ci_note"] == "not defined: 3 datasets < 5" and summary[0]["uf1_ci_low"] is None
    assert summary[1]["ci_note"] == "not defined: 1 dataset < 5"
    assert document["comparisons"] == []
    table_rows = build_table([document], {}, {"p_lodo": False}, "abc", "v1")
    assert table_rows["uf1_ci_low"].isna().all()
    with pytest.raises(ValueError, match=r"evaluation.bootstrap: unknown keys \['resample'\]"):
        BootstrapSettings.from_dict({"resample": 10})
