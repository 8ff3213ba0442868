"""Command line used by the Snakemake rules (and by hand): ``famnet <command> --help``.

Each command reads its inputs, writes its outputs atomically, and on bad input exits 1 with one
line naming the dataset, subject and sample (or the protocol / config key) at fault.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from famnet.io import write_csv_atomic, write_text_atomic
from famnet.datasets.formats import FORMATS
from famnet.methods import FIXED_RECIPE, INPUT_VARIANTS, METHODS, method


def _synthetic(args) -> None:
    from famnet.datasets.synthetic import generate

    overrides = json.loads(args.overrides) if args.overrides else {}
    info = generate(args.out, size=args.size, seed=args.seed, formats=tuple(args.formats.split(",")),
                    progress=not args.quiet, workers=args.workers, **overrides)
    print(f"synthetic {args.size} (seed {args.seed}) -> {args.out}: {info['samples']}")


def _manifest(args) -> None:
    import pandas as pd

    from famnet.datasets import build_manifest
    from famnet.datasets.errata import ERRATA_LOG_COLUMNS, errata_log_path

    au_sheets = json.loads(args.au_sheets) if args.au_sheets else None
    manifest = build_manifest(args.dataset, args.format, args.root, args.annotation, errata=args.errata,
                              accept_emotions=args.accept_emotions, au_sheets=au_sheets)
    applied = pd.DataFrame(manifest.attrs["errata"], columns=ERRATA_LOG_COLUMNS)
    write_csv_atomic(manifest, args.out)
    write_csv_atomic(applied, errata_log_path(args.out))
    counts = manifest["emotion"].value_counts().to_dict()
    sources = manifest["source"].value_counts().to_dict()
    print(f"{args.dataset}: {len(manifest)} samples, {manifest['subject'].nunique()} subjects, sources {sources}, "
          f"emotions {counts}, AUs known {int((manifest['aus'] != '').sum())}, "
          f"apex {manifest['apex_source'].value_counts().to_dict()}, rows corrected {int((manifest['fixes'] != '').sum())}, "
          f"errata applied {len(applied)} {applied['action'].value_counts().to_dict()}")
    for subject, folders in manifest.attrs.get("folder_counts", {}).items():   # releases without a sheet
        print(f"  {subject}: " + ", ".join(f"{emotion} {count}" for emotion, count in folders.items()))


def _protocol(args) -> None:
    from famnet.datasets import read_manifest
    from famnet.datasets.errata import errata_log_path, read_errata_log
    from famnet.protocols import build_protocol

    spec = json.loads(args.spec)
    datasets = spec["datasets"]
    manifests = {name: read_manifest(info["manifest"]) for name, info in datasets.items()}
    errata = {name: read_errata_log(errata_log_path(info["manifest"])) for name, info in datasets.items()}
    formats = {name: info["format"] for name, info in datasets.items()}
    real = not any(info["synthetic"] for info in datasets.values())
    table, report = build_protocol(args.name, spec["protocol"], manifests, formats, real=real, errata=errata)
    write_csv_atomic(table, args.out)
    if args.report:
        write_text_atomic(json.dumps(report, indent=2) + "\n", args.report)
    print(json.dumps(report))


def _preprocess(args) -> None:
    from preprocess.qc import qc_figure
    from preprocess.run import run

    section = json.loads(args.settings) if args.settings else {}
    if args.threads:
        section["threads"] = args.threads
    if args.qc_only:
        qc_figure(args.out, args.qc)
        print(f"QC figure of {args.out} -> {args.qc}")
        return
    missing = [name for name in ("manifest", "dataset", "subject") if getattr(args, name) is None]
    if missing:
        raise SystemExit(f"famnet preprocess: --{', --'.join(missing)} needed (or --qc-only with --qc)")
    meta = run(args.manifest, args.dataset, args.subject, args.out, section, progress=not args.quiet)
    if args.qc:
        qc_figure(args.out, args.qc)
    print(f"{meta['subject']}: {len(meta['samples'])} samples preprocessed, {len(meta['skipped'])} skipped "
          f"{[s['sample'] for s in meta['skipped']]}, {meta['frames_decoded']} frames decoded in {meta['seconds']} s; "
          f"stages {meta['timing_s']} -> {args.out}")


def _train(args) -> None:
    from famnet.data import DamagedArtefactError, load_protocol_data
    from famnet.protocols import read_protocol_table
    from famnet.predict import predict_fold
    from famnet.provenance import (ProvenanceError, code_version, dataset_fingerprints, digest, expected_preprocess,
                                   train_job_settings)
    from famnet.selection import SelectionSpec
    from famnet.train import FoldRun, TrainConfig, resolve_device, save_run, select_and_train, train_fold

    training = json.loads(args.training_json)
    model = json.loads(args.model_json)
    if "external" in model:       # an external method: its declaration comes with its model keys
        from famnet.external import register
        register(args.branch, model["external"])
    method(args.branch)           # an unknown method is named before anything is read
    cfg = TrainConfig.from_dict({**training, **({"threads": args.threads} if args.threads else {})})
    run = FoldRun(protocol=args.protocol, branch=args.branch, ablation=args.ablation, fold=args.fold, seed=args.seed,
                  classes=json.loads(args.classes_json), aus=json.loads(args.aus_json),
                  model_config=json.loads(args.model_json))
    table = read_protocol_table(args.protocol_csv, classes=run.classes)
    # The artefacts must be what this run's preprocess settings build, from the source files as
    # they are now (famnet.provenance).
    preprocess = json.loads(args.preprocess_json or "{}")
    expected = {dataset: expected_preprocess(p["settings"], p.get("format")) for dataset, p in preprocess.items()} or None
    manifests = json.loads(args.manifests_json) if args.manifests_json else None
    fingerprints = {dataset: dataset_fingerprints(path, table["subject"].unique())
                    for dataset, path in manifests.items()} if manifests else None
    try:
        data = load_protocol_data(table, artefact_roots(args, "train"), run.input, run.head_aus,
                                  expect_preprocess=expected,
                                  fingerprints={(s.split("/", 1)[0], s): fingerprints[s.split("/", 1)[0]][s]
                                                for s in table["subject"].unique()} if fingerprints else None)
    except DamagedArtefactError as error:
        raise ValueError(f"{error}. {set_aside(error.path)}") from error
    selection = json.loads(args.selection_json) if args.selection_json else None
    if selection and run.ablation == FIXED_RECIPE:
        raise SystemExit(f"famnet train: the {FIXED_RECIPE!r} variant is the recipe without selection; pass no "
                         f"--selection-json")
    if selection:
        spec = SelectionSpec.from_dict(selection, f"models.{run.branch}.selection")
        result = select_and_train(run, data, cfg, spec, progress=not args.quiet)
    else:
        result = train_fold(run, data, cfg, progress=not args.quiet)
    settings = train_job_settings(run.protocol, run.branch, run.ablation, json.loads(args.model_json), training,
                                  run.classes, run.aus, args.protocol_csv, preprocess,
                                  spec.to_dict() if selection else None, fingerprints)
    if args.model_hash and digest(settings) != args.model_hash:   # the folder the workflow named for them
        raise ProvenanceError(f"{run.protocol} {run.variant} fold {run.fold} seed {run.seed}: the job's settings "
                              f"hash {digest(settings)} is not the {args.model_hash} the workflow named "
                              f"{args.out_dir} for (the rule and the job disagree: report this as a bug)")
    result["info"]["provenance"] = {"settings": settings, "hash": digest(settings), "code_version": code_version(),
                                    "device": result["info"]["device"], "amp": result["info"]["amp"]}
    save_run(result, args.out_dir)
    info, last = result["info"], result["log"].iloc[-1]
    print(f"{run.protocol} {run.variant} fold {run.fold} seed {run.seed}: {info['samples']} samples, "
          f"{info['epochs']} epochs in {info['seconds']} s on {info['device']}, final train loss "
          f"{last['train_loss']:.4f}, accuracy {last['train_accuracy']:.3f} -> {args.out_dir}")
    if args.predictions:
        frame = predict_fold(result["model"], info, data, resolve_device(cfg.device), cfg.batch_size)
        write_csv_atomic(frame, args.predictions)
        print(f"held-out {info['held_out_subjects']}: {int((frame['prediction'] == frame['label']).sum())}/{len(frame)} "
              f"correct -> {args.predictions}")


def artefact_roots(args, command: str):
    """Where the artefacts are (famnet.data.artefact_path): {dataset: folder} from --preprocessed-json,
    else the --preprocessed root."""
    if args.preprocessed_json:
        return json.loads(args.preprocessed_json)
    if args.preprocessed is None:
        raise SystemExit(f"famnet {command}: --preprocessed or --preprocessed-json is needed")
    return args.preprocessed


def set_aside(path: Path) -> str:
    """Move a damaged output out of the way (to <name>.damaged) so that a plain rerun of snakemake
    rebuilds it; the sentence that says so."""
    damaged = path.with_name(path.name + ".damaged")
    try:
        path.replace(damaged)
    except OSError:
        return f"Rebuild it: snakemake --forcerun {path} (then rerun as before)"
    return f"It was moved to {damaged}: rerun snakemake and it is rebuilt"


def _predict(args) -> None:
    from famnet.predict import predict_files

    frame = predict_files(args.model_dir, args.protocol_csv, artefact_roots(args, "predict"), args.out, args.device)
    print(f"{len(frame)} held-out samples, {int((frame['prediction'] == frame['label']).sum())} correct -> {args.out}")


def _fuse(args) -> None:
    from famnet.fuse import fuse_files

    fused = fuse_files(args.pred_2d, args.pred_3d, args.out, weight=args.weight, mode=args.mode)
    print(f"fused {len(fused)} samples ({args.mode}, 2D weight {args.weight}) -> {args.out}")


def _evaluate(args) -> None:
    from famnet.tables import run_evaluation

    spec = json.loads(args.files)
    files = {variant: {int(seed): paths for seed, paths in seeds.items()} for variant, seeds in spec.items()}
    oracle = {variant: {int(seed): paths for seed, paths in seeds.items()}
              for variant, seeds in json.loads(args.oracle_files or "{}").items()}
    plots = {} if not args.plots_dir else {
        "confusion_csv": args.plots_dir / "confusion" / f"{args.protocol}.csv",
        "per_subject_csv": args.plots_dir / "per_subject" / f"{args.protocol}.csv"}
    run_evaluation(args.protocol, args.protocol_csv, json.loads(args.classes), files, oracle,
                   json.loads(args.evaluation or "{}"), metrics=args.out, confusion_png=args.confusion_png,
                   per_subject_png=args.per_subject_png, forest_png=args.forest_png, selection_png=args.selection_png,
                   **plots)


def _tables(args) -> None:
    from famnet.tables import build_comparisons, build_table, code_version, comparisons_markdown, table_markdown

    metrics = [json.loads(Path(p).read_text()) for p in args.metrics]
    for path, document in zip(args.metrics, metrics):
        if "bootstrap" not in document:
            raise SystemExit(f"{path} was written before evaluation gave intervals; rebuild it: "
                             f"snakemake --forcerun evaluate (or delete it and rerun)")
    info = json.loads(args.info)
    if info.get("external_methods"):       # the run's methods from outside the package: names, paper numbers
        from famnet.external import register
        for name, declaration in info["external_methods"].items():
            register(name, declaration)
    if "evaluation" in info:     # a table never carries numbers computed under other evaluation settings
        for path, document in zip(args.metrics, metrics):
            if document.get("evaluation") != info["evaluation"]:
                raise SystemExit(f"{path} was computed under other evaluation settings ({document.get('evaluation')}) "
                                 f"than the config's ({info['evaluation']}); rebuild it: snakemake --forcerun {path} "
                                 f"(then rerun as before)")
    # Read when the table is built, not passed in: a commit must not make the table rule outdated.
    version = info.get("code_version") or code_version()
    table = build_table(metrics, info["paper"], info["synthetic"], info["config_hash"], version)
    levels = {document["bootstrap"]["level"] for document in metrics}
    if len(levels) > 1:
        raise ValueError(f"the protocols' metrics use different interval levels {sorted(levels)}; rerun evaluate")
    document_level = levels.pop()
    write_csv_atomic(table, args.out_csv)
    write_text_atomic(table_markdown(table, level=document_level), args.out_md)
    if args.comparisons_csv:
        comparisons = build_comparisons(metrics, info["config_hash"], version)
        write_csv_atomic(comparisons, args.comparisons_csv)
        write_text_atomic(comparisons_markdown(comparisons), args.comparisons_md or args.comparisons_csv.with_suffix(".md"))
    if args.claims_csv:
        from famnet.claims import claims_markdown, claims_table

        claims = claims_table(metrics)
        write_csv_atomic(claims, args.claims_csv)
        write_text_atomic(claims_markdown(claims, level=document_level),
                          args.claims_md or args.claims_csv.with_suffix(".md"))
    print(table.to_string(index=False))


def settings_folders(results: Path) -> "pd.DataFrame":
    """Every settings-named folder under ``results`` (models per protocol and variant, artefacts
    per dataset) with what it holds and whether the current metrics use it (docs/provenance.md)."""
    import re

    import pandas as pd

    hashed = re.compile(r"[0-9a-f]{16}")
    current_models, current_artefacts = {}, set()
    for path in sorted((results / "metrics").glob("*.json")):
        document = json.loads(path.read_text())
        current_models.update({(document["protocol"], v): h for v, h in document.get("model_hashes", {}).items()})
    rows = []
    for folder in sorted((results / "models").glob("*/*/*")):
        if not (folder.is_dir() and hashed.fullmatch(folder.name)):
            continue
        configs = sorted(folder.glob("seed*/fold*/config.json"))
        info = json.loads(configs[0].read_text()) if configs else {}
        protocol, variant = folder.parent.parent.name, folder.parent.name
        current = current_models.get((protocol, variant)) == folder.name
        if current:
            current_artefacts.update(info.get("provenance", {}).get("settings", {}).get("preprocess", {}).items())
        training = info.get("training", {})
        rows.append({"kind": "models", "name": f"{protocol}/{variant}", "hash": folder.name,
                     "holds": f"{len({c.parent.parent.name for c in configs})} seeds, {len(configs)} folds",
                     "settings": f"epochs {training.get('epochs')}, lr {training.get('lr')}", "current": current,
                     "path": str(folder)})
    for folder in sorted((results / "preprocessed").glob("*/*")):
        if not (folder.is_dir() and hashed.fullmatch(folder.name)):
            continue
        sidecars = sorted(folder.rglob("*.json"))
        settings = json.loads(sidecars[0].read_text()).get("provenance", {}).get("settings", {}) if sidecars else {}
        rows.append({"kind": "artefacts", "name": folder.parent.name, "hash": folder.name,
                     "holds": f"{len(list(folder.rglob('*.npz')))} subjects",
                     "settings": f"crop_size {settings.get('crop_size')}",
                     "current": (folder.parent.name, folder.name) in current_artefacts, "path": str(folder)})
    return pd.DataFrame(rows, columns=["kind", "name", "hash", "holds", "settings", "current", "path"])


def _runs(args) -> None:
    table = settings_folders(args.results)
    if table.empty:
        print(f"no settings folder under {args.results}")
        return
    print(table.to_string(index=False))
    unused = table[~table["current"]]
    if len(unused):
        print(f"\n{len(unused)} folder(s) no metrics file uses (other settings, kept); to remove them:\n  rm -r "
              + " ".join(unused["path"]))


def _dvc_config(args) -> None:
    from famnet.dvc_run import write_run

    for path in write_run(args.params, args.out):
        print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="famnet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    synthetic = commands.add_parser("synthetic", help="generate synthetic datasets in the real layouts")
    synthetic.add_argument("--out", required=True, type=Path)
    synthetic.add_argument("--size", default="tiny", choices=["tiny", "demo", "small", "full"])
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--formats", default="casme2,samm,smic", help="comma-separated layouts to write")
    synthetic.add_argument("--overrides", help="JSON object of preset overrides, e.g. '{\"subjects\": 3}'")
    synthetic.add_argument("--workers", type=int, default=1, help="processes rendering samples in parallel")
    synthetic.add_argument("--quiet", action="store_true", help="no progress bar")
    synthetic.set_defaults(func=_synthetic)

    manifest = commands.add_parser("manifest", help="read one dataset into results/manifest/<dataset>.csv "
                                                     "(+ <dataset>.errata.csv: the errata applied)")
    manifest.add_argument("--dataset", required=True, help="dataset name (the subject namespace)")
    manifest.add_argument("--format", required=True, choices=list(FORMATS), help="famnet/datasets/formats.py")
    manifest.add_argument("--root", required=True)
    manifest.add_argument("--annotation")
    manifest.add_argument("--errata", default="builtin",
                          help="builtin (famnet/errata/<format>.csv), none, or the path of an errata CSV")
    manifest.add_argument("--au-sheets", help='megc2019_public: JSON {"casme2": sheet, "samm": sheet} whose AUs are joined')
    manifest.add_argument("--accept-emotions", nargs="*", default=[], metavar="WORD",
                          help="emotion words to accept beyond the format's own (else a row with one is an error)")
    manifest.add_argument("--out", required=True, type=Path)
    manifest.set_defaults(func=_manifest)

    protocol = commands.add_parser("protocol", help="build results/protocols/<protocol>.csv with LOSO folds")
    protocol.add_argument("--name", required=True)
    protocol.add_argument("--spec", required=True,
                          help='JSON: {"protocol": <config entry>, "datasets": {name: {"format", "manifest", "synthetic"}}}')
    protocol.add_argument("--out", required=True, type=Path)
    protocol.add_argument("--report", type=Path, help="where to write the counts as JSON")
    protocol.set_defaults(func=_protocol)

    preprocess = commands.add_parser("preprocess", help="align, crop, flow and clip one subject into "
                                                        "results/preprocessed/<dataset>/<subject>.npz")
    preprocess.add_argument("--manifest", type=Path, help="results/manifest/<dataset>.csv")
    preprocess.add_argument("--dataset", help="dataset name (the subject namespace)")
    preprocess.add_argument("--subject", help="subject id without the dataset prefix (sub01)")
    preprocess.add_argument("--out", required=True, type=Path, help="the .npz to write (a .json sidecar goes beside it)")
    preprocess.add_argument("--settings", help="JSON object: the preprocess config section (defaults fill the rest)")
    preprocess.add_argument("--qc", type=Path, help="also write the QC figure (PNG) here")
    preprocess.add_argument("--qc-only", action="store_true", help="only draw --qc from an existing --out")
    preprocess.add_argument("--threads", type=int, help="threads for torch / OpenCV (overrides preprocess.threads)")
    preprocess.add_argument("--quiet", action="store_true", help="no progress bar")
    preprocess.set_defaults(func=_preprocess)
    train = commands.add_parser("train", help="train one branch on every subject but one fold's, "
                                              "then predict the held-out fold")
    train.add_argument("--protocol-csv", required=True, type=Path, help="results/protocols/<protocol>.csv")
    train.add_argument("--preprocessed", type=Path, help="the artefacts' root: <root>/<dataset>/<subject>.npz")
    train.add_argument("--preprocessed-json", help="JSON {dataset: its artefact folder} (the workflow's "
                       "results/preprocessed/<dataset>/<settings hash>), in place of --preprocessed")
    train.add_argument("--manifests-json", help="JSON {dataset: manifest CSV}: each artefact must have been built "
                       "from its source files as they are now (their fingerprints, famnet.provenance)")
    train.add_argument("--model-hash", help="the settings hash the workflow named --out-dir for: refused if the "
                       "job's own differs")
    train.add_argument("--protocol", required=True, help="protocol name (recorded; seeds derive from it)")
    train.add_argument("--branch", required=True,
                       help=f"the method: a FAMNet branch or a baseline ({', '.join(sorted(METHODS))}), or an "
                            f"external method whose declaration --model-json carries (famnet/external.py)")
    train.add_argument("--ablation", default="none", choices=["none", "no_attention", "no_au", *INPUT_VARIANTS,
                                                              FIXED_RECIPE])
    train.add_argument("--fold", required=True, type=int, help="the held-out fold")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--model-json", default="{}", help="JSON: models.<branch> of config.yaml (no ablation applied)")
    train.add_argument("--training-json", default="{}", help="JSON: the training section of config.yaml")
    train.add_argument("--threads", type=int, help="torch threads (overrides training.threads)")
    train.add_argument("--aus-json", default="[]", help="JSON list: the AU head's AU numbers")
    train.add_argument("--classes-json", required=True, help="JSON list of class names in label order")
    train.add_argument("--preprocess-json", help="JSON {config dataset: {\"format\": its format, \"settings\": its "
                       "preprocess section with fps}}: the artefacts must have been built with these settings (else "
                       "an error naming them)")
    train.add_argument("--selection-json", help="JSON: models.<branch>.selection (leak-free recipe selection on "
                       "inner validation subjects, famnet.selection); absent or {} = the fixed recipe")
    train.add_argument("--out-dir", required=True, type=Path, help="model.safetensors, config.json, train_log.csv")
    train.add_argument("--predictions", type=Path, help="also write the held-out predictions CSV here")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    predict = commands.add_parser("predict", help="held-out predictions CSV of a trained fold model")
    predict.add_argument("--model-dir", required=True, type=Path)
    predict.add_argument("--protocol-csv", required=True, type=Path)
    predict.add_argument("--preprocessed", type=Path, help="the artefacts' root: <root>/<dataset>/<subject>.npz")
    predict.add_argument("--preprocessed-json", help="JSON {dataset: its artefact folder}, in place of --preprocessed "
                         "(the workflow's results/preprocessed/<dataset>/<settings hash>)")
    predict.add_argument("--out", required=True, type=Path)
    predict.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    predict.set_defaults(func=_predict)

    fuse = commands.add_parser("fuse", help="FAMNet late fusion of one fold's 2D and 3D predictions")
    fuse.add_argument("--pred-2d", required=True, type=Path)
    fuse.add_argument("--pred-3d", required=True, type=Path)
    fuse.add_argument("--out", required=True, type=Path)
    fuse.add_argument("--weight", type=float, default=0.5, help="the 2D branch's share (models.famnet.fusion_weight)")
    fuse.add_argument("--mode", default="softmax_mean", choices=["softmax_mean", "logit_mean"])
    fuse.set_defaults(func=_fuse)

    evaluate = commands.add_parser("evaluate", help="pooled UF1/UAR of a protocol's predictions + figures")
    evaluate.add_argument("--protocol", required=True)
    evaluate.add_argument("--protocol-csv", required=True, type=Path)
    evaluate.add_argument("--classes", required=True, help="JSON list of class names in label order")
    evaluate.add_argument("--files", required=True, help='JSON {variant: {seed: [fold CSVs]}}')
    evaluate.add_argument("--oracle-files", help="JSON {variant: {seed: [test_epochs.csv per fold]}}: also report "
                                                 "the test-epoch oracle (an analysis of the leak, never a result)")
    evaluate.add_argument("--out", required=True, type=Path)
    evaluate.add_argument("--confusion-png", required=True, type=Path)
    evaluate.add_argument("--per-subject-png", required=True, type=Path)
    evaluate.add_argument("--plots-dir", type=Path, help="also write confusion/<protocol>.csv and "
                                                         "per_subject/<protocol>.csv (the figures' data) here")
    evaluate.add_argument("--forest-png", type=Path, help="also draw the forest plot (UF1 intervals, paired "
                          "differences from the reference)")
    evaluate.add_argument("--selection-png", type=Path, help="also draw which candidate each fold's recipe "
                          "selection chose (methods with models.<method>.selection)")
    evaluate.add_argument("--evaluation", help='JSON of the config\'s evaluation section: {"bootstrap": {resamples, '
                          'seed, level, min_units, max_redraws}, "reference": variant, "min_seeds": 3, '
                          '"seed_ensembles": true}')
    evaluate.set_defaults(func=_evaluate)

    runs = commands.add_parser("runs", help="list the settings-named folders of models and artefacts, and which "
                               "the current metrics use (docs/provenance.md)")
    runs.add_argument("--results", type=Path, default=Path("results"))
    runs.set_defaults(func=_runs)

    dvc_config = commands.add_parser("dvc-config", help="dvc.yaml's first stage: merge the config files params.yaml "
                                                         "names into results/run/config.yaml, fingerprint the "
                                                         "run's datasets into results/run/data.yaml (docs/dvc.md)")
    dvc_config.add_argument("--params", default="params.yaml", type=Path)
    dvc_config.add_argument("--out", default="results/run", type=Path)
    dvc_config.set_defaults(func=_dvc_config)

    tables = commands.add_parser("tables", help="results/tables/all.csv and all.md from the protocols' metrics")
    tables.add_argument("--metrics", required=True, nargs="+", type=Path)
    tables.add_argument("--info", required=True,
                        help='JSON {"paper": {protocol: {uf1, uar}}, "synthetic": {protocol: bool}, '
                             '"config_hash": str, "code_version": str (default: git describe of the working dir)}')
    tables.add_argument("--out-csv", required=True, type=Path)
    tables.add_argument("--out-md", required=True, type=Path)
    tables.add_argument("--comparisons-csv", type=Path, help="also write the paired comparisons (csv, and .md beside)")
    tables.add_argument("--comparisons-md", type=Path, help="where the comparisons' markdown goes (default: beside "
                        "the csv)")
    tables.add_argument("--claims-csv", type=Path, help="also write the claims' verdicts (famnet.claims; csv, and .md "
                        "beside)")
    tables.add_argument("--claims-md", type=Path, help="where the claims' markdown goes (default: beside the csv)")
    tables.set_defaults(func=_tables)
    return parser


def main(argv: list[str] | None = None) -> int:
    from famnet.config import ConfigError
    from famnet.datasets import DatasetError
    from famnet.protocols import ProtocolError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    # bad input, or a run that diverged (famnet.train.DivergenceError): one line, exit 1
    except (DatasetError, ProtocolError, ConfigError, ValueError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
