"""How fast a training job turns stored artefacts into a normalised, augmented input batch.

    python benchmarks/batches.py                    # CPU: what the data side costs per batch
    python benchmarks/batches.py --device cuda      # the same batches prepared on the GPU

This is the data side of famnet.train's loop, alone: take a batch from the compact arrays a job
holds (uint8 images and clips, float16 flow: famnet.data.ProtocolData), mirror about half of it,
normalise, and hand it to ``--device``. With ``--device cuda`` the script times it both ways: the
batch prepared on the CPU and then copied (float32), and the compact arrays copied first and
prepared on the GPU (what ``ProtocolData.batch(indices, device)`` does). Random contents at the
paper's sizes (config/paper.yaml); the result does not depend on the values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from famnet.data import Normalisation, ProtocolData
from famnet.train import training_inputs

SAMPLES = 256
INPUTS = {   # input: stored arrays per sample (shape, dtype), as the artefacts hold them at paper sizes
    "apex": [((224, 224, 3), np.uint8)],
    "apex_flow": [((224, 224, 3), np.uint8), ((3, 128, 128), np.float16)],
    "clip": [((16, 3, 112, 112), np.uint8)],
    "clip_diff": [((16, 3, 112, 112), np.uint8)],
}


def protocol_data(input: str) -> ProtocolData:
    rng = np.random.default_rng(0)
    arrays = tuple((rng.integers(0, 256, (SAMPLES, *shape)) if dtype == np.uint8
                    else rng.normal(0, 1, (SAMPLES, *shape))).astype(dtype) for shape, dtype in INPUTS[input])
    return ProtocolData(table=pd.DataFrame(index=range(SAMPLES)), input=input, arrays=arrays,
                        labels=torch.zeros(SAMPLES, dtype=torch.long), au_targets=torch.zeros(SAMPLES, 0),
                        au_mask=torch.zeros(SAMPLES, dtype=torch.bool))


def prepare(data: ProtocolData, norm: Normalisation, indices, device: torch.device, on_device: bool) -> torch.Tensor:
    """One training batch as famnet.train's loop makes it, prepared on ``device`` or on the CPU and then copied."""
    flip = torch.arange(len(indices)) % 2 == 0
    if on_device:
        return training_inputs(data, indices, norm, device, flip)
    return training_inputs(data, indices, norm, torch.device("cpu"), flip).to(device, non_blocking=True)


def samples_per_second(data: ProtocolData, batch: int, device: torch.device, on_device: bool, seconds: float) -> float:
    channels = data.batch([0]).shape[1]
    norm = Normalisation([0.5] * channels, [0.25] * channels)
    order = np.random.default_rng(1).permutation(SAMPLES)
    step = lambda k: prepare(data, norm, order[(k * batch) % (SAMPLES - batch):][:batch], device, on_device)
    step(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    calls, started = 0, time.perf_counter()
    while True:
        step(calls)
        calls += 1
        sync()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and calls >= 3:
            return calls * batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (a train job's training.threads)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"device: {name}; {args.threads} CPU thread(s); batch {args.batch}; torch {torch.__version__}")
    ways = [("on CPU", False)] + ([("on device", True)] if device.type == "cuda" else [])
    print(f"{'input':10} {'per sample':22} " + " ".join(f"{'samples/s ' + way:>22}" for way, _ in ways))
    for input in INPUTS:
        data = protocol_data(input)
        shapes = " + ".join("x".join(map(str, shape)) for shape, _ in INPUTS[input])
        rates = [samples_per_second(data, args.batch, device, on_device, args.seconds) for _, on_device in ways]
        print(f"{input:10} {shapes:22} " + " ".join(f"{rate:22.0f}" for rate in rates), flush=True)


if __name__ == "__main__":
    main()
