# Report stage: pooled UF1 / UAR per protocol (famnet/metrics.py), figures, and the results table.


def prediction_files(protocol):
    """{variant: {seed: [fold CSVs]}} of every method of a protocol, in its settings' folder."""
    folds = protocol_folds(protocol)
    out = {}
    for variant in all_variants():
        folder = f"results/predictions/{protocol}/{variant}/{expected_model_hash(protocol, variant)}"
        out[variant] = {seed: [f"{folder}/seed{seed}/fold{fold}.csv" for fold in folds] for seed in variant_seeds(variant)}
    return out


def oracle_files(protocol):
    """{variant: {seed: [test_epochs.csv per fold]}} of the trained variants, when the test-epoch
    oracle analysis is on (training.report_test_epoch_oracle); {} otherwise."""
    if not training().get("report_test_epoch_oracle", False):
        return {}
    folds = protocol_folds(protocol)
    out = {}
    for variant, _, _ in branch_variants():
        folder = f"results/models/{protocol}/{variant}/{expected_model_hash(protocol, variant)}"
        out[variant] = {seed: [f"{folder}/seed{seed}/fold{fold}/test_epochs.csv" for fold in folds]
                        for seed in variant_seeds(variant)}
    return out


def evaluation_section():
    return json.loads(json.dumps(config.get("evaluation", {}), sort_keys=True))


rule evaluate:
    input:
        table="results/protocols/{protocol}.csv",
        predictions=lambda w: [p for seeds in prediction_files(w.protocol).values() for ps in seeds.values() for p in ps],
        test_epochs=lambda w: [p for seeds in oracle_files(w.protocol).values() for ps in seeds.values() for p in ps],
    output:
        metrics="results/metrics/{protocol}.json",
        confusion=report("results/figures/{protocol}_confusion.png", caption="../report/confusion.rst",
                         category="Figures", subcategory="{protocol}", labels={"protocol": "{protocol}",
                                                                             "figure": "confusion"}),
        per_subject=report("results/figures/{protocol}_per_subject.png", caption="../report/per_subject.rst",
                           category="Figures", subcategory="{protocol}", labels={"protocol": "{protocol}",
                                                                                "figure": "per held-out subject"}),
        forest=report("results/figures/{protocol}_forest.png", caption="../report/forest.rst",
                      category="Figures", subcategory="{protocol}", labels={"protocol": "{protocol}",
                                                                          "figure": "UF1 intervals (forest)"}),
        selection=report("results/figures/{protocol}_selection.png", caption="../report/selection.rst",
                         category="Figures", subcategory="{protocol}", labels={"protocol": "{protocol}",
                                                                             "figure": "recipe selection"}),
        # The figures' data, for DVC plots (dvc.yaml).
        confusion_csv="results/plots/confusion/{protocol}.csv",
        per_subject_csv="results/plots/per_subject/{protocol}.csv",
    params:
        # Objects, not command-line text: the script receives them as they are (at paper size the
        # file lists are over the kernel's limit for one argument).
        files=lambda w: prediction_files(w.protocol),
        oracle=lambda w: oracle_files(w.protocol),
        classes=lambda w: protocol_classes(w.protocol),
        evaluation=evaluation_section(),
        # What every prediction's model must have been built with (provenance.smk): others are refused.
        expected=lambda w: {v: {"hash": expected_model_hash(w.protocol, v),
                                "settings": None if v in fused_variants() else train_settings(w.protocol, v)}
                            for v in all_variants()},
    log:
        "results/logs/evaluate/{protocol}.log",
    benchmark:
        "results/benchmarks/evaluate/{protocol}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/evaluate.py"


def run_predictions(wildcards=None):
    """Every prediction CSV (trained and fused) of the protocols the main job runs."""
    return [path for protocol in config["run"]["protocols"] for seeds in prediction_files(protocol).values()
            for paths in seeds.values() for path in paths]


def report_info():
    """Config hash and code version for the report's first page (workflow/report/workflow.rst): the
    version of the famnet package the jobs import (what the table's rows record of their models)."""
    from famnet.provenance import code_version

    return {"config_hash": table_info()["config_hash"], "code_version": code_version()}


def table_info():
    """Paper numbers, data kind and config hash for the table (famnet tables adds the code version)."""
    import hashlib

    protocols = config["run"]["protocols"]
    sections = {k: config.get(k) for k in ("datasets", "protocols", "synthetic", "preprocess", "models", "training",
                                           "evaluation")}
    config_hash = hashlib.sha256(json.dumps(sections, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return {"paper": {p: protocol_spec(p).get("paper") for p in protocols if protocol_spec(p).get("paper")},
            "synthetic": {p: any("synthetic" in dataset_spec(d) for d in protocol_spec(p)["datasets"])
                          for p in protocols},
            "config_hash": config_hash,
            "evaluation": evaluation_section(),
            # the run's external methods (famnet.external), which the table job registers for their names
            "external_methods": external_declarations()}


def external_declarations():
    from famnet.methods import METHODS

    return {name: m.external for name, m in METHODS.items() if m.kind == "external"}


config["report_info"] = report_info()   # read only by the report's templates (never validated or hashed)


rule tables:
    input:
        expand("results/metrics/{protocol}.json", protocol=config["run"]["protocols"]),
    output:
        csv=report("results/tables/all.csv", caption="../report/table.rst", category="Results",
                   labels={"table": "all protocols"}),
        md="results/tables/all.md",
        comparisons=report("results/tables/comparisons.csv", caption="../report/comparisons.rst", category="Results",
                           labels={"table": "paired comparisons"}),
        comparisons_md="results/tables/comparisons.md",
        claims=report("results/tables/claims.csv", caption="../report/claims.rst", category="Results",
                      labels={"table": "the paper's claims"}),
        claims_md="results/tables/claims.md",
    params:
        info=lambda w: json.dumps(table_info()),
    log:
        "results/logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "famnet tables --metrics {input} --info {params.info:q} --out-csv {output.csv} --out-md {output.md} "
        "--comparisons-csv {output.comparisons} --comparisons-md {output.comparisons_md} "
        "--claims-csv {output.claims} --claims-md {output.claims_md} > {log} 2>&1"
