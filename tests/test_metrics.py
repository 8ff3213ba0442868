"""UF1 / UAR with a fixed label set, pooled; checked against scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from famnet.metrics import au_f1, confusion, evaluate, per_fold_mean, uf1_uar


@pytest.mark.parametrize("seed", range(5))
def test_equals_sklearn_macro_scores_with_fixed_labels(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=60)
    predictions = rng.integers(0, 3, size=60)   # class 3 is never predicted
    uf1, uar = uf1_uar(labels, predictions, 4)
    assert uf1 == pytest.approx(f1_score(labels, predictions, labels=[0, 1, 2, 3], average="macro", zero_division=0))
    assert uar == pytest.approx(recall_score(labels, predictions, labels=[0, 1, 2, 3], average="macro",
                                             zero_division=0))


def test_a_class_never_predicted_or_present_still_counts():
    # Perfect on classes 0 and 1, class 2 absent from both: it scores 0 and is averaged in.
    uf1, uar = uf1_uar([0, 0, 1, 1], [0, 0, 1, 1], 3)
    assert uf1 == pytest.approx(2 / 3) and uar == pytest.approx(2 / 3)


def test_known_confusion_values():
    matrix = confusion([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    uf1, uar = uf1_uar([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 3)
    # recalls 2/3, 1/2, 1; precisions 1, 1/2, 1/2; F1 0.8, 0.5, 2/3
    assert uar == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert uf1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_out_of_range_ids_are_an_error():
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\); found \[3\]"):
        confusion([0, 3], [0, 1], 3)


def test_pooled_is_not_the_mean_of_folds():
    table = pd.DataFrame({"label": [0, 1, 0, 0, 1], "prediction": [0, 1, 0, 1, 1], "fold": [0, 0, 1, 1, 1],
                          "subject": ["a", "a", "b", "b", "b"], "dataset": ["x", "x", "y", "y", "y"]})
    rows = evaluate(table, ["neg", "pos"]).set_index("slice")
    # Pooled: F1 0.8 for both classes. Per fold: 1.0 and 2/3, mean 5/6.
    assert rows.loc["all", "uf1"] == pytest.approx(0.8)
    assert per_fold_mean(table, 2)[0] == pytest.approx(5 / 6)
    assert rows.loc["x", "uf1"] == pytest.approx(1.0) and rows.loc["y", "samples"] == 3
    assert rows.loc["all", "subjects"] == 2


def test_au_f1_ignores_masked_samples():
    targets = np.array([[1, 0], [1, 1], [0, 0]])
    predicted = np.array([[1, 0], [0, 1], [1, 1]])
    mask = np.array([True, True, False])
    assert au_f1(targets, predicted, mask).tolist() == pytest.approx([2 / 3, 1.0])
