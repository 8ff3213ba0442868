"""Load and validate config/config.yaml against workflow/schemas/config.schema.yaml.

Errors name the offending key (``datasets.casme2.root``) so that a typo never silently becomes a
default. The Snakefile calls :func:`validate_config` on the merged config it loaded.
"""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The config does not match the schema or refers to something it does not define."""


def check_known_keys(values, settings_class, what: str) -> None:
    """Raise ValueError naming the keys of ``values`` that are no field of the dataclass."""
    from dataclasses import fields

    known = {f.name for f in fields(settings_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; known: {sorted(known)}")


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(path.read_text())


def _raise_first_error(schema: dict, value, prefix: tuple = ()) -> None:
    """ConfigError for the shallowest schema violation, with the key path and, for a typo, the key."""
    import jsonschema    # here, not at import: a train job needs only check_known_keys

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value),
                    key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if not errors:
        return
    error = errors[0]
    message = error.message
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        message = f"unknown key {', '.join(map(repr, unknown))} (known: {known})"
    path = ".".join(str(p) for p in (*prefix, *error.absolute_path)) or "(top level)"
    raise ConfigError(f"config error at {path}: {message}")


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Raise ConfigError for the first schema violation or dangling reference; return config."""
    _raise_first_error(schema or load_schema(), config)
    _check_references(config)
    return config


def validate_section(name: str, section: dict, schema: dict | None = None) -> dict:
    """Check one top-level section on its own (library and CLI use outside Snakemake)."""
    _raise_first_error((schema or load_schema())["properties"][name], section, prefix=(name,))
    return section


def _check_references(config: dict) -> None:
    datasets = config.get("datasets", {})
    synthetic = config.get("synthetic", {}) or {}
    protocols = config.get("protocols", {})
    from famnet.datasets.formats import FORMATS

    for name, spec in datasets.items():
        if spec["format"] not in FORMATS:
            raise ConfigError(f"config error at datasets.{name}.format: unknown format {spec['format']!r} "
                              f"(known: {sorted(FORMATS)})")
        fmt = FORMATS[spec["format"]]
        options = {key for known in FORMATS.values() for key in known.options}     # keys only some formats read
        foreign = sorted(k for k in options if k in spec and k not in fmt.options)
        if foreign:
            raise ConfigError(f"config error at datasets.{name}.{foreign[0]}: format {fmt.name} does not read it")
        if "synthetic" in spec and spec["synthetic"] not in synthetic:
            raise ConfigError(f"config error at datasets.{name}.synthetic: no synthetic entry named "
                              f"{spec['synthetic']!r} (defined: {sorted(synthetic)})")
        if fmt.needs_annotation and not spec.get("annotation"):
            raise ConfigError(f"config error at datasets.{name}.annotation: format {spec['format']} needs "
                              f"its annotation sheet")
        if "synthetic" in spec and spec["format"] not in synthetic[spec["synthetic"]].get("formats", []):
            raise ConfigError(f"config error at datasets.{name}.format: synthetic entry {spec['synthetic']!r} "
                              f"does not generate format {spec['format']}")
    from famnet.protocols import split_problem

    for name, spec in protocols.items():
        problem = split_problem(spec.get("split", "loso"), protocol_units(config, name))
        if problem:
            raise ConfigError(f"config error at protocols.{name}.split: {problem}")
    _check_methods(config)
    for name in config["run"]["protocols"]:
        if name not in protocols:
            raise ConfigError(f"config error at run.protocols: no protocol named {name!r} "
                              f"(defined: {sorted(protocols)})")
        missing_datasets(config, name, raise_error=True)


def _check_methods(config: dict) -> None:
    """Every method the run trains, and every section under models, is built in or declared (under
    external_methods or by an installed package's entry point: famnet.external)."""
    from famnet.methods import METHODS

    built_in = {name for name, m in METHODS.items() if m.kind != "external"}
    listed = (config.get("training") or {}).get("methods", [])
    declared = set(config.get("external_methods") or {})
    taken = sorted(declared & built_in)
    if taken:
        raise ConfigError(f"config error at external_methods.{taken[0]}: the name is taken by a built-in method")
    if set(listed) - built_in - declared:
        from importlib.metadata import entry_points

        declared |= {point.name for point in entry_points(group="famnet.methods")}
    for name in listed:
        if name not in built_in | declared:
            raise ConfigError(f"config error at training.methods: {name!r} is neither a built-in method "
                              f"({', '.join(sorted(built_in))}) nor declared under external_methods "
                              f"(docs/methods.md)")
    for name in (config.get("models") or {}):
        if name not in built_in | declared | {"aus", "famnet"}:
            raise ConfigError(f"config error at models.{name}: no method of that name (built in: "
                              f"{', '.join(sorted(built_in))}; external: {', '.join(sorted(declared)) or 'none'})")


def protocol_units(config: dict, protocol: str) -> list[str]:
    """What a protocol's split may name (famnet.protocols.protocol_units)."""
    from famnet.protocols import protocol_units as units

    # A dataset not defined (yet: an overlay may) is taken to be of the format of its name.
    formats = {name: (config["datasets"].get(name) or {}).get("format", name)
               for name in config["protocols"][protocol]["datasets"]}
    return units(config["protocols"][protocol], formats)


def missing_datasets(config: dict, protocol: str, raise_error: bool = False) -> list[str]:
    """Datasets a protocol needs that the config does not define."""
    missing = [d for d in config["protocols"][protocol]["datasets"] if d not in config["datasets"]]
    if missing and raise_error:
        raise ConfigError(f"config error at protocols.{protocol}.datasets: {missing} not defined under datasets; "
                          f"point them at your copies (docs/datasets.md) or remove {protocol!r} from run.protocols")
    return missing


def deep_update(base: dict, update: dict) -> dict:
    """Update ``base`` in place with ``update``, nested mappings key by key (as Snakemake merges configs)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def load_config(*paths) -> dict:
    """Merge YAML files left to right as Snakemake merges --configfile (nested keys update) and validate."""
    merged: dict = {}
    for path in paths:
        deep_update(merged, yaml.safe_load(Path(path).read_text()) or {})
    return validate_config(merged)
