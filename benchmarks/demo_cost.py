"""The main job's cost per stage, in core-seconds (user + system CPU), from one real run.

    python benchmarks/demo_cost.py                        # run the demo in a scratch copy, print the table
    python benchmarks/demo_cost.py --configfile config/ci.yaml --cores 2
    python benchmarks/demo_cost.py --results results      # only summarise a finished run's benchmark files

Wall time depends on what else the machine runs; CPU time hardly does, so this is the figure to
compare. The total is the CPU time of snakemake and everything it started (getrusage of the
children around the run: what /usr/bin/time reports); each stage is the sum of its jobs' Snakemake
benchmark files (``cpu_time``: user + system of the job's process tree, results/benchmarks/).
What is left is snakemake's own work (parsing, DAG, scheduling) and the rules it runs in-process.
Snakemake samples a job's CPU every 0.5 s for its first 15 s and every 30 s after that, so a
45-s job would lose up to 30 s of CPU to its last gap; this script runs snakemake with the 0.5-s
sampling throughout (SNAKEMAKE below), so a job's figure misses at most its last half second.
The report (``snakemake --report``, as ./pipeline.sh run ends) is timed on its own line.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = {"synthetic_dataset": "synthetic datasets", "manifest": "manifests", "protocol": "protocol tables",
          "preprocess": "preprocessing (detect, align, flow, clips)", "fuse": "FAMNet fusion",
          "evaluate": "evaluation + figures", "tables": "results table"}


# `python -m snakemake`, with the benchmark sampling kept at 0.5 s for the whole job (the interval
# argument of snakemake.benchmark.benchmarked: above it, samples are that many seconds apart).
SNAKEMAKE = ["-c", "import snakemake.benchmark as b; b.benchmarked.__defaults__ = (None, None, 10 ** 9); "
                   "from snakemake.cli import main; main()"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """(wall s, CPU s of the command and its children); snakemake's output goes to ``log``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cpu, started = children_cpu(), time.perf_counter()
    with open(log, "a") as handle:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode:
        raise SystemExit(f"{' '.join(command[3:])} failed (exit {result.returncode}); see {log}")
    return time.perf_counter() - started, children_cpu() - cpu


def stage_costs(results: Path) -> dict[str, list[float]]:
    """{stage: [jobs, wall s, CPU s]} from results/benchmarks; training is split per method."""
    costs: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        parts = path.relative_to(results / "benchmarks").parts
        rule = parts[0].removesuffix(".tsv")
        stage = f"training: {parts[2]}" if rule == "train" else STAGES.get(rule, rule)
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        entry = costs[stage]
        entry[0] += 1
        entry[1] += float(row["s"])
        entry[2] += float(row["cpu_time"])
    return costs


def print_table(costs: dict, total: float | None, wall: float | None, report: tuple | None) -> None:
    print(f"{'stage':45} {'jobs':>5} {'wall s':>9} {'core-s':>9} {'share':>6}")
    measured = sum(c[2] for c in costs.values())
    reference = total or measured
    for stage, (jobs, seconds, cpu) in costs.items():
        print(f"{stage:45} {jobs:5d} {seconds:9.1f} {cpu:9.1f} {100 * cpu / reference:5.1f}%")
    if total is not None:
        rest = total - measured
        print(f"{'snakemake itself and in-process rules':45} {'':5} {'':9} {rest:9.1f} {100 * rest / total:5.1f}%")
        print(f"{'total (the main job)':45} {'':5} {wall:9.1f} {total:9.1f} = {total / 60:.2f} core-minutes")
    else:
        print(f"{'sum of the jobs':45} {'':5} {'':9} {measured:9.1f} = {measured / 60:.2f} core-minutes")
    if report:
        print(f"{'report (snakemake --report)':45} {'':5} {report[0]:9.1f} {report[1]:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="summarise this finished run's results/ instead of running")
    parser.add_argument("--configfile", action="append", default=[], help="extra config files, as for snakemake")
    parser.add_argument("--cores", default="2")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (its path is printed)")
    args = parser.parse_args()
    if args.results:
        print_table(stage_costs(args.results), None, None, None)
        return
    work = Path(tempfile.mkdtemp(prefix="famnet-demo-cost-"))
    shutil.copy(REPO / "Snakefile", work)
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / folder, work / folder)
    extra = [a for f in args.configfile for a in ("--configfile", f)]
    print(f"running the main job in {work} on {args.cores} cores {' '.join(extra)}", flush=True)
    log = work / "snakemake.log"
    wall, total = run([sys.executable, *SNAKEMAKE, "all", "--cores", args.cores, *extra], work, log)
    report = run([sys.executable, *SNAKEMAKE, "--report", "results/report.html", *extra], work, log)
    print_table(stage_costs(work / "results"), total, wall, report)
    if args.keep:
        print(f"kept {work} (snakemake's output: {log})")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
