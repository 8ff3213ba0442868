"""What one LOSO fold of each method costs, measured alone, and the whole run projected from it.

    python benchmarks/fold_cost.py --configfile config/public.yaml \
        --protocol megc2019_public_casme2_smic --fold 0 [--results results] [--full-samples 442 --full-folds 68]

Runs, one at a time on one core, the workflow's own train job of every variant for fold ``--fold``
(seed 0) in a scratch copy of the workflow that reads the protocol table and artefacts of an
existing run (``--results``; nothing there is written). CPU time is user + system of the job's
process tree (getrusage of snakemake's children), so other load on the machine hardly changes it.
The projection multiplies a fold's CPU by the protocol's folds and the variant's seeds, and for
the full release by its folds and its samples' share (a fold's training work grows with the
training samples; the fixed start-up of a job, about 4 s, is scaled too, so it errs high).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scratch(results: Path, work: Path) -> None:
    shutil.copy(REPO / "Snakefile", work)
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / folder, work / folder)
    if (REPO / "resources").exists():        # the datasets the config points at (manifest inputs)
        (work / "resources").symlink_to((REPO / "resources").resolve())
    (work / "results").mkdir()
    for part in ("manifest", "protocols", "preprocessed"):
        shutil.copytree(results / part, work / "results" / part, symlinks=True)


def plan(work: Path, configfiles: list[str], protocol: str) -> dict:
    """{variant: seeds} and the protocol's folds, from the workflow's own config functions."""
    code = ("import json, yaml; from famnet.config import load_config; from famnet.methods import ablation_applies\n"
            f"c = load_config(*{configfiles!r}); t = c['training']; m = c['models']\n"
            "v = {}\n"
            "for n in t['methods']:\n"
            "    s = (m.get(n) or {}).get('seeds') or t.get('seeds', [0])\n"
            "    v[n] = s\n"
            "    v.update({f'{n}-{a}': s for a in t.get('ablations', []) if ablation_applies(n, a)})\n"
            "print(json.dumps(v))")
    variants = json.loads(subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                                         check=True).stdout)
    import pandas as pd

    folds = pd.read_csv(work / "results" / "protocols" / f"{protocol}.csv", usecols=["fold"])["fold"].nunique()
    return {"variants": variants, "folds": int(folds)}


def model_folders(work: Path, configfiles: list[str], protocol: str) -> dict[str, str]:
    """{variant: its settings-hash folder}, read from the workflow's own plan (a dry run)."""
    import re

    result = subprocess.run([sys.executable, "-m", "snakemake", "trained", "--dry-run", "--cores", "1",
                             "--configfile", *configfiles], cwd=work, capture_output=True, text=True)
    found = re.findall(rf"results/predictions/{re.escape(protocol)}/([^/\s]+)/([0-9a-f]{{16}})/seed", result.stdout)
    if not found:
        sys.exit(f"no train job planned for {protocol}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return dict(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", nargs="+", default=["config/public.yaml"])
    parser.add_argument("--protocol", required=True)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--full-samples", type=int, default=442, help="samples of the full release (projection)")
    parser.add_argument("--full-folds", type=int, default=68, help="its LOSO folds (projection)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scratch(args.results.resolve(), work)
        configfiles = ["config/config.yaml", *args.configfile]
        info = plan(work, configfiles, args.protocol)
        samples = sum(1 for _ in open(work / "results" / "protocols" / f"{args.protocol}.csv")) - 1
        override = work / "config" / "_protocol.yaml"
        override.write_text(f"run: {{protocols: [{args.protocol}]}}\n")
        rows = []
        folders = model_folders(work, [*args.configfile, str(override)], args.protocol)
        for variant, seeds in info["variants"].items():
            target = f"results/predictions/{args.protocol}/{variant}/{folders[variant]}/seed{seeds[0]}/fold{args.fold}.csv"
            cpu, started = children_cpu(), time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "snakemake", target, "--cores", "1", "--allowed-rules",
                                     "train", "--configfile", *args.configfile, str(override)],
                                    cwd=work, capture_output=True, text=True)
            if result.returncode:
                sys.exit(f"{variant}: snakemake failed\n{result.stderr[-2000:]}")
            wall, used = time.perf_counter() - started, children_cpu() - cpu
            run = used * info["folds"] * len(seeds)
            full = used * args.full_folds * len(seeds) * args.full_samples / samples
            rows.append((variant, len(seeds), wall, used, run, full))
    print(f"{args.protocol}: {samples} samples, {info['folds']} folds; one fold each, alone on 1 core")
    print(f"| variant | seeds | fold wall s | fold CPU s | this run, core-min | full release ({args.full_samples} / "
          f"{args.full_folds} folds), core-min |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for variant, seeds, wall, used, run, full in rows:
        print(f"| {variant} | {seeds} | {wall:.1f} | {used:.1f} | {run / 60:.1f} | {full / 60:.1f} |")
    total, total_full = sum(r[4] for r in rows), sum(r[5] for r in rows)
    print(f"| total | | | | {total / 60:.1f} ({total / 7200:.2f} h on 2 cores) | {total_full / 60:.1f} "
          f"({total_full / 7200:.2f} h on 2 cores) |")


if __name__ == "__main__":
    main()
