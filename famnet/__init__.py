"""FAMNet micro-expression recognition benchmark pipeline.

Kept import-light on purpose: Snakemake and the CLI import submodules as needed.
"""

__version__ = "0.1.0"
