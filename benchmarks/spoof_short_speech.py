"""How often a spoof model flags *real* speech as a function of how much speech it gets.

    AVSYNC_SHARED=../shared PYTHONPATH=$PWD:$PWD/cli python benchmarks/spoof_short_speech.py \
        [--model aasist-asvspoof5] [--durations 0.5,1,1.5,2,3] [--crops 3] [--threads 2]

Input: the LibriSpeech test-other files of ``../shared`` whose speakers are *not* held out for the
spoof evaluation (the training/calibration speakers of ``avsync.training.spoof_data.SPEAKER_SPLITS``;
the public checkpoints never saw them either). From each file, ``--crops`` seeded random crops of
each duration are scored the way ``avsync spoof`` scores a recording shorter than one window (tiled
to the model's 4.04 s input), as they are and band-limited to telephone band (resampled to 8 kHz
and back, as ``avsync`` decodes an 8 kHz file). Prints, per duration, the share of crops at or
above the model's threshold and the 90th percentile of their scores.

This measurement sets :data:`avsync.spoof.scorer.SHORT_SPEECH_S`, below which a score comes with a
warning.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="spoof model name (default: avsync's default)")
    ap.add_argument("--durations", default="0.5,1,1.5,2,3")
    ap.add_argument("--crops", type=int, default=3, help="crops per file and duration")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED",
                                                        str(Path(__file__).resolve().parents[2] / "shared")))
    a = ap.parse_args(argv)

    import soxr
    import torch

    from avsync.spoof import DEFAULT_MODEL, load_spoof_model
    from avsync.spoof.scorer import SHORT_SPEECH_S
    from avsync.training.spoof_data import SPEAKER_SPLITS, load_wave

    torch.set_num_threads(a.threads)
    os.environ.setdefault("AVSYNC_MODELS_DIR", str(Path(a.shared) / "weights"))
    speakers = set(SPEAKER_SPLITS["librispeech_test-other"])
    files = sorted(f for f in (Path(a.shared) / "data" / "real_speech" / "librispeech_test-other").glob("*.flac")
                   if f.stem.split("-")[0] in speakers)
    if not files:
        print(f"no LibriSpeech files under {a.shared}/data: nothing to measure")
        return 1
    model = load_spoof_model(a.model or DEFAULT_MODEL)
    n_in = model.window_samples
    waves = [load_wave(f) for f in files]
    print(f"model {model.name}, threshold {model.threshold:.3f}; {len(files)} LibriSpeech files of speakers "
          f"{', '.join(sorted(speakers))}; {a.crops} crops per file; warning below {SHORT_SPEECH_S:g} s")
    print(f"{'seconds':>7} {'crops':>6} {'flagged %':>10} {'p90 score':>10} {'8 kHz flagged %':>16} {'8 kHz p90':>10}")
    for dur in [float(d) for d in a.durations.split(",")]:
        n = int(round(dur * 16000))
        scores, narrow = [], []
        for i, x in enumerate(waves):
            if x.size <= n:
                continue
            rng = np.random.default_rng(i)
            for _ in range(a.crops):
                s = int(rng.integers(0, x.size - n))
                crop = x[s : s + n]
                tel = soxr.resample(soxr.resample(crop, 16000, 8000), 8000, 16000).astype(np.float32)
                scores.append(float(model.predict(np.resize(crop, n_in)[None])[0]))
                narrow.append(float(model.predict(np.resize(tel, n_in)[None])[0]))
        sc, nb = np.array(scores), np.array(narrow)
        print(f"{dur:>7g} {sc.size:>6} {100 * np.mean(sc >= model.threshold):>10.1f} {np.quantile(sc, 0.9):>10.3f} "
              f"{100 * np.mean(nb >= model.threshold):>16.1f} {np.quantile(nb, 0.9):>10.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
