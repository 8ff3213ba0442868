# Training stage: per (protocol, variant, seed, fold) train on every other subject and predict the
# held-out one (famnet/train.py, famnet/predict.py); FAMNet fuses the two branches' predictions
# per fold. The methods (training.methods) are FAMNet's branches and the baselines
# (famnet/methods.py); a baseline trains with its paper's recipe unless models.<method>.training
# says otherwise. The folds of a protocol are known once its table exists (`protocol` is a checkpoint).
# One job trains and predicts, so the model is loaded once; `famnet predict` re-predicts by hand.


def training():
    """The training section (empty when a config builds only the data and preprocessing stages)."""
    return config.get("training") or {}


def models():
    """The models section (empty when a config builds only the data and preprocessing stages)."""
    return config.get("models") or {}


def branch_variants():
    """(variant, method, ablation) of every trained model: each method, its fixed-recipe twin
    (`<method>-fixed`) where it selects its recipe with also_fixed, and each FAMNet branch with each
    ablation."""
    from famnet.methods import FIXED_RECIPE, ablation_applies

    out = []
    for name in training().get("methods", []):
        out.append((name, name, None))
        if (models().get(name, {}).get("selection") or {}).get("also_fixed"):   # its recipe without the search
            out.append((f"{name}-{FIXED_RECIPE}", name, FIXED_RECIPE))
        out += [(f"{name}-{ablation}", name, ablation) for ablation in training().get("ablations", [])
                if ablation_applies(name, ablation)]
    return out


def fused_variants():
    """FAMNet needs both branches; one fused variant per ablation both branches have too."""
    from famnet.methods import ablation_applies

    if not {"amnet2d", "amnet3d"} <= set(training().get("methods", [])):
        return []
    return ["famnet"] + [f"famnet-{ablation}" for ablation in training().get("ablations", [])
                         if ablation_applies("amnet2d", ablation) and ablation_applies("amnet3d", ablation)]


def all_variants():
    return [v for v, _, _ in branch_variants()] + fused_variants()


def method_training(name):
    """The training keys of one method's jobs (famnet.methods.training_settings), less what does not
    change a model, so adding a seed, an ablation, a method or a thread reruns nothing existing."""
    from famnet.methods import training_settings

    settings = training_settings(name, training(), models().get(name))
    settings["device"] = resolved_device()      # auto resolved here, not in each job (provenance.smk)
    return {k: v for k, v in settings.items() if k not in ("ablations", "seeds", "threads")}


def method_model(name):
    """What builds the model (famnet.methods.architecture); an external method's declaration rides
    along, so its job registers the method (famnet.external) without another argument."""
    from famnet.methods import METHODS, architecture

    model = architecture(models().get(name, {}))
    return {**model, "external": METHODS[name].external} if METHODS[name].kind == "external" else model


def method_selection(name, ablation=None):
    """models.<name>.selection checked and normalised (famnet.selection), or None: a fixed recipe
    (also the method's fixed-recipe twin, ablation 'fixed')."""
    from famnet.methods import FIXED_RECIPE
    from famnet.selection import SelectionSpec

    values = models().get(name, {}).get("selection")
    if not values or ablation == FIXED_RECIPE:
        return None
    try:
        return SelectionSpec.from_dict(values, f"models.{name}.selection").to_dict()
    except ValueError as error:
        raise WorkflowError(str(error))


def variant_seeds(variant):
    """The seeds a variant runs: its method's models.<method>.seeds, else training.seeds (FAMNet's
    fusion: training.seeds, which both branches must run)."""
    if variant in fused_variants():
        return training().get("seeds", [0])
    return models().get(variant_info(variant)[0], {}).get("seeds") or training().get("seeds", [0])


def variant_info(variant):
    for name, branch, ablation in branch_variants():
        if name == variant:
            return branch, ablation
    raise WorkflowError(f"unknown model variant {variant!r} (configured: {all_variants()})")


def protocol_folds(protocol):
    """The folds that hold something out (a holdout protocol's training-only rows are fold -1)."""
    import pandas as pd
    from famnet.protocols import protocol_folds_of

    path = checkpoints.protocol.get(protocol=protocol).output.table
    return protocol_folds_of(pd.read_csv(path, usecols=["fold"]))


def protocol_classes(protocol):
    return list(protocol_spec(protocol)["classes"])


def protocol_aus(protocol):
    spec = protocol_spec(protocol)
    return spec.get("aus", models().get("aus", []))


def input_problems_of(protocol, methods=None):
    """Why a method of the run cannot read a dataset of ``protocol`` (its format cannot provide the
    method's input: a clip from a release of still images), from famnet.datasets.formats."""
    from famnet.methods import input_problems

    datasets = {d: dataset_spec(d)["format"] for d in protocol_spec(protocol)["datasets"]}
    variants = methods or [(name, ablation) for _, name, ablation in branch_variants()]
    return input_problems(variants, models(), datasets)


def check_method_inputs(protocols):
    problems = [p for protocol in protocols for p in input_problems_of(protocol)]
    if problems:
        raise WorkflowError(f"protocol(s) {list(protocols)}: " + "\n".join(problems))


# Before any job runs (the train jobs are only known after the manifest and protocol checkpoints).
check_method_inputs(config["run"]["protocols"])


def protocol_artefacts(wildcards):
    """The preprocessed artefacts of every subject of the protocol's datasets (a protocol named on
    the command line rather than in run.protocols is checked here, as its jobs are built)."""
    problems = input_problems_of(wildcards.protocol, [variant_info(wildcards.variant)])
    if problems:
        raise WorkflowError("\n".join(problems))
    return [t for t in preprocessed_targets(datasets=protocol_spec(wildcards.protocol)["datasets"])
            if t.endswith(".npz")]


wildcard_constraints:
    variant="|".join(re.escape(v) for v, _, _ in branch_variants()) or "^$",   # trained, not fused
    fused="|".join(re.escape(v) for v in fused_variants()) or "^$",
    seed=r"\d+",
    fold=r"\d+",
    model=r"[0-9a-f]{16}",


# Models and predictions live in folders named by the hash of their settings (provenance.smk):
# results/models/<protocol>/<variant>/<model hash>/seed<s>/fold<k>/.
rule train:
    input:
        table="results/protocols/{protocol}.csv",
        artefacts=protocol_artefacts,
        manifests=lambda w: [ancient(manifest_path(d)) for d in protocol_spec(w.protocol)["datasets"]],
    output:
        model="results/models/{protocol}/{variant}/{model}/seed{seed}/fold{fold}/model.safetensors",
        config="results/models/{protocol}/{variant}/{model}/seed{seed}/fold{fold}/config.json",
        log_csv="results/models/{protocol}/{variant}/{model}/seed{seed}/fold{fold}/train_log.csv",
        test_epochs="results/models/{protocol}/{variant}/{model}/seed{seed}/fold{fold}/test_epochs.csv",
        predictions="results/predictions/{protocol}/{variant}/{model}/seed{seed}/fold{fold}.csv",
    params:
        model_hash=lambda w: check_folder_hash(f"protocol {w.protocol!r} {w.variant}: model folder", w.model,
                                               expected_model_hash(w.protocol, w.variant)),
        branch=lambda w: variant_info(w.variant)[0],
        ablation=lambda w: variant_info(w.variant)[1] or "none",
        # Only what shapes this job's model, so adding a seed, an ablation or a thread reruns nothing.
        model=lambda w: json.dumps(method_model(variant_info(w.variant)[0]), sort_keys=True),
        training=lambda w: json.dumps(method_training(variant_info(w.variant)[0]), sort_keys=True),
        selection=lambda w: json.dumps(method_selection(*variant_info(w.variant)) or {}, sort_keys=True),
        aus=lambda w: json.dumps(protocol_aus(w.protocol)),
        classes=lambda w: json.dumps(protocol_classes(w.protocol)),
        out_dir=lambda w, output: str(Path(output.model).parent),
        # the folders of input.artefacts (the preprocess rule's outputs), and their manifests
        preprocessed=lambda w: json.dumps({d: artefact_dir(d) for d in protocol_spec(w.protocol)["datasets"]},
                                          sort_keys=True),
        manifests=lambda w: json.dumps({d: manifest_path(d) for d in protocol_spec(w.protocol)["datasets"]},
                                       sort_keys=True),
        # What the artefacts must have been built with: the job refuses any that were not.
        preprocess=lambda w: json.dumps({d: preprocess_spec(d) for d in protocol_spec(w.protocol)["datasets"]},
                                        sort_keys=True),
    log:
        "results/logs/train/{protocol}/{variant}/{model}/seed{seed}/fold{fold}.log",
    benchmark:
        "results/benchmarks/train/{protocol}/{variant}/{model}/seed{seed}/fold{fold}.tsv"
    threads: lambda w: int(training().get("threads", 1))
    resources:
        mem_mb=4000,
        runtime=240,
        # Only jobs that must have a GPU claim one, so CPU runs are not serialised by the local cap.
        gpu=lambda w: 1 if resolved_device() == "cuda" else 0,
    shell:
        "famnet train --protocol-csv {input.table} --preprocessed-json {params.preprocessed:q} "
        "--manifests-json {params.manifests:q} --model-hash {params.model_hash} --protocol {wildcards.protocol} "
        "--branch {params.branch} --ablation {params.ablation} --fold {wildcards.fold} --seed {wildcards.seed} "
        "--model-json {params.model:q} --training-json {params.training:q} --selection-json {params.selection:q} "
        "--threads {threads} --aus-json {params.aus:q} "
        "--classes-json {params.classes:q} --preprocess-json {params.preprocess:q} --out-dir {params.out_dir} "
        "--predictions {output.predictions} > {log} 2>&1"


def fusion_inputs(wildcards):
    suffix = wildcards.fused[len("famnet"):]
    paths = {}
    for key, branch in (("pred_2d", "amnet2d"), ("pred_3d", "amnet3d")):
        variant = f"{branch}{suffix}"
        paths[key] = (f"results/predictions/{wildcards.protocol}/{variant}/"
                      f"{expected_model_hash(wildcards.protocol, variant)}/seed{wildcards.seed}/fold{wildcards.fold}.csv")
    return paths


rule fuse:
    input:
        unpack(fusion_inputs),
    output:
        "results/predictions/{protocol}/{fused}/{model}/seed{seed}/fold{fold}.csv",
    params:
        model_hash=lambda w: check_folder_hash(f"protocol {w.protocol!r} {w.fused}: fused folder", w.model,
                                               expected_model_hash(w.protocol, w.fused)),
        weight=lambda w: models().get("famnet", {}).get("fusion_weight", 0.5),
        mode=lambda w: models().get("famnet", {}).get("fusion_mode", "softmax_mean"),
    log:
        "results/logs/fuse/{protocol}/{fused}/{model}/seed{seed}/fold{fold}.log",
    benchmark:
        "results/benchmarks/fuse/{protocol}/{fused}/{model}/seed{seed}/fold{fold}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "famnet fuse --pred-2d {input.pred_2d} --pred-3d {input.pred_3d} --out {output} "
        "--weight {params.weight} --mode {params.mode} > {log} 2>&1"
