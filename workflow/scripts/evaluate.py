"""The evaluate rule's job, run by Snakemake's `script:`: the prediction file lists reach
famnet.tables.run_evaluation as Python objects, never on a command line (at paper size they are
over Linux's 128 KiB limit on one argument, and Snakemake passes a whole shell command to
`bash -c` as one)."""

import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout

from famnet.external import register_configured
from famnet.tables import run_evaluation

job = snakemake  # noqa: F821 (injected by Snakemake)
register_configured(job.config)      # the run's external methods: their names and published numbers
with open(job.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):
    try:
        run_evaluation(job.wildcards.protocol, job.input.table, job.params.classes, job.params.files,
                       job.params.oracle, job.params.evaluation, metrics=job.output.metrics,
                       confusion_png=job.output.confusion, per_subject_png=job.output.per_subject,
                       forest_png=job.output.forest, confusion_csv=job.output.confusion_csv,
                       per_subject_csv=job.output.per_subject_csv, expected_models=job.params.expected,
                       selection_png=job.output.selection)
    except Exception:
        traceback.print_exc()     # into the job's log, where the other rules' errors go
        failed = True
    else:
        failed = False
sys.exit(1 if failed else 0)
