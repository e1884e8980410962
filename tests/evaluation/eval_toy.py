"""A deterministic test-only task and a synthetic manifest for the harness tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from avsync.media import load_media
from avsync.synth import write_audio

SR = 16_000


def tone_file(path: Path, freq: float, *, seed: int, lead_silence_s: float = 0.0, dur: float = 0.6) -> str:
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * SR)) / SR
    x = 0.4 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    x = np.r_[np.zeros(int(lead_silence_s * SR)), x, np.zeros(int(lead_silence_s * SR))]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_audio(path, x.astype(np.float32), SR)


def peak_score(path: str) -> dict:
    """Probability of fake from the peak frequency: high tones are 'fake'."""
    m = load_media(path)
    x = m.mono()
    spec = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(x.size, 1 / m.sample_rate)
    c = float(freqs[int(np.argmax(spec))])  # the tone's frequency
    return {"status": "ok", "score": float(1 / (1 + np.exp(-(c - 600.0) / 80.0))), "peak_hz": c,
            "duration_s": m.duration}


class CountingScorer:
    """Wraps a scorer and counts its calls (cache tests)."""

    def __init__(self, fn=peak_score, fail_on: str | None = None):
        self.fn = fn
        self.calls: list[str] = []
        self.fail_on = fail_on

    def __call__(self, path: str) -> dict:
        self.calls.append(path)
        if self.fail_on and self.fail_on in path:
            raise RuntimeError("boom")
        return self.fn(path)


# (relative path, label, group, generator, frequency)
def toy_rows() -> list[tuple[str, str, str, str, float]]:
    rows = []
    for i, spk in enumerate(["s1", "s2", "s3", "s4"]):
        rows.append((f"fake_speech/toytts/GT/{spk}_a.wav", "real", spk, "", 380 + 40 * i))
        rows.append((f"fake_speech/toytts/GT/{spk}_b.wav", "real", spk, "", 420 + 40 * i))
        rows.append((f"fake_speech/toytts/genA/{spk}_1.wav", "fake", spk, "genA", 700 + 50 * i))
        rows.append((f"fake_speech/toytts/genB/{spk}_1.wav", "fake", spk, "genB", 460 + 80 * i))  # overlaps reals
    for i in range(5):
        rows.append((f"real_speech/toy/r{i}.wav", "real", f"r{i}", "", 300 + 100 * i))  # r3, r4 look "fake"
    return rows


def make_toy_dataset(root: Path, *, fmt: str = "csv") -> Path:
    recs = []
    for k, (rel, label, group, gen, f) in enumerate(toy_rows()):
        tone_file(root / rel, f, seed=k)
        recs.append({"path": rel, "label": label, "kind": ("fake" if label == "fake" else "real") + "_speech",
                     "group": group, "generator": gen, "offset_frames": "", "segments": ""})
    if fmt == "jsonl":
        man = root / "manifest.jsonl"
        man.write_text("".join(json.dumps(r) + "\n" for r in recs))
    else:
        man = root / "manifest.csv"
        with open(man, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(recs[0]))
            w.writeheader()
            w.writerows(recs)
    return man
