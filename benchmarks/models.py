"""Parameters and forward time of every registered model at its default input size.

    python benchmarks/models.py                       # markdown table on stdout (docs/models.md)
    python benchmarks/models.py --batch-sizes 1 8 --repeats 5 --threads 2

Eval mode, no grad, random weights (timing does not depend on the values), float32. Each time is
the best of ``--repeats`` forward passes after one warm-up pass: on a shared machine other jobs
only ever add time, so the minimum is the least noisy estimate (as timeit advises). The header
prints the load average so a reader can judge.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch

from famnet.models import create_model, list_models, parameter_breakdown

ABLATIONS = [("amnet2d", {"attention": False}), ("amnet3d", {"attention": False}),
             ("amnet3d", {"temporal_attention": False})]


def forward_ms(model: torch.nn.Module, batch: int, repeats: int, device: str) -> float:
    x = torch.randn(batch, *model.default_input_shape, device=device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:   # the first pass is a warm-up
                times.append(1000 * (time.perf_counter() - start))
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-ablations", action="store_true", help="only the registered models")
    parser.add_argument("--machine", default=f"{os.cpu_count()}-core CPU, {platform.machine()}")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = [(name, {}) for name in list_models()] + ([] if args.no_ablations else ABLATIONS)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"Machine: {args.machine}; device {args.device}; torch {torch.__version__}, {args.threads} threads; "
          f"date {args.date}; load average at start {load}; best of {args.repeats} passes after 1 warm-up.\n")
    batch_cols = " | ".join(f"forward ms, batch {b}" for b in args.batch_sizes)
    print(f"| model | config | input (per sample) | params | backbone | attention | heads | {batch_cols} |")
    print("|" + " --- |" * (7 + len(args.batch_sizes)))
    for name, cfg in rows:
        model = create_model(name, **cfg).eval().to(args.device)
        parts = parameter_breakdown(model)
        shape = "×".join(str(s) for s in model.default_input_shape)
        times = " | ".join(f"{forward_ms(model, b, args.repeats, args.device):.0f}" for b in args.batch_sizes)
        config = ", ".join(f"{k}={v}" for k, v in cfg.items()) or "default"
        print(f"| {name} | {config} | {shape} | {parts['total']:,} | {parts['backbone']:,} | "
              f"{parts['attention']:,} | {parts['head']:,} | {times} |", flush=True)


if __name__ == "__main__":
    main()
