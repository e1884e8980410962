"""The mouth-region network's high-pass input: ``box_mean`` (shifted additions) against ``avg_pool2d``, same process.

``ArtefactNet`` feeds its first layer the crop minus a 5 × 5 box blur. The blur was
``avg_pool2d(count_include_pad=False)``, whose CPU kernel visits the whole window for every output; it is now
:func:`avsync.artefacts.model.box_mean`. This script times the shipped models' forward passes on batches of crops
the size ``avsync analyze`` sends (``--batch``), with the two blurs alternated ``--repeat`` times, and prints the
median wall time per batch, their ratio, and the largest difference of the output probabilities.

Usage::

    python benchmarks/bench_artefact_net.py [--models artefact-mouth,artefact-face] [--batch 32] [--repeat 7]
        [--threads 2]

Crops are random RGB images (the arithmetic does not depend on the content); probabilities are also compared on
them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import header, machine, ratio_line  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="artefact-mouth,artefact-face")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from torch.nn import functional as F

    from avsync.artefacts import ArtefactScorer
    from avsync.artefacts import model as model_module

    torch.set_num_threads(args.threads)
    print(f"avsync ArtefactNet high-pass benchmark — {machine()}, {args.threads} torch threads")

    def pool(x: torch.Tensor, k: int = 5) -> torch.Tensor:
        return F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)

    blurs = {"avg_pool2d (before)": pool, "box_mean (now)": model_module.box_mean}
    gen = torch.Generator().manual_seed(0)
    for name in args.models.split(","):
        net = ArtefactScorer(model=name).net
        x = torch.rand(args.batch, 3 * net.frames, 128, 128, generator=gen)
        times: dict[str, list[float]] = {k: [] for k in blurs}
        probs: dict[str, torch.Tensor] = {}
        try:
            with torch.no_grad():
                for label, blur in blurs.items():  # warm-up, and the outputs to compare
                    model_module.box_mean = blur  # type: ignore[assignment]
                    probs[label] = torch.sigmoid(net(x))
                for _ in range(args.repeat):
                    for label, blur in blurs.items():
                        model_module.box_mean = blur  # type: ignore[assignment]
                        t = time.perf_counter()
                        net(x)
                        times[label].append(time.perf_counter() - t)
        finally:
            model_module.box_mean = blurs["box_mean (now)"]  # type: ignore[assignment]
        header(f"{name}: {args.batch} crops of 128² × {net.frames} frame(s) per batch, median of {args.repeat}")
        base = statistics.median(times["avg_pool2d (before)"])
        for label in blurs:
            print(ratio_line(label, statistics.median(times[label]), base))
        diff = (probs["box_mean (now)"] - probs["avg_pool2d (before)"]).abs().max().item()
        print(f"largest |Δp| between the two: {diff:.2e}")


if __name__ == "__main__":
    main()
