# Preprocessing stage: per (dataset, subject) aligned crops, onset->apex flow + strain, clips
# (preprocess/, docs/preprocessing.md), and a QC figure per subject (drawn by the same job, so
# the models load once; redraw one by hand with `famnet preprocess --qc-only --out X.npz --qc X.png`). The subjects of a dataset are
# known only once its manifest exists, so `manifest` is a checkpoint and the targets below are
# resolved from it.
import json

# Where every artefact lives: results/preprocessed/<dataset>/<artefact hash>/ (provenance.smk's
# artefact_dir): the preprocess rule's outputs and the train rule's --preprocessed-json.
PREPROCESSED = "results/preprocessed"


def preprocess_settings_json(dataset):
    """The preprocess section plus the dataset's frame rate (its `fps`, else its release's; none for a
    release of precomputed images)."""
    from famnet.datasets.formats import get_format

    spec = dataset_spec(dataset)
    settings = {**(config.get("preprocess") or {}), "fps": spec.get("fps", get_format(spec["format"]).fps)}
    return json.dumps(settings, sort_keys=True)


def manifest_subjects(dataset):
    """Local subject ids (without the '<dataset>/' prefix) of a dataset, from its manifest; a composite
    release's keep their source ('casme2/sub01': results/preprocessed/<dataset>/<hash>/casme2/sub01.npz)."""
    from famnet.datasets import read_manifest

    path = checkpoints.manifest.get(dataset=dataset).output[0]
    subjects = read_manifest(path)["subject"].unique()
    return sorted(s.split("/", 1)[1] for s in subjects)


def run_datasets():
    """Datasets of the protocols the main job builds, in first-seen order."""
    names = []
    for protocol in config["run"]["protocols"]:
        for name in protocol_spec(protocol)["datasets"]:
            if name not in names:
                names.append(name)
    return names


def preprocessed_targets(wildcards=None, datasets=None):
    """Every subject's artefact, sidecar and QC figure, and each dataset's skip report, for the given
    datasets (default: run_datasets())."""
    targets = []
    for dataset in datasets or run_datasets():
        folder, artefact = artefact_dir(dataset), expected_artefact(dataset)["hash"]
        targets.append(f"{folder}.report.json")
        for subject in manifest_subjects(dataset):
            targets += [f"{folder}/{subject}.npz", f"{folder}/{subject}.json",
                        f"results/qc/{dataset}/{artefact}/{subject}.png"]
    return targets


wildcard_constraints:
    artefact=r"[0-9a-f]{16}",


rule preprocess:
    wildcard_constraints:
        subject=r"[^/]+(/[^/]+)?",
    input:
        # ancient: a rebuilt manifest (an AU sheet edited, another subject's row) reruns no artefact
        # by its time; what this subject reads is the `inputs` param below.
        manifest=ancient("results/manifest/{dataset}.csv"),
    output:
        npz=f"{PREPROCESSED}/{{dataset}}/{{artefact}}/{{subject}}.npz",
        meta=f"{PREPROCESSED}/{{dataset}}/{{artefact}}/{{subject}}.json",
        qc=report("results/qc/{dataset}/{artefact}/{subject}.png", caption="../report/qc.rst",
                  category="Quality control", subcategory="{dataset}",
                  labels={"dataset": "{dataset}", "subject": "{subject}"}),
    params:
        settings=lambda w: preprocess_settings_json(w.dataset),
        artefact=lambda w: check_folder_hash(f"dataset {w.dataset!r}: artefact folder", w.artefact,
                                             expected_artefact(w.dataset)["hash"]),
        # The fingerprint of the subject's manifest rows and source files (famnet.provenance):
        # Snakemake reruns the job when it changes; the artefact records it and the train job checks it.
        inputs=lambda w: subject_inputs(w.dataset, w.subject),
    log:
        "results/logs/preprocess/{dataset}/{artefact}/{subject}.log",
    benchmark:
        "results/benchmarks/preprocess/{dataset}/{artefact}/{subject}.tsv"
    threads: lambda w: int((config.get("preprocess") or {}).get("threads", 1))
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "famnet preprocess --manifest {input.manifest} --dataset {wildcards.dataset} --subject {wildcards.subject:q} "
        "--out {output.npz} --qc {output.qc} --threads {threads} --settings {params.settings:q} > {log} 2>&1"



rule preprocess_report:
    """Per dataset: samples processed, every skipped sample with its reason (on_no_face: skip) and every
    damaged frame substituted (damaged_frames)."""
    input:
        lambda w: [f"{PREPROCESSED}/{w.dataset}/{w.artefact}/{s}.json" for s in manifest_subjects(w.dataset)],
    output:
        f"{PREPROCESSED}/{{dataset}}/{{artefact}}.report.json",
    log:
        "results/logs/preprocess_report/{dataset}/{artefact}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    run:
        from preprocess.artifact import write_skip_report

        report = write_skip_report(input, wildcards.dataset, output[0])
        with open(log[0], "w") as handle:
            handle.write(f"{wildcards.dataset}: {report['samples_processed']} samples processed, "
                         f"{report['samples_skipped']} skipped {[s['sample'] for s in report['skipped']]}, "
                         f"{report['frames_substituted']} damaged frames substituted, "
                         f"{report['face_fallbacks']} face fallbacks {report['face_fallback_samples']}\n")
