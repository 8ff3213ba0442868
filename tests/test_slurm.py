"""The SLURM cluster profile: what it asks sbatch for, and (opt-in) a real single-node SLURM run.

The real run (`pytest -m slurm`, about 6 minutes, root or passwordless sudo, apt-get) starts SLURM on
this machine with scripts/slurm_localhost.sh and checks that the tiny synthetic workflow run through
`--executor slurm` gives the very table of a local run. It is left out of the default run (and CI)
for time: the default suite already takes about 10 of CI's 15 minutes (docs/cluster.md).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"


def _workflow_rules() -> set[str]:
    names = set()
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        names |= set(re.findall(r"^(?:rule|checkpoint) (\w+):", path.read_text(), flags=re.M))
    return names


def test_profile_uses_the_slurm_executor_with_resources_for_existing_rules():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert set(profile["set-resources"]) <= _workflow_rules()
    assert profile["set-resources"]["train"]["mem_mb"] >= 8000 and profile["set-resources"]["train"]["runtime"] >= 60
    # Partition and account are the site's: documented, never a made-up default that sbatch would reject.
    assert not {"slurm_partition", "slurm_account"} & set(profile["default-resources"])
    assert "slurm_partition" in PROFILE.read_text() and "slurm_account" in PROFILE.read_text()


def test_cheap_bookkeeping_rules_stay_local_and_compute_rules_are_submitted():
    snakefile = (REPO / "Snakefile").read_text()
    local = set(re.search(r"^localrules: (.+)$", snakefile, flags=re.M).group(1).replace(" ", "").split(","))
    assert local <= _workflow_rules()
    assert {"fuse", "evaluate", "tables", "protocol", "manifest"} <= local
    assert not {"preprocess", "train", "synthetic_dataset"} & local


def test_the_executor_plugin_is_installed():
    from importlib.metadata import version

    pinned = re.search(r"^snakemake-executor-plugin-slurm==(\S+)$", (REPO / "requirements.txt").read_text(), flags=re.M)
    assert pinned and version("snakemake-executor-plugin-slurm") == pinned.group(1)


@pytest.mark.slurm
def test_workflow_on_a_real_single_node_slurm_gives_the_local_table():
    script = REPO / "scripts" / "slurm_localhost.sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    try:
        result = subprocess.run([str(script), "check"], env=env, capture_output=True, text=True, timeout=1800)
    finally:
        subprocess.run([str(script), "down"], env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # Every compute job went through sbatch (the tiny config: 1 generator, 6 subjects, 6 folds x 2 branches).
    assert "19 sbatch submissions (preprocess 6, synthetic_dataset 1, train 12;" in output
    assert "results/tables/all.csv identical in both runs (12 rows)" in output
