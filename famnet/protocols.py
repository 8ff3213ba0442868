"""Protocols: which samples of which datasets, under which class map, and the LOSO fold table.

A protocol (config ``protocols.<name>``) lists datasets and a class map (class -> dataset emotion
words). Samples whose emotion is in no class are left out and counted in the build report, never
silently. ``sample_list: megc2019`` restricts the protocol to the official composite list.

``split`` says what a fold holds out (column ``fold`` of the table, column ``fold_by`` its unit):
- ``loso`` (default): one fold per subject, fold k holds out the k-th subject (sorted ids);
- ``lodo``: one fold per dataset, in the protocol's ``datasets`` order, training on the others;
- ``{train: [...], test: [...]}`` (holdout): one fold, 0, holding out every sample of the test
  datasets; the training datasets' samples are never held out (fold -1) and never scored.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

PROTOCOL_COLUMNS = ["dataset", "subject", "sample", "emotion", "class", "label", "fold", "fold_by", "aus", "onset",
                    "apex", "offset", "apex_source", "frames_dir", "frame_pattern"]
TRAIN_ONLY = -1      # the fold of a holdout protocol's training samples: never held out, never scored


class ProtocolError(ValueError):
    """A protocol cannot be built as specified (names the protocol)."""


def read_protocol_table(path, classes: list[str] | None = None) -> pd.DataFrame:
    """A written results/protocols/<protocol>.csv, ids and AU strings kept as text ('' = no AUs).

    With ``classes`` (the label order the caller uses), every row's ``label`` must be its
    ``class``'s position in that list: a table numbered in another order is an error, never a
    silent relabelling of every per-class number.
    """
    table = pd.read_csv(path, dtype={"subject": str, "sample": str, "dataset": str, "aus": str},
                        keep_default_na=False)
    if classes is not None:
        check_label_order(table, list(classes), str(path))
    return table


def check_label_order(table: pd.DataFrame, classes: list[str], where: str) -> None:
    """Raise ProtocolError unless label == classes.index(class) on every row of ``table``."""
    unknown = sorted(set(table["class"]) - set(classes))
    if unknown:
        raise ProtocolError(f"{where}: classes {unknown} are not in the class list {classes}")
    expected = table["class"].map({c: i for i, c in enumerate(classes)})
    wrong = table[expected != table["label"]]
    if not wrong.empty:
        pairs = sorted(set(zip(wrong["class"], wrong["label"])))
        raise ProtocolError(f"{where}: labels are not numbered in the class order {classes}: "
                            + ", ".join(f"{c!r} has label {int(l)}" for c, l in pairs))


def split_name(split) -> str:
    """The split as the table's ``split`` column writes it: loso, lodo, or holdout:A+B->C."""
    if split in (None, "loso", "lodo"):
        return split or "loso"
    return f"holdout:{'+'.join(sorted(split['train']))}->{'+'.join(sorted(split['test']))}"


def scored_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows some fold holds out: every row, less a holdout protocol's training-only rows."""
    return table[table["fold"] != TRAIN_ONLY] if "fold" in table else table


def protocol_folds_of(table: pd.DataFrame) -> list[int]:
    return sorted(int(f) for f in table["fold"].unique() if f != TRAIN_ONLY)


def split_problem(split, datasets: list[str]) -> str | None:
    """What is wrong with a protocol's split for its datasets, or None (the config check and
    build_protocol both ask)."""
    if split == "lodo" and len(datasets) < 2:
        return f"lodo needs at least two datasets, has {datasets}"
    if not isinstance(split, dict):
        return None
    train, test = list(split["train"]), list(split["test"])
    both = sorted(set(train) & set(test))
    if both:
        return f"datasets {both} are both trained on and held out"
    if sorted(train + test) != sorted(datasets):
        return (f"train {train} and test {test} must split the protocol's datasets between them: together "
                f"they must be exactly its datasets {datasets}")
    return None


def assign_folds(name: str, table: pd.DataFrame, datasets: list[str], split) -> pd.DataFrame:
    """``fold`` and ``fold_by`` of every row under the protocol's split (module docstring)."""
    split = split or "loso"
    if split == "loso":
        subjects = sorted(table["subject"].unique())
        return table.assign(fold=table["subject"].map({s: i for i, s in enumerate(subjects)}).astype(int),
                            fold_by="subject")
    if split == "lodo":
        present = [d for d in datasets if (table["dataset"] == d).any()]
        if len(present) < 2:
            raise ProtocolError(f"protocol {name!r}: split lodo needs samples of at least two datasets, "
                                f"has {present}")
        return table.assign(fold=table["dataset"].map({d: i for i, d in enumerate(present)}).astype(int),
                            fold_by="dataset")
    problem = split_problem(split, datasets)
    if problem:
        raise ProtocolError(f"protocol {name!r}: split: {problem}")
    train, test = list(split["train"]), list(split["test"])
    for role, names in (("train", train), ("test", test)):
        if not table["dataset"].isin(names).any():
            raise ProtocolError(f"protocol {name!r}: no sample of the {role} datasets {names}")
    return table.assign(fold=table["dataset"].isin(test).map({True: 0, False: TRAIN_ONLY}).astype(int),
                        fold_by="dataset")


def held_out_datasets(table: pd.DataFrame) -> dict[str, list[str]]:
    """{fold: the datasets it holds out} under lodo / holdout (empty under loso)."""
    if not (table["fold_by"] == "dataset").any():
        return {}
    scored = scored_rows(table)
    return {str(f): sorted(scored.loc[scored["fold"] == f, "dataset"].unique()) for f in protocol_folds_of(table)}


def protocol_units(spec: dict, formats: dict[str, str]) -> list[str]:
    """The datasets a protocol's rows are scored, split and counted by, in order: each of its
    datasets, or for a composite release (a format with ``sources``) its source datasets; only the
    protocol's ``sources`` where it lists them."""
    wanted = spec.get("sources")
    return [u for u in unit_formats(spec, formats) if wanted is None or u in wanted]


def unit_formats(spec: dict, formats: dict[str, str]) -> dict[str, str]:
    """The format (of an official sample list) of each unit: a composite's sources are their own."""
    from famnet.datasets.formats import FORMATS

    out = {}
    for name in spec["datasets"]:
        fmt = FORMATS.get(formats.get(name))
        out.update({s: s for s in fmt.sources} if fmt is not None and fmt.sources else {name: formats.get(name)})
    return out


def load_sample_list(name: str) -> pd.DataFrame:
    """A built-in sample list (famnet/protocol_data/<name>.csv): format, subject, sample, class."""
    try:
        with resources.files("famnet.protocol_data").joinpath(f"{name}.csv").open() as handle:
            return pd.read_csv(handle, dtype=str)
    except FileNotFoundError:
        raise ProtocolError(f"no built-in sample list named {name!r}") from None


def _emotion_to_class(protocol: str, classes: dict[str, list[str]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for class_name, words in classes.items():
        for word in words:
            if word in mapping:
                raise ProtocolError(f"protocol {protocol!r}: emotion {word!r} is in classes {mapping[word]!r} "
                                    f"and {class_name!r}")
            mapping[word] = class_name
    return mapping


def _restrict_to_list(protocol: str, table: pd.DataFrame, listed: pd.DataFrame, formats: dict[str, str]) -> pd.DataFrame:
    """Keep the listed samples; every listed sample must be present, with the listed class."""
    table = table.assign(_format=table["dataset"].map(formats), _local=table["subject"].str.split("/", n=1).str[1])
    merged = table.merge(listed.rename(columns={"class": "_listed_class"}), how="inner",
                         left_on=["_format", "_local", "sample"], right_on=["format", "subject", "sample"],
                         suffixes=("", "_list"))
    wanted = listed[listed["format"].isin(set(formats.values()))]
    if len(merged) != len(wanted):
        found = set(zip(merged["_format"], merged["_local"], merged["sample"]))
        absent = [t for t in zip(wanted["format"], wanted["subject"], wanted["sample"]) if t not in found]
        raise ProtocolError(f"protocol {protocol!r}: {len(absent)} listed sample(s) missing from the manifests, "
                            f"first: dataset format {absent[0][0]}, subject {absent[0][1]}, sample {absent[0][2]}")
    wrong = merged[merged["class"] != merged["_listed_class"]]
    if not wrong.empty:
        row = wrong.iloc[0]
        raise ProtocolError(f"protocol {protocol!r}: dataset {row.dataset!r}, subject {row.subject!r}, sample "
                            f"{row['sample']!r} has emotion {row.emotion!r} -> class {row['class']!r}, but the "
                            f"list says {row._listed_class!r}")
    return merged[table.columns.drop(["_format", "_local"])]


def _check_class_words(protocol: str, classes: dict[str, list[str]], manifests: dict[str, pd.DataFrame],
                       formats: dict[str, str], real: bool) -> None:
    """Every class word must be an emotion of at least one of the protocol's datasets: a typo
    ('negatve') would otherwise drop that emotion's samples silently. Synthetic datasets also
    count the words their generator may write, as a small draw need not use each."""
    present = {d: set(manifests[d]["emotion"]) for d in manifests}
    if not real:
        from famnet.datasets.synthetic.plan import VOCABULARY

        for d in present:
            present[d] |= {w.lower() for words in VOCABULARY.get(formats.get(d), {}).values() for w in words}
    present = {d: sorted(e) for d, e in present.items()}
    known = set().union(*map(set, present.values()))
    unknown = [(c, w) for c, words in classes.items() for w in words if w not in known]
    if unknown:
        listed = "; ".join(f"{d}: {', '.join(e)}" for d, e in present.items())
        raise ProtocolError(f"protocol {protocol!r}: class words match no emotion of its datasets: "
                            + ", ".join(f"{w!r} (class {c!r})" for c, w in unknown)
                            + f". The datasets' emotions are: {listed}")


def errata_summary(table: pd.DataFrame, applied: list[dict], to_class: dict[str, str]) -> dict:
    """Counts of one dataset's errata as they touch a protocol: corrected rows it holds, drops of
    samples whose emotion it would have used, and the ids involved."""
    held = set(zip(table["subject"], table["sample"]))
    corrected = [e for e in applied if e["action"] != "drop" and (e["subject"], e["sample"]) in held]
    dropped = [e for e in applied if e["action"] == "drop" and e["emotion"] in to_class]
    by_action: dict[str, int] = {}
    for e in applied:
        by_action[e["action"]] = by_action.get(e["action"], 0) + 1
    return {"applied_to_dataset": len(applied), "by_action": dict(sorted(by_action.items())),
            "samples_corrected": len({(e["subject"], e["sample"]) for e in corrected}),
            "samples_dropped": len(dropped), "errata": sorted({e["erratum"] for e in corrected + dropped})}


def build_protocol(name: str, spec: dict, manifests: dict[str, pd.DataFrame], formats: dict[str, str],
                   real: bool, errata: dict[str, list[dict]] | None = None) -> tuple[pd.DataFrame, dict]:
    """Return (protocol table, report). ``formats`` maps dataset name -> adapter format; ``real`` is
    True when no dataset is synthetic, in which case ``spec['expected']`` counts are asserted.
    ``errata`` maps dataset name -> the errata its manifest applied (counted in the report)."""
    missing = [d for d in spec["datasets"] if d not in manifests]
    if missing:
        raise ProtocolError(f"protocol {name!r}: no manifest for datasets {missing}")
    classes = list(spec["classes"])
    to_class = _emotion_to_class(name, spec["classes"])
    _check_class_words(name, spec["classes"], {d: manifests[d] for d in spec["datasets"]}, formats, real)
    units = protocol_units(spec, formats)
    problem = split_problem(spec.get("split"), units)
    if problem:
        raise ProtocolError(f"protocol {name!r}: split: {problem}")
    table = pd.concat([manifests[d] for d in spec["datasets"]], ignore_index=True)
    # A row's dataset is where it was recorded: a composite release's rows are its sources'.
    if "source" in table:
        source = table["source"].astype(object).fillna("").astype(str)
        table["dataset"] = source.where(source != "", table["dataset"])
    table = table[table["dataset"].isin(units)].copy() if spec.get("sources") else table
    table["class"] = table["emotion"].map(to_class)
    left_out = table[table["class"].isna()]
    table = table[table["class"].notna()].copy()
    if spec.get("sample_list"):
        table = _restrict_to_list(name, table, load_sample_list(spec["sample_list"]), unit_formats(spec, formats))
    if table.empty:
        raise ProtocolError(f"protocol {name!r}: no sample of {spec['datasets']} has an emotion in {classes}")
    table["label"] = table["class"].map({c: i for i, c in enumerate(classes)}).astype(int)
    subjects = sorted(table["subject"].unique())
    table = assign_folds(name, table, units, spec.get("split"))
    table = table.sort_values(["fold", "dataset", "subject", "sample"], kind="stable")[PROTOCOL_COLUMNS]
    table = table.reset_index(drop=True)
    scored = scored_rows(table)
    report = {
        "protocol": name, "datasets": spec["datasets"], "classes": classes, "real_data": real,
        "split": split_name(spec.get("split")), "samples": len(table), "subjects": len(subjects),
        "folds": len(protocol_folds_of(table)),
        "held_out_datasets": held_out_datasets(table),
        "samples_scored": len(scored), "samples_train_only": len(table) - len(scored),
        "per_class": {c: int((table["class"] == c).sum()) for c in classes},
        "per_dataset": {d: int((table["dataset"] == d).sum()) for d in units},
        "subjects_per_dataset": {d: int(table.loc[table["dataset"] == d, "subject"].nunique()) for d in units},
        "left_out_by_emotion": {str(k): int(v) for k, v in left_out["emotion"].value_counts().sort_index().items()},
        "sample_list": spec.get("sample_list"),
        "errata": {d: errata_summary(table[table["subject"].str.startswith(f"{d}/")], (errata or {}).get(d, []),
                                     to_class) for d in spec["datasets"]},
    }
    if real and spec.get("expected"):
        check_expected(name, report, spec["expected"])
    return table, report


def check_expected(name: str, report: dict, expected: dict) -> None:
    """Assert the published counts of a protocol built from real data."""
    problems = []
    for key in ("samples", "subjects", "folds"):
        if key in expected and expected[key] != report[key]:
            problems.append(f"{key} {report[key]} != expected {expected[key]}")
    for dataset, count in expected.get("per_dataset", {}).items():
        if report["per_dataset"].get(dataset) != count:
            problems.append(f"dataset {dataset} {report['per_dataset'].get(dataset)} != expected {count}")
    for dataset, count in expected.get("subjects_per_dataset", {}).items():
        if report["subjects_per_dataset"].get(dataset) != count:
            problems.append(f"dataset {dataset} subjects {report['subjects_per_dataset'].get(dataset)} != expected {count}")
    for class_name, count in expected.get("classes", {}).items():
        if report["per_class"].get(class_name) != count:
            problems.append(f"class {class_name} {report['per_class'].get(class_name)} != expected {count}")
    if problems:
        raise ProtocolError(f"protocol {name!r} built from real data does not match its published counts: "
                            + "; ".join(problems))
