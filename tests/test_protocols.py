"""Protocol tables: class maps, LOSO folds, the official MEGC2019 list, published counts."""

import copy
from pathlib import Path

import pandas as pd
import pytest

from famnet.config import ConfigError, load_config, validate_config
from famnet.data import LeakageError, split_indices
from famnet.datasets.base import MANIFEST_COLUMNS
from famnet.protocols import TRAIN_ONLY, ProtocolError, build_protocol, load_sample_list, scored_rows

REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config(REPO / "config" / "config.yaml")
# One emotion word per MEGC class and dataset format, as the real sheets spell them.
WORDS = {"casme2": {"negative": "disgust", "positive": "happiness", "surprise": "surprise"},
         "samm": {"negative": "anger", "positive": "happiness", "surprise": "surprise"},
         "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"}}


def _row(dataset, subject, sample, emotion):
    return {"dataset": dataset, "subject": f"{dataset}/{subject}", "sample": sample, "frames_dir": "f",
            "frame_pattern": "{}.jpg", "onset": 1, "apex": 2, "offset": 3, "n_frames": 3, "emotion": emotion,
            "aus": "", "apex_source": "annotated", "fixes": ""}


def megc_manifests(extra_rows=True):
    """Manifests holding exactly the MEGC2019 list, plus samples the list leaves out."""
    listed = load_sample_list("megc2019")
    manifests = {}
    for fmt in ("casme2", "samm", "smic"):
        part = listed[listed["format"] == fmt]
        rows = [_row(fmt, r.subject, r.sample, WORDS[fmt][r._3]) for r in part.itertuples(index=False)]
        if extra_rows and fmt != "smic":
            rows.append(_row(fmt, part.iloc[0].subject, "NOT_LISTED_1", "others"))
            rows.append(_row(fmt, part.iloc[0].subject, "NOT_LISTED_2", WORDS[fmt]["negative"]))
            # The rest of the real sheets' negative words (every class word must be an emotion here).
            for word in OTHER_NEGATIVE_WORDS[fmt]:
                rows.append(_row(fmt, part.iloc[0].subject, f"NOT_LISTED_{word}", word))
        manifests[fmt] = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return manifests


OTHER_NEGATIVE_WORDS = {"casme2": ["repression", "fear", "sadness"], "samm": ["contempt", "disgust", "fear", "sadness"]}
FORMATS = {"casme2": "casme2", "samm": "samm", "smic": "smic"}


def test_megc2019_selects_the_official_list_with_published_counts():
    table, report = build_protocol("megc2019", CONFIG["protocols"]["megc2019"], megc_manifests(), FORMATS, real=True)
    assert report["samples"] == 442 and report["subjects"] == 68
    assert report["per_class"] == {"negative": 250, "positive": 109, "surprise": 83}
    assert report["per_dataset"] == {"smic": 164, "casme2": 145, "samm": 133}
    assert "NOT_LISTED_2" not in set(table["sample"])
    assert report["left_out_by_emotion"] == {"others": 2}


def test_megc2019_fails_when_a_listed_sample_is_missing():
    manifests = megc_manifests()
    manifests["samm"] = manifests["samm"][manifests["samm"]["sample"] != "006_1_2"]
    with pytest.raises(ProtocolError, match=r"1 listed sample\(s\) missing.*samm, subject 006, sample 006_1_2"):
        build_protocol("megc2019", CONFIG["protocols"]["megc2019"], manifests, FORMATS, real=True)


def test_megc2019_fails_when_the_class_disagrees_with_the_list():
    manifests = megc_manifests()
    casme2 = manifests["casme2"]
    casme2.loc[casme2["sample"] == "EP02_01f", "emotion"] = "disgust"  # listed as positive
    with pytest.raises(ProtocolError, match=r"subject 'casme2/sub01', sample 'EP02_01f'.*list says 'positive'"):
        build_protocol("megc2019", CONFIG["protocols"]["megc2019"], manifests, FORMATS, real=True)


def test_published_counts_are_asserted_on_real_data_only():
    spec = dict(CONFIG["protocols"]["casme2_5"])
    emotions = ["happiness", "disgust", "repression", "surprise", "others"]
    rows = [_row("casme2", "sub01", f"EP{i:02d}", emotion) for i, emotion in enumerate(emotions)]
    manifests = {"casme2": pd.DataFrame(rows, columns=MANIFEST_COLUMNS)}
    with pytest.raises(ProtocolError, match=r"samples 5 != expected 246"):
        build_protocol("casme2_5", spec, manifests, {"casme2": "casme2"}, real=True)
    table, report = build_protocol("casme2_5", spec, manifests, {"casme2": "casme2"}, real=False)
    assert report["samples"] == 5


def test_folds_hold_out_exactly_one_namespaced_subject():
    rows = [_row("a", "s1", "x1", "happiness"), _row("a", "s2", "x2", "surprise"),
            _row("b", "s1", "x1", "disgust"), _row("b", "s1", "x2", "others")]
    manifests = {"a": pd.DataFrame(rows[:2], columns=MANIFEST_COLUMNS), "b": pd.DataFrame(rows[2:], columns=MANIFEST_COLUMNS)}
    spec = {"datasets": ["a", "b"], "classes": {"surprise": ["surprise"], "negative": ["disgust"],
                                                "positive": ["happiness"]}}
    table, report = build_protocol("t", spec, manifests, {"a": "casme2", "b": "samm"}, real=False)
    # a/s1 and b/s1 are different people: three folds, one subject each.
    assert report["folds"] == 3 and report["left_out_by_emotion"] == {"others": 1}
    assert table.groupby("fold")["subject"].nunique().eq(1).all()
    assert sorted(table["subject"].unique()) == ["a/s1", "a/s2", "b/s1"]
    # Labels follow the config's (non-alphabetical) class order: surprise 0, negative 1, positive 2.
    assert dict(zip(table["sample"] + table["subject"], table["label"])) == {
        "x1a/s1": 2, "x2a/s2": 0, "x1b/s1": 1}


def test_an_emotion_in_two_classes_is_rejected():
    spec = {"datasets": ["a"], "classes": {"x": ["happiness"], "y": ["happiness"]}}
    manifests = {"a": pd.DataFrame([_row("a", "s1", "x1", "happiness")], columns=MANIFEST_COLUMNS)}
    with pytest.raises(ProtocolError, match="emotion 'happiness' is in classes 'x' and 'y'"):
        build_protocol("t", spec, manifests, {"a": "casme2"}, real=False)


def test_unknown_sample_list():
    with pytest.raises(ProtocolError, match="no built-in sample list named 'megc2099'"):
        load_sample_list("megc2099")


def test_a_class_word_that_is_no_emotion_of_the_datasets_is_an_error():
    rows = [_row("a", "s1", "x1", "happiness"), _row("a", "s2", "x2", "disgust"), _row("b", "s3", "x3", "anger")]
    manifests = {"a": pd.DataFrame(rows[:2], columns=MANIFEST_COLUMNS), "b": pd.DataFrame(rows[2:], columns=MANIFEST_COLUMNS)}
    spec = {"datasets": ["a", "b"], "classes": {"negative": ["negatve", "disgust", "anger"], "positive": ["happiness"]}}
    for real in (True, False):   # synthetic data too: the typo is in no generator's vocabulary either
        with pytest.raises(ProtocolError, match=r"protocol 't': class words match no emotion of its datasets: "
                                                r"'negatve' \(class 'negative'\)\. The datasets' emotions are: "
                                                r"a: .*disgust.*happiness.*; b: .*anger"):
            build_protocol("t", spec, manifests, {"a": "casme2", "b": "samm"}, real=real)


def test_labels_follow_a_non_alphabetical_class_order_through_to_the_metrics(tmp_path):
    """Known data: per class name, the support, F1 and confusion row are that class's own."""
    from famnet.protocols import read_protocol_table
    from famnet.tables import evaluate_protocol

    classes = {"surprise": ["surprise"], "others": ["others"], "negative": ["disgust"], "happiness": ["happiness"]}
    counts = {"surprise": 1, "others": 2, "negative": 3, "happiness": 4}   # distinct, so a mix-up shows
    words = {"surprise": "surprise", "others": "others", "negative": "disgust", "happiness": "happiness"}
    rows = [_row("a", f"s{i % 3}", f"{name}{i}", words[name]) for name, n in counts.items() for i in range(n)]
    spec = {"datasets": ["a"], "classes": classes}
    table, report = build_protocol("t", spec, {"a": pd.DataFrame(rows, columns=MANIFEST_COLUMNS)}, {"a": "casme2"},
                                   real=False)
    assert report["classes"] == list(classes) and report["per_class"] == counts
    table.to_csv(tmp_path / "t.csv", index=False)
    table = read_protocol_table(tmp_path / "t.csv", classes=list(classes))
    # Predictions: every sample right, except one 'happiness' sample predicted as 'negative'.
    predictions = table[["dataset", "subject", "sample", "fold", "label"]].copy()
    predictions["prediction"] = predictions["label"]
    wrong = predictions.index[predictions["sample"] == "happiness0"][0]
    predictions.loc[wrong, "prediction"] = list(classes).index("negative")
    predictions.to_csv(tmp_path / "pred.csv", index=False)
    document = evaluate_protocol("t", table, list(classes), {"amnet2d": {0: [tmp_path / "pred.csv"]}})
    per_class = document["methods"]["amnet2d"]["seeds"][0]["per_class"]
    assert {name: per_class[name]["support"] for name in classes} == counts
    assert per_class["happiness"]["recall"] == pytest.approx(3 / 4)
    assert per_class["negative"]["precision"] == pytest.approx(3 / 4) and per_class["negative"]["recall"] == 1
    assert per_class["surprise"]["f1"] == per_class["others"]["f1"] == 1
    confusion = document["methods"]["amnet2d"]["seeds"][0]["confusion"]
    assert confusion[list(classes).index("happiness")] == [0, 0, 1, 3]   # row = true class, in config order
    # The only 'surprise' sample is subject s0's (fold 0): that fold trains without the class.
    assert document["classes_missing_from_training"] == {"0": ["surprise"]}
    assert document["folds_missing_a_training_class"] == 1


def test_a_table_numbered_in_another_class_order_is_rejected(tmp_path):
    from famnet.protocols import read_protocol_table

    rows = [_row("a", "s1", "x1", "happiness"), _row("a", "s2", "x2", "disgust")]
    spec = {"datasets": ["a"], "classes": {"positive": ["happiness"], "negative": ["disgust"]}}
    table, _ = build_protocol("t", spec, {"a": pd.DataFrame(rows, columns=MANIFEST_COLUMNS)}, {"a": "casme2"}, real=False)
    table.to_csv(tmp_path / "t.csv", index=False)
    assert len(read_protocol_table(tmp_path / "t.csv", classes=["positive", "negative"])) == 2
    with pytest.raises(ProtocolError, match=r"labels are not numbered in the class order \['negative', 'positive'\]: "
                                            r"'negative' has label 1, 'positive' has label 0"):
        read_protocol_table(tmp_path / "t.csv", classes=["negative", "positive"])


def test_lodo_holds_out_one_dataset_per_fold_in_the_protocols_dataset_order():
    spec = {**CONFIG["protocols"]["megc2019"], "split": "lodo"}
    table, report = build_protocol("megc2019_lodo", spec, megc_manifests(), FORMATS, real=False)
    # smic, casme2, samm: the protocol's order, not alphabetical
    assert report["split"] == "lodo" and report["folds"] == 3
    assert report["held_out_datasets"] == {"0": ["smic"], "1": ["casme2"], "2": ["samm"]}
    assert table.groupby("fold")["dataset"].agg(lambda d: sorted(set(d))).to_dict() == \
        {0: ["smic"], 1: ["casme2"], 2: ["samm"]}
    assert table.groupby("fold").size().to_dict() == {0: 164, 1: 145, 2: 133}
    assert (table["fold_by"] == "dataset").all() and report["samples_scored"] == 442
    for fold, dataset in ((0, "smic"), (1, "casme2"), (2, "samm")):
        train, val, test = split_indices(table, fold)
        assert set(table["dataset"].iloc[test]) == {dataset} and dataset not in set(table["dataset"].iloc[train])
        assert len(train) + len(test) == 442


def test_holdout_trains_on_the_train_datasets_and_scores_only_the_test_ones():
    spec = CONFIG["protocols"]["hde_casme2_to_samm"]
    manifests = megc_manifests()
    del manifests["smic"]
    table, report = build_protocol("hde", spec, manifests, FORMATS, real=False)
    assert report["split"] == "holdout:casme2->samm" and report["folds"] == 1
    assert (report["samples_scored"], report["samples_train_only"]) == (133, 145)
    assert set(table.loc[table["fold"] == 0, "dataset"]) == {"samm"}
    assert set(table.loc[table["fold"] == TRAIN_ONLY, "dataset"]) == {"casme2"}
    assert len(scored_rows(table)) == 133
    train, _, test = split_indices(table, 0)
    assert set(table["dataset"].iloc[train]) == {"casme2"} and set(table["dataset"].iloc[test]) == {"samm"}
    with pytest.raises(ValueError, match=r"fold -1 is not in the protocol table \(folds \[0\]\)"):
        split_indices(table, TRAIN_ONLY)


def test_a_held_out_dataset_in_the_training_set_is_refused_as_leakage():
    spec = {**CONFIG["protocols"]["megc2019"], "split": "lodo"}
    table, _ = build_protocol("megc2019_lodo", spec, megc_manifests(), FORMATS, real=False)
    broken = table.copy()
    moved = broken.index[broken["dataset"] == "samm"][0]
    broken.loc[moved, ["fold", "subject"]] = [0, "samm/999"]   # a SAMM sample, of a subject of its own, in the SMIC fold
    with pytest.raises(LeakageError, match=r"leakage: held-out dataset 'samm' .* would be in the training set"):
        split_indices(broken, fold=2)


@pytest.mark.parametrize("split, words", [
    ({"train": ["casme2"], "test": ["casme2"]}, "both trained on and held out"),
    ({"train": ["casme2"], "test": ["smic"]}, "must be exactly its datasets"),
])
def test_a_holdout_split_that_does_not_split_the_datasets_is_an_error(split, words):
    spec = {**CONFIG["protocols"]["hde_casme2_to_samm"], "split": split}
    with pytest.raises(ProtocolError, match=words):
        build_protocol("hde", spec, megc_manifests(), FORMATS, real=False)


def test_the_config_refuses_a_split_naming_other_datasets():
    bad = copy.deepcopy(CONFIG)
    bad["protocols"]["hde_casme2_to_samm"]["split"] = {"train": ["casme2"], "test": ["smic"]}
    with pytest.raises(ConfigError, match=r"protocols.hde_casme2_to_samm.split: train \['casme2'\] and test "
                                          r"\['smic'\] must split"):
        validate_config(bad)
