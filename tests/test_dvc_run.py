"""The DVC run's `config` stage (famnet.dvc_run): the config files params.yaml names, merged as
Snakemake merges them, and the fingerprints of the datasets the run reads, here on a copy of the
public release's real files (docs/dvc.md). The round trip through DVC itself is tests/test_dvc.py."""

import shutil
from pathlib import Path

import pytest
import yaml

from famnet.cli import main
from famnet.config import ConfigError, deep_update
from famnet.dvc_run import write_run

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO.parent / "shared" / "public" / "megc2019_htnet"
LIST_NAME = "combined_3_class2_for_optical_flow.csv"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """A copy of the release's list and its first 6 flow images, an overlay pointing at it and a
    params.yaml naming the overlay and config/ci.yaml; the working directory is the repository root
    (as under `dvc repro`)."""
    release = tmp_path / "release"
    flows = sorted((RELEASE / "datasets" / "combined_datasets_whole").iterdir())[:6]
    (release / "datasets" / "combined_datasets_whole").mkdir(parents=True)
    for image in flows:
        shutil.copy(image, release / "datasets" / "combined_datasets_whole" / image.name)
    shutil.copy(RELEASE / LIST_NAME, release / LIST_NAME)
    sheet = tmp_path / "casme2.xlsx"
    shutil.copy(REPO.parent / "shared" / "reference" / "CASME2-coding-20140508.xlsx", sheet)
    overlay = tmp_path / "public.yaml"
    overlay.write_text(yaml.safe_dump({
        "run": {"protocols": ["megc2019_public_casme2_smic"]},
        "datasets": {"megc2019_public": {"format": "megc2019_public", "root": str(release), "annotation": None,
                                         "au_sheets": {"casme2": str(sheet)}}},
        "training": {"epochs": 7}}))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"configfiles": ["config/ci.yaml", str(overlay)]}))
    monkeypatch.chdir(REPO)
    return tmp_path


def test_the_merged_config_is_the_base_under_the_overlays_in_their_order(run_dir):
    config_path, _ = write_run(run_dir / "params.yaml", run_dir / "out")
    merged = yaml.safe_load(config_path.read_text())
    expected = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    deep_update(expected, yaml.safe_load((REPO / "config" / "ci.yaml").read_text()))
    deep_update(expected, yaml.safe_load((run_dir / "public.yaml").read_text()))
    assert merged == expected
    assert merged["training"]["epochs"] == 7                     # the last overlay wins over ci.yaml's 2
    assert merged["run"]["protocols"] == ["megc2019_public_casme2_smic"]


def test_the_data_file_fingerprints_the_run_datasets_and_changes_only_with_their_files(run_dir):
    _, data_path = write_run(run_dir / "params.yaml", run_dir / "out")
    first = data_path.read_bytes()
    data = yaml.safe_load(first)
    assert list(data) == ["megc2019_public"]                     # only what the run's protocol reads
    assert data["megc2019_public"]["root"].startswith("listing:7 files:")    # the list + 6 images
    assert data["megc2019_public"]["au_sheets.casme2"].startswith("sha256:")

    write_run(run_dir / "params.yaml", run_dir / "out")
    assert data_path.read_bytes() == first                       # unchanged data: byte-identical

    image = next((run_dir / "release" / "datasets" / "combined_datasets_whole").iterdir())
    image.write_bytes(image.read_bytes()[:-10])                  # one image replaced
    write_run(run_dir / "params.yaml", run_dir / "out")
    changed = yaml.safe_load(data_path.read_text())["megc2019_public"]
    assert changed["root"] != data["megc2019_public"]["root"]
    assert changed["au_sheets.casme2"] == data["megc2019_public"]["au_sheets.casme2"]

    with open(run_dir / "casme2.xlsx", "ab") as sheet:            # the AU sheet edited
        sheet.write(b"\0")
    write_run(run_dir / "params.yaml", run_dir / "out")
    assert yaml.safe_load(data_path.read_text())["megc2019_public"]["au_sheets.casme2"] != \
        changed["au_sheets.casme2"]


def test_generated_datasets_are_fingerprinted_by_the_settings_that_generate_them(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "params.yaml").write_text("configfiles: []\n")
    _, data_path = write_run(tmp_path / "params.yaml", tmp_path / "out")
    data = yaml.safe_load(data_path.read_text())
    assert sorted(data) == ["syn_casme2", "syn_samm", "syn_smic"]
    assert {entry["generated"] for entry in data.values()} == {"demo"}


def test_a_missing_root_or_overlay_is_named_and_nothing_is_written(run_dir, capsys):
    shutil.rmtree(run_dir / "release")
    with pytest.raises(ConfigError, match=r"dataset 'megc2019_public': root .*release does not exist"):
        write_run(run_dir / "params.yaml", run_dir / "out")
    assert not (run_dir / "out").exists()

    (run_dir / "params.yaml").write_text("configfiles: [config/nonexistent.yaml]\n")
    assert main(["dvc-config", "--params", str(run_dir / "params.yaml"), "--out", str(run_dir / "out")]) == 1
    assert "configfiles ['config/nonexistent.yaml'] do not exist" in capsys.readouterr().err
    assert not (run_dir / "out").exists()
