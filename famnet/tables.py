"""Evaluation of a protocol's pooled predictions, the results table and the figures.

``evaluate_protocol`` pools every fold's predictions of a method and seed (each protocol sample
exactly once, else an error naming the sample), computes UF1 / UAR overall and per dataset
(famnet.metrics), per-class scores, the confusion matrix and per-subject accuracy, and summarises
seeds as mean and standard deviation. ``build_table`` turns the metrics of the run's protocols into
``results/tables/all.csv``: UF1 / UAR in percent, as papers report them, each method beside its
paper's published numbers (``paper_*``: FAMNet's from the protocol's ``paper`` key, a baseline's
from famnet/methods.py with the protocol they were obtained under and their source; ``paper_alt_*``
a second published pair where there is one, e.g. STSTNet's authors' Python rerun), and, when the
test-epoch oracle analysis ran (famnet/oracle.py), what test-epoch selection would have reported, in columns of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from famnet.fuse import read_predictions
from famnet.aus import parse_aus
from famnet.bootstrap import (NOT_COVERED, BootstrapSettings, SliceResamples, compare, covers_retraining,
                              retraining_note, unit_of_split, why_not_covered)
from famnet.claims import Claim, Fusion, claim_comparisons
from famnet.methods import METHODS
from famnet.metrics import au_f1, confusion, evaluate, per_class, per_fold_mean
from famnet.oracle import oracle_pooled
from famnet.protocols import protocol_folds_of, scored_rows, split_name
from famnet.selection import SELECTION_COLUMNS

ABLATION_NAMES = {"no_attention": "w/o attention", "no_au": "w/o AU task", "input_apex": "on the apex crop",
                  "input_flow": "on the flow", "input_apex_flow": "on apex + flow", "input_clip": "on the RGB clip",
                  "input_clip_diff": "on frame differences", "fixed": "(fixed recipe)"}
ORACLE_COLUMNS = ["uf1_test_epoch_oracle", "uf1_test_epoch_oracle_ci_low", "uf1_test_epoch_oracle_ci_high",
                  "uar_test_epoch_oracle", "uar_test_epoch_oracle_ci_low", "uar_test_epoch_oracle_ci_high"]
TABLE_COLUMNS = ["protocol", "split", "slice", "method", "variant", "uf1", "uf1_ci_low", "uf1_ci_high", "uar",
                 "uar_ci_low", "uar_ci_high", "uf1_std", "uar_std", "ci_note", "retraining", "samples", "subjects",
                 "seeds", "selection", "search_epochs", "reduced", *ORACLE_COLUMNS, "paper_uf1", "paper_uar",
                 "paper_protocol", "paper_selection", "paper_source", "paper_alt_uf1", "paper_alt_uar",
                 "paper_alt_source", "meb_uf1", "meb_oracle_uf1", "meb_source", "diff_uf1", "diff_uar", "data",
                 "config_hash", "code_version", "device"]
# Scores the table shows in percent, rounded to 2 decimals.
PERCENT_COLUMNS = ["uf1", "uf1_ci_low", "uf1_ci_high", "uar", "uar_ci_low", "uar_ci_high", "uf1_std", "uar_std",
                   *ORACLE_COLUMNS, "diff_uf1", "diff_uar"]
COMPARISON_COLUMNS = ["protocol", "split", "slice", "reference", "method", "variant", "uf1", "reference_uf1",
                      "uf1_diff", "uf1_diff_ci_low", "uf1_diff_ci_high", "uf1_p", "uar", "reference_uar", "uar_diff",
                      "uar_diff_ci_low", "uar_diff_ci_high", "uar_p", "distinguishable", "assessed", "seeds",
                      "reference_seeds", "retraining", "search_epochs", "reference_search_epochs", "units", "unit",
                      "resamples", "level", "config_hash", "code_version"]
ENSEMBLE = "+ensemble"     # a variant's seed ensemble: its softmax averaged over seeds, one row of its own


def code_version(where=".") -> str:
    """``git describe --always --dirty`` of the checkout ``where``, or the package version outside git."""
    from famnet.provenance import code_version as described

    return described(where)


def method_name(variant: str, seeds: int | None = None, sizes: list[str] | None = None) -> str:
    """'amnet2d' -> 'AMNet2D', 'famnet-no_au' -> 'FAMNet w/o AU task', 'amnet2d+ensemble' (with
    ``seeds``) -> 'AMNet2D, 3-seed ensemble', 'amnet2d+amnet2d-input_apex' -> 'AMNet2D + AMNet2D on
    the apex crop (late fusion)'; with ``sizes`` (famnet.methods.size_departures) a network run at
    other sizes than its paper's says so: 'HTNet (dim 32, 1 block per level)'."""
    if variant.endswith(ENSEMBLE):
        return f"{method_name(variant[:-len(ENSEMBLE)], sizes=sizes)}, {seeds or 'all'}-seed ensemble"
    if "+" in variant:       # a late fusion of two rows (famnet.claims); evaluate_protocol names each side's sizes
        first, second = variant.split("+", 1)
        return f"{method_name(first)} + {method_name(second)} (late fusion)"
    branch, _, ablation = variant.partition("-")
    # METHODS holds the external methods this process registered too (famnet.external)
    name = ("FAMNet" if branch == "famnet" else METHODS[branch].display) + (f" ({', '.join(sizes)})" if sizes else "")
    return f"{name} {ABLATION_NAMES[ablation]}" if ablation else name


def reduced_sizes(variant: str, expected_models: dict | None) -> list[str]:
    """How the networks behind a row depart from their papers' sizes, from the model settings the
    run built them with (FAMNet: both branches'); [] when at the papers' sizes or not recorded."""
    from famnet.methods import size_departures

    base = variant[:-len(ENSEMBLE)] if variant.endswith(ENSEMBLE) else variant
    branch = base.partition("-")[0]
    sources = [("amnet2d", "amnet2d"), ("amnet3d", "amnet3d")] if branch == "famnet" else [(branch, base)]
    out = []
    for name, trained in sources:
        settings = ((expected_models or {}).get(trained) or {}).get("settings") or {}
        if "model" in settings:
            out += [d for d in size_departures(name, settings["model"]) if d not in out]
    return out


def model_config_of(predictions_path) -> Path | None:
    """results/predictions/<p>/<v>/<hash>/seed<s>/fold<k>.csv -> results/models/<p>/<v>/<hash>/seed<s>/fold<k>/config.json."""
    parts = list(Path(predictions_path).parts)
    if "predictions" not in parts:
        return None
    parts[parts.index("predictions")] = "models"
    return Path(*parts).with_suffix("") / "config.json"


def read_checked_predictions(path, variant: str, seed: int, expected: dict | None) -> pd.DataFrame:
    """One fold's predictions; with ``expected`` ({"hash", "settings"} of the run's model), refused
    unless every row's model_hash is the run's (famnet.provenance)."""
    from famnet.provenance import check_model_hash

    frame = read_predictions(path)
    if expected:
        check_model_hash(frame, expected["hash"], f"{variant} seed {seed}", path, model_config_of(path),
                         expected.get("settings"))
    return frame


def pooled_predictions(protocol_table: pd.DataFrame, files: list, variant: str, seed: int,
                       expected: dict | None = None) -> pd.DataFrame:
    """All folds of one method and seed; every protocol sample exactly once with its protocol label
    (and, with ``expected``, from models built under the run's settings)."""
    frame = pd.concat([read_checked_predictions(path, variant, seed, expected) for path in files], ignore_index=True)
    keys = ["subject", "sample"]
    duplicated = frame[frame.duplicated(keys, keep=False)]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(f"{variant} seed {seed}: subject {row.subject!r}, sample {row['sample']!r} is predicted "
                         f"more than once")
    score_columns = [c for c in frame.columns if c.startswith(("au_", "prob_"))]   # AU and class probabilities
    columns = ["dataset", "subject", "sample", "fold", "label"] + (["aus"] if "aus" in protocol_table else [])
    selected = [c for c in SELECTION_COLUMNS if c in frame]          # what a selected method chose
    merged = protocol_table[columns].merge(
        frame[keys + ["prediction", "fold", "label"] + score_columns + selected], on=keys, how="left",
        suffixes=("", "_predicted"))
    missing = merged[merged["prediction"].isna()]
    if not missing.empty:
        row = missing.iloc[0]
        raise ValueError(f"{variant} seed {seed}: no prediction for dataset {row.dataset!r}, subject "
                         f"{row.subject!r}, sample {row['sample']!r} ({len(missing)} missing)")
    if (merged["label"] != merged["label_predicted"]).any() or (merged["fold"] != merged["fold_predicted"]).any():
        raise ValueError(f"{variant} seed {seed}: labels or folds in the predictions differ from the protocol table")
    merged["prediction"] = merged["prediction"].astype(int)
    pooled = merged[columns + ["prediction"] + score_columns + selected].copy()
    built = [c for c in ("code_version", "device") if c in frame]   # recorded by the models (famnet.predict)
    pooled.attrs["built_by"] = {c: sorted(set(frame[c].fillna("").astype(str)) - {""}) for c in built}
    return pooled


def au_scores(pooled: pd.DataFrame) -> dict | None:
    """Per-AU F1 (AU probability >= 0.5 = present) over the samples with AU labels; None when the
    method has no AU outputs (fused methods) or the protocol lists no AUs."""
    au_columns = [c for c in pooled.columns if c.startswith("au_")]
    if not au_columns or "aus" not in pooled:
        return None
    aus = [int(c[len("au_"):]) for c in au_columns]
    coded = [parse_aus(cell) for cell in pooled["aus"]]
    targets = np.array([[au in sample for au in aus] for sample in coded], dtype=bool).reshape(len(pooled), len(aus))
    mask = np.array([bool(sample) for sample in coded])
    f1 = au_f1(targets, pooled[au_columns].to_numpy() >= 0.5, mask)
    return {"samples": int(mask.sum()), "mean_f1": float(f1.mean()),
            "f1": {str(au): float(score) for au, score in zip(aus, f1)}}


def _seed_metrics(pooled: pd.DataFrame, classes: list[str]) -> dict:
    matrix = confusion(pooled["label"], pooled["prediction"], len(classes))
    scores = per_class(matrix)
    fold_uf1, fold_uar = per_fold_mean(pooled, len(classes))
    per_subject = (pooled.assign(correct=pooled["label"] == pooled["prediction"])
                   .groupby("subject")["correct"].mean())
    return {
        "slices": evaluate(pooled, classes).to_dict("records"),
        "per_class": {name: {k: float(scores[k][i]) for k in ("precision", "recall", "f1")} | {
            "support": int(scores["support"][i])} for i, name in enumerate(classes)},
        "confusion": matrix.tolist(),
        "per_fold_mean": {"uf1": fold_uf1, "uar": fold_uar},
        "per_subject_accuracy": {s: float(v) for s, v in per_subject.items()},
        "au": au_scores(pooled),
    }


def evaluate_protocol(protocol: str, protocol_table: pd.DataFrame, classes: list[str],
                      files: dict[str, dict[int, list]], oracle_files: dict[str, dict[int, list]] | None = None,
                      bootstrap: BootstrapSettings | None = None, reference: str = "famnet",
                      expected_models: dict[str, dict] | None = None, min_seeds: int = 3,
                      ensembles: bool = True, fusions: list | None = None, claims: list | None = None) -> dict:
    """``files[variant][seed]`` = that run's fold prediction CSVs; ``oracle_files`` the same for the
    per-epoch held-out predictions (test_epochs.csv) of the trained variants when the test-epoch
    oracle analysis is on. Returns the metrics document: per method and slice the pooled scores,
    their spread over seeds and their bootstrap interval over held-out units and, with two or more
    seeds, over seeds too (famnet.bootstrap; ``min_seeds``: fewer and the row says retraining is not
    covered), every method's paired comparison with ``reference`` (the first method when the
    protocol has no such variant), and with ``ensembles`` a row per method of several seeds that
    averages its softmax over them (``<variant>+ensemble``). Only the rows some fold holds out are
    scored (a holdout protocol's training datasets are not). ``expected_models`` ({variant: {"hash",
    "settings"}}): every prediction must come from a model built under those settings
    (famnet.provenance); the code versions and devices the models record are kept per method.
    ``fusions`` (famnet.claims.Fusion): late fusions of two rows, scored as rows ``<a>+<b>``;
    ``claims`` (famnet.claims.Claim): their pairs compared, recorded under ``claims``."""
    settings = bootstrap or BootstrapSettings()
    full_table, protocol_table = protocol_table, scored_rows(protocol_table)
    split = split_of(full_table)
    resamples = slice_resamples(protocol_table, unit_of_split(split), settings, classes)
    methods, replicates, all_pooled = {}, {}, {}
    for variant, per_seed in files.items():
        pooled = all_pooled[variant] = {int(seed): pooled_predictions(protocol_table, paths, variant, int(seed),
                                                                      (expected_models or {}).get(variant))
                                        for seed, paths in sorted(per_seed.items())}
        sizes = reduced_sizes(variant, expected_models)
        methods[variant], replicates[variant] = method_document(variant, pooled, classes, resamples, min_seeds,
                                                                sizes=sizes)
        if oracle_files and variant in oracle_files:
            methods[variant]["test_epoch_oracle"] = oracle_document(
                protocol_table, oracle_files[variant], classes, variant, resamples, min_seeds)
        ensemble = seed_ensemble(pooled, classes) if ensembles else None
        if ensemble is not None:
            name = variant + ENSEMBLE
            methods[name], replicates[name] = method_document(name, {0: ensemble}, classes, resamples, min_seeds,
                                                              members=len(pooled),
                                                              selection=methods[variant]["selection"], sizes=sizes)
    for fusion in fusions or []:
        pooled = fused_rows(fusion, all_pooled, classes)
        sizes = list(dict.fromkeys(s for row in fusion.rows for s in reduced_sizes(row, expected_models)))
        methods[fusion.name], replicates[fusion.name] = method_document(fusion.name, pooled, classes, resamples,
                                                                        min_seeds, sizes=sizes)
        methods[fusion.name]["fusion"] = {"rows": list(fusion.rows), "weight": fusion.weight, "mode": fusion.mode}
        methods[fusion.name]["method"] = " + ".join(methods[row]["method"] for row in fusion.rows) + " (late fusion)"
    missing = classes_missing_from_training(full_table, classes)
    reference_variant = reference if reference in methods else next(iter(methods))
    return {"protocol": protocol, "split": split, "classes": classes, "samples": len(protocol_table),
            "subjects": int(protocol_table["subject"].nunique()),
            "folds_missing_a_training_class": len(missing), "classes_missing_from_training": missing,
            "bootstrap": settings.to_dict() | {"unit": unit_of_split(split), "min_seeds": min_seeds},
            "reference": {"variant": reference_variant, "method": method_name(reference_variant),
                          "asked": reference},
            "methods": methods,
            "comparisons": paired_comparisons(methods, replicates, resamples, reference_variant, settings.level),
            "claims": claim_comparisons(claims or [], methods, replicates, settings.level)}


def fused_rows(fusion, pooled: dict[str, dict[int, pd.DataFrame]], classes: list[str]) -> dict[int, pd.DataFrame]:
    """{seed: the late fusion of the two rows' predictions of that seed} over the seeds both rows ran."""
    from famnet.fuse import fuse_pooled

    absent = [row for row in fusion.rows if row not in pooled]
    if absent:
        raise ValueError(f"evaluation.fusions: {fusion.name}: rows {absent} are not in this run "
                         f"(its rows: {sorted(pooled)})")
    first, second = (pooled[row] for row in fusion.rows)
    seeds = sorted(set(first) & set(second))
    if not seeds:
        raise ValueError(f"evaluation.fusions: {fusion.name}: the two rows share no seed ({sorted(first)} vs "
                         f"{sorted(second)})")
    return {seed: fuse_pooled(first[seed], second[seed], classes, fusion.weight, fusion.mode) for seed in seeds}


def method_document(variant: str, pooled: dict[int, pd.DataFrame], classes: list[str],
                    resamples: dict[str, "SliceResamples"], min_seeds: int, members: int | None = None,
                    selection: dict | None = None, sizes: list[str] | None = None):
    """(the metrics document of one method, its resampled scores per slice). ``pooled``: {seed: its
    pooled predictions}; ``members``: for a seed ensemble, how many seeds it averages, and
    ``selection`` its seeds' search (famnet.selection), which the ensemble's rows name too;
    ``sizes``: how its network departs from its paper's (named in the row, ``reduced``)."""
    seeds = {seed: _seed_metrics(frame, classes) for seed, frame in pooled.items()}
    replicates = slice_replicates(resamples, list(pooled.values()), len(classes), variant)
    retraining = retraining_note(len(pooled), min_seeds) if members is None else \
        f"{NOT_COVERED}one ensemble of {members} seeds"
    summary = seed_summary({seed: m["slices"] for seed, m in seeds.items()}, resamples, replicates, retraining)
    selection = selection or selection_summary(pooled)
    name = method_name(variant, members, sizes)
    if selection:
        name += f", selected: {selection['label']}"
    document = {"method": name, "summary": summary, "scores": scores_by_slice(summary), "seeds": seeds,
                "retraining": retraining, "seed_count": members or len(pooled), "built_by": built_by(pooled.values()),
                "selection": selection, "reduced": list(sizes or [])}
    return document, replicates


def seed_ensemble(pooled: dict[int, pd.DataFrame], classes: list[str]) -> pd.DataFrame | None:
    """The seeds' softmax averaged per sample, its argmax the prediction (None for one seed, or
    predictions without class probabilities)."""
    columns = [f"prob_{name}" for name in classes]
    frames = list(pooled.values())
    if len(frames) < 2 or not all(set(columns) <= set(frame) for frame in frames):
        return None
    for frame in frames[1:]:     # pooled_predictions orders every seed's rows as the protocol table
        if not frame[["subject", "sample"]].equals(frames[0][["subject", "sample"]]):
            raise ValueError("seed ensemble: the seeds' pooled predictions hold different samples")
    probabilities = np.mean([frame[columns].to_numpy(dtype=float) for frame in frames], axis=0)
    keep = [c for c in frames[0].columns if not c.startswith(("prob_", "au_")) and c not in SELECTION_COLUMNS]
    ensemble = frames[0][keep].copy()
    ensemble[columns] = probabilities
    ensemble["prediction"] = probabilities.argmax(axis=1)
    ensemble.attrs["built_by"] = built_by(frames)
    return ensemble


def built_by(frames) -> dict[str, list[str]]:
    """The code versions and devices the models of these pooled predictions recorded, together."""
    frames = list(frames)
    return {key: sorted({v for frame in frames for v in frame.attrs.get("built_by", {}).get(key, [])})
            for key in ("code_version", "device")}


def selection_summary(pooled: dict[int, pd.DataFrame]) -> dict | None:
    """What a selected method searched and chose per seed and fold (famnet.selection's prediction
    columns); None for a fixed recipe."""
    frames = {seed: frame for seed, frame in pooled.items() if "selected" in frame}
    if not frames:
        return None
    first = next(iter(frames.values())).iloc[0]
    candidates, splits = int(first["selection_candidates"]), int(first["selection_splits"])
    chosen = {str(seed): {str(int(fold)): str(part["selected"].iloc[0]) for fold, part in frame.groupby("fold")}
              for seed, frame in frames.items()}
    return {"candidates": candidates, "inner_splits": splits, "search_epochs": int(first["search_epochs"]),
            "label": f"{candidates} candidates, {splits} inner split{'s' if splits != 1 else ''}",
            "chosen": chosen}


SCORE_KEYS = ("uf1", "uar", "uf1_std", "uar_std", "uf1_ci_low", "uf1_ci_high", "uar_ci_low", "uar_ci_high")


def scores_by_slice(summary: list[dict]) -> dict[str, dict]:
    """The summary's numbers keyed by slice: tools that flatten JSON (dvc metrics show / diff) skip lists."""
    return {row["slice"]: {k: row[k] for k in SCORE_KEYS} for row in summary}


def slice_resamples(protocol_table: pd.DataFrame, unit_column: str, settings: BootstrapSettings,
                    classes: list[str]) -> dict[str, SliceResamples]:
    """{slice: its resampled units}, slices as famnet.metrics.evaluate names them ('all', then
    each dataset), the units sorted so the draws do not depend on row order; each with the classes
    its units hold (a resample lacking one is drawn again; a class in too few units, no interval)."""
    parts = [("all", protocol_table), *sorted(protocol_table.groupby("dataset"), key=lambda kv: kv[0])]
    out = {}
    for name, part in parts:
        units = sorted(set(part[unit_column]))
        presence = np.zeros((len(units), len(classes)), dtype=bool)
        presence[pd.Categorical(part[unit_column], categories=units).codes, part["label"].to_numpy(dtype=int)] = True
        out[name] = SliceResamples(units, unit_column, settings, presence, classes)
    return out


def slice_of(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame if name == "all" else frame[frame["dataset"] == name]


def slice_replicates(resamples: dict[str, SliceResamples], pooled: list[pd.DataFrame],
                     num_classes: int, key: str) -> dict[str, dict | None]:
    """{slice: R (UF1, UAR) of one method over resampled units and, with two or more seeds, its
    resampled seeds (``key``: the method's name, whose seed draws these are); None where no
    interval is defined}."""
    return {name: units.scores([slice_of(frame, name) for frame in pooled], num_classes, key)
            for name, units in resamples.items()}


def spread(values: list[float]) -> float | None:
    """Sample standard deviation over seeds (ddof 1); None for one seed (no spread measured)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def seed_summary(per_seed_slices: dict[int, list[dict]], resamples: dict[str, SliceResamples],
                 replicates: dict[str, dict | None], retraining: str) -> list[dict]:
    """Per slice: mean over seeds, spread over seeds, the bootstrap interval of the mean and
    whether it covers retraining."""
    summary = []
    first = next(iter(per_seed_slices.values()))
    for position, row in enumerate(first):
        uf1 = [slices[position]["uf1"] for slices in per_seed_slices.values()]
        uar = [slices[position]["uar"] for slices in per_seed_slices.values()]
        units = resamples[row["slice"]]
        summary.append({"slice": row["slice"], "uf1": float(np.mean(uf1)), "uar": float(np.mean(uar)),
                        "uf1_std": spread(uf1), "uar_std": spread(uar),
                        **units.interval_columns(replicates[row["slice"]]), "retraining": retraining,
                        "samples": row["samples"], "subjects": row["subjects"], "seeds": len(per_seed_slices)})
    return summary


def oracle_document(protocol_table: pd.DataFrame, per_seed_files: dict[int, list], classes: list[str], variant: str,
                    resamples: dict[str, SliceResamples], min_seeds: int = 3) -> dict:
    """The test-epoch oracle's scores per slice (mean over seeds, with the same bootstrap interval
    as the real scores, so the leak can be read against the noise) and each seed's choices."""
    per_seed, pooled = {}, []
    for seed, paths in sorted(per_seed_files.items()):
        frame, choices = oracle_pooled(protocol_table, paths, variant, int(seed))
        per_seed[int(seed)] = {"slices": evaluate(frame, classes).to_dict("records"),
                               "folds": choices.to_dict("records")}
        pooled.append(frame)
    replicates = slice_replicates(resamples, pooled, len(classes), variant)
    summary = seed_summary({seed: s["slices"] for seed, s in per_seed.items()}, resamples, replicates,
                           retraining_note(len(pooled), min_seeds))
    return {"scores": scores_by_slice(summary), "seeds": per_seed}


def paired_comparisons(methods: dict, replicates: dict, resamples: dict[str, SliceResamples], reference: str,
                       level: float) -> list[dict]:
    """Every other method against ``reference``, per slice whose interval is defined: the paired
    difference over the same resampled units, each method over its own resampled seeds
    (famnet.bootstrap.compare). ``assessed`` only where both sides' intervals cover retraining."""
    rows = []
    for name, units in resamples.items():
        if not units.defined:
            continue
        base = methods[reference]["scores"][name]
        for variant, method in methods.items():
            if variant == reference:
                continue
            point = method["scores"][name]
            covered = [covers_retraining(m["retraining"]) for m in (method, methods[reference])]
            row = {"slice": name, "reference": methods[reference]["method"], "reference_variant": reference,
                   "method": method["method"], "variant": variant, "units": len(units.units),
                   "unit": units.unit_column, "uf1": point["uf1"], "uar": point["uar"],
                   "reference_uf1": base["uf1"], "reference_uar": base["uar"],
                   "seeds": method["seed_count"], "reference_seeds": methods[reference]["seed_count"],
                   "assessed": all(covered),
                   "retraining": "covered on both sides" if all(covered) else
                   NOT_COVERED + "; ".join(f"{side}{why_not_covered(m['retraining'])}" for side, m, ok in
                                           zip(("", "reference "), (method, methods[reference]), covered) if not ok),
                   "search_epochs": search_epochs(method), "reference_search_epochs": search_epochs(methods[reference])}
            row.update(compare(replicates[variant][name], replicates[reference][name], point, base, level))
            rows.append(row)
    return rows


def search_epochs(method: dict) -> int:
    """The training epochs a method spent choosing its recipe per fold and seed (0: fixed recipe)."""
    return int((method.get("selection") or {}).get("search_epochs", 0))


def classes_missing_from_training(protocol_table: pd.DataFrame, classes: list[str]) -> dict[str, list[str]]:
    """{fold: class names no other fold holds}: those classes have no training sample in that fold
    (with training.val_fraction > 0 the validation subjects are out of training too; the fold's
    config.json lists what its own training set lacked)."""
    missing = {}
    for fold in protocol_folds_of(protocol_table):
        present = set(protocol_table.loc[protocol_table["fold"] != fold, "label"])
        absent = [name for label, name in enumerate(classes) if label not in present]
        if absent:
            missing[str(int(fold))] = absent
    return missing


def split_of(protocol_table: pd.DataFrame) -> str:
    """loso, lodo or holdout:A->B, read back from the table's folds (module protocols)."""
    if "fold_by" not in protocol_table or (protocol_table["fold_by"] == "subject").all():
        return "loso"
    scored = scored_rows(protocol_table)
    if len(scored) == len(protocol_table):
        return "lodo"
    train = sorted(set(protocol_table["dataset"]) - set(scored["dataset"]))
    return split_name({"train": train, "test": sorted(set(scored["dataset"]))})


def percent(value) -> float:
    """A score in percent; NaN where it is not defined (None: one seed's spread, an interval of too
    few units)."""
    return np.nan if value is None else 100 * value


def build_table(metrics: list[dict], paper: dict[str, dict], synthetic: dict[str, bool], config_hash: str,
                code_version: str) -> pd.DataFrame:
    """One row per protocol x slice x method; ``paper[protocol]`` = {"uf1", "uar"} for FAMNet, in percent."""
    rows = []
    for document in metrics:
        protocol = document["protocol"]
        reported = paper.get(protocol) or {}
        for variant, method in document["methods"].items():
            for line in method["summary"]:
                oracle = method.get("test_epoch_oracle", {}).get("scores", {}).get(line["slice"], {})
                row = {"protocol": protocol, "split": document.get("split", "loso"), "slice": line["slice"],
                       "method": method["method"], "variant": variant,
                       **{key: percent(line.get(key)) for key in SCORE_KEYS}, "ci_note": line.get("ci_note"),
                       "retraining": line.get("retraining", "not recorded"),
                       "samples": line["samples"], "subjects": line["subjects"],
                       "seeds": method.get("seed_count", line["seeds"]),
                       "selection": f"selected: {method['selection']['label']}" if method.get("selection") else "fixed",
                       "search_epochs": search_epochs(method), "reduced": ", ".join(method.get("reduced") or []),
                       **{f"{key}_test_epoch_oracle{end}": percent(oracle.get(f"{key}{end}"))
                          for key in ("uf1", "uar") for end in ("", "_ci_low", "_ci_high")},
                       "data": "synthetic" if synthetic[protocol] else "real", "config_hash": config_hash,
                       # what built the row's models, as they record it (older runs: the table's own)
                       "code_version": "+".join(method.get("built_by", {}).get("code_version") or [code_version]),
                       "device": "+".join(method.get("built_by", {}).get("device") or ["not recorded"])}
                if line["slice"] == "all":
                    row.update(published(protocol, variant, reported))
                rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    # A difference only where ours and theirs come from the same protocol, at the paper's sizes.
    same = (table["paper_protocol"] == table["protocol"]) & (table["reduced"] == "")
    table["diff_uf1"] = (table["uf1"] - table["paper_uf1"]).where(same)
    table["diff_uar"] = (table["uar"] - table["paper_uar"]).where(same)
    return table.astype({c: float for c in PERCENT_COLUMNS}).round({c: 2 for c in PERCENT_COLUMNS})


def build_comparisons(metrics: list[dict], config_hash: str, code_version: str) -> pd.DataFrame:
    """comparisons.csv: per protocol and slice, every method minus the protocol's reference, in
    percentage points, with the paired interval and p-value (famnet.bootstrap); ``distinguishable``
    when the interval of the UF1 difference excludes 0."""
    rows = []
    for document in metrics:
        settings = document["bootstrap"]
        for line in document.get("comparisons", []):
            row = {"protocol": document["protocol"], "split": document["split"], **line,
                   "resamples": settings["resamples"], "level": settings["level"],
                   "config_hash": config_hash, "code_version": code_version}
            for key in ("uf1", "uar", "reference_uf1", "reference_uar", "uf1_diff", "uf1_diff_ci_low",
                        "uf1_diff_ci_high", "uar_diff", "uar_diff_ci_low", "uar_diff_ci_high"):
                row[key] = round(100 * line[key], 2)
            # Never with a side whose interval leaves retraining out (fewer than min_seeds seeds).
            row["assessed"] = bool(line.get("assessed", False))
            row["distinguishable"] = row["assessed"] and bool(line["uf1_diff_ci_low"] > 0 or line["uf1_diff_ci_high"] < 0)
            rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def comparisons_markdown(comparisons: pd.DataFrame) -> str:
    """comparisons.md: the paired differences, and per protocol one line naming which methods'
    UF1 cannot be told from the reference's."""
    if comparisons.empty:
        return "No comparison: every protocol has a single method or too few units to resample.\n"
    lines = ["| protocol | slice | method | reference | UF1 difference [CI] | p | UAR difference [CI] | p | seeds "
             "(method / reference) | search epochs (method / reference) | units |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in comparisons.itertuples(index=False):
        lines.append(f"| {r.protocol} | {r.slice} | {r.method} | {r.reference} | "
                     f"{r.uf1_diff:+.2f} [{r.uf1_diff_ci_low:+.2f}, {r.uf1_diff_ci_high:+.2f}] | {r.uf1_p:.3f} | "
                     f"{r.uar_diff:+.2f} [{r.uar_diff_ci_low:+.2f}, {r.uar_diff_ci_high:+.2f}] | {r.uar_p:.3f} | "
                     f"{r.seeds} / {r.reference_seeds} | {r.search_epochs} / {r.reference_search_epochs} | "
                     f"{r.units} {r.unit}s |")
    first = comparisons.iloc[0]
    lines += ["", f"Method minus reference, percentage points, seed-averaged; {100 * first.level:g} % paired "
                  f"bootstrap interval over the held-out units ({first.resamples} resamples, the same resamples for "
                  f"both methods) and, for a method of two or more seeds, over its seeds (each method's own draws); "
                  f"p: two-sided bootstrap p-value (docs/evaluation.md). A comparison with a side of fewer seeds "
                  f"than evaluation.min_seeds leaves the retraining variance out and is never called "
                  f"distinguishable; search epochs: what each side spent choosing its recipe per fold and seed "
                  f"(0: a fixed recipe), a fair comparison gives both the same."]
    for (protocol, slice_name), part in comparisons.groupby(["protocol", "slice"], sort=False):
        if slice_name != "all":
            continue
        assessed = part[part["assessed"]]
        ties = assessed.loc[~assessed["distinguishable"], "method"].tolist()
        apart = assessed.loc[assessed["distinguishable"], "method"].tolist()
        unassessed = [f"{r.method} ({why_not_covered(r.retraining)})"
                      for r in part[~part["assessed"]].itertuples(index=False)]
        lines.append(f"- {protocol}: UF1 not distinguishable from {part['reference'].iloc[0]}'s at this level: "
                     f"{', '.join(ties) or 'none'}; distinguishable: {', '.join(apart) or 'none'}; "
                     f"not assessed, retraining variance not covered: {'; '.join(unassessed) or 'none'}.")
    return "\n".join(lines) + "\n"


def published(protocol: str, variant: str, reported: dict) -> dict:
    """The paper columns of a method's overall row: FAMNet's from the protocol's ``paper`` key; a
    baseline's from its paper (famnet/methods.py), on every protocol, with the protocol they hold for,
    their source and, where published, a second pair (``paper_alt_*``, same protocol) with its own."""
    if variant == "famnet" and reported:
        return {"paper_uf1": reported.get("uf1", np.nan), "paper_uar": reported.get("uar", np.nan),
                "paper_protocol": protocol, "paper_selection": reported.get("selection", "not stated"),
                "paper_source": f"Fu et al., IJCNN 2025 (protocols.{protocol}.paper)"}
    paper = METHODS[variant].paper if variant in METHODS else None
    benchmark = METHODS[variant].benchmark if variant in METHODS else None
    out = {"meb_uf1": benchmark["uf1"], "meb_oracle_uf1": _number(benchmark["oracle_uf1"]),
           "meb_source": benchmark["source"]} if benchmark else {}
    if not paper:
        return out
    alt = paper.get("alt") or {}
    return {**out, "paper_uf1": paper["uf1"], "paper_uar": _number(paper["uar"]), "paper_protocol": paper["protocol"],
            "paper_selection": paper["selection"], "paper_source": paper["source"],
            "paper_alt_uf1": alt.get("uf1", np.nan), "paper_alt_uar": alt.get("uar", np.nan),
            "paper_alt_source": alt.get("source", np.nan)}


def _number(value) -> float:
    """A published figure, NaN where the source reports none."""
    return np.nan if value is None else value


def with_interval(value, low, high) -> str:
    """'70.38 [65.10, 75.31]'; the value alone where no interval is defined; blank where no value."""
    if pd.isna(value):
        return ""
    return f"{value:.2f}" if pd.isna(low) else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def table_markdown(table: pd.DataFrame, level: float = 0.95) -> str:
    """all.md: the table for people (each score with its bootstrap interval in brackets, the seed
    spread in a column of its own and blank for one seed; the oracle columns only when the analysis
    ran; a second published UF1 / UAR only where one is; every published pair's source under the
    table)."""
    oracle = table["uf1_test_epoch_oracle"].notna().any()
    alt = table["paper_alt_uf1"].notna().any()
    meb = table["meb_uf1"].notna().any()
    head = ["protocol", "split", "slice", "method", "UF1 [CI]", "UAR [CI]", "seed sd UF1 / UAR"] + \
        (["UF1 test-epoch oracle [CI]", "UAR test-epoch oracle [CI]"] if oracle else []) + \
        ["samples", "subjects", "seeds", "retraining in CI", "recipe", "paper UF1", "paper UAR"] + \
        (["paper UF1 / UAR, 2nd source"] if alt else []) + \
        (["MEB UF1: fixed epochs / best test epoch"] if meb else []) + ["paper protocol (epoch choice)", "data"]
    lines = ["| " + " | ".join(head) + " |",
             "| --- | --- | --- | --- | ---: | ---: | ---: |" + (" ---: | ---: |" if oracle else "")
             + " ---: | ---: | ---: | --- | --- | ---: | ---: |" + (" ---: |" if alt else "")
             + (" ---: |" if meb else "") + " --- | --- |"]
    blank = lambda v: "" if pd.isna(v) else f"{v:.2f}"
    main_code = table["code_version"].value_counts().index[0] if len(table) else ""
    for r in table.itertuples(index=False):
        paper_from = "" if pd.isna(r.paper_protocol) else f"{r.paper_protocol} ({r.paper_selection})"
        method = r.method + (" ‡" if r.code_version != main_code else "")
        cells = [r.protocol, r.split, r.slice, method, with_interval(r.uf1, r.uf1_ci_low, r.uf1_ci_high),
                 with_interval(r.uar, r.uar_ci_low, r.uar_ci_high),
                 "" if pd.isna(r.uf1_std) else f"{r.uf1_std:.2f} / {r.uar_std:.2f}"]
        cells += [with_interval(r.uf1_test_epoch_oracle, r.uf1_test_epoch_oracle_ci_low, r.uf1_test_epoch_oracle_ci_high),
                  with_interval(r.uar_test_epoch_oracle, r.uar_test_epoch_oracle_ci_low,
                                r.uar_test_epoch_oracle_ci_high)] if oracle else []
        covered = "yes" if covers_retraining(r.retraining) else "**no**"
        recipe = r.selection + (f" ({r.search_epochs} search epochs)" if r.search_epochs else "")
        # A network run at other sizes than its paper's (named in the method) is not its paper's number.
        other_sizes = lambda v: blank(v) + (" (not comparable: other sizes)" if r.reduced and pd.notna(v) else "")
        cells += [str(r.samples), str(r.subjects), str(r.seeds), covered, recipe, other_sizes(r.paper_uf1),
                  other_sizes(r.paper_uar)]
        if alt:
            cells.append(f"{blank(r.paper_alt_uf1)} / {blank(r.paper_alt_uar)}" if pd.notna(r.paper_alt_uf1) else "")
        if meb:
            cells.append(f"{blank(r.meb_uf1)} / {blank(r.meb_oracle_uf1) or '-'}" if pd.notna(r.meb_uf1) else "")
        cells += [paper_from, r.data]
        lines.append("| " + " | ".join(cells) + " |")
    undefined = sorted(set(table.loc[table["uf1_ci_low"].isna(), "ci_note"].dropna()))
    hashes = ", ".join(sorted(set(table["config_hash"])))
    others = sorted(set(table["code_version"]) - {main_code})
    versions = main_code + (f"; rows marked ‡ by other code ({', '.join(others)}): not comparable with the rest "
                            f"until rerun" if others else "")
    devices = ", ".join(sorted(set(table["device"])))
    lines += ["", f"UF1 / UAR in percent, pooled over all folds of the split (loso: one per subject, lodo: one "
                  f"per dataset, holdout: train -> test), mean over seeds; in brackets the {100 * level:g} % "
                  f"bootstrap interval of that mean over held-out subjects (lodo: datasets) and, with two or more "
                  f"seeds, over the seeds too; seed sd: sample standard deviation over seeds, blank for one seed "
                  f"(docs/evaluation.md)"
                  + (f"; no interval where {'; '.join(undefined)}" if undefined else "")
                  + f". Config {hashes}; models built by code {versions}; device {devices}."]
    uncovered = table[(table["slice"] == "all") & ~table["retraining"].map(covers_retraining)]
    if len(uncovered):
        lines.append("Retraining variance not covered (interval over subjects only, for the models trained once): "
                     + "; ".join(f"{r.protocol} {r.method} ({why_not_covered(str(r.retraining))})"
                                 for r in uncovered.itertuples(index=False)) + ".")
    sources = []
    published_rows = table[table["paper_source"].notna()].drop_duplicates(["method", "paper_source"])
    for r in published_rows.itertuples(index=False):
        pairs = f"{blank(r.paper_uf1)} / {blank(r.paper_uar)}: {r.paper_source}"
        if pd.notna(r.paper_alt_uf1):
            pairs += f"; {blank(r.paper_alt_uf1)} / {blank(r.paper_alt_uar)} (2nd source): {r.paper_alt_source}"
        sources.append(f"{r.method} {pairs}.")
    if sources:
        lines.append("Published UF1 / UAR and their sources: " + " ".join(sources))
    if meb:
        reruns = table[table["meb_uf1"].notna()].drop_duplicates("method")
        lines.append("MEB's reruns on the MEGC2019 composite (UF1 after a fixed number of epochs / with each fold's "
                     "best test epoch, the leak): " + " ".join(f"{r.method}: {r.meb_source}." for r in
                                                              reruns.itertuples(index=False)))
    if oracle:
        lines.append("Test-epoch oracle: per held-out fold, the epoch with the best test accuracy (the usual leak; "
                     "docs/evaluation.md) - a measure of the leak, never a result.")
    return "\n".join(lines) + "\n"


def plot_data(document: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The figures' data as tables for DVC plots: one (actual, predicted) row per pooled prediction
    (DVC's confusion template) and per-subject accuracy, each per method and seed."""
    classes, confusion_rows, subject_rows = document["classes"], [], []
    for method in document["methods"].values():
        for seed, scores in method["seeds"].items():
            for (actual, predicted), count in np.ndenumerate(np.array(scores["confusion"])):
                confusion_rows += [{"method": method["method"], "seed": int(seed), "actual": classes[actual],
                                    "predicted": classes[predicted]}] * int(count)
            subject_rows += [{"method": method["method"], "seed": int(seed), "subject": subject, "accuracy": accuracy}
                             for subject, accuracy in scores["per_subject_accuracy"].items()]
    return pd.DataFrame(confusion_rows), pd.DataFrame(subject_rows)


def write_plot_data(document: dict, confusion_csv: Path, per_subject_csv: Path) -> None:
    from famnet.io import write_csv_atomic

    confusion_rows, subject_rows = plot_data(document)
    write_csv_atomic(confusion_rows, confusion_csv)
    write_csv_atomic(subject_rows, per_subject_csv)


def write_figures(document: dict, confusion_png: Path, per_subject_png: Path) -> None:
    """Confusion matrices (summed over seeds) and per-subject accuracy of every method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from famnet.io import atomic_write

    classes, methods = document["classes"], document["methods"]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), squeeze=False)
    for ax, (variant, method) in zip(axes[0], methods.items()):
        matrix = np.sum([np.array(m["confusion"]) for m in method["seeds"].values()], axis=0)
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > matrix.max() / 2 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        overall = method["summary"][0]
        ax.set_title(f"{method['method']}\nUF1 {100 * overall['uf1']:.1f} UAR {100 * overall['uar']:.1f}", fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
    axes[0][0].set_ylabel("true", fontsize=7)
    fig.suptitle(f"{document['protocol']}: confusion, pooled LOSO", fontsize=9)
    fig.tight_layout()
    atomic_write(confusion_png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)

    subjects = sorted({s for m in methods.values() for seed in m["seeds"].values() for s in seed["per_subject_accuracy"]})
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(subjects) * len(methods) / 2), 3.2))
    width = 0.8 / len(methods)
    for k, (variant, method) in enumerate(methods.items()):
        accuracy = [np.mean([seed["per_subject_accuracy"].get(s, np.nan) for seed in method["seeds"].values()])
                    for s in subjects]
        ax.bar(np.arange(len(subjects)) + k * width, accuracy, width, label=method["method"])
    ax.set_xticks(np.arange(len(subjects)) + 0.4 - width / 2, subjects, rotation=60, ha="right", fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy of the held-out subject")
    ax.legend(fontsize=7)
    ax.set_title(f"{document['protocol']}: per held-out subject", fontsize=9)
    fig.tight_layout()
    atomic_write(per_subject_png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def write_forest(document: dict, png: Path) -> None:
    """The forest plot of a protocol: each method's UF1 (all slice) with its bootstrap interval and,
    where it ran, the test-epoch oracle's; beside it each method's paired difference from the
    reference with its interval. The reference is drawn in red, its UF1 as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from famnet.io import atomic_write

    methods, reference = document["methods"], document["reference"]["variant"]
    differences = {row["variant"]: row for row in document.get("comparisons", []) if row["slice"] == "all"}
    names = list(methods)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 0.45 * len(names) + 1.6), sharey=True,
                                      gridspec_kw={"width_ratios": [3, 2]})
    labelled = False
    for y, variant in enumerate(names):
        colour = "tab:red" if variant == reference else "tab:blue"
        score = methods[variant]["scores"]["all"]
        error = None if score.get("uf1_ci_low") is None else \
            [[100 * (score["uf1"] - score["uf1_ci_low"])], [100 * (score["uf1_ci_high"] - score["uf1"])]]
        left.errorbar(100 * score["uf1"], y, xerr=error, fmt="o", color=colour, capsize=3)
        oracle = methods[variant].get("test_epoch_oracle", {}).get("scores", {}).get("all")
        if oracle:
            error = None if oracle.get("uf1_ci_low") is None else \
                [[100 * (oracle["uf1"] - oracle["uf1_ci_low"])], [100 * (oracle["uf1_ci_high"] - oracle["uf1"])]]
            left.errorbar(100 * oracle["uf1"], y + 0.25, xerr=error, fmt="D", mfc="none", color="grey", capsize=2,
                          label=None if labelled else "test-epoch oracle (the leak)")
            labelled = True
        if variant in differences:
            row = differences[variant]
            right.errorbar(100 * row["uf1_diff"], y, fmt="o", color=colour, capsize=3,
                           xerr=[[100 * (row["uf1_diff"] - row["uf1_diff_ci_low"])],
                                 [100 * (row["uf1_diff_ci_high"] - row["uf1_diff"])]])
    left.axvline(100 * methods[reference]["scores"]["all"]["uf1"], color="tab:red", linestyle="--", linewidth=0.8)
    right.axvline(0, color="black", linewidth=0.8)
    left.set_yticks(range(len(names)), [methods[v]["method"] + (" (reference)" if v == reference else "")
                                        for v in names], fontsize=8)
    left.invert_yaxis()
    settings = document["bootstrap"]
    left.set_xlabel(f"UF1 (%), {100 * settings['level']:g} % interval over held-out {settings['unit']}s", fontsize=8)
    right.set_xlabel(f"UF1 minus {methods[reference]['method']} (points), paired", fontsize=8)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, borderaxespad=0.1)
    if not differences:
        right.text(0.5, 0.5, "no paired interval\n(too few units or one method)", ha="center", va="center",
                   transform=right.transAxes, fontsize=8)
    fig.suptitle(f"{document['protocol']}: pooled UF1 with {settings['resamples']} bootstrap resamples "
                 f"({document['subjects']} subjects)", fontsize=9)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def write_selection_figure(document: dict, png: Path) -> None:
    """Which candidate each outer fold chose (famnet.selection), per selected method and seed: one
    panel per method, folds across, seeds down, a colour per chosen candidate, named in the
    legend. A protocol without a selected method gets a panel that says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from famnet.io import atomic_write

    selected = {v: m for v, m in document["methods"].items() if m.get("selection")}
    fig, axes = plt.subplots(max(1, len(selected)), 1, figsize=(9, 1.2 + 1.1 * max(1, len(selected))), squeeze=False)
    if not selected:
        axes[0][0].text(0.5, 0.5, "no method of this protocol selects its recipe (fixed recipes)", ha="center",
                        va="center", fontsize=9)
        axes[0][0].set_axis_off()
    for ax, (variant, method) in zip(axes[:, 0], selected.items()):
        chosen = method["selection"]["chosen"]
        seeds = sorted(chosen, key=int)
        folds = sorted({f for per_fold in chosen.values() for f in per_fold}, key=int)
        labels = sorted({label for per_fold in chosen.values() for label in per_fold.values()})
        grid = np.array([[labels.index(chosen[s][f]) if f in chosen[s] else -1 for f in folds] for s in seeds])
        colours = plt.get_cmap("tab10")
        ax.imshow(grid, cmap=matplotlib.colors.ListedColormap([colours(i) for i in range(max(1, len(labels)))]),
                  vmin=-0.5, vmax=len(labels) - 0.5, aspect="auto")
        ax.set_yticks(range(len(seeds)), [f"seed {s}" for s in seeds], fontsize=7)
        step = max(1, len(folds) // 20)
        ax.set_xticks(range(0, len(folds), step), folds[::step], fontsize=6)
        ax.set_title(f"{method['method']}: the candidate each held-out fold's search chose", fontsize=8)
        handles = [matplotlib.patches.Patch(color=colours(i), label=label) for i, label in enumerate(labels)]
        ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes[-1][0].set_xlabel("held-out fold", fontsize=7)
    fig.suptitle(f"{document['protocol']}: leak-free recipe selection (inner validation on training subjects only)",
                 fontsize=9)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def run_evaluation(protocol: str, protocol_csv, classes: list[str], files: dict, oracle: dict, evaluation: dict,
                   metrics, confusion_png, per_subject_png, forest_png=None, confusion_csv=None,
                   per_subject_csv=None, expected_models: dict | None = None, selection_png=None) -> dict:
    """The evaluate job (its Snakemake script and `famnet evaluate`): metrics JSON, figures, the
    figures' data for DVC plots; prints each method's overall line. ``files`` / ``oracle``:
    {variant: {seed: [paths]}}; ``evaluation``: the config's evaluation section."""
    from famnet.bootstrap import BootstrapSettings
    from famnet.protocols import read_protocol_table

    table = read_protocol_table(protocol_csv, classes=classes)
    files = {variant: {int(seed): paths for seed, paths in seeds.items()} for variant, seeds in files.items()}
    oracle = {variant: {int(seed): paths for seed, paths in seeds.items()} for variant, seeds in oracle.items()}
    document = evaluate_protocol(protocol, table, classes, files, oracle,
                                 bootstrap=BootstrapSettings.from_dict(evaluation.get("bootstrap")),
                                 reference=evaluation.get("reference", "famnet"), expected_models=expected_models,
                                 min_seeds=evaluation.get("min_seeds", 3),
                                 ensembles=evaluation.get("seed_ensembles", True),
                                 fusions=[Fusion.from_dict(f) for f in evaluation.get("fusions") or []],
                                 claims=[Claim.from_dict(c) for c in evaluation.get("claims") or []])
    # What the numbers were computed under: the table refuses metrics of other evaluation settings.
    document["evaluation"] = json.loads(json.dumps(evaluation, sort_keys=True))
    document["model_hashes"] = {variant: e["hash"] for variant, e in (expected_models or {}).items()}
    write_metrics(document, metrics)
    write_figures(document, confusion_png, per_subject_png)
    if forest_png:
        write_forest(document, forest_png)
    if selection_png:
        write_selection_figure(document, selection_png)
    if confusion_csv and per_subject_csv:
        write_plot_data(document, Path(confusion_csv), Path(per_subject_csv))
    for method in document["methods"].values():
        overall = method["summary"][0]
        leak = method.get("test_epoch_oracle", {}).get("scores", {}).get("all")
        leak = f"; test-epoch oracle UF1 {leak['uf1']:.4f} UAR {leak['uar']:.4f}" if leak else ""
        interval = "" if overall["uf1_ci_low"] is None else \
            f" [{overall['uf1_ci_low']:.4f}, {overall['uf1_ci_high']:.4f}]"
        print(f"{protocol} {method['method']}: UF1 {overall['uf1']:.4f}{interval} UAR {overall['uar']:.4f} "
              f"({overall['samples']} samples, {overall['seeds']} seed(s); {overall['ci_note']}; retraining "
              f"{overall['retraining']}){leak}")
    return document


def write_metrics(document: dict, path) -> None:
    from famnet.io import write_text_atomic

    write_text_atomic(json.dumps(document, indent=1) + "\n", path)
