"""A voice clone inserted into a genuine recording: does the verdict say so? (``SpoofScorer(run_windows=)``)

For each VCTK speaker of the YourTTS demo that no voice model trained or was calibrated on (p302, p326, p335,
p347): a genuine recording (the speaker's ground-truth utterances, joined three times over) and the same recording
with the demo's YourTTS clones of that speaker (``Exp4_SCL``, joined) inserted in its middle, as a call or a
statement with a synthetic passage would hold it; and each held-out LibriSpeech test-other speaker's utterances
(about 30-45 s) with the same clones of a VCTK speaker inserted (another voice as well). ``avsync analyze``'s
``Detector`` reads every recording twice: with the voice check's run rule (the default: two or more consecutive
windows at or above the threshold raise a channel's score to their mean) and without it (``run_windows=0``, the
speech-weighted mean of all windows, as before). Printed: label and fused probability, the voice cue, each way.

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/spoof_inserted_clones.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_root

VCTK = ("p302", "p326", "p335", "p347")
LIBRI = ("3005", "3080", "3331", "367", "533")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    import avsync
    from avsync.media import load_media
    from avsync.pipeline import Detector
    from avsync.spoof import SpoofScorer

    torch.set_num_threads(args.threads)
    data = shared_root() / "data"

    def audio(paths: list[Path]) -> np.ndarray:
        return np.concatenate([load_media(str(p)).at_rates().mono().astype(np.float32) for p in paths])

    clones = {s: audio(sorted((data / "fake_speech/yourtts/Exp4_SCL/VCTK").glob(f"{s}_*.wav"))) for s in VCTK}
    cases = []
    for s in VCTK:
        real = np.concatenate([audio(sorted((data / f"fake_speech/yourtts/GT/VCTK/{s}").glob("*.wav")))] * 3)
        cases.append((f"VCTK {s}, its own clone", real, clones[s]))
    for i, s in enumerate(LIBRI):
        real = audio(sorted((data / "real_speech/librispeech_test-other").glob(f"{s}-*.flac")))
        cases.append((f"LibriSpeech {s}, clone of {VCTK[i % 4]}", real, clones[VCTK[i % 4]]))

    with_runs = Detector(device="cpu")
    without = Detector(device="cpu")
    without._spoof_scorer = SpoofScorer(device="cpu", speaker=True, run_windows=0)
    tally = {"real": [0, 0, 0], "inserted": [0, 0, 0]}  # recordings, manipulated without / with the run rule
    for name, real, clone in cases:
        half = len(real) // 2
        for kind, y in (("real", real), ("inserted", np.concatenate([real[:half], clone, real[half:]]))):
            media = avsync.Media.from_arrays(y[None], 16000)
            a, b = without(media), with_runs(media)
            t = tally[kind]
            t[0] += 1
            t[1] += a.label is avsync.Label.MANIPULATED
            t[2] += b.label is avsync.Label.MANIPULATED
            where = f" (clone {half / 16000:.0f}-{(half + len(clone)) / 16000:.0f} s)" if kind == "inserted" else ""
            print(f"{name}, {kind}{where}, {len(y) / 16000:.0f} s: {a.label.value} {a.score:.2f} "
                  f"(voice {a.cue('spoof').score:.2f}) -> {b.label.value} {b.score:.2f} (voice {b.cue('spoof').score:.2f})",
                  flush=True)
    print("\nrecordings | n | manipulated, mean of all windows | with the run rule")
    for kind, (n, x, y) in tally.items():
        print(f"{kind} | {n} | {x} | {y}")


if __name__ == "__main__":
    main()
