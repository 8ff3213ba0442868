"""What the subject bootstrap costs in the evaluate job: the vectorised route against a plain loop.

    python benchmarks/bootstrap.py [--resamples 2000] [--repeats 3]

Predictions of the MEGC2019 composite's size (442 samples, 68 subjects, 3 classes; random, about
60 % right) for one and three seeds; times the intervals of one method (famnet.bootstrap:
per-subject confusion matrices, one matrix product per seed, UF1 / UAR in batch) and a plain loop
that concatenates the drawn subjects' rows and scores them with famnet.metrics (200 resamples,
scaled to the same count). Prints a table; docs/performance.md records it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from famnet.bootstrap import BootstrapSettings, SliceResamples, resample_indices
from famnet.metrics import uf1_uar


def predictions(seed: int, subjects: int = 68, samples: int = 442) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = np.sort(rng.integers(0, subjects, samples))
    subject[:subjects] = np.arange(subjects)                       # every subject holds a sample
    label = rng.integers(0, 3, samples)
    prediction = np.where(rng.random(samples) < 0.6, label, rng.integers(0, 3, samples))
    return pd.DataFrame({"subject": [f"s{s:02d}" for s in subject], "label": label, "prediction": prediction})


def vectorised(frames: list[pd.DataFrame], settings: BootstrapSettings) -> float:
    started = time.perf_counter()
    units = sorted(frames[0]["subject"].unique())
    resamples = SliceResamples(units, "subject", settings)
    resamples.interval_columns(resamples.scores(frames, 3, key="method"))   # two levels with several seeds
    return time.perf_counter() - started


def plain_loop(frames: list[pd.DataFrame], settings: BootstrapSettings, resamples: int = 200) -> float:
    started = time.perf_counter()
    units = sorted(frames[0]["subject"].unique())
    indices = resample_indices(len(units), BootstrapSettings(resamples=resamples, seed=settings.seed))
    for frame in frames:
        by_unit = {u: part for u, part in frame.groupby("subject")}
        for row in indices:
            pooled = pd.concat([by_unit[units[i]] for i in row])
            uf1_uar(pooled["label"], pooled["prediction"], 3)
    return (time.perf_counter() - started) * settings.resamples / resamples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = BootstrapSettings(resamples=args.resamples)
    print(f"| seeds | vectorised s (best of {args.repeats}) | plain loop s (scaled from 200) | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for seeds in (1, 3):
        frames = [predictions(seed) for seed in range(seeds)]
        fast = min(vectorised(frames, settings) for _ in range(args.repeats))
        slow = plain_loop(frames, settings)
        print(f"| {seeds} | {fast:.3f} | {slow:.1f} | {slow / fast:.0f}x |")
    print(f"\n{args.resamples} resamples of 442 samples / 68 subjects, 3 classes, one method, one slice.")


if __name__ == "__main__":
    main()
