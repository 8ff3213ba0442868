"""Training and inference throughput per method, and what a full MEGC2019 LOSO run would cost.

    python benchmarks/train.py                      # CPU, the demo and paper input sizes
    python benchmarks/train.py --device cuda        # on a GPU: preloaded tensors, channels_last, AMP (bf16)
    python benchmarks/train.py --methods ststnet,htnet --sizes paper

Inputs are random tensors already in memory (the fold tensors a job holds after loading its
artefacts), so this measures the model step alone: forward + loss + backward + optimiser step for
training, forward in eval mode for inference. Sizes, batch, optimiser and epochs are each
method's as config.yaml (demo) or config.yaml + config/paper.yaml (paper) set them: FAMNet's
branches the training section, the baselines their papers' recipes (famnet/methods.py) with the
demo's documented departures. The estimate for the full reproduction is 68 folds x (the fold's ~435
training samples x the recipe's epochs / training rate + inference), per method, per seed, run one
job after another on this one device.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from famnet.config import load_config
from famnet.methods import METHODS, architecture, training_settings
from famnet.models import create_model, multitask_loss

MEGC2019 = {"samples": 442, "subjects": 68}
REPO = Path(__file__).resolve().parent.parent
CONFIGS = {"demo": ("config.yaml",), "paper": ("config.yaml", "paper.yaml")}
CHANNELS = {"apex": 3, "flow": 3, "apex_flow": 6, "clip": 3, "clip_diff": 3}


def sizes(size: str) -> dict:
    """{method: (model config, input shape per sample, training settings)} as config.yaml (demo)
    or config.yaml + config/paper.yaml (paper) give them."""
    config = load_config(*(REPO / "config" / name for name in CONFIGS[size]))
    pre, out = config["preprocess"], {}
    for method in METHODS:
        model_config = architecture(config["models"].get(method))
        spec = METHODS[method].input_spec(model_config)
        if spec.kind in ("clip", "clip_diff"):
            shape = (3, pre["clip_length"], pre["clip_size"], pre["clip_size"])
        elif METHODS[method].multitask:
            shape = (CHANNELS[spec.kind], pre["crop_size"], pre["crop_size"])
        else:
            shape = (len(spec.channels), spec.size, spec.size)
        out[method] = (model_config, shape, training_settings(method, config["training"], config["models"].get(method)))
    return out


def _batch(shape: tuple, batch: int, device: torch.device) -> torch.Tensor:
    x = torch.randn((batch, *shape), device=device)
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


def measure(method: str, model_config: dict, shape: tuple, settings: dict, batch: int, device: torch.device,
            amp: bool, seconds: float) -> tuple[float, float]:
    model = create_model(method, num_classes=3, **model_config).to(device)
    if device.type == "cuda" and len(shape) == 3:
        model = model.to(memory_format=torch.channels_last)
    optimizer = (torch.optim.Adam if settings["optimizer"] == "adam" else torch.optim.AdamW)(
        model.parameters(), lr=settings["lr"])
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

    x = _batch(shape, batch, device)
    return _rate(train_step, x, device, seconds), _rate(infer_step, x, device, seconds)


def full_loso_hours(train_rate: float, infer_rate: float, epochs: int) -> float:
    per_fold_train = MEGC2019["samples"] * (1 - 1 / MEGC2019["subjects"])
    per_fold_test = MEGC2019["samples"] / MEGC2019["subjects"]
    seconds = MEGC2019["subjects"] * (per_fold_train * epochs / train_rate + per_fold_test / infer_rate)
    return seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", default="demo,paper", help=f"comma-separated, of {sorted(CONFIGS)}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {list(METHODS)}")
    parser.add_argument("--batch", type=int, help="one batch size for all (default: each recipe's)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
    parser.add_argument("--no-amp", action="store_true", help="float32 on CUDA too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = device.type == "cuda" and not args.no_amp
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; AMP {'bf16' if amp else 'off'}; torch {torch.__version__}")
    print(f"{'method':12} {'size':6} {'input':14} {'params':>11} {'batch':>5} {'epochs':>6} {'train samples/s':>16} "
          f"{'infer samples/s':>16} {'MEGC2019 LOSO h':>16}")
    for size in args.sizes.split(","):
        configured = sizes(size)
        for method in args.methods.split(","):
            model_config, shape, settings = configured[method]
            batch = args.batch or settings["batch_size"]
            params = sum(p.numel() for p in create_model(method, **model_config).parameters())
            train_rate, infer_rate = measure(method, model_config, shape, settings, batch, device, amp, args.seconds)
            hours = full_loso_hours(train_rate, infer_rate, settings["epochs"])
            print(f"{method:12} {size:6} {'x'.join(map(str, shape)):14} {params:11,d} {batch:5d} {settings['epochs']:6d} "
                  f"{train_rate:16.1f} {infer_rate:16.1f} {hours:16.2f}", flush=True)


if __name__ == "__main__":
    main()
