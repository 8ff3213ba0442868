"""Running the Snakemake workflow from tests: a scratch copy of the repository's workflow files and
one snakemake call on the tiny CI sizes (shared by the smoke run and the SLURM check)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def workflow_copy(tmp_path: Path) -> Path:
    """A scratch folder with the Snakefile, workflow/, config/ and profiles/ (the package is installed)."""
    work = tmp_path / "wf"
    work.mkdir()
    shutil.copy(REPO / "Snakefile", work)
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / folder, work / folder)
    return work


def tool_env() -> dict:
    """This interpreter's environment first on PATH, so that snakemake's jobs find famnet."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake(work: Path, *args: str, configfiles: tuple[str, ...] = ("config/ci.yaml",),
              env: dict | None = None) -> subprocess.CompletedProcess:
    """snakemake in ``work`` on config/ci.yaml (or ``configfiles``) with 2 cores; targets go in ``args``;
    ``env``: variables added to the environment (e.g. PYTHONPATH for an external method)."""
    # Targets go before --configfile, which takes every following word as a config file.
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile", *configfiles],
                          cwd=work, env={**tool_env(), **(env or {})}, capture_output=True, text=True, timeout=900)


def settings_folder(parent: Path) -> Path:
    """The one settings-named folder under ``parent`` (results/models/<protocol>/<variant>/<hash>,
    results/preprocessed/<dataset>/<hash>, ...) of a run made under a single config."""
    folders = [p for p in Path(parent).iterdir() if p.is_dir()]
    assert len(folders) == 1, f"{parent}: expected one settings folder, found {[p.name for p in folders]}"
    return folders[0]
