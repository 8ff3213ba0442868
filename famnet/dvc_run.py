"""The config files and the data a DVC run names (dvc.yaml's ``config`` stage; docs/dvc.md).

``params.yaml`` lists the config files a DVC run merges over config/config.yaml, in order (as
``snakemake --configfile a.yaml b.yaml`` would). The ``config`` stage, run first by every
``dvc repro``, writes:

- ``results/run/config.yaml``: the merged, validated config. Every later stage passes this one file
  to Snakemake and reads its params from its sections, so an overlay's key (config/public.yaml's
  epochs) changes exactly the stages that read its section, like a key of config/config.yaml.
- ``results/run/data.yaml``: per dataset the run's protocols read, a fingerprint of its root, sheets
  and errata file. The roots live outside the repository, where no DVC dependency can name them
  from a fixed dvc.yaml, so the stage is ``always_changed`` and the preprocess stage reads this
  file's params: a changed dataset reruns it (Snakemake then rebuilds the subjects whose files
  changed), an unchanged one leaves the file byte-identical and nothing downstream runs.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from famnet.config import ConfigError, load_config
from famnet.io import write_text_atomic
from famnet.provenance import digest, path_fingerprint

BASE_CONFIG = "config/config.yaml"
PARAMS_FILE = "params.yaml"
RUN_FOLDER = "results/run"


def run_configfiles(params_path: str | Path = PARAMS_FILE) -> list[str]:
    """The overlays params.yaml names (``configfiles``), each checked to exist."""
    params = yaml.safe_load(Path(params_path).read_text()) or {}
    files = params.get("configfiles") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"{params_path}: configfiles must be a list of config file paths, got {files!r}")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise ConfigError(f"{params_path}: configfiles {missing} do not exist")
    return [f for f in files if Path(f) != Path(BASE_CONFIG)]


def run_datasets(config: dict) -> list[str]:
    """The datasets the run's protocols read."""
    return sorted({d for p in config["run"]["protocols"] for d in config["protocols"][p]["datasets"]})


def dataset_fingerprint(name: str, spec: dict, config: dict) -> dict:
    """What a dataset's data is now: a generated one by the settings that generate it; a real one
    by its root (a listing: names, sizes, modification times), its sheets and errata (content)."""
    if spec.get("synthetic"):
        return {"generated": spec["synthetic"], "settings": digest(config["synthetic"][spec["synthetic"]])}
    if not Path(spec["root"]).exists():
        raise ConfigError(f"dataset {name!r}: root {spec['root']} does not exist (datasets.{name}.root; "
                          f"docs/datasets.md)")
    files = {"root": spec["root"], "annotation": spec.get("annotation"),
             **{f"au_sheets.{k}": v for k, v in (spec.get("au_sheets") or {}).items()}}
    if spec.get("errata") not in (None, "builtin", "none"):
        files["errata"] = spec["errata"]
    return {key: path_fingerprint(Path(path)) for key, path in files.items() if path}


def write_run(params_path: str | Path = PARAMS_FILE, out: str | Path = RUN_FOLDER) -> tuple[Path, Path]:
    """Merge the run's config files, fingerprint its datasets, write both files atomically."""
    overlays = run_configfiles(params_path)
    config = load_config(BASE_CONFIG, *overlays)
    data = {name: dataset_fingerprint(name, config["datasets"][name], config) for name in run_datasets(config)}
    out = Path(out)
    header = f"# written by `famnet dvc-config` from {', '.join([BASE_CONFIG, *overlays])}; do not edit\n"
    write_text_atomic(header + yaml.safe_dump(config, sort_keys=False), out / "config.yaml")
    write_text_atomic(yaml.safe_dump(data, sort_keys=True), out / "data.yaml")
    return out / "config.yaml", out / "data.yaml"
