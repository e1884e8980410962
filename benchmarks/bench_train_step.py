"""Training throughput of avsync's two trained networks on each device: what a training run costs where.

    python benchmarks/bench_train_step.py [--devices cpu,cuda] [--threads 2] [--seconds 10]

One training step as the recipes take it (forward, loss, backward, AdamW), on random inputs of the recipes'
shapes, so that the data pipeline is left out:

* spoof: the AASIST network of ``avsync train spoof --finetune`` (default ``AASISTConfig``), batch 8 crops of
  2 s at 16 kHz (``FinetuneConfig``), float32 and bfloat16 autocast, and batches of 32 and 64 (what a GPU
  affords);
* sync: ``SyncNetStyle`` of ``avsync train sync`` (default ``SyncNetConfig``), batch 32 mouth stacks with
  1 + 6 + 2 audio candidates each (``SyncTrainConfig``), float32.

Each configuration runs for about ``--seconds`` after two warm-up steps, configurations alternating in the
same process; printed: steps/s, samples/s and the ratio to the first device's same configuration.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn


def spoof_step(batch: int, precision: str, device: str):
    from avsync.spoof.nets import AASIST, AASISTConfig

    net = AASIST(AASISTConfig()).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-5)
    x = torch.randn(batch, 32000, device=device) * 0.1
    y = torch.randint(0, 2, (batch,), device=device)
    dev_type = torch.device(device).type

    def step() -> None:
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            loss = nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def sync_step(batch: int, device: str):
    from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle
    from avsync.training.sync import SyncTrainConfig

    cfg, tc = SyncNetConfig(), SyncTrainConfig()
    k = 1 + tc.num_shift + tc.num_near + tc.num_swap
    net = SyncNetStyle(cfg).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr)
    mouth = torch.randint(0, 256, (batch, cfg.frames, cfg.mouth_size, cfg.mouth_size), device=device).float()
    feats = torch.randn(batch, k, cfg.n_mfcc, cfg.audio_steps, device=device)
    target = torch.zeros(batch, dtype=torch.long, device=device)

    def step() -> None:
        v = net.embed_video(mouth)
        a = net.embed_audio(feats.reshape(batch * k, *feats.shape[2:])).reshape(batch, k, -1)
        loss = nn.functional.cross_entropy((a * v[:, None, :]).sum(-1) / tc.temperature, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the median of their rates is reported")
    ap.add_argument("--only", default="", help="comma-separated parts of configuration names to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    configs = {
        "spoof b8 fp32": lambda d: (spoof_step(8, "float32", d), 8),
        "spoof b8 bf16": lambda d: (spoof_step(8, "bfloat16", d), 8),
        "spoof b32 fp32": lambda d: (spoof_step(32, "float32", d), 32),
        "spoof b32 bf16": lambda d: (spoof_step(32, "bfloat16", d), 32),
        "spoof b64 fp32": lambda d: (spoof_step(64, "float32", d), 64),
        "spoof b64 bf16": lambda d: (spoof_step(64, "bfloat16", d), 64),
        "sync b32 fp32": lambda d: (sync_step(32, d), 32),
    }
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    configs = {k: v for k, v in configs.items() if not only or any(o in k for o in only)}
    rates: dict[tuple[str, str], list[float]] = {}
    steps = {(name, d): make(d) for name, make in configs.items() for d in devices}
    for (name, d), (step, _) in steps.items():
        for _ in range(2):
            step()
        _sync(d)
    for _ in range(max(1, args.rounds)):
        for (name, d), (step, _) in steps.items():
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds / args.rounds:
                step()
                n += 1
                if n % 8 == 0:
                    _sync(d)
            _sync(d)
            rates.setdefault((name, d), []).append(n / (time.perf_counter() - t0))
    print(f"torch {torch.__version__}, threads {args.threads}, "
          f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'}")
    for name in configs:
        base = statistics.median(rates[(name, devices[0])])
        for d in devices:
            r = statistics.median(rates[(name, d)])
            print(f"{name:16s} {d:7s} {r:8.2f} steps/s {r * steps[(name, d)][1]:9.1f} samples/s "
                  f"{r / base:7.1f}x {devices[0]}")


if __name__ == "__main__":
    main()
