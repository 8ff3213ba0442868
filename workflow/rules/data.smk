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
    # A real dataset: the sheet is an input so that editing it rebuilds the manifest.
    return {"sheet": spec["annotation"]} if spec.get("annotation") else {}


checkpoint manifest:
    input:
        unpack(manifest_inputs),
    output:
        "results/manifest/{dataset}.csv",
    params:
        format=lambda w: dataset_spec(w.dataset)["format"],
        root=lambda w: dataset_spec(w.dataset)["root"],
        annotation=lambda w: (f"--annotation '{dataset_spec(w.dataset)['annotation']}'"
                              if dataset_spec(w.dataset).get("annotation") else ""),
    log:
        "results/logs/manifest/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "famnet manifest --dataset {wildcards.dataset} --format {params.format} --root {params.root:q} "
        "{params.annotation} --out {output} > {log} 2>&1"


def protocol_json(wildcards):
    spec = protocol_spec(wildcards.protocol)
    datasets = {name: {"format": dataset_spec(name)["format"], "manifest": f"results/manifest/{name}.csv",
                       "synthetic": "synthetic" in dataset_spec(name)} for name in spec["datasets"]}
    return json.dumps({"protocol": spec, "datasets": datasets}, sort_keys=True)


checkpoint protocol:
    input:
        lambda w: [f"results/manifest/{name}.csv" for name in protocol_spec(w.protocol)["datasets"]],
    output:
        table="results/protocols/{protocol}.csv",
        report="results/protocols/{protocol}.json",
    params:
        spec=protocol_json,
    log:
        "results/logs/protocol/{protocol}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "famnet protocol --name {wildcards.protocol} --spec {params.spec:q} --out {output.table} "
        "--report {output.report} > {log} 2>&1"
