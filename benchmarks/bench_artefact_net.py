"""The mouth-region network's inference path against its layers as published, in the same process.

``ArtefactNet`` in eval mode (``avsync analyze``) now runs (1) its high-pass input's 5 × 5 box blur as shifted
additions (:func:`avsync.artefacts.model.box_mean`) instead of ``avg_pool2d(count_include_pad=False)``, whose CPU
kernel visits the whole window for every output, and (2) its blocks channels-last with each batch norm folded into
its convolution and the max pooling as strided maxima (``ArtefactNet._blocks_inference``). This script times the
shipped models' forward passes on batches of crops the size ``avsync analyze`` sends (``--batch``): as published
(both changes undone), with the blur alone, and now, alternated ``--repeat`` times; it prints the median wall time
per batch, the ratios, and the largest difference of the output probabilities from the published path.

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
    print(f"avsync ArtefactNet inference benchmark — {machine()}, {args.threads} torch threads")

    def pool(x: torch.Tensor, k: int = 5) -> torch.Tensor:
        return F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)

    box_mean = model_module.box_mean
    # label: (blur, whether the blocks run as published)
    variants = {"as published": (pool, True), "box_mean blur only": (box_mean, True), "now": (box_mean, False)}
    gen = torch.Generator().manual_seed(0)
    for name in args.models.split(","):
        net = ArtefactScorer(model=name).net
        x = torch.rand(args.batch, 3 * net.frames, 128, 128, generator=gen)
        times: dict[str, list[float]] = {k: [] for k in variants}
        probs: dict[str, torch.Tensor] = {}

        def use(label: str) -> None:
            blur, published = variants[label]
            model_module.box_mean = blur  # type: ignore[assignment]
            net.__dict__.pop("_blocks_inference", None)
            if published:  # an instance attribute shadows the method: the layers as published
                object.__setattr__(net, "_blocks_inference", net.blocks)

        try:
            with torch.no_grad():
                for label in variants:  # warm-up, and the outputs to compare
                    use(label)
                    probs[label] = torch.sigmoid(net(x))
                for _ in range(args.repeat):
                    for label in variants:
                        use(label)
                        t = time.perf_counter()
                        net(x)
                        times[label].append(time.perf_counter() - t)
        finally:
            model_module.box_mean = box_mean  # type: ignore[assignment]
            net.__dict__.pop("_blocks_inference", None)
        header(f"{name}: {args.batch} crops of 128² × {net.frames} frame(s) per batch, median of {args.repeat}")
        base = statistics.median(times["as published"])
        for label in variants:
            diff = (probs[label] - probs["as published"]).abs().max().item()
            print(ratio_line(label, statistics.median(times[label]), base, note=f"max |Δp| {diff:.1e}"))


if __name__ == "__main__":
    main()
