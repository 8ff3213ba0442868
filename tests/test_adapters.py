"""The dataset adapters on synthetic data written in the real distributed layouts.

The manifests are checked against truth.csv (what the generator drew), and every kind of bad input
must fail with a DatasetError naming the dataset, subject and sample.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import ALL_FORMATS, layout_paths, manifest_for

from famnet.aus import normalise_aus
from famnet.datasets import MANIFEST_COLUMNS, DatasetError, build_manifest

SHEET_FORMATS = ("casme2", "samm", "mmew", "casme3")


@dataclass(frozen=True)
class Sheet:
    header_row: int     # 1-based, as openpyxl counts
    onset: str
    apex: str
    offset: str


SHEETS = {
    "casme2": Sheet(1, "OnsetFrame", "ApexFrame", "OffsetFrame"),
    "samm": Sheet(14, "Onset Frame", "Apex Frame", "Offset Frame"),
    "mmew": Sheet(1, "OnsetFrame", "ApexFrame", "OffsetFrame"),
    "casme3": Sheet(1, "Onset", "Apex", "Offset"),
}


# --- helpers ---------------------------------------------------------------------------------------

def read_truth(out_dir) -> pd.DataFrame:
    return pd.read_csv(Path(out_dir) / "truth.csv", dtype={"subject": str, "sample": str, "aus_label": str},
                       keep_default_na=False)


def manifest_ids(fmt: str, subject: str, sample: str, onset: int) -> tuple[str, str]:
    """(subject id without the dataset prefix, sample id) the adapter gives a truth / sheet row."""
    if fmt == "casme2":
        return subject if subject.startswith("sub") else f"sub{int(subject):02d}", sample
    if fmt == "smic":
        def megc(text):
            return re.sub(r"^s(\d+)", lambda m: f"s{int(m.group(1)):02d}", text)
        return megc(subject), megc(sample)
    if fmt == "mmew":
        return f"S{int(subject):02d}", sample
    if fmt == "casme3":
        return subject, f"{sample}_{onset}"
    return subject, sample  # samm


def sheet_path(out_dir, info, fmt) -> Path:
    return layout_paths(out_dir, info, fmt)[1]


def header_columns(ws, fmt) -> dict[str, int]:
    """Header name -> 1-based column number."""
    row = SHEETS[fmt].header_row
    return {cell.value: cell.column for cell in ws[row] if cell.value is not None}


def edit_sheet(path, edit) -> None:
    """Open an annotation workbook, call edit(worksheet), save it in place."""
    workbook = openpyxl.load_workbook(path)
    edit(workbook.worksheets[0])
    workbook.save(path)


def first_data_row(ws, fmt) -> dict:
    columns = header_columns(ws, fmt)
    row = SHEETS[fmt].header_row + 1
    return {name: ws.cell(row=row, column=col).value for name, col in columns.items()}


def ids_of_first_data_row(out_dir, info, fmt) -> tuple[str, str]:
    workbook = openpyxl.load_workbook(sheet_path(out_dir, info, fmt), read_only=True)
    row = first_data_row(workbook.worksheets[0], fmt)
    workbook.close()
    return manifest_ids(fmt, str(row["Subject"]), str(row["Filename"]), row[SHEETS[fmt].onset])


def set_first_data_row(out_dir, info, fmt, column: str, value) -> None:
    def edit(ws):
        ws.cell(row=SHEETS[fmt].header_row + 1, column=header_columns(ws, fmt)[column]).value = value
    edit_sheet(sheet_path(out_dir, info, fmt), edit)


def build_error(out_dir, info, fmt) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        manifest_for(out_dir, info, fmt)
    return caught.value


def assert_names(error: DatasetError, fmt: str, subject: str | None = None, sample: str | None = None):
    """The message names the dataset and, where given, the subject and sample."""
    message = str(error)
    assert f"'syn_{fmt}'" in message
    if subject is not None:
        assert re.search(rf"subject '(syn_{fmt}/)?{re.escape(subject)}'", message), message
    if sample is not None:
        assert f"sample '{sample}'" in message, message


# --- manifests of the intact synthetic data --------------------------------------------------------

@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_manifest_shape_and_frames(synthetic_tiny, fmt):
    out_dir, info = synthetic_tiny
    manifest = manifest_for(out_dir, info, fmt)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert len(manifest) == 12
    assert manifest["subject"].nunique() == 2
    assert (manifest["dataset"] == f"syn_{fmt}").all()
    assert manifest["subject"].str.startswith(f"syn_{fmt}/").all()
    assert not manifest.duplicated(["subject", "sample"]).any()
    assert (manifest["n_frames"] == manifest["offset"] - manifest["onset"] + 1).all()
    for row in manifest.itertuples():
        for n in range(row.onset, row.offset + 1):
            assert (Path(row.frames_dir) / row.frame_pattern.format(n)).is_file(), (row.sample, n)


@pytest.mark.parametrize("fmt, subjects, example", [
    ("casme2", {"sub01", "sub02"}, ("sub01", "EP01_01f")),
    ("samm", {"006", "007"}, ("006", "006_1_1")),
    ("smic", {"s01", "s02"}, ("s01", "s01_ne_01")),
    ("mmew", {"S01", "S02"}, ("S01", "S01-01-001")),
    ("casme3", {"spNO.1", "spNO.2"}, ("spNO.1", "a_7")),
])
def test_subject_and_sample_ids(synthetic_tiny, fmt, subjects, example):
    out_dir, info = synthetic_tiny
    manifest = manifest_for(out_dir, info, fmt)
    assert set(manifest["subject"]) == {f"syn_{fmt}/{s}" for s in subjects}
    subject, sample = example
    assert ((manifest["subject"] == f"syn_{fmt}/{subject}") & (manifest["sample"] == sample)).any()


def test_smic_ids_are_megc_style_though_folders_are_not(synthetic_tiny):
    out_dir, info = synthetic_tiny
    root = layout_paths(out_dir, info, "smic")[0]
    assert (root / "s1" / "micro" / "negative" / "s1_ne_01").is_dir()
    manifest = manifest_for(out_dir, info, "smic")
    row = manifest[manifest["sample"] == "s01_ne_01"].iloc[0]
    assert row["subject"] == "syn_smic/s01"
    assert Path(row["frames_dir"]).name == "s1_ne_01"


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_manifest_matches_truth(synthetic_tiny, fmt):
    out_dir, info = synthetic_tiny
    manifest = manifest_for(out_dir, info, fmt).set_index(["subject", "sample"])
    truth = read_truth(out_dir)
    truth = truth[truth["format"] == fmt]
    assert len(truth) == len(manifest) == 12
    for t in truth.itertuples():
        subject, sample = manifest_ids(fmt, t.subject, t.sample, int(t.onset))
        row = manifest.loc[(f"syn_{fmt}/{subject}", sample)]
        where = (fmt, t.subject, t.sample)
        assert (row["onset"], row["offset"]) == (int(t.onset), int(t.offset)), where
        assert row["emotion"] == t.emotion.lower(), where
        assert row["aus"] == ("" if fmt == "smic" else normalise_aus(t.aus_label)), where
        assert row["fixes"] == "", where
        apex_unknown = fmt == "smic" or (fmt == "casme2" and str(t.apex_unknown) == "True")
        if apex_unknown:
            assert pd.isna(row["apex"]) and row["apex_source"] == "estimated", where
        else:
            assert row["apex"] == int(t.apex) and row["apex_source"] == "annotated", where


def test_casme2_unknown_apexes_are_present(synthetic_tiny):
    """The tiny set exercises the '/' apex: at least one CASME II row has it."""
    out_dir, info = synthetic_tiny
    manifest = manifest_for(out_dir, info, "casme2")
    assert manifest["apex"].isna().sum() >= 1
    assert (manifest.loc[manifest["apex"].isna(), "apex_source"] == "estimated").all()
    assert (manifest.loc[manifest["apex"].notna(), "apex_source"] == "annotated").all()


# --- the sheets carry the real releases' quirks ----------------------------------------------------

def test_samm_sheet_has_13_note_rows_above_the_header(synthetic_tiny):
    out_dir, info = synthetic_tiny
    raw = pd.read_excel(sheet_path(out_dir, info, "samm"), sheet_name="MICRO_ONLY", header=None, dtype=object)
    assert str(raw.iloc[13, 0]).strip() == "Subject"
    assert not (raw.iloc[:13, 0].astype(str).str.strip() == "Subject").any()
    assert str(raw.iloc[0, 0]).startswith("SAMM")


def test_casme2_sheet_has_blank_header_cells(synthetic_tiny):
    out_dir, info = synthetic_tiny
    workbook = openpyxl.load_workbook(sheet_path(out_dir, info, "casme2"), read_only=True)
    header = next(workbook.worksheets[0].iter_rows(min_row=1, max_row=1, values_only=True))
    workbook.close()
    assert header[2] is None and header[6] is None          # columns 3 and 7, 1-based
    assert [h for h in header if h is not None] == ["Subject", "Filename", "OnsetFrame", "ApexFrame",
                                                    "OffsetFrame", "Action Units", "Estimated Emotion"]


# --- bad input: DatasetError naming dataset, subject, sample ---------------------------------------

@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_missing_frame_folder(syn_copy, fmt):
    out_dir, info = syn_copy
    target = manifest_for(out_dir, info, fmt).iloc[0]
    subject = target["subject"].split("/", 1)[1]
    frames_dir = Path(target["frames_dir"])
    for frame in frames_dir.iterdir():
        frame.unlink()
    frames_dir.rmdir()
    error = build_error(out_dir, info, fmt)
    # SMIC has no sheet: its first sample's folder is missed from the numbering of the others
    assert ("no folder" if fmt == "smic" else "does not exist") in str(error)
    assert_names(error, fmt, subject, target["sample"])


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_missing_frame_file_inside_the_clip(syn_copy, fmt):
    out_dir, info = syn_copy
    target = manifest_for(out_dir, info, fmt).iloc[0]
    middle = (target["onset"] + target["offset"]) // 2
    (Path(target["frames_dir"]) / target["frame_pattern"].format(middle)).unlink()
    error = build_error(out_dir, info, fmt)
    assert "missing" in str(error)
    assert_names(error, fmt, target["subject"].split("/", 1)[1], target["sample"])


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_apex_outside_onset_offset(syn_copy, fmt):
    out_dir, info = syn_copy
    workbook = openpyxl.load_workbook(sheet_path(out_dir, info, fmt), read_only=True)
    offset = first_data_row(workbook.worksheets[0], fmt)[SHEETS[fmt].offset]
    workbook.close()
    set_first_data_row(out_dir, info, fmt, SHEETS[fmt].apex, offset + 5)
    error = build_error(out_dir, info, fmt)
    assert "outside" in str(error)
    assert_names(error, fmt, *ids_of_first_data_row(out_dir, info, fmt))


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_duplicate_sample_ids(syn_copy, fmt):
    out_dir, info = syn_copy

    def duplicate_first_row(ws):
        first = SHEETS[fmt].header_row + 1
        ws.append([cell.value for cell in ws[first]])
    edit_sheet(sheet_path(out_dir, info, fmt), duplicate_first_row)
    error = build_error(out_dir, info, fmt)
    assert "duplicate" in str(error)
    assert_names(error, fmt, *ids_of_first_data_row(out_dir, info, fmt))


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_unreadable_sheet(syn_copy, fmt):
    out_dir, info = syn_copy
    sheet_path(out_dir, info, fmt).write_bytes(b"\x00\x01 this is not a workbook \xff" * 20)
    error = build_error(out_dir, info, fmt)
    assert "cannot read" in str(error)
    assert_names(error, fmt)


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_missing_sheet(syn_copy, fmt):
    out_dir, info = syn_copy
    sheet_path(out_dir, info, fmt).unlink()
    error = build_error(out_dir, info, fmt)
    assert "does not exist" in str(error)
    assert_names(error, fmt)


def test_missing_smic_root(syn_copy):
    out_dir, info = syn_copy
    root = layout_paths(out_dir, info, "smic")[0]
    root.rename(root.with_name("HS_moved"))
    error = build_error(out_dir, info, "smic")
    assert "does not exist" in str(error)
    assert_names(error, "smic")


def test_smic_without_a_sheet_names_a_lost_sample_folder_and_counts_the_rest(syn_copy):
    """No sheet lists SMIC's samples: a gap in a subject's numbering of an emotion and an empty
    emotion folder are errors naming them; the counts per subject and folder are kept."""
    import shutil

    out_dir, info = syn_copy
    root = layout_paths(out_dir, info, "smic")[0]
    intact = manifest_for(out_dir, info, "smic")
    counts = intact.attrs["folder_counts"]
    assert sum(n for folders in counts.values() for n in folders.values()) == len(intact)
    assert counts["s01"] == intact[intact["subject"] == "syn_smic/s01"]["emotion"].value_counts().to_dict()
    first = sorted((root / "s1" / "micro" / "negative").iterdir())[0]          # s1_ne_01 of s1_ne_01.._0n
    shutil.rmtree(first)
    for clip in (root / "s2" / "micro" / "positive").iterdir():
        shutil.rmtree(clip)
    error = build_error(out_dir, info, "smic")
    message = str(error)
    assert f"subject 's01', sample 's01_ne_01': no folder {first}" in message
    assert "numbers a subject's samples of an emotion from 1 without gaps" in message
    assert f"subject 's02': emotion folder {root / 's2' / 'micro' / 'positive'} holds no sample folder" in message


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_sheet_lacking_a_required_column(syn_copy, fmt):
    out_dir, info = syn_copy
    onset = SHEETS[fmt].onset

    def rename_onset(ws):
        ws.cell(row=SHEETS[fmt].header_row, column=header_columns(ws, fmt)[onset]).value = "Start"
    edit_sheet(sheet_path(out_dir, info, fmt), rename_onset)
    error = build_error(out_dir, info, fmt)
    assert "lacks columns" in str(error) and onset in str(error)
    assert_names(error, fmt)


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_non_numeric_onset(syn_copy, fmt):
    out_dir, info = syn_copy
    subject, sample = ids_of_first_data_row(out_dir, info, fmt)
    if fmt == "casme3":
        sample = sample.split("_")[0]  # the sample id needs the onset, which is what is broken
    set_first_data_row(out_dir, info, fmt, SHEETS[fmt].onset, "abc")
    error = build_error(out_dir, info, fmt)
    assert "not a frame number" in str(error) and "'abc'" in str(error)
    assert_names(error, fmt, subject, sample)


EMOTION_COLUMN = {"casme2": "Estimated Emotion", "samm": "Estimated Emotion", "mmew": "Estimated Emotion",
                  "casme3": "emotion"}


@pytest.mark.parametrize("fmt", SHEET_FORMATS)
def test_an_unknown_emotion_word_is_named_with_its_row_unless_accepted(syn_copy, fmt):
    """'Hapiness' in a sheet: the row would otherwise leave every protocol silently."""
    from famnet.datasets.formats import get_format

    out_dir, info = syn_copy
    subject, sample = ids_of_first_data_row(out_dir, info, fmt)
    set_first_data_row(out_dir, info, fmt, EMOTION_COLUMN[fmt], "Hapiness")
    error = build_error(out_dir, info, fmt)
    assert_names(error, fmt, subject, sample)
    if fmt == "mmew":      # MMEW files a sample under its emotion's folder: the row names the folder it lacks
        assert re.search(r"frame folder \S+/hapiness/\S+ does not exist", str(error)), str(error)
        return
    assert "unknown emotion 'hapiness'" in str(error) and f"datasets.syn_{fmt}.accept_emotions" in str(error)
    assert ", ".join(sorted(get_format(fmt).emotions)) in str(error)      # the known words, listed
    root, sheet = layout_paths(out_dir, info, fmt)
    accepted = build_manifest(f"syn_{fmt}", fmt, root, sheet, errata="none", accept_emotions=["hapiness"])
    assert (accepted["emotion"] == "hapiness").sum() == 1


def test_unknown_format(synthetic_tiny):
    out_dir, info = synthetic_tiny
    root, annotation = layout_paths(out_dir, info, "casme2")
    with pytest.raises(DatasetError) as caught:
        build_manifest("syn_casme2", "casme4", root, annotation)
    assert "unknown format" in str(caught.value)
    assert_names(caught.value, "casme2")


# --- documented fixes and layout variants ----------------------------------------------------------

def test_casme2_offset_past_last_frame_is_clamped(syn_copy):
    out_dir, info = syn_copy
    before = manifest_for(out_dir, info, "casme2")
    subject, sample = ids_of_first_data_row(out_dir, info, "casme2")
    target = before[(before["subject"] == f"syn_casme2/{subject}") & (before["sample"] == sample)].iloc[0]
    last = max(int(p.stem[3:]) for p in Path(target["frames_dir"]).glob("img*.jpg"))
    assert last == target["offset"]
    set_first_data_row(out_dir, info, "casme2", "OffsetFrame", last + 3)

    # The clamp is a CASME II erratum (famnet/errata/casme2.csv), applied to every row it fits.
    after = manifest_for(out_dir, info, "casme2", errata="builtin")
    row = after[(after["subject"] == target["subject"]) & (after["sample"] == sample)].iloc[0]
    assert row["offset"] == last
    assert row["n_frames"] == last - target["onset"] + 1
    assert row["fixes"] == f"casme2-offset-past-last-frame: offset {last + 3} past last frame {last}: clamped"
    assert [e["erratum"] for e in after.attrs["errata"]] == ["casme2-offset-past-last-frame"]
    with pytest.raises(DatasetError, match=r"frame file\(s\) missing"):   # without the errata: an error
        manifest_for(out_dir, info, "casme2")
    others = after["sample"] != sample
    assert (after.loc[others, "fixes"] == "").all()


def test_casme2_integer_subject_reads_the_same(syn_copy):
    out_dir, info = syn_copy
    before = manifest_for(out_dir, info, "casme2")

    def subject_as_integer(ws):
        for (cell,) in ws.iter_rows(min_row=2, min_col=1, max_col=1):
            if cell.value is not None:
                cell.value = int(cell.value)
    edit_sheet(sheet_path(out_dir, info, "casme2"), subject_as_integer)
    workbook = openpyxl.load_workbook(sheet_path(out_dir, info, "casme2"), read_only=True)
    assert next(workbook.worksheets[0].iter_rows(min_row=2, max_row=2, values_only=True))[0] == 1
    workbook.close()

    after = manifest_for(out_dir, info, "casme2")
    assert "syn_casme2/sub01" in set(after["subject"])
    pd.testing.assert_frame_equal(after, before)


def test_casme2_cropped_release_frame_names(syn_copy):
    out_dir, info = syn_copy
    target = manifest_for(out_dir, info, "casme2").iloc[0]
    frames_dir = Path(target["frames_dir"])
    for frame in list(frames_dir.glob("img*.jpg")):
        frame.rename(frame.with_name("reg_" + frame.name))
    manifest = manifest_for(out_dir, info, "casme2")  # validates every frame
    patterns = dict(zip(manifest["frames_dir"], manifest["frame_pattern"]))
    assert patterns.pop(str(frames_dir)) == "reg_img{}.jpg"
    assert set(patterns.values()) == {"img{}.jpg"}


def test_samm_four_digit_frame_names(syn_copy):
    out_dir, info = syn_copy
    before = manifest_for(out_dir, info, "samm")
    target = before.iloc[0]
    subject = target["subject"].split("/", 1)[1]
    frames_dir = Path(target["frames_dir"])
    for frame in list(frames_dir.glob(f"{subject}_?????.jpg")):
        number = int(frame.stem.split("_")[1])
        assert number < 10000
        frame.rename(frame.with_name(f"{subject}_{number:04d}.jpg"))
    manifest = manifest_for(out_dir, info, "samm")  # validates every frame
    row = manifest[manifest["frames_dir"] == str(frames_dir)].iloc[0]
    assert row["frame_pattern"] == f"{subject}_{{:04d}}.jpg"
    assert (manifest.loc[manifest["frames_dir"] != str(frames_dir), "frame_pattern"].str.endswith("{:05d}.jpg")).all()
    pd.testing.assert_frame_equal(manifest.drop(columns="frame_pattern"), before.drop(columns="frame_pattern"))


def test_blank_apex_cell_is_unknown_and_estimated(syn_copy):
    out_dir, info = syn_copy
    subject, sample = ids_of_first_data_row(out_dir, info, "samm")
    set_first_data_row(out_dir, info, "samm", SHEETS["samm"].apex, None)
    manifest = manifest_for(out_dir, info, "samm")
    row = manifest[(manifest["subject"] == f"syn_samm/{subject}") & (manifest["sample"] == sample)].iloc[0]
    assert pd.isna(row["apex"]) and row["apex_source"] == "estimated"


# --- every problem at once, paths up front, errata, MMEW as CSV ------------------------------------

def test_every_bad_row_is_reported_at_once_with_a_count_past_twenty(syn_copy):
    out_dir, info = syn_copy
    sheet = sheet_path(out_dir, info, "casme3")
    header = SHEETS["casme3"].header_row

    def break_rows(ws):
        columns = header_columns(ws, "casme3")
        data_rows = list(range(header + 1, ws.max_row + 1))
        for n in data_rows[:2]:                      # apex after offset
            ws.cell(row=n, column=columns["Apex"]).value = ws.cell(row=n, column=columns["Offset"]).value + 5
        ws.cell(row=data_rows[2], column=columns["AU"]).value = "12X9"      # AU typo
        ws.cell(row=data_rows[3], column=columns["Onset"]).value = "abc"    # not a frame number
        for i in range(20):                          # 20 more rows naming a missing material folder
            ws.append([ws.cell(row=data_rows[4], column=1).value, "zz", 10 * i + 1, 10 * i + 2, 10 * i + 3, "4",
                       "I", "disgust"])
    edit_sheet(sheet, break_rows)
    error = build_error(out_dir, info, "casme3")
    message = str(error)
    assert message.startswith("dataset 'syn_casme3': 24 problems (fix them all, then rerun):")
    assert message.count("is outside [onset") == 2 and "cannot read AU token '12X9'" in message
    assert "'abc', not a frame number" in message
    assert message.endswith("... and 4 more") and message.count("\n  ") == 21
    for line in message.splitlines()[1:-1]:          # each listed problem names subject and sample
        assert re.match(r"  subject '[^']+', sample '[^']+': ", line), line


def test_a_missing_root_is_named_before_any_sample(syn_copy):
    out_dir, info = syn_copy
    root, annotation = layout_paths(out_dir, info, "casme2")
    with pytest.raises(DatasetError) as caught:
        build_manifest("syn_casme2", "casme2", root.with_name("nowhere"), annotation.with_name("none.xlsx"))
    message = str(caught.value)
    assert message == (f"dataset 'syn_casme2': root folder {root.with_name('nowhere')} does not exist; annotation "
                       f"sheet {annotation.with_name('none.xlsx')} does not exist (check datasets.syn_casme2 in the config)")


def _errata_file(path, *rows):
    header = "erratum,subject,filename,onset,release_says,action,value,source,reason\n"
    path.write_text(header + "".join(f"{r}\n" for r in rows))
    return path


def _casme3_row(manifest, index):
    row = manifest.iloc[index]
    return row["subject"].split("/", 1)[1], row["sample"].split("_")[0], int(row["onset"]), row


def test_errata_correct_drop_and_record_rows(syn_copy, tmp_path):
    out_dir, info = syn_copy
    before = manifest_for(out_dir, info, "casme3")
    (s0, m0, on0, r0), (s1, m1, on1, r1), (s2, m2, on2, r2) = (_casme3_row(before, i) for i in (0, 1, 2))
    errata = _errata_file(
        tmp_path / "errata.csv",
        f"e-drop,{s0},{m0},{on0},apex={r0['apex']}; emotion={r0['emotion']},drop,,test,occluded",
        f"e-set,{s1},{m1},{on1},offset={r1['offset']},set,onset={on1 + 1},test,typo",
        f"e-apex,{s2},{m2},{on2},apex={r2['apex']},estimate_apex,,test,apex outside")
    after = manifest_for(out_dir, info, "casme3", errata=errata)
    assert len(after) == len(before) - 1
    assert r0["sample"] not in set(after.loc[after["subject"] == r0["subject"], "sample"])
    moved = after[(after["subject"] == r1["subject"]) & (after["sample"] == f"{m1}_{on1 + 1}")].iloc[0]
    assert moved["onset"] == on1 + 1 and moved["fixes"] == f"e-set: onset {on1} -> {on1 + 1}"
    assert moved["apex_source"] == "annotated"
    estimated = after[(after["subject"] == r2["subject"]) & (after["sample"] == r2["sample"])].iloc[0]
    assert pd.isna(estimated["apex"]) and estimated["apex_source"] == "estimated"
    assert estimated["fixes"] == f"e-apex: apex {r2['apex']} -> estimated"
    assert sorted((e["erratum"], e["action"]) for e in after.attrs["errata"]) == [   # in sheet order
        ("e-apex", "estimate_apex"), ("e-drop", "drop"), ("e-set", "set")]


def test_an_erratum_for_another_release_is_an_error_naming_it(syn_copy, tmp_path):
    out_dir, info = syn_copy
    subject, material, onset, row = _casme3_row(manifest_for(out_dir, info, "casme3"), 0)
    wrong = _errata_file(tmp_path / "wrong.csv",
                         f"e-x,{subject},{material},{onset},apex={row['apex'] + 1},drop,,test,why",
                         f"e-gone,{subject},zz,7,apex=9,drop,,test,why")
    with pytest.raises(DatasetError) as caught:
        manifest_for(out_dir, info, "casme3", errata=wrong)
    message = str(caught.value)
    assert f"sample '{row['sample']}': erratum e-x ({wrong}) does not fit this sheet: the sheet has " \
           f"apex={row['apex']}, the erratum expects apex={row['apex'] + 1}" in message
    assert "erratum e-gone" in message and "names a row the sheet does not have (filename 'zz', onset 7)" in message


def test_a_malformed_errata_file_is_an_error(syn_copy, tmp_path):
    out_dir, info = syn_copy
    bad = _errata_file(tmp_path / "bad.csv", "e-1,spNO.1,a,3,,rename,,test,why")
    with pytest.raises(DatasetError, match=r"erratum 'e-1' .*action 'rename' not in"):
        manifest_for(out_dir, info, "casme3", errata=bad)
    with pytest.raises(DatasetError, match=r"errata file .*missing.csv does not exist"):
        manifest_for(out_dir, info, "casme3", errata=tmp_path / "missing.csv")


def test_mmew_sheet_reads_the_same_as_csv(syn_copy):
    out_dir, info = syn_copy
    root, sheet = layout_paths(out_dir, info, "mmew")
    as_csv = sheet.with_suffix(".csv")
    pd.read_excel(sheet, dtype=object).to_csv(as_csv, index=False)
    from_xlsx = manifest_for(out_dir, info, "mmew")
    from_csv = build_manifest("syn_mmew", "mmew", root, as_csv, errata="none")
    pd.testing.assert_frame_equal(from_csv, from_xlsx)
