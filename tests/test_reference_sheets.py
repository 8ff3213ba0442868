"""The adapters, errata and protocols on the real, public annotation sheets.

The sheets are public copies kept beside the project in ../shared/reference (CI has it; never
copied into the repository); FAMNET_REFERENCE_SHEETS names another folder. The frames are licensed
and never here: the module lays out zero-byte frames exactly as the sheets say
(tests/reference_layout.py), so the adapters' folder and file naming is checked too. Where the
folder is absent the module is skipped with the reason.

Expected figures below come from the sheets read directly with pandas, not through the adapters
(docs/datasets.md says how each was counted).
"""

import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from reference_layout import DEFAULT_SHEETS, SHEETS, datasets_config, lay_out
from workflow_run import snakemake, workflow_copy

from famnet.config import load_config
from famnet.datasets import DatasetError, build_manifest
from famnet.datasets.errata import ERRATA_DIR, read_errata
from famnet.protocols import build_protocol, load_sample_list

REFERENCE = Path(os.environ.get("FAMNET_REFERENCE_SHEETS") or DEFAULT_SHEETS)
pytestmark = pytest.mark.skipif(not (REFERENCE / SHEETS["casme2"]).is_file(),
                                reason=f"no real annotation sheets in {REFERENCE} (set FAMNET_REFERENCE_SHEETS)")
REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config(REPO / "config" / "config.yaml")
# The sheet-based protocols (the public release's own are checked in tests/test_public_release.py).
REAL_PROTOCOLS = [name for name, spec in CONFIG["protocols"].items()
                  if not name.startswith("synthetic") and "megc2019_public" not in spec["datasets"]]
CASME3_SHEET = REFERENCE / SHEETS["casme3"]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "frames"
    written = lay_out(REFERENCE, out)
    return out, written


@pytest.fixture(scope="module")
def manifests(layout):
    out, _ = layout
    config = datasets_config(REFERENCE, out)["datasets"]
    return {name: build_manifest(name, spec["format"], spec["root"], spec["annotation"]) for name, spec in config.items()}


def raw_casme3() -> pd.DataFrame:
    sheet = pd.read_excel(CASME3_SHEET, sheet_name="label")
    return sheet.assign(emotion=sheet["emotion"].str.lower())


def owners_removals() -> set[tuple[str, str, int]]:
    """(subject, material, onset) of the owners' error list rows whose resolution is 'remove'."""
    listed = pd.read_excel(REFERENCE / "casme3" / "casme3_partA_error_list_ZhouJu.xlsx")
    remove = listed[listed.iloc[:, 9].astype(str).str.contains("去除")]
    return {(r.iloc[0], r.iloc[1], int(r.iloc[2])) for _, r in remove.iterrows()}


def test_every_real_sheet_reads_with_its_errata(manifests):
    counts = {name: (len(m), m["subject"].nunique()) for name, m in manifests.items()}
    assert counts == {"casme2": (255, 26), "samm": (159, 29), "smic": (164, 16), "mmew": (300, 30),
                      "casme3": (843, 94)}
    assert manifests["casme2"]["apex_source"].value_counts().to_dict() == {"annotated": 254, "estimated": 1}
    assert (manifests["casme2"]["aus"] == "").sum() == 5  # the five '?' rows
    assert (manifests["samm"]["apex_source"] == "annotated").all()
    assert (manifests["smic"]["apex_source"] == "estimated").all()
    assert (manifests["mmew"]["aus"] != "").all()
    for name in ("casme2", "samm", "smic", "mmew"):
        assert manifests[name].attrs["errata"] == [] and (manifests[name]["fixes"] == "").all(), name
    # Every word of the real sheets is a known emotion of its format, and every known word occurs:
    # the vocabulary that makes an unknown word an error is exactly the releases' own.
    from famnet.datasets.formats import get_format

    for name, manifest in manifests.items():
        assert set(manifest["emotion"]) == set(get_format(name).emotions), name


def test_casme3_errata_are_all_applied_and_recorded(manifests):
    casme3 = manifests["casme3"]
    applied = casme3.attrs["errata"]
    shipped = read_errata(ERRATA_DIR / "casme3.csv", "casme3")
    assert sorted(e["erratum"] for e in applied) == sorted(e.id for e in shipped)
    # Independently of the errata file: the v2 sheet minus the owners' removals and the two offset-0 rows.
    raw = raw_casme3()
    removals = owners_removals()
    assert len(removals) == 15
    offset_zero = raw[raw["Offset"] == 0]
    assert len(offset_zero) == 2
    assert len(casme3) == len(raw) - len(removals) - len(offset_zero) == 843
    kept = set(zip(casme3["subject"].str.split("/").str[1], casme3["sample"]))
    for subject, material, onset in removals:
        assert (subject, f"{material}_{onset}") not in kept
    by_id = casme3.set_index(casme3["subject"].str.split("/").str[1] + " " + casme3["sample"])
    assert by_id.loc["spNO.149 d_112", "apex_source"] == "estimated" and pd.isna(by_id.loc["spNO.149 d_112", "apex"])
    assert (by_id.loc["spNO.216 d_2647", ["onset", "apex", "offset"]].tolist()) == [2647, 2668, 2694]
    assert by_id.loc["spNO.216 e_1", ["onset", "apex", "apex_source"]].tolist() == [1, 1, "fixed"]
    assert (casme3["fixes"] != "").sum() == 3
    assert "casme3-216d-3647-onset: onset 3647 -> 2647" in by_id.loc["spNO.216 d_2647", "fixes"]
    # Every v2 row is now ordered; the emotion words are the seven lower-case ones ('Others' folded).
    assert set(casme3["emotion"]) == {"disgust", "surprise", "others", "fear", "anger", "sad", "happy"}


def test_without_errata_casme3_reports_every_bad_row_at_once(layout):
    out, _ = layout
    root = datasets_config(REFERENCE, out)["datasets"]["casme3"]["root"]
    with pytest.raises(DatasetError) as caught:
        build_manifest("casme3", "casme3", root, CASME3_SHEET, errata="none")
    message = str(caught.value)
    assert message.startswith("dataset 'casme3': 5 problems")
    for where in ("subject 'spNO.149', sample 'd_112': apex 83 is outside [onset 112, offset 358]",
                  "subject 'spNO.216', sample 'd_3647': onset 3647 is after offset 2694",
                  "subject 'spNO.40', sample 'e_1812': onset 1812 is after offset 0",
                  "subject 'spNO.40', sample 'e_2327': onset 2327 is after offset 0",
                  "subject 'spNO.216', sample 'e_0': 1 frame file(s) missing"):
        assert where in message, where


def test_an_erratum_that_does_not_fit_the_sheet_is_an_error(layout, tmp_path):
    out, _ = layout
    root = datasets_config(REFERENCE, out)["datasets"]["casme3"]["root"]
    errata = (ERRATA_DIR / "casme3.csv").read_text().replace("apex=83; offset=358", "apex=84; offset=358")
    (tmp_path / "other_release.csv").write_text(errata)
    with pytest.raises(DatasetError) as caught:
        build_manifest("casme3", "casme3", root, CASME3_SHEET, errata=tmp_path / "other_release.csv")
    message = str(caught.value)
    assert "subject 'spNO.149', sample 'd_112': erratum casme3-149d-112-apex" in message
    assert "the sheet has apex=83, the erratum expects apex=84" in message and "Another release" in message


def test_casme3_damaged_frames_lie_outside_every_me(manifests):
    """The owners' list of frames that cannot be opened: none falls in an ME's onset..offset, so a
    run over CAS(ME)^3 never reads one (docs/annotations.md); a new sheet that changes this fails here."""
    damaged = []
    for line in (REFERENCE / "casme3" / "error_info_damaged_image_partA.txt").read_text().splitlines():
        if line.strip():
            subject, material, frame = re.match(r"(spNO\.\d+)\s+(\w)\s+(\d+)\.jpg", line.strip()).groups()
            damaged.append((f"casme3/{subject}", material.lower(), int(frame)))
    assert len(damaged) == 130
    spans = manifests["casme3"].assign(material=manifests["casme3"]["sample"].str.split("_").str[0])
    hits = [(s, m, f) for s, m, f in damaged
            if ((spans["subject"] == s) & (spans["material"] == m) & (spans["onset"] <= f) & (f <= spans["offset"])).any()]
    assert hits == []


@pytest.mark.parametrize("protocol", REAL_PROTOCOLS)
def test_built_in_protocol_has_its_expected_counts(manifests, protocol):
    spec = CONFIG["protocols"][protocol]
    assert spec.get("expected"), f"protocol {protocol} has no expected counts"
    errata = {d: manifests[d].attrs["errata"] for d in spec["datasets"]}
    # real=True asserts the expected counts (famnet.protocols.check_expected).
    table, report = build_protocol(protocol, spec, manifests, {d: d for d in spec["datasets"]}, real=True,
                                   errata=errata)
    assert list(report["classes"]) == list(spec["classes"])
    assert table.groupby("label")["class"].first().tolist() == list(spec["classes"])


def test_casme3_counts_from_the_raw_sheet(manifests):
    """casme3_3 / _4 / _7 expected counts, recomputed from the v2 sheet without the adapter."""
    raw = raw_casme3()
    removals = owners_removals()
    keep = raw[[(s, m, int(o)) not in removals and off != 0 for s, m, o, off in
                zip(raw["Subject"], raw["Filename"], raw["Onset"], raw["Offset"])]]
    assert keep["emotion"].value_counts().to_dict() == CONFIG["protocols"]["casme3_7"]["expected"]["classes"]
    three = keep[keep["emotion"] != "others"]
    assert (len(three), three["Subject"].nunique()) == (690, 88)


def test_megc2019_equals_the_official_list_row_for_row(manifests):
    spec = CONFIG["protocols"]["megc2019"]
    table, _ = build_protocol("megc2019", spec, manifests, {d: d for d in spec["datasets"]}, real=True)
    public = pd.read_csv(REFERENCE / "megc2019_combined_3class_gt.csv", header=None,
                         names=["format", "subject", "sample", "label"], dtype=str)
    # SAMM subjects are written '6' in the public list, '006' in the sheet and in the shipped list.
    public["subject"] = [f"{int(s):03d}" if f == "samm" else s for f, s in zip(public["format"], public["subject"])]
    shipped = load_sample_list("megc2019")
    assert list(zip(shipped["format"], shipped["subject"], shipped["sample"])) == \
        list(zip(public["format"], public["subject"], public["sample"]))
    names = {"0": "negative", "1": "positive", "2": "surprise"}
    assert list(shipped["class"]) == [names[label] for label in public["label"]]
    ours = sorted(zip(table["dataset"], table["subject"].str.split("/").str[1], table["sample"], table["label"].astype(str)))
    theirs = sorted(public.itertuples(index=False, name=None))
    assert ours == theirs


@pytest.fixture(scope="module")
def built_protocols(layout, tmp_path_factory):
    """A workflow copy whose config adds the real formats over blank frames, with every built-in
    sheet-based protocol table built (`snakemake results/protocols/<p>.csv`)."""
    out, _ = layout
    work = workflow_copy(tmp_path_factory.mktemp("protocols"))
    ci = yaml.safe_load((work / "config" / "ci.yaml").read_text())
    ci["datasets"] = datasets_config(REFERENCE, out)["datasets"]   # beside the synthetic ones (merged)
    (work / "config" / "ci.yaml").write_text(yaml.safe_dump(ci))
    result = snakemake(work, *[f"results/protocols/{p}.csv" for p in REAL_PROTOCOLS])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


def test_workflow_builds_every_built_in_protocol_from_blank_frames(built_protocols):
    """`snakemake results/protocols/<p>.csv` for the built-in protocols on frames laid out from the sheets."""
    work = built_protocols
    for protocol in REAL_PROTOCOLS:
        report = yaml.safe_load((work / "results" / "protocols" / f"{protocol}.json").read_text())
        expected = CONFIG["protocols"][protocol]["expected"]
        assert (report["samples"], report["subjects"], report["per_class"]) == \
            (expected["samples"], expected["subjects"], expected["classes"]), protocol
        for key in ("folds", "per_dataset"):
            assert report[key] == expected.get(key, report[key]), (protocol, key)
    # the cross-dataset protocols: which datasets each fold holds out, and what is scored
    lodo = yaml.safe_load((work / "results" / "protocols" / "megc2019_lodo.json").read_text())
    assert (lodo["split"], lodo["held_out_datasets"]) == ("lodo", {"0": ["smic"], "1": ["casme2"], "2": ["samm"]})
    for name, train, test in (("hde_casme2_to_samm", "casme2", "samm"), ("hde_samm_to_casme2", "samm", "casme2")):
        report = yaml.safe_load((work / "results" / "protocols" / f"{name}.json").read_text())
        assert report["split"] == f"holdout:{train}->{test}" and report["held_out_datasets"] == {"0": [test]}
        assert (report["samples_scored"], report["samples_train_only"]) == \
            (report["per_dataset"][test], report["per_dataset"][train])
    casme3_4 = yaml.safe_load((work / "results" / "protocols" / "casme3_4.json").read_text())
    assert casme3_4["errata"]["casme3"]["applied_to_dataset"] == 20
    assert casme3_4["errata"]["casme3"]["by_action"] == {"drop": 17, "estimate_apex": 1, "set": 2}
    assert (casme3_4["errata"]["casme3"]["samples_corrected"], casme3_4["errata"]["casme3"]["samples_dropped"]) == (3, 17)
    casme3_3 = yaml.safe_load((work / "results" / "protocols" / "casme3_3.json").read_text())
    assert casme3_3["errata"]["casme3"]["samples_dropped"] == 9   # the 8 'others' drops are not its samples


# Linux refuses an exec whose single argument exceeds MAX_ARG_STRLEN (32 pages); Snakemake hands a
# job's whole shell command to `bash -c` as one argument, so the command as a whole must fit.
MAX_ARG_STRLEN = 131072


def test_the_paper_size_plan_fits_the_kernels_argument_limits(built_protocols):
    """config/paper.yaml on MEGC2019 (68 folds x 10 trained variants x 3 seeds): every job's shell
    command, as `snakemake -n -p` prints it, fits in one exec argument. The evaluate job's file
    lists (151 KB of JSON on its command line before) reach it as objects (script:), so it has no
    command line at all; train and fuse commands do not grow with the folds."""
    work = built_protocols
    (work / "config" / "plan.yaml").write_text(yaml.safe_dump({"run": {"protocols": ["megc2019"]}}))
    result = snakemake(work, "--dry-run", "--printshellcmds",
                       configfiles=("config/ci.yaml", "config/paper.yaml", "config/plan.yaml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout.split("Job stats:")[1].split("total")[0], re.M))
    assert {k: int(v) for k, v in stats.items() if k in ("train", "fuse", "evaluate")} == \
        {"train": 2040, "fuse": 612, "evaluate": 1}, stats
    commands = [line.split("Shell command: ", 1)[1] for line in result.stdout.splitlines()
                if line.startswith("Shell command: ")]
    by_program = {}
    for command in commands:
        by_program.setdefault(" ".join(command.split()[:2]), []).append(command)
    assert {k: len(v) for k, v in by_program.items() if k in ("famnet train", "famnet fuse")} == \
        {"famnet train": 2040, "famnet fuse": 612}
    assert "famnet evaluate" not in by_program
    longest = max(commands, key=len)
    assert len(longest.encode()) < MAX_ARG_STRLEN, longest[:300]
    # no list of paths or folds in it: a few KB, the same for every fold of a variant but the fold's digits
    lengths = {}
    for command in by_program["famnet train"]:
        variant = re.search(r"--branch (\S+) --ablation (\S+)", command).groups()
        lengths.setdefault(variant, []).append(len(command.encode()))
    assert len(lengths) == 10 and max(max(v) for v in lengths.values()) < 8192
    assert all(max(v) - min(v) <= 16 for v in lengths.values()), {k: (min(v), max(v)) for k, v in lengths.items()}
    train = by_program["famnet train"][0]
    # the artefacts' folders, named by the settings hash of each dataset (the preprocess rule's outputs)
    assert re.search(r"--preprocessed-json '\{\"casme2\": \"results/preprocessed/casme2/[0-9a-f]{16}\", ", train), train
    assert re.search(r"--model-hash [0-9a-f]{16} ", train) and "--manifests-json" in train
