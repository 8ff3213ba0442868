"""What leak-free recipe selection costs, read from a finished run: each selected method's train
jobs against its fixed-recipe twin's (``models.<method>.selection.also_fixed``).

    python benchmarks/selection_cost.py --results results --protocol megc2019_public_casme2_smic

Per method and kind (fixed, selected): the train jobs' mean wall and CPU seconds (Snakemake's
benchmark files), the seconds spent training inside them (config.json: the model's training, plus
every candidate's on its inner split for a selected job), and so the job's overhead (start-up,
loading the data, predicting); then the selected job's cost as a ratio to the fixed one and to the
sum of its own trainings (1.0 would be selection that costs only its trainings), and the search's
seconds over the winner's final training in the same job (independent of other load on the
machine, which the ratio to the fixed jobs is not). Prints a table;
docs/results.md and docs/performance.md record it. Run on the run's machine (the CPU seconds are
its own).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from famnet.methods import FIXED_RECIPE


def job_costs(results: Path, protocol: str, variant: str) -> pd.DataFrame:
    """One row per (seed, fold) train job of a variant: wall and CPU seconds, seconds training."""
    rows = []
    base = results / "benchmarks" / "train" / protocol / variant
    for bench in sorted(base.glob("**/seed*/fold*.tsv")):     # <hash>/seed<s>/fold<k>.tsv (or the older seed<s>/...)
        seed, fold = bench.parent.name, bench.stem
        model = results / "models" / protocol / variant / bench.relative_to(base).with_suffix("")
        info = json.loads((model / "config.json").read_text())
        timing = pd.read_csv(bench, sep="\t").iloc[0]
        selection = info.get("selection") or {}
        searching = sum(c["seconds"] for c in selection.get("candidates", []))
        rows.append({"seed": seed, "fold": fold, "wall_s": float(timing["s"]), "cpu_s": float(timing["cpu_time"]),
                     "training_s": info["seconds"] + searching, "final_training_s": info["seconds"],
                     "search_s": searching, "candidates": len(selection.get("candidates", [])),
                     "chosen": selection.get("chosen_label", "")})
    return pd.DataFrame(rows)


def summary(results: Path, protocol: str, method: str) -> list[dict]:
    out = []
    fixed = job_costs(results, protocol, f"{method}-{FIXED_RECIPE}")
    selected = job_costs(results, protocol, method)
    for kind, frame in (("fixed", fixed), ("selected", selected)):
        if frame.empty:
            continue
        out.append({"method": method, "kind": kind, "jobs": len(frame), "wall s": frame["wall_s"].mean(),
                    "CPU s": frame["cpu_s"].mean(), "training s": frame["training_s"].mean(),
                    "overhead s": (frame["wall_s"] - frame["training_s"]).mean(),
                    "x fixed job": frame["wall_s"].mean() / fixed["wall_s"].mean() if not fixed.empty else float("nan"),
                    "x its trainings": frame["wall_s"].sum() / frame["training_s"].sum(),
                    # the same job's own conditions on both sides: robust to other load on the machine
                    "search / final training": (frame["search_s"] / frame["final_training_s"]).mean()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--protocol", required=True)
    parser.add_argument("--methods", nargs="+", default=["amnet2d", "ststnet"])
    args = parser.parse_args()
    rows = [row for method in args.methods for row in summary(args.results, args.protocol, method)]
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".2f"))
    for method in args.methods:
        chosen = job_costs(args.results, args.protocol, method)
        if not chosen.empty:
            print(f"{method}: chosen per (seed, fold): {chosen['chosen'].value_counts().to_dict()}")


if __name__ == "__main__":
    main()
