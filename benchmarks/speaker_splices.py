"""Identity changes inside one channel: one speaker, A-B splices and A-B-A insertions, wideband and telephone band.

From the real speakers of ``../shared`` (LibriSpeech test-other: 10 speakers, 30 s recordings; the YourTTS demo's
VCTK ground truth: 11 speakers, 15 s), each speaker A with the next speaker B of its set:

* ``single``: A's utterances joined;
* ``A-B``: half A, half B;
* ``A-B-A``: a third each (the last third from other utterances of A);
* ``A-Bshort-A``: 40 % A, 20 % B, 40 % A;

each as recorded (16 kHz) and through an 8 kHz band limit (resampled down and up, as a call). Every recording goes
through :func:`avsync.speaker.speaker_evidence` (Silero VAD mask, GE2E windows) twice: as shipped, and with the search
for an inserted voice off (``avsync.speaker.evidence._inserted_voice`` returning nothing: the single best split
only). Printed: per set, band and kind, how many recordings read ``identity_change``, and the similarities.

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/speaker_splices.py
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_root


def speaker_sets(data: Path) -> dict[str, dict[str, list[str]]]:
    """``{set: {speaker: [files]}}`` of the real speech used here, in manifest order."""
    sets: dict[str, dict[str, list[str]]] = {"librispeech": {}, "vctk": {}}
    for r in csv.DictReader(open(data / "MANIFEST.csv")):
        f = r["file"]
        if f.startswith("real_speech/librispeech_test-other/"):
            sets["librispeech"].setdefault(f.rsplit("/", 1)[1].split("-")[0], []).append(f)
        elif f.startswith("fake_speech/yourtts/GT/VCTK/"):
            sets["vctk"].setdefault(f.split("/")[-2], []).append(f)
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write every recording's evidence here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import librosa
    import torch

    import avsync.speaker.evidence as evidence
    from avsync.media import load_media
    from avsync.speaker import SpeakerEncoder, speaker_evidence
    from avsync.vad import speech_mask

    torch.set_num_threads(args.threads)
    data = shared_root() / "data"
    encoder = SpeakerEncoder()
    sr = 16_000
    cache: dict[str, np.ndarray] = {}

    def audio(f: str) -> np.ndarray:
        if f not in cache:
            cache[f] = load_media(str(data / f)).at_rates().mono().astype(np.float32)
        return cache[f]

    def take(files: list[str], secs: float, first: int = 0) -> np.ndarray:
        y = np.concatenate([audio(f) for f in files[first:] + files[:first]])
        while len(y) < secs * sr:
            y = np.concatenate([y, y])
        return y[: int(secs * sr)]

    def band(y: np.ndarray) -> np.ndarray:
        down = librosa.resample(y, orig_sr=sr, target_sr=8000)
        return librosa.resample(down, orig_sr=8000, target_sr=sr).astype(np.float32)

    shipped = evidence._inserted_voice
    rows = []
    for set_name, speakers in speaker_sets(data).items():
        names = list(speakers)
        length = 30.0 if set_name == "librispeech" else 15.0
        for i, a in enumerate(names):
            b = names[(i + 1) % len(names)]
            recordings = {
                "single": take(speakers[a], length),
                "A-B": np.concatenate([take(speakers[a], length / 2), take(speakers[b], length / 2)]),
                "A-B-A": np.concatenate([take(speakers[a], length / 3), take(speakers[b], length / 3),
                                         take(speakers[a], length / 3, first=2)]),
                "A-Bshort-A": np.concatenate([take(speakers[a], 0.4 * length), take(speakers[b], 0.2 * length),
                                              take(speakers[a], 0.4 * length, first=2)]),
            }
            for kind, y in recordings.items():
                for name, wav in (("16k", y), ("8k", band(y))):
                    mask = speech_mask(wav)
                    now = speaker_evidence(wav, mask, encoder)
                    evidence._inserted_voice = lambda *a, **k: None
                    try:
                        split = speaker_evidence(wav, mask, encoder)
                    finally:
                        evidence._inserted_voice = shipped
                    rows.append(dict(set=set_name, a=a, b=b, kind=kind, band=name, duration=len(wav) / sr,
                                     change=bool(now.identity_change), similarity=now.change_similarity,
                                     at=now.change_time_s, end=now.change_end_s,
                                     split_change=bool(split.identity_change), split_similarity=split.change_similarity))
                    print(f"{set_name} {a} {kind} {name}: split {split.change_similarity:.3f} -> {now.change_similarity:.3f}"
                          f" at {now.change_time_s} end {now.change_end_s}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print("\nset | band | recording | n | identity change: single split only | with the inserted-voice search "
          "| similarity (median, range)")
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["set"], r["band"], r["kind"])].append(r)
    for (s, b, k), rs in groups.items():
        sims = np.array([r["similarity"] for r in rs], float)
        print(f"{s} | {b} | {k} | {len(rs)} | {sum(r['split_change'] for r in rs)} | {sum(r['change'] for r in rs)} "
              f"| {np.median(sims):.3f} ({sims.min():.3f}-{sims.max():.3f})")


if __name__ == "__main__":
    main()
