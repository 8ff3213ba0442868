"""The MEGC2019 composite's public release (format megc2019_public) on the real files.

The shared copy (../shared/public/megc2019_htnet, or FAMNET_PUBLIC_RELEASE) holds the release's
CASME II and SMIC-HS rows; a full-size release is made here by adding SAMM's 133 rows of the official
MEGC2019 list (../shared/reference) with images written by the test. The AU sheets are the real
CASME II and SAMM sheets. Expected figures come from the list and sheets read directly with pandas.
"""

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from famnet.config import load_config
from famnet.data import InputSpec, flow_encoding_for, hflip
from famnet.datasets import DatasetError, build_manifest
from famnet.datasets.megc2019_public import CROP_DIR, FLOW_DIR, LIST_NAME
from famnet.methods import input_problems
from famnet.protocols import build_protocol

REPO = Path(__file__).resolve().parent.parent
RELEASE = Path(os.environ.get("FAMNET_PUBLIC_RELEASE") or REPO.parent / "shared" / "public" / "megc2019_htnet")
REFERENCE = Path(os.environ.get("FAMNET_REFERENCE_SHEETS") or REPO.parent / "shared" / "reference")
SHEETS = {"casme2": REFERENCE / "CASME2-coding-20140508.xlsx", "samm": REFERENCE / "SAMM_Micro_FACS_Codes_v2.xlsx"}
pytestmark = pytest.mark.skipif(not (RELEASE / LIST_NAME).is_file() or not SHEETS["samm"].is_file(),
                                reason=f"no public release in {RELEASE} or sheets in {REFERENCE}")
CONFIG = load_config(REPO / "config" / "config.yaml")
FORMATS = {"megc2019_public": "megc2019_public"}


def official_list() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "megc2019_combined_3class_gt.csv", header=None,
                       names=["source", "subject", "sample", "label"], dtype=str)


def copy_release(out: Path, rows: pd.DataFrame | None = None) -> Path:
    """The shared copy's list (or ``rows`` of it) with links to its images, in ``out``."""
    (out / FLOW_DIR).mkdir(parents=True)
    (out / CROP_DIR).mkdir(parents=True)
    listed = pd.read_csv(RELEASE / LIST_NAME, dtype=str, keep_default_na=False) if rows is None else rows
    listed.to_csv(out / LIST_NAME, index=False)
    for row in listed.itertuples(index=False):
        for relative in (f"{FLOW_DIR}/{row.sub}_{row.filename_o} .png", f"{CROP_DIR}/{row.imagename}"):
            if (RELEASE / relative).is_file() and not (out / relative).exists():
                os.symlink((RELEASE / relative).resolve(), out / relative)
    return out


def full_release(out: Path) -> Path:
    """The shared copy plus SAMM's rows of the official list, as the full release names them."""
    copy_release(out)
    listed = pd.read_csv(out / LIST_NAME, dtype=str, keep_default_na=False)
    samm = official_list().query("source == 'samm'")
    rng = np.random.default_rng(0)
    rows = []
    for row in samm.itertuples(index=False):
        sub = f"{int(row.subject):03d}"
        rows.append({"dataset": "samm", "sub": sub, "filename_o": row.sample, "label": row.label, "apex": "",
                     "imagename": f"{sub}_{row.sample}.jpg", "sub_filename": ""})
        cv2.imwrite(str(out / FLOW_DIR / f"{sub}_{row.sample} .png"), rng.integers(0, 256, (28, 28, 3), np.uint8))
        grey = rng.integers(0, 256, (224, 224), np.uint8)          # SAMM: greyscale frames
        cv2.imwrite(str(out / CROP_DIR / f"{sub}_{row.sample}.jpg"), grey)
    pd.concat([listed, pd.DataFrame(rows)], ignore_index=True).to_csv(out / LIST_NAME, index=False)
    return out


@pytest.fixture(scope="module")
def shared_manifest():
    return build_manifest("megc2019_public", "megc2019_public", RELEASE, au_sheets={"casme2": str(SHEETS["casme2"])})


@pytest.fixture(scope="module")
def full_manifest(tmp_path_factory):
    root = full_release(tmp_path_factory.mktemp("full") / "release")
    return build_manifest("megc2019_public", "megc2019_public", root,
                          au_sheets={k: str(v) for k, v in SHEETS.items()})


def test_the_shared_copy_reads_as_309_samples_of_40_subjects_with_their_sources(shared_manifest):
    raw = pd.read_csv(RELEASE / LIST_NAME, dtype=str)
    m = shared_manifest
    assert (len(m), m["subject"].nunique()) == (309, 40)
    assert m["source"].value_counts().to_dict() == raw["dataset"].value_counts().to_dict() == {"smic": 164, "casme2": 145}
    assert "megc2019_public/casme2/sub01" in set(m.loc[m["sample"] == "EP02_01f", "subject"])
    assert set(m.loc[m["source"] == "smic", "subject"]) == {f"megc2019_public/smic/{s}" for s in raw.query("dataset == 'smic'")["sub"]}
    names = {"0": "negative", "1": "positive", "2": "surprise"}
    assert m["emotion"].value_counts().to_dict() == raw["label"].map(names).value_counts().to_dict()
    assert m["onset"].isna().all() and (m["apex_source"] == "release").all()
    smic = m.query("sample == 's01_ne_01'").iloc[0]
    assert (smic["flow_file"], smic["apex_file"]) == (f"{FLOW_DIR}/s01_s01_ne_01 .png", f"{CROP_DIR}/s01_s1_ne_01.jpg")


def test_au_targets_are_joined_from_the_casme2_sheet_and_smic_stays_unknown(shared_manifest):
    sheet = pd.read_excel(SHEETS["casme2"], dtype=str)
    sheet["key"] = "sub" + sheet["Subject"].str.zfill(2) + "/" + sheet["Filename"].str.strip()
    raw_aus = dict(zip(sheet["key"], sheet["Action Units"]))
    casme2 = shared_manifest.query("source == 'casme2'")
    assert (casme2["aus"] != "").all() and (shared_manifest.query("source == 'smic'")["aus"] == "").all()
    # An independent reading of a few cells: the AU numbers of the raw cell, sorted.
    for row in casme2.head(20).itertuples():
        cell = raw_aus[row.subject.split("/", 2)[2] + "/" + row.sample]
        digits = sorted({int("".join(ch for ch in token if ch.isdigit())) for token in cell.split("+")
                         if any(ch.isdigit() for ch in token)})
        assert row.aus == "+".join(map(str, digits)), (row.sample, cell)


def test_the_full_release_gives_the_official_megc2019_list_and_counts(full_manifest):
    m = full_manifest
    assert (len(m), m["subject"].nunique()) == (442, 68)
    assert (m.query("source == 'samm'")["aus"] != "").all()          # every SAMM row matched its sheet
    spec = CONFIG["protocols"]["megc2019_public"]
    table, report = build_protocol("megc2019_public", spec, {"megc2019_public": m}, FORMATS, real=True)
    assert report["per_dataset"] == {"casme2": 145, "samm": 133, "smic": 164}
    assert report["subjects_per_dataset"] == {"casme2": 24, "samm": 28, "smic": 16}
    assert report["per_class"] == {"negative": 250, "positive": 109, "surprise": 83} and report["folds"] == 68
    ours = sorted(zip(table["dataset"], table["subject"].str.split("/").str[2].str.lstrip("0").where(
        table["dataset"] == "samm", table["subject"].str.split("/").str[2]), table["sample"], table["label"].astype(str)))
    assert ours == sorted(official_list().itertuples(index=False, name=None))
    lodo, lodo_report = build_protocol("megc2019_public_lodo", CONFIG["protocols"]["megc2019_public_lodo"],
                                       {"megc2019_public": m}, FORMATS, real=True)
    assert lodo_report["held_out_datasets"] == {"0": ["casme2"], "1": ["samm"], "2": ["smic"]}


def test_the_shared_copy_is_its_casme2_smic_protocol_and_not_the_full_one(shared_manifest):
    spec = CONFIG["protocols"]["megc2019_public_casme2_smic"]
    _, report = build_protocol("p", spec, {"megc2019_public": shared_manifest}, FORMATS, real=True)
    assert (report["samples"], report["subjects"], report["per_dataset"]) == (309, 40, {"casme2": 145, "smic": 164})
    with pytest.raises(ValueError, match=r"samples 309 != expected 442.*dataset samm 0 != expected 133"):
        build_protocol("megc2019_public", CONFIG["protocols"]["megc2019_public"], {"megc2019_public": shared_manifest},
                       FORMATS, real=True)


def test_every_problem_of_the_list_is_reported_at_once_naming_source_subject_and_sample(tmp_path):
    raw = pd.read_csv(RELEASE / LIST_NAME, dtype=str, keep_default_na=False)
    rows = raw.head(6).copy()
    rows.loc[1, "label"] = "3"                                   # unknown label
    rows.loc[2, "dataset"] = "casme"                             # a typo in the source
    rows = pd.concat([rows, rows.iloc[[3]]], ignore_index=True)  # a duplicate row
    root = copy_release(tmp_path / "release", rows)
    (root / f"{FLOW_DIR}/{rows.loc[4, 'sub']}_{rows.loc[4, 'filename_o']} .png").unlink()          # missing
    crop = root / CROP_DIR / rows.loc[5, "imagename"]
    crop.unlink()
    cv2.imwrite(str(crop), np.zeros((100, 120, 3), np.uint8))                                     # wrong size
    with pytest.raises(DatasetError) as error:
        build_manifest("pub", "megc2019_public", root)
    message = str(error.value)
    assert "5 problems" in message
    for part in (f"subject 'casme2/{rows.loc[1, 'sub']}', sample '{rows.loc[1, 'filename_o']}': unknown label '3'",
                 f"sample '{rows.loc[2, 'filename_o']}': unknown source dataset 'casme'",
                 f"sample '{rows.loc[3, 'filename_o']}': duplicate row",
                 f"sample '{rows.loc[4, 'filename_o']}': flow image", "does not exist",
                 f"sample '{rows.loc[5, 'filename_o']}': apex crop image", "is 120x100, not 224x224"):
        assert part in message, (part, message)


def test_a_flow_image_of_one_channel_is_named_not_read_as_three_equal_ones(tmp_path):
    raw = pd.read_csv(RELEASE / LIST_NAME, dtype=str, keep_default_na=False)
    rows = raw.head(3).copy()
    root = copy_release(tmp_path / "release", rows)
    flow = root / f"{FLOW_DIR}/{rows.loc[1, 'sub']}_{rows.loc[1, 'filename_o']} .png"
    grey = cv2.imread(str(flow))[:, :, 0]
    flow.unlink()
    cv2.imwrite(str(flow), grey)                                     # one channel, as the issue found it
    crop = root / CROP_DIR / rows.loc[2, "imagename"]
    crop_grey = cv2.imread(str(crop), cv2.IMREAD_GRAYSCALE)
    crop.unlink()
    cv2.imwrite(str(crop), crop_grey)                                # a greyscale crop: converted, as SAMM's
    with pytest.raises(DatasetError) as error:
        build_manifest("pub", "megc2019_public", root)
    message = str(error.value)
    assert message.startswith(f"dataset 'pub', subject 'casme2/{rows.loc[1, 'sub']}', sample "
                              f"'{rows.loc[1, 'filename_o']}': flow image")
    assert "has 1 channel, not the three of a flow image (u, v, strain)" in message
    assert rows.loc[2, "filename_o"] not in message
    from famnet.datasets.megc2019_public import read_image

    assert read_image(crop, 224, "apex crop image").shape == (224, 224, 3)
    flow.unlink()
    cv2.imwrite(str(flow), np.dstack([grey, grey, grey, np.full_like(grey, 255)]))   # RGBA: not the encoding
    with pytest.raises(ValueError, match="has 4 channels, not the three of a flow image"):
        read_image(flow, 28, "flow image", flow=True)


def test_a_row_missing_from_its_au_sheet_is_an_error_naming_it(tmp_path):
    raw = pd.read_csv(RELEASE / LIST_NAME, dtype=str, keep_default_na=False)
    rows = raw.head(2).copy()
    rows.loc[1, "filename_o"] = "EP99_99"
    root = copy_release(tmp_path / "release", rows)
    shutil.copy(RELEASE / f"{FLOW_DIR}/{raw.loc[1, 'sub']}_{raw.loc[1, 'filename_o']} .png",
                root / f"{FLOW_DIR}/{rows.loc[1, 'sub']}_EP99_99 .png")
    with pytest.raises(DatasetError, match=rf"subject 'casme2/{rows.loc[1, 'sub']}', sample 'EP99_99': not in the casme2 "
                                           r"AU sheet"):
        build_manifest("pub", "megc2019_public", root, au_sheets={"casme2": str(SHEETS["casme2"])})


def test_the_flip_of_a_minmax_image_reverses_u_about_its_range():
    u = torch.tensor([[0.0, 64.0, 255.0], [10.0, 128.0, 200.0]])
    x = torch.stack([u, u + 1, u + 2]).unsqueeze(0)                   # N=1, u v strain
    flipped = hflip(x.clone(), "flow", "minmax_255")
    assert torch.equal(flipped[0, 0], 255.0 - u.flip(-1))              # 255 - u, mirrored
    assert torch.equal(flipped[0, 1:], x[0, 1:].flip(-1))              # v and strain only mirror
    assert torch.equal(hflip(x.clone(), "flow", "pixels")[0, 0], -u.flip(-1))
    # A per-image min-max of the negated u equals that of 255 - u: the baselines read either encoding.
    spec = InputSpec("flow", per_image="minmax_255")
    from famnet.data import _per_image
    assert torch.allclose(_per_image(hflip(x.clone(), "flow", "pixels"), spec), _per_image(flipped, spec), atol=1e-4)


def test_a_standardised_input_refuses_mixed_flow_encodings_and_a_per_image_one_reads_them():
    mixed = {"minmax_255": ["megc2019_public/casme2/sub01"], "pixels": ["casme2/sub01"]}
    with pytest.raises(ValueError, match=r"flow differently \(minmax_255: 1 subjects, e.g. 'megc2019_public/casme2/sub01'"):
        flow_encoding_for(InputSpec("flow"), mixed)
    assert flow_encoding_for(InputSpec("flow", per_image="minmax_255", standardise=False), mixed) == "pixels"
    assert flow_encoding_for(InputSpec("flow"), {"minmax_255": ["a"]}) == "minmax_255"


def test_a_method_that_needs_a_clip_is_refused_for_the_release_with_dataset_and_input_named():
    problems = input_problems(["amnet2d", "amnet3d", "htnet", ("amnet2d", "input_apex")],
                              {"amnet2d": {"input": "flow"}, "amnet3d": {"input": "clip_diff"}},
                              {"megc2019_public": "megc2019_public", "casme2": "casme2"})
    assert len(problems) == 1
    assert "method 'amnet3d' reads input 'clip_diff', which dataset 'megc2019_public' (format megc2019_public" in problems[0]


def test_preprocessing_reads_the_release_images_into_the_artefact(shared_manifest, tmp_path):
    from preprocess.release import process_release_subject
    from preprocess.settings import resolve

    rows = shared_manifest[shared_manifest["subject"] == "megc2019_public/casme2/sub01"]
    arrays, meta = process_release_subject(rows, "megc2019_public", resolve({"crop_size": 64}))
    n = len(rows)
    assert arrays["apex_rgb"].shape == (n, 64, 64, 3) and arrays["flow"].shape == (n, 3, 28, 28)
    png = cv2.imread(str(RELEASE / rows.iloc[0]["flow_file"]))                    # BGR
    assert np.array_equal(arrays["flow"][0, 0], png[:, :, 2]) and np.array_equal(arrays["flow"][0, 2], png[:, :, 0])
    assert meta["flow_encoding"] == "minmax_255" and meta["face_sources"]["padded"] == n
    # The eyes above the mouth, inside the 224 crop (dlib on the padded-canvas MTCNN box).
    eyes, mouth = arrays["landmarks"][:, 36:48].mean(1), arrays["landmarks"][:, 48:60].mean(1)
    assert ((eyes[:, 1] > 20) & (eyes[:, 1] < mouth[:, 1] - 50) & (mouth[:, 1] < 224)).all()


def test_a_crop_without_a_face_falls_back_to_the_whole_crop_and_says_so(shared_manifest, tmp_path, capsys):
    from preprocess.release import process_release_subject
    from preprocess.settings import resolve

    rows = shared_manifest.head(1).copy()
    root = tmp_path / "release"
    (root / CROP_DIR).mkdir(parents=True)
    (root / FLOW_DIR).mkdir(parents=True)
    shutil.copy(RELEASE / rows.iloc[0]["flow_file"], root / rows.iloc[0]["flow_file"])
    cv2.imwrite(str(root / rows.iloc[0]["apex_file"]), np.full((224, 224, 3), 90, np.uint8))   # no face
    rows["frames_dir"] = str(root)
    arrays, meta = process_release_subject(rows, "megc2019_public", resolve({"crop_size": 32}))
    assert meta["samples"][0]["face_source"] == "crop_box" and meta["samples"][0]["face_fallback"]
    assert arrays["face_box"][0].tolist() == [0.0, 0.0, 224.0, 224.0]
    assert "MTCNN found no face" in capsys.readouterr().err


def test_the_workflows_input_kinds_are_what_the_models_declare():
    from famnet.methods import BASELINES, METHODS, input_kind

    for name in BASELINES:
        assert input_kind(name) == METHODS[name].input_spec({}).kind, name
    assert input_kind("amnet2d", {"input": "apex_flow"}) == "apex_flow" and input_kind("amnet3d") == "clip"
