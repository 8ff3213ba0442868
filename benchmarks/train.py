"""Training and inference throughput per branch, and what a full MEGC2019 LOSO run would cost.

    python benchmarks/train.py                      # CPU, the demo and paper input sizes
    python benchmarks/train.py --device cuda        # on a GPU: preloaded tensors, channels_last, AMP (bf16)

Inputs are random tensors already in memory (the fold tensors a job holds after loading its
artefacts), so this measures the model step alone: forward + loss + backward + AdamW step for
training, forward in eval mode for inference. The estimate for the full reproduction is
68 folds x (the fold's ~435 training samples x epochs / training rate + inference), per branch,
per seed, run one job after another on this one device.
"""

from __future__ import annotations

import argparse
import time

import torch

from famnet.models import create_model, multitask_loss

MEGC2019 = {"samples": 442, "subjects": 68}
SIZES = {   # name: (2D input, 2D side, 3D clip T, 3D clip side), as config.yaml (demo) / config/paper.yaml
    "demo": ("apex_flow", 64, 4, 32),
    "paper": ("apex", 224, 16, 112),
}
CHANNELS = {"apex": 3, "flow": 3, "apex_flow": 6}


def _batch(branch: str, size: tuple, batch: int, device: torch.device) -> torch.Tensor:
    input, side, length, clip = size
    shape = (batch, CHANNELS[input], side, side) if branch == "amnet2d" else (batch, 3, length, clip, clip)
    x = torch.randn(shape, device=device)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 and device.type == "cuda" else x


def _rate(step, x: torch.Tensor, device: torch.device, seconds: float) -> float:
    """Samples per second of ``step(x)`` after two warm-up calls, timed for about ``seconds``."""
    for _ in range(2):
        step(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    calls, started = 0, time.perf_counter()
    while True:
        step(x)
        calls += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and calls >= 2:
            return calls * x.shape[0] / elapsed


def measure(branch: str, size, batch: int, device: torch.device, amp: bool, seconds: float) -> tuple[float, float]:
    model = create_model(branch, num_classes=3, **({"input": size[0]} if branch == "amnet2d" else {})).to(device)
    if device.type == "cuda" and branch == "amnet2d":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    labels = torch.randint(0, 3, (batch,), device=device)
    aus = torch.randint(0, 2, (batch, model.config.au_count), device=device).float()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")

    def train_step(x):
        model.train()
        with autocast:
            out = model(x)
        loss = multitask_loss(out._replace(emotion=out.emotion.float(), aus=out.aus.float()), labels, aus).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer_step(x):
        model.eval()
        with autocast:
            model(x)

    x = _batch(branch, size, batch, device)
    return _rate(train_step, x, device, seconds), _rate(infer_step, x, device, seconds)


def full_loso_hours(train_rate: float, infer_rate: float, epochs: int) -> float:
    per_fold_train = MEGC2019["samples"] * (1 - 1 / MEGC2019["subjects"])
    per_fold_test = MEGC2019["samples"] / MEGC2019["subjects"]
    seconds = MEGC2019["subjects"] * (per_fold_train * epochs / train_rate + per_fold_test / infer_rate)
    return seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", default="demo,paper", help=f"comma-separated, of {sorted(SIZES)}")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=40, help="epochs per fold for the full-run estimate")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
    parser.add_argument("--no-amp", action="store_true", help="float32 on CUDA too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = device.type == "cuda" and not args.no_amp
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; batch {args.batch}; AMP {'bf16' if amp else 'off'}; torch {torch.__version__}")
    print(f"{'branch':8} {'size':6} {'input':16} {'train samples/s':>16} {'infer samples/s':>16} "
          f"{'MEGC2019 LOSO h (' + str(args.epochs) + ' ep)':>24}")
    for size_name in args.sizes.split(","):
        size = SIZES[size_name]
        for branch in ("amnet2d", "amnet3d"):
            input, side, length, clip = size
            shape = f"{CHANNELS[input]}x{side}x{side}" if branch == "amnet2d" else f"3x{length}x{clip}x{clip}"
            train_rate, infer_rate = measure(branch, size, args.batch, device, amp, args.seconds)
            hours = full_loso_hours(train_rate, infer_rate, args.epochs)
            print(f"{branch:8} {size_name:6} {shape:16} {train_rate:16.1f} {infer_rate:16.1f} {hours:24.2f}", flush=True)


if __name__ == "__main__":
    main()
