"""How the voice check's background reading (``avsync.spoof.background_db``) reads beds of music and noise under speech.

For each LibriSpeech ``test-other`` utterance of one side (``--side heldout``: the 25 of the benchmark's held-out
speakers, ``benchmarks/spoof_model_eval.py``; ``--side train``: the 25 of the other speakers), the reading of the
clean file and of copies with a bed ``--snr`` dB under the voice (``avsync.training.spoof_data.music_bed``: the bed's
mean power that far under the loudest half of the speech's 20 ms frames), once with ``--music`` and once with
``--noise``, over the scorer's own voice activity detection. Prints per condition how many files could be read (a
quarter of a second of pause between words is needed), how many read under ``BACKGROUND_NOTE_DB`` (the result's note)
and the median reading.

    AVSYNC_SHARED=../shared python benchmarks/spoof_background_level.py --side heldout \\
        --music PLANETBLUPI/usr/share/planetblupi/music --noise out/noise [--make-noise out/noise]

``--make-noise DIR`` first writes the three noise beds of docs/spoof.md there (60 s each at 16 kHz, seeded): pink and
brown noise, and babble of 24 training-speaker utterances.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import shared_data
from spoof_model_eval import LIBRI_EVAL

SR = 16000


def make_noise(dst: Path, data: Path) -> None:
    """Pink, brown and babble beds (60 s, 16 kHz) in ``dst``."""
    import soundfile as sf

    from avsync.training import spoof_data as sd

    dst.mkdir(parents=True, exist_ok=True)
    n, rng = 60 * SR, np.random.default_rng(0)
    for name, alpha in (("pink", 1.0), ("brown", 2.0)):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SR)
        f[0] = f[1]
        y = np.fft.irfft(spec / f ** (alpha / 2), n)
        sf.write(dst / f"{name}.wav", (0.3 * y / np.abs(y).max()).astype(np.float32), SR)
    bab = np.zeros(n, np.float32)
    for p in utterances(data, "train")[:24]:
        y = sd.load_wave(str(p))
        y = y / (np.sqrt(np.mean(y ** 2)) + 1e-9)
        st = int(rng.integers(0, max(1, n - len(y))))
        seg = y[: n - st]
        bab[st: st + len(seg)] += seg
    sf.write(dst / "babble.wav", (0.3 * bab / np.abs(bab).max()).astype(np.float32), SR)


def utterances(data: Path, side: str) -> list[Path]:
    folder = data / "real_speech/librispeech_test-other"
    held = side == "heldout"
    return sorted(p for p in folder.glob("*.flac") if (p.stem.split("-")[0] in LIBRI_EVAL) == held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None, help="shared root (default $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--side", choices=("heldout", "train"), default="heldout")
    ap.add_argument("--music", action="append", required=True, help="music beds: folder or glob (repeatable)")
    ap.add_argument("--noise", required=True, help="folder of noise beds (see --make-noise)")
    ap.add_argument("--make-noise", default=None, metavar="DIR", help="write the noise beds here first")
    ap.add_argument("--snr", default="30,20,10", help="bed levels under the voice, dB")
    a = ap.parse_args()
    data = shared_data(a.shared)
    if a.make_noise:
        make_noise(Path(a.make_noise), data)

    from avsync.spoof.scorer import BACKGROUND_NOTE_DB, CELL_SAMPLES, _cell_energy, background_db
    from avsync.training import spoof_data as sd
    from avsync.vad import VAD

    vad = VAD()

    def reading(x: np.ndarray) -> float | None:
        stream = vad.stream()
        stream.push(x)
        mask = vad.mask(stream.finish(), len(x))
        return background_db(_cell_energy(x, CELL_SAMPLES), CELL_SAMPLES / SR, mask.segments)

    beds = {"music": sd.MusicBeds(a.music), "noise": sd.MusicBeds([a.noise])}
    snrs = [float(v) for v in a.snr.split(",") if v.strip()]
    files = utterances(data, a.side)
    rows: dict[str, list[float | None]] = {}
    for i, f in enumerate(files):
        x = sd.load_wave(str(f))
        rng = np.random.default_rng(i)
        rows.setdefault("clean", []).append(reading(x))
        for snr in snrs:
            for kind, b in beds.items():
                rows.setdefault(f"{kind} {snr:g} dB under", []).append(reading(sd.music_bed(x, b, rng, snr)))
    print(f"LibriSpeech test-other, {a.side} speakers ({len(files)} files); note under {BACKGROUND_NOTE_DB:g} dB")
    print("| condition | read | with the note | median reading (dB) |")
    print("|---|---|---|---|")
    for k, v in rows.items():
        got = [u for u in v if u is not None]
        med = f"{np.median(got):.1f}" if got else "—"
        print(f"| {k} | {len(got)} of {len(v)} | {sum(u < BACKGROUND_NOTE_DB for u in got)} | {med} |")


if __name__ == "__main__":
    main()
