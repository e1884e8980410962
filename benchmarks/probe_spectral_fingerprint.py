"""Probe: linear fingerprints of the voice recipe's generators on a fine spectrum (not shipped).

    AVSYNC_SHARED=../shared PYTHONPATH=$PWD:$PWD/cli python benchmarks/probe_spectral_fingerprint.py \
        --cache CACHE [--aasist] [--eval] [--l2 0.01] [--calib-fpr 0.01] [--json out.json]

``CACHE`` is the data cache of the voice recipe (``avsync train spoof --finetune aasist-asvspoof5 --cache CACHE``:
its ``ft_{train,calib}_*_seed0.npz`` files, clips of the train and calibration speakers, real and fake).

1. Feature of a clip (or a 4.04 s window): the mean log power spectrum (1024-point Hann frames, hop 256, the
   frames with at least the median energy) minus its 17-bin moving average — the fine spectral structure, with
   the channel's coarse colouring removed (513 values).
2. Per generator family (the converged HiFi-GAN's copies, plain and from perturbed mels; Kokoro-82M; the Piper
   voice; the classical TTS and vocoders): an L2 logistic regression of that family against every real clip of
   the train speakers (classes weighted equally). Printed: its EER on the calibration speakers against all their
   real clips, and with ``--aasist`` the shipped voice model's EER on the same clips.
3. ``--eval``: the HiFi-GAN, Kokoro and Piper fingerprints as one detector (largest margin over the three, each
   threshold set so that ``--calib-fpr`` of the calibration real clips pass it) on the held-out sets of
   ``benchmarks/spoof_model_eval.py`` (the same table: EER per fake subset, real speech flagged).

The question: the deep model misses copies of a vocoder it was trained on (its calibration EER on them is
~40 %); does the evidence exist in the signal at all, and does a detector of the known generators hold on
unseen real speech? docs/spoofmodel.md has the answer measured with this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cli"), str(Path(__file__).resolve().parent)]

FAMILIES = {
    "hifigan": ("voc:hifigan", "voc:hifigan_mod"),
    "kokoro": ("tts:kokoro",),
    "piper": ("tts:piper",),
    "classical": ("tts:espeak-ng", "tts:flite", "tts:festival", "voc:griffin_lim_mel", "voc:lpc",
                  "voc:mel_smooth_phase", "voc:phase_vocoder", "voc:upsample_imaging", "voc:world",
                  "voc:world_coded", "voc:world_vc"),
}
BANK = ("hifigan", "kokoro", "piper")


def fine_spectrum(x: np.ndarray) -> np.ndarray:
    """:func:`avsync.spoof.nets.fine_spectrum` (the input of the ``AASISTSpectral`` read-out) of one waveform
    ``[N]`` → ``[513]`` or of equal-length windows ``[B, N]`` → ``[B, 513]``, float64."""
    import torch

    from avsync.spoof.nets import fine_spectrum as fine

    x = np.asarray(x, np.float32)
    out = fine(torch.from_numpy(np.atleast_2d(x))).numpy().astype(np.float64)
    return out[0] if x.ndim == 1 else out


def load_split(cache: Path, split: str) -> dict[str, np.ndarray]:
    """Clips of one split of the recipe's cache (the data parts of the shipped model's recipe): waves (list), label
    (1 = fake), family."""
    from avsync.training.spoof import _load_items
    from avsync.training.spoof_finetune import BASE_PARTS

    items = []
    for part in BASE_PARTS:
        f = cache / f"ft_{split}_{part}_seed0.npz"
        if not f.exists():
            raise SystemExit(f"{f} not found: run the voice recipe with --cache {cache} first")
        items += _load_items(f)
    return {"waves": [i.wave for i in items], "label": np.array([i.label for i in items]),
            "family": np.array([i.family for i in items])}


def fit_family(X: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """L2 logistic regression, each class weighted to half the total weight."""
    from avsync.calibration import fit_logistic

    w = np.where(y == 1, 0.5 / max((y == 1).sum(), 1), 0.5 / max((y == 0).sum(), 1))
    return fit_logistic(X, y.astype(float), sample_weight=w, l2=l2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True, type=Path, help="data cache of avsync train spoof --finetune")
    ap.add_argument("--l2", type=float, default=0.01, help="ridge penalty (the data weigh 1 in all)")
    ap.add_argument("--calib-fpr", type=float, default=0.01, help="--eval: share of calibration reals let through")
    ap.add_argument("--aasist", action="store_true", help="also score the calibration clips with the shipped model")
    ap.add_argument("--eval", action="store_true", help="score the fingerprint bank on spoof_model_eval's sets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the calibration table (and the eval scores) here")
    a = ap.parse_args(argv)

    from avsync.evaluation.metrics import eer_of

    train, calib = load_split(a.cache, "train"), load_split(a.cache, "calib")
    Xtr = np.stack([fine_spectrum(x) for x in train["waves"]])
    Xca = np.stack([fine_spectrum(x) for x in calib["waves"]])
    ytr, yca, fca = train["label"], calib["label"], calib["family"]
    real_ca = yca == 0
    base = None
    if a.aasist:
        import torch
        from spoof_model_eval import windows

        from avsync.spoof.models import load_spoof_model

        torch.set_num_threads(a.threads)
        m = load_spoof_model("aasist-avsync")
        base = np.array([float(np.mean(m.predict(windows(x)))) for x in calib["waves"]])
    print(f"train {len(ytr)} clips ({(ytr == 0).sum()} real), calibration {len(yca)} ({real_ca.sum()} real)")
    print(f"{'family':10s} {'calib clips':>11s} {'fingerprint EER %':>18s} {'aasist-avsync EER %':>20s}")
    table, bank = {}, {}
    for fam, members in FAMILIES.items():
        keep = (ytr == 0) | np.isin(train["family"], members)
        coef, icpt = fit_family(Xtr[keep], ytr[keep], a.l2)
        s = Xca @ coef + icpt
        own = np.isin(fca, members)
        row = {"n_fake": int(own.sum()), "n_real": int(real_ca.sum()), "eer": eer_of(s[real_ca], s[own])}
        if base is not None:
            row["aasist_eer"] = eer_of(base[real_ca], base[own])
        table[fam] = row
        if fam in BANK:
            bank[fam] = (coef, icpt - float(np.quantile(s[real_ca], 1 - a.calib_fpr)))
        print(f"{fam:10s} {row['n_fake']:11d} {100 * row['eer']:18.1f} "
              f"{100 * row['aasist_eer'] if 'aasist_eer' in row else float('nan'):20.1f}")
    out: dict = {"l2": a.l2, "calibration": table}
    if a.eval:
        import spoof_model_eval as sme

        W = np.stack([bank[f][0] for f in BANK])
        b = np.array([bank[f][1] for f in BANK])

        def make_scorer(spec: str, weights: str | None, precision: str = "float32"):  # noqa: ARG001
            def prob(windows: np.ndarray) -> np.ndarray:
                margin = (fine_spectrum(windows) @ W.T + b).max(1)
                return 1.0 / (1.0 + np.exp(-margin))

            return prob, 0.5

        sme.make_scorer = make_scorer
        eval_json = (a.json or "fingerprint") + ".eval.json"
        sme.main(["--model", "fingerprint-bank", "--json", eval_json])
        out["eval_json"] = eval_json
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
