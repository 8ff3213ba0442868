# FAMNet micro-expression pipeline. Main job: `snakemake --cores 8` (rule all: results/tables/all.csv),
# or name a target, e.g. `snakemake --cores 8 results/protocols/megc2019.csv`. Configure in config/config.yaml.
from snakemake.utils import min_version

min_version("9.0")

configfile: "config/config.yaml"

from famnet.config import ConfigError, validate_config
from famnet.external import register_configured

try:
    validate_config(config)
    # Methods from outside the package (external_methods, or installed packages' entry points):
    # known to every rule from here on (docs/methods.md).
    register_configured(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

# `snakemake --report results/report.html` (./pipeline.sh run writes it at the end): the table,
# the figures, the protocol counts and the QC montages, with this description on its first page.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/provenance.smk"   # functions the next rules' inputs call
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"

# On a cluster (profiles/slurm) these seconds-long bookkeeping steps run in the main process instead
# of waiting in the queue; preprocessing, training and the synthetic generator are submitted.
localrules: all, preprocessed, trained, manifest, protocol, preprocess_report, fuse, evaluate, tables


rule all:
    input:
        "results/tables/all.csv",
        "results/tables/all.md",
        "results/tables/comparisons.csv",
        expand("results/figures/{protocol}_forest.png", protocol=config["run"]["protocols"]),
        expand("results/protocols/{protocol}.csv", protocol=config["run"]["protocols"]),
        preprocessed_targets,
    default_target: True


# One target per coarse stage; dvc.yaml's stages run these (docs/dvc.md).
rule preprocessed:
    input:
        expand("results/protocols/{protocol}.csv", protocol=config["run"]["protocols"]),
        preprocessed_targets,


rule trained:
    input:
        run_predictions,
