"""The adapters on the real, public annotation sheets (no frames needed).

The sheets are licensed material and are not in the repository: set FAMNET_REFERENCE_SHEETS to a
folder holding CASME2-coding-20140508.xlsx, SAMM_Micro_FACS_Codes_v2.xlsx and
megc2019_combined_3class_gt.csv to run these checks.
"""

import os
from pathlib import Path

import pandas as pd
import pytest

from famnet.config import load_config
from famnet.datasets import build_manifest
from famnet.protocols import build_protocol, load_sample_list

SHEETS = os.environ.get("FAMNET_REFERENCE_SHEETS")
pytestmark = pytest.mark.skipif(not SHEETS, reason="FAMNET_REFERENCE_SHEETS not set (licensed sheets)")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def manifests():
    folder = Path(SHEETS)
    return {
        "casme2": build_manifest("casme2", "casme2", "frames-not-needed", folder / "CASME2-coding-20140508.xlsx",
                                 check_frames=False),
        "samm": build_manifest("samm", "samm", "frames-not-needed", folder / "SAMM_Micro_FACS_Codes_v2.xlsx",
                               check_frames=False),
    }


def test_row_counts_and_apex_sources(manifests):
    casme2, samm = manifests["casme2"], manifests["samm"]
    assert len(casme2) == 255 and casme2["subject"].nunique() == 26
    assert casme2["apex_source"].value_counts().to_dict() == {"annotated": 254, "estimated": 1}
    assert len(samm) == 159 and samm["subject"].nunique() == 29
    assert (samm["apex_source"] == "annotated").all()
    assert (casme2["aus"] == "").sum() == 5  # the five '?' rows


def test_five_class_protocol_counts(manifests):
    config = load_config(REPO / "config" / "config.yaml")
    for name, dataset in (("casme2_5", "casme2"), ("samm_5", "samm")):
        # real=True asserts the config's expected counts.
        build_protocol(name, config["protocols"][name], manifests, {dataset: dataset}, real=True)


def test_shipped_megc2019_list_equals_the_public_one(manifests):
    public = pd.read_csv(Path(SHEETS) / "megc2019_combined_3class_gt.csv", header=None,
                         names=["format", "subject", "sample", "label"], dtype=str)
    shipped = load_sample_list("megc2019")
    assert list(shipped["sample"]) == list(public["sample"])
    assert list(shipped["class"]) == list(public["label"].map({"0": "negative", "1": "positive", "2": "surprise"}))
    for fmt in ("casme2", "samm"):
        ids = set(zip(manifests[fmt]["subject"].str.split("/").str[1], manifests[fmt]["sample"]))
        listed = shipped[shipped["format"] == fmt]
        assert set(zip(listed["subject"], listed["sample"])) <= ids
