"""Smoke run of the preprocess rule through Snakemake: a one-dataset config (synthetic SMIC, two
subjects of three samples), its preprocessing targets, in a scratch copy of the workflow."""

import json
import subprocess
import sys

import numpy as np
import yaml

from preprocess.artifact import load_subject
from workflow_run import settings_folder, tool_env, workflow_copy

from famnet.provenance import expected_preprocess

CONFIG = {
    "run": {"protocols": ["one"]},
    "synthetic": {"demo": {"size": "tiny", "seed": 0, "formats": ["smic"], "samples_per_class": 1}},
    "datasets": {"syn_smic": {"format": "smic", "root": "results/synthetic/demo/SMIC/HS", "annotation": None,
                              "synthetic": "demo"}},
    "protocols": {"one": {"datasets": ["syn_smic"],
                          "classes": {"negative": ["negative"], "positive": ["positive"], "surprise": ["surprise"]}}},
    "preprocess": {"crop_size": 96, "clip_size": 48, "clip_length": 8, "flow_size": 48,
                   "flow": {"method": "farneback"}, "apex": {"size": 48}},
}


def test_preprocess_rules_process_every_subject_with_log_benchmark_and_qc(tmp_path):
    work = workflow_copy(tmp_path)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))   # the Snakefile's default config
    # The preprocessing targets only (this config has no training section).
    result = subprocess.run([sys.executable, "-m", "snakemake", "preprocessed", "--cores", "2"], cwd=work,
                            env=tool_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # the artefacts' folder is named by the hash of the settings that built them (SMIC: 100 fps)
    folder = settings_folder(work / "results" / "preprocessed" / "syn_smic")
    assert folder.name == expected_preprocess({**CONFIG["preprocess"], "fps": 100}, "smic")["hash"]
    report = json.loads(folder.with_suffix(".report.json").read_text())
    assert report["subjects"] == 2 and report["samples_processed"] == 6 and report["skipped"] == []
    for subject in ("s01", "s02"):
        data = load_subject(folder / f"{subject}.npz")
        assert data["clip"].shape == (3, 8, 3, 48, 48) and data["flow"].shape == (3, 3, 48, 48)
        assert set(data["apex_source"]) == {"estimated"} and data["meta"]["subject"] == f"syn_smic/{subject}"
        assert np.isfinite(data["flow"].astype(np.float32)).all()
        assert (work / "results" / "qc" / "syn_smic" / folder.name / f"{subject}.png").stat().st_size > 10_000
        assert (work / "results" / "benchmarks" / "preprocess" / "syn_smic" / folder.name / f"{subject}.tsv").is_file()
        assert data["provenance"]["hash"] == folder.name and len(data["provenance"]["inputs"]) == 16
        log = (work / "results" / "logs" / "preprocess" / "syn_smic" / folder.name / f"{subject}.log").read_text()
        assert "3/3" in log and "3 samples preprocessed, 0 skipped" in log   # progress bar and summary
