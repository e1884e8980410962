"""A telephone-band threshold for a fine-tuned voice model, and what it changes on the held-out sets.

    AVSYNC_SHARED=../shared python benchmarks/spoof_narrowband_threshold.py --model aasist-avsync [--threads 2]
    AVSYNC_SHARED=../shared python benchmarks/spoof_narrowband_threshold.py --threshold T \\
        --eval runs/spoof-eval/shipped.json

The first form computes the threshold fixed in docs/spoofmodel.md ("A threshold for telephone-band audio"): the
real clips of the fine-tuning recipe's calibration split (``avsync.training.spoof_finetune``: its calibration
speakers and GRID speakers, clean), each passed through G.711 µ-law, G.711 A-law, AMR-NB 12.2 kbit/s and a plain
8 kHz band limit (``avsync.training.spoof_data.codec_roundtrip``), scored as the recipe's calibration scores clips
(``clip_log_odds`` of the network, whose output layer holds the Platt scaling), pooled; the threshold is their 97th
percentile clipped to [0.5, 0.99]. It prints the share of them the model's own threshold flags, per channel.

The second form reads a ``benchmarks/spoof_model_eval.py --json`` file (which records whether ``avsync spoof`` would
call each file narrowband) and prints, per held-out subset, the share of real files flagged and of fakes detected
with the model's threshold alone and with ``T`` for the narrowband files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHANNELS = ("mulaw8k", "alaw8k", "amrnb", "band8k")
TARGET_FPR = 0.03


def band_limit(x: np.ndarray) -> np.ndarray:
    """16 kHz → 8 kHz → 16 kHz (an 8 kHz line without companding)."""
    from avsync.training.spoof_data import SR, _fit, _resample

    return _fit(_resample(_resample(np.asarray(x, np.float32), SR, 8000), 8000, SR), x.size)


def calibration_threshold(model: str, weights: str | None, shared: str | None, threads: int) -> dict:
    import torch

    from avsync.spoof.models import load_spoof_model
    from avsync.training.spoof_data import codec_roundtrip
    from avsync.training.spoof_finetune import FinetuneConfig, _real_segments, clip_log_odds

    torch.set_num_threads(threads)
    m = load_spoof_model(model, weights=weights)
    cfg = FinetuneConfig(out="/tmp/avsync-nb-threshold", shared=shared)
    reals = [it.wave for it in _real_segments(cfg, "calib", say=lambda s: None)]
    print(f"{len(reals)} calibration real clips ({sum(w.size for w in reals) / 16000:.0f} s); model threshold "
          f"{m.threshold:.4f}")
    per: dict[str, np.ndarray] = {}
    clean = 1 / (1 + np.exp(-clip_log_odds(m.net, reals)))
    for ch in CHANNELS:
        waves = [band_limit(w) if ch == "band8k" else codec_roundtrip(w, ch) for w in reals]
        per[ch] = 1 / (1 + np.exp(-clip_log_odds(m.net, waves)))
    pooled = np.concatenate(list(per.values()))
    thr = float(np.clip(np.quantile(pooled, 1 - TARGET_FPR), 0.5, 0.99))
    print("| calibration real clips | n | flagged at the model's threshold | flagged at the narrowband threshold |")
    print("|---|---|---|---|")
    for name, p in [("clean (wideband)", clean), *per.items(), ("narrowband pooled", pooled)]:
        print(f"| {name} | {len(p)} | {100 * np.mean(p >= m.threshold):.1f} % | {100 * np.mean(p >= thr):.1f} % |")
    print(f"narrowband threshold: {thr:.6f}")
    return {"model": model, "threshold": m.threshold, "threshold_narrowband": thr, "n": len(reals)}


def eval_table(path: str, thr_nb: float) -> None:
    from spoof_model_eval import REAL_FPR, manifest_rows, subsets

    d = json.loads(Path(path).read_text())
    scores, narrow, thr = d["scores"], d["narrowband"], float(d["table"]["threshold"])
    _, rows = manifest_rows()
    files, pairs = subsets(rows)
    files["fsdd_heldout_joined"] = sorted(k for k in scores if k.startswith("joined:"))

    def share(fs: list[str], nb: bool) -> tuple[int, int]:
        fs = [f for f in fs if f in scores]
        hit = sum(scores[f] >= (thr_nb if nb and narrow.get(f) else thr) for f in fs)
        return hit, len(fs)

    print(f"model threshold {thr:.4f}, narrowband threshold {thr_nb:.4f}")
    print("| held-out real subset | narrowband files | flagged: model threshold | flagged: narrowband threshold |")
    print("|---|---|---|---|")
    tot = [0, 0, 0]
    for name in REAL_FPR:
        fs = [f for f in files.get(name, []) if f in scores]
        if not fs:
            continue
        nnb = sum(bool(narrow.get(f)) for f in fs)
        (a, n), (b, _) = share(fs, False), share(fs, True)
        if nnb:
            nb_fs = [f for f in fs if narrow.get(f)]
            tot[0] += share(nb_fs, False)[0]
            tot[1] += share(nb_fs, True)[0]
            tot[2] += len(nb_fs)
        print(f"| {name} | {nnb} / {n} | {a} ({100 * a / n:.1f} %) | {b} ({100 * b / n:.1f} %) |")
    if tot[2]:
        print(f"| narrowband real files pooled | {tot[2]} | {tot[0]} ({100 * tot[0] / tot[2]:.1f} %) | "
              f"{tot[1]} ({100 * tot[1] / tot[2]:.1f} %) |")
    print("\n| held-out fake subset | narrowband files | detected: model threshold | detected: narrowband threshold |")
    print("|---|---|---|---|")
    for name, (fk, _) in pairs.items():
        fs = [f for f in files.get(fk, []) if f in scores]
        nnb = sum(bool(narrow.get(f)) for f in fs)
        if not fs or not nnb:
            continue
        (a, n), (b, _) = share(fs, False), share(fs, True)
        print(f"| {name} | {nnb} / {n} | {a} ({100 * a / n:.1f} %) | {b} ({100 * b / n:.1f} %) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="aasist-avsync")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=None, help="with --eval: the narrowband threshold")
    ap.add_argument("--eval", default=None, help="a spoof_model_eval.py --json file")
    a = ap.parse_args()
    if a.eval:
        if a.threshold is None:
            ap.error("--eval needs --threshold")
        eval_table(a.eval, a.threshold)
        return
    calibration_threshold(a.model, a.weights, a.shared, a.threads)


if __name__ == "__main__":
    main()
