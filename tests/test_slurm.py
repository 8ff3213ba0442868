"""The SLURM cluster profile: what it asks sbatch for, and a real single-node SLURM run.

The real run starts SLURM on this machine with scripts/slurm_localhost.sh (it installs Debian's
slurm-wlm and munge with apt-get if missing), runs the tiny synthetic workflow through
`--executor slurm` and checks that its table is the very table of the suite's local smoke run
(about 3.5 minutes on 2 cores, on top of the smoke run). It runs by default where it can: as root
(CI, containers) with SLURM or apt-get present. FAMNET_TEST_SLURM=1 runs it as another user
through passwordless sudo (and fails, not skips, where it cannot); FAMNET_TEST_SLURM=0 skips it.
`./pipeline.sh test -m slurm` runs it alone (docs/cluster.md).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from workflow_run import tool_env

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


def _why_no_real_slurm() -> str | None:
    """Why the real-SLURM test cannot run here by default, or None when it should run."""
    wanted = os.environ.get("FAMNET_TEST_SLURM", "")
    if wanted == "0":
        return "FAMNET_TEST_SLURM=0"
    if wanted == "1":
        return None
    if os.geteuid() != 0:
        return "not root: set FAMNET_TEST_SLURM=1 to start SLURM through passwordless sudo (docs/cluster.md)"
    if not (shutil.which("slurmctld") or shutil.which("apt-get")):
        return "neither SLURM nor apt-get to install it (Debian/Ubuntu only; docs/cluster.md)"
    return None


_NO_REAL_SLURM = _why_no_real_slurm()


@pytest.mark.slurm
@pytest.mark.skipif(_NO_REAL_SLURM is not None, reason=f"real SLURM: {_NO_REAL_SLURM}")
def test_workflow_on_a_real_single_node_slurm_gives_the_local_table(smoke_run):
    script = REPO / "scripts" / "slurm_localhost.sh"
    reference = smoke_run / "results" / "tables" / "all.csv"
    try:
        result = subprocess.run([str(script), "check", str(reference)], env=tool_env(),
                                capture_output=True, text=True, timeout=1800)
    finally:
        subprocess.run([str(script), "down"], env=tool_env(), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # Every compute job went through sbatch (the tiny config: 1 generator, 6 subjects, 6 folds x 6 methods).
    assert "43 sbatch submissions (preprocess 6, synthetic_dataset 1, train 36;" in output
    assert "has been submitted with SLURM jobid" in output
    assert "results/tables/all.csv identical in both runs (28 rows)" in output
