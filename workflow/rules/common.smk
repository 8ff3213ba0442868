# Helpers shared by the rules: config lookups and wildcard constraints.
import json
import re
import shlex
from pathlib import Path


def dataset_spec(name):
    if name not in config["datasets"]:
        raise WorkflowError(f"dataset {name!r} is not defined under datasets in the config "
                            f"(defined: {sorted(config['datasets'])})")
    return config["datasets"][name]


def protocol_spec(name):
    if name not in config["protocols"]:
        raise WorkflowError(f"protocol {name!r} is not defined under protocols in the config "
                            f"(defined: {sorted(config['protocols'])})")
    from famnet.config import missing_datasets

    missing = missing_datasets(config, name)
    if missing:
        raise WorkflowError(f"protocol {name!r} needs datasets {missing}, which are not defined under "
                            f"datasets in the config: point them at your copies (docs/datasets.md)")
    return config["protocols"][name]


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "^$"


wildcard_constraints:
    dataset=_alternatives(config["datasets"]),
    protocol=_alternatives(config["protocols"]),
    synthetic=_alternatives(config.get("synthetic") or {}),
