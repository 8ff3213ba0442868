"""Protocol tables: class maps, LOSO folds, the official MEGC2019 list, published counts."""

from pathlib import Path

import pandas as pd
import pytest

from famnet.config import load_config
from famnet.datasets.base import MANIFEST_COLUMNS
from famnet.protocols import ProtocolError, build_protocol, load_sample_list

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
        manifests[fmt] = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return manifests


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
    rows = [_row("casme2", "sub01", f"EP{i:02d}", "happiness") for i in range(3)]
    manifests = {"casme2": pd.DataFrame(rows, columns=MANIFEST_COLUMNS)}
    with pytest.raises(ProtocolError, match=r"samples 3 != expected 246"):
        build_protocol("casme2_5", spec, manifests, {"casme2": "casme2"}, real=True)
    table, report = build_protocol("casme2_5", spec, manifests, {"casme2": "casme2"}, real=False)
    assert report["samples"] == 3


def test_folds_hold_out_exactly_one_namespaced_subject():
    rows = [_row("a", "s1", "x1", "happiness"), _row("a", "s2", "x2", "surprise"),
            _row("b", "s1", "x1", "disgust"), _row("b", "s1", "x2", "others")]
    manifests = {"a": pd.DataFrame(rows[:2], columns=MANIFEST_COLUMNS), "b": pd.DataFrame(rows[2:], columns=MANIFEST_COLUMNS)}
    spec = {"datasets": ["a", "b"], "classes": CONFIG["protocols"]["synthetic"]["classes"]}
    table, report = build_protocol("t", spec, manifests, {"a": "casme2", "b": "samm"}, real=False)
    # a/s1 and b/s1 are different people: three folds, one subject each.
    assert report["folds"] == 3 and report["left_out_by_emotion"] == {"others": 1}
    assert table.groupby("fold")["subject"].nunique().eq(1).all()
    assert sorted(table["subject"].unique()) == ["a/s1", "a/s2", "b/s1"]
    assert dict(zip(table["sample"] + table["subject"], table["label"])) == {
        "x1a/s1": 1, "x2a/s2": 2, "x1b/s1": 0}


def test_an_emotion_in_two_classes_is_rejected():
    spec = {"datasets": ["a"], "classes": {"x": ["happiness"], "y": ["happiness"]}}
    manifests = {"a": pd.DataFrame([_row("a", "s1", "x1", "happiness")], columns=MANIFEST_COLUMNS)}
    with pytest.raises(ProtocolError, match="emotion 'happiness' is in classes 'x' and 'y'"):
        build_protocol("t", spec, manifests, {"a": "casme2"}, real=False)


def test_unknown_sample_list():
    with pytest.raises(ProtocolError, match="no built-in sample list named 'megc2099'"):
        load_sample_list("megc2099")
