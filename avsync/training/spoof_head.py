"""A calibrated head on a frozen public spoof checkpoint (``avsync train spoof --head NAME``).

The public AASIST family ends in one linear layer on a 160-d hidden vector (``out_layer``). This recipe
keeps the network and its weights frozen and refits that layer on the data of :mod:`avsync.training.spoof`
(real speech of the training speakers, TTS / neural TTS / copy-synthesis fakes made here, channel and
codec augmentation):

1. clean clips of both splits (:func:`avsync.training.spoof.clean_items`, same cache and seeds as the LCNN
   recipe; ``n_neural`` Kokoro clips included), plus one augmented copy of every calib clip and of a share
   ``head_aug_share`` of the train clips (every channel effect, no clean pass-through);
2. the frozen network's hidden vector of every clip (mean over its 64600-sample windows; cached);
3. a class-balanced, family-balanced logistic regression on the standardised hidden vectors (neural TTS
   gets ``neural_share`` of the fake weight), its L2 strength chosen by the calib split's EER;
4. Platt scaling and the threshold (``target_fpr`` of the calib real clips) on the calib speakers;
5. the head folded into ``out_layer.weight`` / ``out_layer.bias`` (logits ``[spoof, 0]``, so
   ``softmax[:, 0]`` is the calibrated probability) and written as safetensors: only those two tensors,
   loaded over the public checkpoint (:attr:`avsync.bundles.Bundle.requires`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from avsync.calibration import fit_logistic
from avsync.training import spoof_data as sd
from avsync.training.spoof import Item, TrainConfig, clean_items, eer, fit_platt, per_clip_mean, stacked_windows

if TYPE_CHECKING:  # torch-based: loaded by train_spoof_head
    from avsync.spoof.nets import AASIST

HEAD_FILE = "spoof_head.safetensors"
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)


def head_items(base: list[Item], split: str, cfg: TrainConfig) -> list[Item]:
    """Every clean clip, then (for calib always, for train with probability ``cfg.head_aug_share``) one
    copy through a random channel. Seeded by ``cfg.seed`` and the split."""
    rng = np.random.default_rng([cfg.seed, 7 if split == "train" else 8])
    out: list[Item] = []
    for it in base:
        out.append(it)
        if split == "train" and rng.random() < 1 - cfg.head_aug_share:
            continue
        out.append(Item(sd.augment(it.wave, rng, p_clean=0.0), it.label, it.family, clean=False))
    return out


def hidden_vectors(
    net: AASIST, waves: list[np.ndarray], *, batch: int = 16, say: Callable[[str], None] = print, tag: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """``(H [N, D], p [N])``: each clip's mean hidden vector over its windows (:func:`stacked_windows`) and the mean
    probability of the network's own head."""
    import torch

    allw, owner = stacked_windows(waves)
    hs, ps = [], []
    t0 = time.time()
    with torch.inference_mode():
        for i in range(0, len(allw), batch):
            h, logits = net.forward_features(torch.from_numpy(allw[i:i + batch]))
            hs.append(h.float().numpy())
            ps.append(torch.softmax(logits.float(), 1)[:, 0].numpy())
            if (i // batch) % 20 == 0:
                say(f"  [{tag}] hidden vectors {i}/{len(allw)} windows ({time.time() - t0:.0f} s)")
    n = len(waves)
    return per_clip_mean(np.concatenate(hs), owner, n), per_clip_mean(np.concatenate(ps), owner, n)


def sample_weights(labels: np.ndarray, families: np.ndarray, neural_share: float) -> np.ndarray:
    """Weights summing to 1 per class; within the fakes, each family equal, except that the neural TTS
    families (``tts:kokoro``) together get ``neural_share`` when present."""
    from avsync.training.spoof import NEURAL_TTS

    w = np.zeros(len(labels))
    real = labels == 0
    w[real] = 0.5 / max(real.sum(), 1)
    fams = sorted(set(families[~real]))
    neural = [f for f in fams if f.removeprefix("tts:") in NEURAL_TTS]
    other = [f for f in fams if f not in neural]
    for f in fams:
        m = (families == f) & ~real
        share = (neural_share / len(neural) if f in neural else (1 - neural_share) / len(other)) if neural and other \
            else 1 / len(fams)
        w[m] = 0.5 * share / m.sum()
    return w


def train_spoof_head(cfg: TrainConfig, *, say: Callable[[str], None] = print) -> dict:
    """Fit, calibrate and write the head (see the module docstring); returns the ``training.json`` summary."""
    import torch

    from avsync import __version__
    from avsync.checkpoint import write_checkpoint
    from avsync.errors import ConfigError
    from avsync.spoof.models import load_spoof_model

    assert cfg.head is not None  # the `avsync train spoof --head NAME` run
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache) if cfg.cache else out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    model = load_spoof_model(cfg.head, weights=cfg.weights)
    net = model.net
    if not hasattr(net, "forward_features") or not hasattr(net, "out_layer"):
        raise ConfigError(f"--head {cfg.head!r}: the model has no linear output layer on a hidden vector",
                          hint="choose an AASIST-family checkpoint: aasist, aasist-l or aasist-asvspoof5")
    t0 = time.time()
    feats = {}
    for split in ("train", "calib"):
        items = head_items(clean_items(split, cfg, cache, say=say), split, cfg)
        f = cache / (f"{split}_hidden_{cfg.head}_{model.bundle.sha256[:12]}_n{cfg.n_neural}_aug{cfg.head_aug_share:g}"
                     f"{'_tiny' if cfg.tiny else ''}_seed{cfg.seed}.npz")
        if f.exists():
            z = np.load(f)
            H, P = z["H"], z["P"]
            say(f"[data] {split}: hidden vectors of {len(H)} clips from cache {f}")
        else:
            # checked above: an AASIST-family network (the only one with forward_features)
            H, P = hidden_vectors(cast("AASIST", net), [i.wave for i in items], say=say, tag=split)
            np.savez(f, H=H, P=P)
        feats[split] = (H, P, np.array([i.label for i in items]), np.array([i.family for i in items]))
        say(f"[data] {split}: {len(items)} clips ({time.time() - t0:.0f} s)")
    t_data = time.time() - t0

    Htr, _, ytr, ftr = feats["train"]
    Hca, Pca, yca, fca = feats["calib"]
    mu, sdv = Htr.mean(0), Htr.std(0) + 1e-6
    wtr = sample_weights(ytr, ftr, cfg.neural_share)
    trials = []
    for l2 in L2_GRID:
        coef, bias = fit_logistic((Htr - mu) / sdv, ytr.astype(float), sample_weight=wtr, l2=l2, maxiter=2000)
        zc = ((Hca - mu) / sdv) @ coef + bias
        trials.append((eer(zc[yca == 0], zc[yca == 1]), l2, coef, bias))
        say(f"[fit] l2 {l2:g}: calib EER {100 * trials[-1][0]:.1f} %")
    _, l2, coef, bias = min(trials, key=lambda t: (t[0], -t[1]))
    zc = ((Hca - mu) / sdv) @ coef + bias
    a, b = fit_platt(zc, yca)
    p = 1 / (1 + np.exp(-(a * zc + b)))
    thr = float(max(0.5, np.quantile(p[yca == 0], 1 - cfg.target_fpr)))
    calib = {
        "l2": l2, "platt_a": a, "platt_b": b, "threshold": thr,
        "calib_eer_all": eer(zc[yca == 0], zc[yca == 1]),
        "calib_eer_base_head": eer(Pca[yca == 0], Pca[yca == 1]),
        "calib_fpr_at_threshold": float((p[yca == 0] >= thr).mean()),
        "calib_tpr_at_threshold": float((p[yca == 1] >= thr).mean()),
        "calib_eer_by_family": {f: eer(zc[yca == 0], zc[fca == f]) for f in sorted(set(fca[yca == 1]))},
        "l2_trials": {f"{t[1]:g}": t[0] for t in trials},
    }
    say(f"[calib] {json.dumps(calib)}")
    # fold standardisation and Platt into out_layer: logit_spoof = a * (coef . (h - mu) / sd + bias) + b
    w_eff = a * coef / sdv
    b_eff = a * (bias - float(coef @ (mu / sdv))) + b
    out_layer = cast(torch.nn.Linear, net.out_layer)  # checked above: AASIST's linear output layer
    weight = torch.zeros_like(out_layer.weight)
    weight[0] = torch.as_tensor(w_eff, dtype=weight.dtype)
    out_bias = torch.zeros_like(out_layer.bias)
    out_bias[0] = float(b_eff)
    tensors = {"out_layer.weight": weight.contiguous(), "out_layer.bias": out_bias.contiguous()}
    write_checkpoint(out / HEAD_FILE, tensors, {
        "format": "avsync-spoof-head", "base": cfg.head, "base_sha256": model.bundle.sha256,
        "threshold": f"{thr:.6f}",
        "polarity": "softmax(logits)[:, 0] = calibrated probability that the speech is synthetic",
    })
    summary = {
        "avsync_version": __version__,
        "base": {"name": cfg.head, "sha256": model.bundle.sha256, "license": model.bundle.license},
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "log"},
        "seconds": {"data": round(t_data, 1), "fit": round(time.time() - t0 - t_data, 1)},
        "data": {s: dict(Counter(feats[s][3].tolist())) for s in feats},
        "calibration": calib,
        "splits": sd.SPEAKER_SPLITS,
        "real_licenses": sd.REAL_SUBSETS,
        "tts_engines": sd.available_tts(),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=1, default=str))
    say(f"[done] wrote {out / HEAD_FILE}")
    return summary
