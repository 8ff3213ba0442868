"""Cost of the preprocessing stage per sample, against the cost of only decoding the frames it uses.

    python benchmarks/preprocess.py --data /path/to/synthetic/full        # an existing `famnet synthetic --size full`
    python benchmarks/preprocess.py --generate results/synthetic/bench    # generate it first (several minutes)
    python benchmarks/preprocess.py --data DIR --limit-subjects 5 --flow farneback

Runs preprocess.run.process_subject on every subject of the CASME II, SAMM and SMIC layouts found
(the MEGC2019 composite's 442 samples for the full preset) with the default config (or
--config's preprocess section), timing each stage: decode (JPEG -> RGB of the frames used),
detect (batched MTCNN on the onset frames + dlib landmarks), align (similarity + warps of the onset
and apex crops), apex (estimation where unannotated), flow (onset->apex flow + strain), clip
(warps + temporal sampling); each stage's time excludes the decoding inside it. Then decodes the
same frame files again, alone ("decode only": each file once, full size), and prints a markdown
table: ms per sample per stage, ms per frame used, and total / decode-only.
Model loading (once per job) is reported apart. Single-threaded (threads 1), as each Snakemake job.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

# This file is named like the package it measures: take its own folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from famnet.datasets import build_manifest  # noqa: E402
from preprocess.run import REDUCED_FLAGS, STAGES, Timer, process_subject, set_threads  # noqa: E402
from preprocess.settings import resolve  # noqa: E402


def manifests(data: Path) -> dict:
    info = json.loads((data / "generation.json").read_text())
    out = {}
    for fmt in ("casme2", "samm", "smic"):
        if fmt in info["layouts"]:
            layout = info["layouts"][fmt]
            sheet = data / layout["annotation"] if layout["annotation"] else None
            out[fmt] = build_manifest(fmt, fmt, data / layout["root"], sheet, errata="none")
    return out


def _apex_error(truth, fmt: str, row, apex: int):
    """(estimated - true apex, clip length) for a synthetic sample, found by frame folder and onset."""
    hits = truth[(truth["format"] == fmt) & (truth["onset"].astype(int) == int(row.onset))
                 & (truth["offset"].astype(int) == int(row.offset))]
    hits = hits[[Path(row.frames_dir).name.endswith(s.split("/")[-1]) or fmt == "casme3" for s in hits["sample"]]]
    if len(hits) != 1:
        return None
    return int(apex) - int(hits["apex"].iloc[0]), int(row.offset) - int(row.onset) + 1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder written by `famnet synthetic` (generation.json inside)")
    parser.add_argument("--generate", type=Path, help="generate the full synthetic preset here first")
    parser.add_argument("--config", type=Path, help="YAML whose preprocess: section is used (default: the defaults)")
    parser.add_argument("--flow", choices=["tvl1", "farneback"], help="override preprocess.flow.method")
    parser.add_argument("--limit-subjects", type=int, help="only the first N subjects of each dataset")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.generate:
        from famnet.datasets.synthetic import generate

        generate(args.generate, size="full", seed=0, formats=("casme2", "samm", "smic"), progress=True)
        args.data = args.generate
    if args.data is None:
        parser.error("--data or --generate is needed")
    section = (yaml.safe_load(args.config.read_text()) or {}).get("preprocess", {}) if args.config else {}
    if args.flow:
        section = {**section, "flow": {**section.get("flow", {}), "method": args.flow}}
    settings = resolve({**section, "threads": 1})
    set_threads(1)

    truth_path = args.data / "truth.csv"
    truth = pd.read_csv(truth_path, dtype=str) if truth_path.is_file() else None
    apex_errors = []
    timer, samples, used = Timer(), 0, []
    started = time.perf_counter()
    for fmt, manifest in manifests(args.data).items():
        subjects = list(dict.fromkeys(manifest["subject"]))[: args.limit_subjects]
        for subject in subjects:
            arrays, meta = process_subject(manifest, fmt, subject, settings, timer=timer)
            samples += len(arrays["sample"])
            rows = manifest[manifest["subject"] == subject].set_index("sample")
            for sample_meta in meta["samples"]:
                row = rows.loc[sample_meta["sample"]]
                if truth is not None and sample_meta["apex_source"] == "estimated":
                    apex_errors.append(_apex_error(truth, fmt, row, sample_meta["apex"]))
                used += [(Path(row.frames_dir) / row.frame_pattern.format(n), r) for n, r in sample_meta["frames_used"]]
            print(f"{subject}: {len(arrays['sample'])} samples, {time.perf_counter() - started:.0f} s so far", flush=True)
    load = timer.seconds.pop("load", 0.0)

    # Decode-only baselines, after the stage (so the files are in the page cache for both): every
    # frame file the stage used decoded once at full size (what decoding only those JPEGs costs),
    # and the stage's own decodes (some at reduced size, a few files at two sizes) alone.
    files = list(dict.fromkeys(path for path, _ in used))
    decode_started = time.perf_counter()
    for path in files:
        cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    decode_only = time.perf_counter() - decode_started
    decode_started = time.perf_counter()
    for path, factor in used:
        cv2.cvtColor(cv2.imread(str(path), REDUCED_FLAGS[factor]), cv2.COLOR_BGR2RGB)
    decode_as_used = time.perf_counter() - decode_started
    reduced = sum(1 for _, factor in used if factor > 1)

    total = sum(timer.seconds.values())
    frames = len(files)
    lines = [
        f"Preprocessing cost, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads 1, "
        f"load average {os.getloadavg()[0]:.1f}, {datetime.date.today()}: {samples} samples, {frames} frames used "
        f"({frames / max(samples, 1):.1f} per sample; {len(used)} JPEG decodes, some at reduced size), flow {settings['flow']['method']} at {settings['flow_size']}, "
        f"crop {settings['crop_size']}, clip {settings['clip_length']}x{settings['clip_size']}; "
        f"model loading {load * 1000:.0f} ms once per job.",
        "",
        "| stage | ms per sample | share |",
        "| --- | ---: | ---: |",
    ]
    for stage in STAGES:
        if stage == "load":
            continue
        seconds = timer.seconds.get(stage, 0.0)
        lines.append(f"| {stage} | {1000 * seconds / max(samples, 1):.1f} | {100 * seconds / max(total, 1e-9):.0f} % |")
    lines += [
        f"| **total** | **{1000 * total / max(samples, 1):.1f}** | 100 % |",
        "",
        "| per frame used | ms |",
        "| --- | ---: |",
        f"| total (all stages) | {1000 * total / max(frames, 1):.2f} |",
        f"| decoding those JPEGs only (each once, full size) | {1000 * decode_only / max(frames, 1):.2f} |",
        f"| the stage's own decodes alone ({len(used)}, {reduced} at reduced size) | "
        f"{1000 * decode_as_used / max(frames, 1):.2f} |",
        f"| **ratio total / full-size decode only** | **{total / max(decode_only, 1e-9):.2f}x** |",
        f"| ratio total / the stage's own decodes alone | {total / max(decode_as_used, 1e-9):.2f}x |",
    ]
    errors = np.array([e for e in apex_errors if e is not None])
    if len(errors):
        lines += ["", f"Estimated apexes ({len(errors)} samples) against the generator's true apex: median "
                      f"{np.median(np.abs(errors[:, 0])):.0f} frames, 90th percentile {np.quantile(np.abs(errors[:, 0]), 0.9):.0f}; "
                      f"within 20 % of the clip length: {100 * np.mean(np.abs(errors[:, 0]) <= 0.2 * errors[:, 1]):.0f} %."]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"samples": samples, "frames_used": frames, "load_s": load,
                                         "stage_s": dict(timer.seconds), "decode_only_s": decode_only,
                                         "decode_as_used_s": decode_as_used, "reduced_frames": reduced,
                                         "settings": settings}, indent=1) + "\n")


if __name__ == "__main__":
    main()
