"""benchmarks/probe_spectral_fingerprint.py: the fine-spectrum feature and the per-family fit on a synthetic cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import probe_spectral_fingerprint as psf  # noqa: E402


def test_a_spectral_line_is_the_peak_of_the_fine_spectrum_and_a_flat_gain_changes_nothing():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(32000).astype(np.float32) * 0.05
    t = np.arange(32000) / 16000
    line = noise + 0.02 * np.sin(2 * np.pi * 2000.0 * t).astype(np.float32)
    r = psf.fine_spectrum(line)
    assert r.shape == (513,)
    assert abs(int(np.argmax(r)) - 128) <= 1  # 2000 Hz / (16000 / 1024)
    np.testing.assert_allclose(psf.fine_spectrum(4 * line), r, atol=1e-3)  # the coarse colouring is removed
    assert psf.fine_spectrum(np.zeros(100, np.float32)).shape == (513,)  # shorter than a frame: padded


def _write_cache(root: Path, rng: np.random.Generator) -> None:
    """Real clips = noise; 'hifigan' fakes = noise with a faint 3 kHz line; the other families plain noise."""
    t = np.arange(16000) / 16000
    from avsync.training.spoof_finetune import BASE_PARTS

    for split, n in (("train", 12), ("calib", 8)):
        for part in BASE_PARTS:
            fams = {"real_hifigan": ["real:x", "voc:hifigan"], "classical": ["tts:flite"], "kokoro": ["tts:kokoro"],
                    "piper": ["tts:piper"], "studio": ["real:vctk"]}[part]
            waves, labels, families = [], [], []
            for i in range(n):
                fam = fams[i % len(fams)]
                x = rng.standard_normal(16000).astype(np.float32) * 0.05
                if fam == "voc:hifigan":
                    x += 0.01 * np.sin(2 * np.pi * 3000.0 * t).astype(np.float32)
                waves.append(x.astype(np.float16))
                labels.append(0 if fam.startswith("real:") else 1)
                families.append(fam)
            np.savez(root / f"ft_{split}_{part}_seed0.npz", wave=np.concatenate(waves),
                     lens=np.array([w.size for w in waves]), label=np.array(labels), family=np.array(families),
                     clean=np.ones(len(waves), bool))


def test_the_family_with_a_fingerprint_separates_and_the_others_do_not(tmp_path, capsys):
    _write_cache(tmp_path, np.random.default_rng(1))
    out = tmp_path / "fp.json"
    assert psf.main(["--cache", str(tmp_path), "--json", str(out)]) == 0
    import json

    table = json.loads(out.read_text())["calibration"]
    assert table["hifigan"]["eer"] == 0.0 and table["hifigan"]["n_fake"] == 4
    assert table["piper"]["eer"] >= 0.2  # plain noise vs noise: no fingerprint to find
    assert "hifigan" in capsys.readouterr().out


def test_a_missing_cache_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="run the voice recipe"):
        psf.main(["--cache", str(tmp_path)])
