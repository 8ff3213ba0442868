# Data stage: synthetic datasets -> per-dataset manifests -> protocol tables with LOSO folds.


rule synthetic_dataset:
    output:
        directory("results/synthetic/{synthetic}"),
    params:
        size=lambda w: config["synthetic"][w.synthetic]["size"],
        seed=lambda w: config["synthetic"][w.synthetic].get("seed", 0),
        formats=lambda w: ",".join(config["synthetic"][w.synthetic].get("formats", ["casme2", "samm", "smic"])),
        overrides=lambda w: json.dumps({k: v for k, v in config["synthetic"][w.synthetic].items()
                                        if k not in ("size", "seed", "formats")}, sort_keys=True),
    log:
        "results/logs/synthetic/{synthetic}.log",
    benchmark:
        "results/benchmarks/synthetic_dataset/{synthetic}.tsv"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "famnet synthetic --out {output} --size {params.size} --seed {params.seed} --workers {threads} "
        "--formats {params.formats} --overrides {params.overrides:q} > {log} 2>&1"


def manifest_inputs(wildcards):
    spec = dataset_spec(wildcards.dataset)
    if "synthetic" in spec:
        return {"data": f"results/synthetic/{spec['synthetic']}"}
    # A real dataset: named up front (also by a dry run) when its folder or sheet is missing; the
    # sheet (and an errata file of the user's) are inputs, so editing them rebuilds the manifest.
    from famnet.datasets import DatasetError, check_paths

    try:
        check_paths(wildcards.dataset, spec["format"], spec["root"], spec.get("annotation"))
    except DatasetError as error:
        raise WorkflowError(str(error)) from None
    from famnet.datasets.formats import get_format

    inputs = {"sheet": spec["annotation"]} if spec.get("annotation") else {}
    listed = get_format(spec["format"]).list_file      # a release's own sample list (labels, file names)
    if listed:
        inputs["sample_list"] = str(Path(spec["root"]) / listed)
    inputs.update({f"au_sheet_{source}": sheet for source, sheet in (spec.get("au_sheets") or {}).items()})
    if dataset_errata(wildcards.dataset) not in ("builtin", "none"):
        inputs["errata"] = dataset_errata(wildcards.dataset)
    return inputs


def dataset_errata(name):
    """datasets.<name>.errata: builtin for real datasets, none for synthetic ones, unless set."""
    spec = dataset_spec(name)
    return spec.get("errata", "none" if "synthetic" in spec else "builtin")


checkpoint manifest:
    input:
        unpack(manifest_inputs),
    output:
        manifest="results/manifest/{dataset}.csv",
        errata="results/manifest/{dataset}.errata.csv",
    params:
        format=lambda w: dataset_spec(w.dataset)["format"],
        root=lambda w: dataset_spec(w.dataset)["root"],
        annotation=lambda w: (f"--annotation '{dataset_spec(w.dataset)['annotation']}'"
                              if dataset_spec(w.dataset).get("annotation") else ""),
        errata=lambda w: dataset_errata(w.dataset),
        au_sheets=lambda w: (f"--au-sheets '{json.dumps(dataset_spec(w.dataset)['au_sheets'], sort_keys=True)}'"
                             if dataset_spec(w.dataset).get("au_sheets") else ""),
        accept=lambda w: " ".join(shlex.quote(word) for word in dataset_spec(w.dataset).get("accept_emotions", [])),
    log:
        "results/logs/manifest/{dataset}.log",
    benchmark:
        "results/benchmarks/manifest/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "famnet manifest --dataset {wildcards.dataset} --format {params.format} --root {params.root:q} "
        "{params.annotation} {params.au_sheets} --errata {params.errata:q} --accept-emotions {params.accept} "
        "--out {output.manifest} > {log} 2>&1"


def protocol_json(wildcards):
    spec = protocol_spec(wildcards.protocol)
    datasets = {name: {"format": dataset_spec(name)["format"], "manifest": f"results/manifest/{name}.csv",
                       "synthetic": "synthetic" in dataset_spec(name)} for name in spec["datasets"]}
    # No sort_keys: the order of `classes` is the label order (0..C-1) everywhere downstream.
    return json.dumps({"protocol": spec, "datasets": datasets})


checkpoint protocol:
    input:
        lambda w: [f"results/manifest/{name}{suffix}" for name in protocol_spec(w.protocol)["datasets"]
                   for suffix in (".csv", ".errata.csv")],
    output:
        table="results/protocols/{protocol}.csv",
        report=report("results/protocols/{protocol}.json", caption="../report/protocol.rst", category="Protocols",
                      labels={"protocol": "{protocol}", "counts": "samples, subjects, classes, errata"}),
    params:
        spec=protocol_json,
    log:
        "results/logs/protocol/{protocol}.log",
    benchmark:
        "results/benchmarks/protocol/{protocol}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "famnet protocol --name {wildcards.protocol} --spec {params.spec:q} --out {output.table} "
        "--report {output.report} > {log} 2>&1"
