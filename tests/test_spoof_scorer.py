"""Whole-file spoof scorer: window coverage, statuses for awkward inputs, per-channel scoring, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avsync import Media, Status, load_media
from avsync.bundles import Bundle, InputSpec
from avsync.spoof import SpoofResult, SpoofScorer, window_starts
from avsync.spoof.models import SpoofModel
from avsync.spoof.nets import AASIST, AASISTConfig
from avsync.synth import write_audio

SR = 16000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model() -> SpoofModel:
    """A random-init AASIST-L, so that the scorer runs without any downloaded weights."""
    torch.manual_seed(0)
    net = AASIST(AASISTConfig.light()).eval()
    bundle = Bundle("tiny", "0", "tiny.pth", "0" * 64, "MIT", None, "test", InputSpec(16000, 64600))
    return SpoofModel("tiny", bundle, net, "cpu")


def _noise(seconds, seed=0, amp=0.1):
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.mark.parametrize("n", [1, 64599, 64600, 64601, 100_000, 3 * 64600, 3 * 64600 + 5, 1_000_003])
@pytest.mark.parametrize("hop", [64600, 32300, 50000])
def test_windows_cover_every_sample(n, hop):
    w = 64600
    starts = window_starts(n, w, hop)
    covered = np.zeros(n, bool)
    for s in starts:
        assert 0 <= s and (s + w <= n or n <= w)
        covered[s : s + w] = True
    assert covered.all()
    assert np.all(np.diff(starts) > 0) and np.all(np.diff(starts) <= hop)


def test_long_file_timeline_covers_the_recording(tiny_model):
    x = _noise(10.3)
    r = SpoofScorer(tiny_model, vad=False, batch_size=4, run_windows=0)(Media.from_arrays(x, SR))
    assert r.status is Status.OK
    assert r.windows[0].start == 0.0 and r.windows[-1].end == pytest.approx(len(x) / SR)
    assert all(b.start <= a.end for a, b in zip(r.windows, r.windows[1:]))  # no gaps
    assert all(w.score is not None and 0.0 <= w.score <= 1.0 for w in r.windows)
    # speech-weighted mean of the windows (every window is full of "speech" without VAD)
    dur = np.array([w.end - w.start for w in r.windows])
    assert r.score == pytest.approx(np.sum(dur * [w.score for w in r.windows]) / dur.sum(), abs=1e-9)
    assert r.flagged == (r.score >= 0.5)
    again = SpoofResult.from_json(r.to_json())
    assert again == r
    d = r.to_dict()
    assert {"status", "score", "model", "windows"} <= d.keys() and {"start", "end", "score"} <= d["windows"][0].keys()


class _LoudIsSpoof(torch.nn.Module):
    """Logits ``[spoof, bona fide]``: a window is spoof in proportion to its loudness (RMS 0.1 → p 0.12, 0.3 → 0.88)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 20.0 * (x.pow(2).mean(dim=-1).sqrt() - 0.2)
        return torch.stack([z, torch.zeros_like(z)], dim=-1)


def test_a_run_of_windows_above_the_threshold_raises_the_channel_score():
    """A synthetic stretch (three loud windows) inside a long genuine recording (eight quiet windows on each side):
    the mean of the whole channel stays below the threshold; the run counts with its own mean. One window alone
    (or runs off) does not."""
    from avsync.spoof import SpoofWindow
    from avsync.spoof.scorer import flagged_spans, run_score

    bundle = Bundle("loud", "0", "loud.pth", "0" * 64, "MIT", None, "test", InputSpec(16000, 64600))
    model = SpoofModel("loud", bundle, _LoudIsSpoof(), "cpu")
    w = 64600

    def recording(loud: int) -> np.ndarray:
        amps = [0.1] * 8 + [0.3] * loud + [0.1] * 8
        return np.concatenate([a * np.sign(np.random.default_rng(i).standard_normal(w)) for i, a in enumerate(amps)]
                              ).astype(np.float32)

    three = Media.from_arrays(recording(3), SR)
    on = SpoofScorer(model, vad=False)(three)
    off = SpoofScorer(model, vad=False, run_windows=0)(three)
    probs = [x.score for x in on.windows]
    assert off.score < 0.5 and off.score == pytest.approx(np.mean(probs))
    assert on.score == pytest.approx(np.mean(probs[8:11])) and on.score > 0.85 and on.flagged
    one = SpoofScorer(model, vad=False)(Media.from_arrays(recording(1), SR))
    assert one.score < 0.5  # one window is no run
    # runs need consecutive windows: one that does not follow its predecessor breaks a run

    def spans(scores: list[float], starts: list[float]) -> list:
        return flagged_spans([SpoofWindow(t, t + 4.0, p, 1.0) for t, p in zip(starts, scores)], 0.5)

    assert run_score(spans([0.9, 0.8, 0.1, 0.7], [0, 4, 8, 12]), 2) == pytest.approx(0.85)
    assert run_score(spans([0.9, 0.8, 0.7], [0, 8, 12]), 2) == pytest.approx(0.75)
    assert run_score(spans([0.9, 0.2, 0.7], [0, 4, 8]), 2) is None
    with pytest.raises(Exception, match="run_windows"):
        SpoofScorer(model, vad=False, run_windows=-1)


def test_batched_scores_equal_one_window_at_a_time(tiny_model):
    x = _noise(9.0, seed=3)
    a = SpoofScorer(tiny_model, vad=False, batch_size=8)(Media.from_arrays(x, SR))
    b = SpoofScorer(tiny_model, vad=False, batch_size=1)(Media.from_arrays(x, SR))
    np.testing.assert_allclose([w.score for w in a.windows], [w.score for w in b.windows], atol=1e-5)


def test_media_at_another_rate_is_resampled_to_16khz(tiny_model):
    from avsync.media.decode import resample_audio

    x = _noise(6.0, seed=3)
    a = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(x, SR))
    b = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(resample_audio(x, SR, 48000), 48000))
    assert b.status is Status.OK and len(b.windows) == len(a.windows)
    assert abs(a.score - b.score) < 0.05


def test_short_input_is_tiled_and_sub_second_is_too_short(tiny_model):
    r = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(_noise(2.0), SR))
    assert r.status is Status.OK and len(r.windows) == 1 and r.windows[0].end == pytest.approx(2.0)
    r = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(_noise(0.6), SR))
    assert r.status is Status.TOO_SHORT and r.score is None and "0.60 s" in r.message


def test_short_speech_is_scored_with_a_warning(tiny_model):
    short = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(_noise(1.5), SR))
    assert short.status is Status.OK and any("only 1.5 s of speech" in w for w in short.warnings)
    longer = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(_noise(2.5), SR))
    assert longer.status is Status.OK and not any("of speech" in w for w in longer.warnings)


def test_bfloat16_precision_is_close_and_recorded(tiny_model):
    x = Media.from_arrays(_noise(9.0, seed=5), SR)
    a = SpoofScorer(tiny_model, vad=False)(x)
    b = SpoofScorer(tiny_model, vad=False, precision="bfloat16")(x)
    assert (a.precision, b.precision) == ("float32", "bfloat16")
    # CPU defaults: one window per pass at float32, two at bfloat16 (faster with the fused kernels)
    assert (SpoofScorer(tiny_model).batch_size, SpoofScorer(tiny_model, precision="bfloat16").batch_size) == (1, 2)
    assert SpoofScorer(tiny_model, precision="bfloat16", batch_size=1).batch_size == 1
    np.testing.assert_allclose([w.score for w in b.windows], [w.score for w in a.windows], atol=0.02)
    with pytest.raises(ValueError, match="precision"):
        SpoofScorer(tiny_model, precision="float16")


def test_window_options(tiny_model):
    with pytest.raises(ValueError, match="at most"):
        SpoofScorer(tiny_model, window_s=5.0)
    with pytest.raises(ValueError, match="at least 1 s"):  # a 50 ms window repeated over the input reads as synthetic
        SpoofScorer(tiny_model, window_s=0.05)
    r = SpoofScorer(tiny_model, vad=False, window_s=2.0, hop_s=1.0)(Media.from_arrays(_noise(4.5), SR))
    assert [(w.start, w.end) for w in r.windows] == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (2.5, 4.5)]
    assert r.window_s == 2.0 and r.hop_s == 1.0


def test_silent_input_is_no_speech(tiny_model):
    r = SpoofScorer(tiny_model)(Media.from_arrays(np.zeros(5 * SR, np.float32), SR))
    assert r.status is Status.NO_SPEECH and r.score is None and r.flagged is None


def test_tone_without_speech_is_no_speech_with_vad(tiny_model):
    t = np.arange(5 * SR) / SR
    r = SpoofScorer(tiny_model)(Media.from_arrays((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR))
    assert r.status is Status.NO_SPEECH
    assert all(w.score is None for w in r.windows) and len(r.windows) == 2


def test_clipped_input_is_flagged_and_scored(tiny_model):
    x = np.clip(_noise(5.0, amp=2.0), -1, 1)
    r = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(x, SR))
    assert r.status is Status.OK and r.clipped and any("clipped" in w for w in r.warnings)


def test_stereo_channels_are_scored_separately(tiny_model):
    x = np.stack([_noise(5.0, seed=1), np.zeros(5 * SR, np.float32)])
    r = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(x, SR))
    assert [c.channel for c in r.channels] == [0, 1]
    assert r.channels[0].status is Status.OK and r.channels[1].status is Status.NO_SPEECH
    assert r.score == r.channels[0].score
    assert {w.channel for w in r.windows} == {0, 1}
    # identical channels are scored once
    same = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(np.stack([x[0], x[0]]), SR))
    assert len(same.channels) == 1


@pytest.mark.parametrize("level_db, scored", [(-60.0, 1), (-45.0, 1), (-35.0, 2), (-20.0, 2), (0.0, 2)])
def test_channels_that_differ_by_coding_noise_are_scored_once(tiny_model, level_db, scored):
    """A stereo track of one voice whose channels differ by noise 40 dB or more below the voice (coding
    noise of joint-stereo AAC) is scored once; a stronger difference (another voice, a clone on one channel,
    the same voice re-recorded) keeps a result per channel."""
    voice = _noise(9.0, seed=1)
    other = _noise(9.0, seed=2)
    gain = np.sqrt(np.mean(voice**2) / np.mean(other**2)) * 10 ** (level_db / 20)
    x = np.stack([voice, voice + gain * other]).astype(np.float32)
    r = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(x, SR))
    assert len(r.channels) == scored
    # a silent stretch with a little coding noise on one channel only does not split the channels
    quiet = np.concatenate([voice, np.zeros(SR, np.float32)])
    hiss = np.concatenate([voice, 1e-5 * _noise(1.0, seed=3) / np.abs(_noise(1.0, seed=3)).max()])
    assert len(SpoofScorer(tiny_model, vad=False)(Media.from_arrays(np.stack([quiet, hiss]), SR)).channels) == 1
    # a quiet voice on one channel beside a silent one is not coding noise, however short within the block
    long_silence = np.zeros(60 * SR, np.float32)
    quiet_voice = long_silence.copy()
    quiet_voice[:SR] = 0.001 * np.sign(_noise(1.0, seed=4))  # -60 dBFS for 1 s of a 60 s block
    r = SpoofScorer(tiny_model, vad=False, min_duration_s=0.5)(Media.from_arrays(np.stack([long_silence, quiet_voice]), SR))
    assert len(r.channels) == 2


def test_is_narrowband_rule():
    """The rule the scorer and the evaluation script share: an 8 kHz source, or no energy above 4 kHz."""
    from avsync.spoof.scorer import is_narrowband

    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    noise = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    assert is_narrowband(tone, 16000, 16000)  # nothing above 4 kHz
    assert not is_narrowband(noise, 16000, 16000)
    assert is_narrowband(noise, 16000, 8000)  # recorded at 8 kHz, whatever the resampled spectrum holds


def test_8khz_file_is_flagged_narrowband(tiny_model, tmp_path):
    x = (0.1 * np.random.default_rng(0).standard_normal(5 * 8000)).astype(np.float32)
    path = write_audio(tmp_path / "call.wav", np.stack([x, x[::-1].copy()]), 8000)
    r = SpoofScorer(tiny_model, vad=False)(path)
    assert r.status is Status.OK and r.narrowband and r.source_sample_rate == 8000
    assert len(r.channels) == 2 and all(c.score is not None for c in r.channels)


def test_unreadable_inputs_give_statuses(tiny_model, tmp_path):
    assert SpoofScorer(tiny_model)(str(tmp_path / "missing.wav")).status is Status.NOT_FOUND
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + b"\0" * 100)
    assert SpoofScorer(tiny_model)(str(bad)).status.is_failure


# ---------------------------------------------------------------- real speech (../shared)


def _files(shared, pattern, n):
    return sorted(shared.glob(pattern))[:n]


@pytest.mark.shared
def test_real_speech_with_public_model_and_vad(shared, tmp_path):
    f = _files(shared, "data/real_speech/librispeech_test-other/*.flac", 1)[0]
    r = SpoofScorer("aasist", weights=str(shared / "weights"))(str(f))
    assert r.status is Status.OK and 0.0 <= r.score <= 1.0
    assert r.model == "aasist" and r.model_sha256.startswith("51d2d9cf")
    speech = [w for w in r.windows if w.score is not None]
    assert speech and all(w.speech >= 0.25 for w in speech)
    csv_path = r.write_timeline(tmp_path / "t.csv")
    assert Path(csv_path).read_text().count("\n") == len(r.windows) + 1


@pytest.mark.shared
def test_cli_spoof_json_and_timeline(shared, tmp_path, monkeypatch):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(shared / "weights"))
    f = _files(shared, "data/fake_speech/yourtts/Exp4_SCL/VCTK/*.wav", 1)[0]
    tl = tmp_path / "timeline.csv"
    r = CliRunner().invoke(cli, ["spoof", str(f), str(tmp_path / "nope.wav"), "--model", "aasist-l", "--json",
                                 "--timeline", str(tl)])
    assert r.exit_code == 1, r.output  # the missing file fails, the real one is scored
    out = json.loads(r.output)
    assert out[0]["status"] == "ok" and out[0]["model"] == "aasist-l" and 0 <= out[0]["score"] <= 1
    assert {"start", "end", "score"} <= out[0]["windows"][0].keys()
    assert out[1]["status"] == "not_found"
    assert tl.read_text().splitlines()[0] == "file,channel,start,end,speech,score"
    fast = CliRunner().invoke(cli, ["spoof", str(f), "--model", "aasist-l", "--json", "--precision", "bfloat16"])
    assert fast.exit_code == 0, fast.output
    got = json.loads(fast.output)[0]
    assert got["precision"] == "bfloat16" and abs(got["score"] - out[0]["score"]) < 0.05
    bad = CliRunner().invoke(cli, ["spoof", str(f), "--precision", "float16"])
    assert bad.exit_code == 2 and "float16" in bad.output


def test_head_bundle_loads_over_its_base_checkpoint(tmp_path, monkeypatch):
    """A bundle with ``requires`` (a head fitted on a frozen public checkpoint) loads the base weights
    first and overrides only its own tensors; its threshold becomes the scorer's default."""
    import hashlib

    from safetensors.torch import save_file

    from avsync import BundleError, bundles
    from avsync.spoof import models as sm

    torch.manual_seed(1)
    base_net = AASIST(AASISTConfig.light())
    base_sd = {k: v.contiguous() for k, v in base_net.state_dict().items()}
    head_sd = {"out_layer.weight": torch.randn_like(base_sd["out_layer.weight"]),
               "out_layer.bias": torch.tensor([0.25, 0.0])}
    models = tmp_path / "models"
    (models / "b").mkdir(parents=True)
    (models / "h").mkdir()
    save_file(base_sd, str(models / "b" / "base.safetensors"))
    save_file(head_sd, str(models / "h" / "head.safetensors"))
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
    base = Bundle("t-base", "1", "b/base.safetensors", sha(models / "b" / "base.safetensors"), "MIT", None, "test",
                  InputSpec(16000, 64600))
    head = Bundle("t-head", "1", "h/head.safetensors", sha(models / "h" / "head.safetensors"), "MIT", None, "test",
                  InputSpec(16000, 64600), requires=("t-base",), threshold=0.8)
    monkeypatch.setitem(bundles.REGISTRY, "t-base", base)
    monkeypatch.setitem(bundles.REGISTRY, "t-head", head)
    monkeypatch.setitem(sm.SPOOF_MODELS, "t-head", lambda: AASIST(AASISTConfig.light()))
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    monkeypatch.setattr(sm, "_CACHE", {})

    m = sm.load_spoof_model("t-head", weights=str(models))
    got = m.net.state_dict()
    assert torch.equal(got["out_layer.weight"], head_sd["out_layer.weight"])
    assert torch.equal(got["out_layer.bias"], head_sd["out_layer.bias"])
    other = [k for k in base_sd if not k.startswith("out_layer.")]
    assert other and all(torch.equal(got[k], base_sd[k]) for k in other)
    assert m.threshold == 0.8
    assert SpoofScorer(m, vad=False).threshold == 0.8
    assert SpoofScorer(m, vad=False, threshold=0.3).threshold == 0.3

    # a models directory holding only the base checkpoint: the head is looked up where avsync ships it
    (models / "h" / "head.safetensors").unlink()
    sm._CACHE.clear()
    with pytest.raises(BundleError, match="t-head"):
        sm.load_spoof_model("t-head", weights=str(models))
    # a tampered base is refused even though the head is fine
    save_file(head_sd, str(models / "h" / "head.safetensors"))
    (models / "b" / "base.safetensors").write_bytes(b"not the weights")
    sm._CACHE.clear()
    with pytest.raises(BundleError, match=base.sha256):
        sm.load_spoof_model("t-head", weights=str(models))


def test_cli_line_names_missing_speaker_evidence():
    from avsync_cli.commands.spoof import _line

    from avsync.speaker.evidence import SpeakerEvidence
    from avsync.spoof import ChannelSpoof

    sp = SpeakerEvidence(Status.OK, 1, "ge2e-resemblyzer")
    ch = ChannelSpoof(1, Status.OK, 0.1, (), 0.7, speaker=sp)
    r = SpoofResult(Status.OK, 0.1, "m", channels=(ch,), path="call.wav", flagged=False)
    assert "speaker ch1: too little speech for speaker evidence" in _line(r)


def test_cli_line_says_where_the_voice_looks_synthetic():
    """The spoof command's line names each stretch of windows at or above the threshold, per channel of a call."""
    from avsync_cli.commands.spoof import _line

    from avsync.spoof import ChannelSpoof, SpoofWindow

    probs = [0.1, 0.7, 0.9, 0.2, 0.6, 0.1]
    wins = tuple(SpoofWindow(4.0 * i, 4.0 * i + 4.0, p, 1.0, 1) for i, p in enumerate(probs))
    quiet = (SpoofWindow(0.0, 4.0, 0.1, 1.0, 0), SpoofWindow(4.0, 8.0, None, 0.0, 0))
    chans = (ChannelSpoof(0, Status.OK, 0.1, quiet, 3.0), ChannelSpoof(1, Status.OK, 0.8, wins, 24.0))
    assert chans[1].flagged_spans(0.5) == [(4.0, 12.0, (0.7, 0.9)), (16.0, 20.0, (0.6,))]
    assert chans[0].flagged_spans(0.5) == []
    text = _line(SpoofResult(Status.OK, 0.8, "m", windows=quiet + wins, channels=chans, path="call.wav", flagged=True))
    assert "    synthetic ch1 4.0-12.0s: 2 window(s) at or above the threshold, max 0.900" in text
    assert "    synthetic ch1 16.0-20.0s: 1 window(s)" in text and "synthetic ch0" not in text


def test_hop_longer_than_the_window_is_refused(tiny_model):
    with pytest.raises(ValueError, match="skip audio"):
        window_starts(16000 * 30, 64600, 160000)
    with pytest.raises(ValueError, match="skip audio"):
        SpoofScorer(tiny_model, window_s=2.0, hop_s=3.0)


def test_batch_size_must_be_positive(tiny_model):
    with pytest.raises(ValueError, match="batch_size"):
        SpoofScorer(tiny_model, batch_size=0)


def test_nan_samples_give_a_finite_score_and_a_warning(tiny_model):
    x = _noise(6.0, seed=9)
    x[1000:1100] = np.nan
    r = SpoofScorer(tiny_model, vad=False)(Media.from_arrays(x, SR))
    assert r.status is Status.OK and np.isfinite(r.score)
    assert any("NaN or infinite" in w for w in r.warnings)


def test_unloadable_model_is_a_model_error_per_input(tmp_path, monkeypatch):
    """Missing weights never raise from the scorer: each input that can be read gets model_error with the
    reason and how to get the weights; an input that cannot be read keeps its own status."""
    import wave

    from avsync.spoof import SpoofScorer

    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((np.sin(np.arange(32000) * 0.05) * 8000).astype(np.int16).tobytes())
    scorer = SpoofScorer("aasist", weights=str(tmp_path / "empty"))
    r = scorer(str(wav))
    assert str(r.status) == "model_error" and r.score is None and r.model == "aasist"
    assert "not found" in r.message and "models pull aasist" in r.message
    assert str(scorer(str(tmp_path / "nope.wav")).status) == "not_found"


@pytest.fixture(scope="module")
def two_party_call(tmp_path_factory):
    """~40 s stereo 8 kHz WAV call: a different espeak-ng voice and text on each channel, with pauses."""
    from avsync.media.decode import resample_audio
    from avsync.training import spoof_data as sd

    rng = np.random.default_rng(5)
    chans = []
    for c in range(2):
        parts = []
        for k in range(6):
            s = sd.tts_espeak(sd.HARVARD[10 * c + k], rng)
            if s is None:
                pytest.skip("espeak-ng not installed (apt-get install espeak-ng; scripts/setup.sh does)")
            parts += [s, np.zeros(int((0.4 + 0.5 * c + 0.3 * k) * SR), np.float32)]
        chans.append(np.concatenate(parts))
    n = min(len(x) for x in chans)
    call = np.stack([x[:n] for x in chans]) * 0.5
    path = tmp_path_factory.mktemp("call") / "call.wav"
    write_audio(path, resample_audio(call, SR, 8000), 8000)
    return str(path)


def _same_results(a, b, *, spk_tol=1e-4):
    assert a.status is b.status is Status.OK
    assert a.score == pytest.approx(b.score, abs=1e-6) and a.duration_s == b.duration_s
    assert (a.narrowband, a.clipped, a.warnings) == (b.narrowband, b.clipped, b.warnings)
    assert len(a.windows) == len(b.windows)
    for wa, wb in zip(a.windows, b.windows):
        assert (wa.start, wa.end, wa.channel, wa.speech) == (wb.start, wb.end, wb.channel, wb.speech)
        assert (wa.score is None) == (wb.score is None)
        if wa.score is not None:
            assert wa.score == pytest.approx(wb.score, abs=1e-6)
    for ca, cb in zip(a.channels, b.channels, strict=True):
        assert (ca.channel, ca.status, ca.speech_s) == (cb.channel, cb.status, cb.speech_s)
        assert (ca.background_db is None) == (cb.background_db is None)
        if ca.background_db is not None:
            assert ca.background_db == pytest.approx(cb.background_db, abs=1e-6)
        sa, sb = ca.speaker, cb.speaker
        assert (sa is None) == (sb is None)
        if sa is not None:
            assert [w.start for w in sa.windows] == [w.start for w in sb.windows]
            assert np.allclose([w.similarity for w in sa.windows], [w.similarity for w in sb.windows], atol=spk_tol)
            assert sa.identity_change == sb.identity_change


def test_long_recordings_are_read_in_blocks_with_the_same_results(tiny_model, two_party_call):
    """Reading in blocks (twice, bounded memory) gives the scores, speech and speaker windows of one reading."""
    whole = SpoofScorer(tiny_model, speaker=True, hop_s=2.0)(two_party_call)
    seen = []
    blocks = SpoofScorer(tiny_model, speaker=True, hop_s=2.0, block_s=7.0)(
        two_party_call, progress=lambda done, total: seen.append((done, total)))
    assert len(whole.channels) == 2 and whole.narrowband
    _same_results(whole, blocks)
    # the utterance embedding is averaged over blocks, so only the speaker summary may move a little
    for ca, cb in zip(whole.channels, blocks.channels):
        assert ca.speaker.consistency == pytest.approx(cb.speaker.consistency, abs=1e-4)
    assert len(seen) >= 4 and seen[0][0] == 0.0 and seen[-1][0] == pytest.approx(seen[-1][1])
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    # in-memory audio (a Media already decoded) gives the same in blocks too
    m = load_media(two_party_call)
    m.audio
    _same_results(whole, SpoofScorer(tiny_model, speaker=True, hop_s=2.0, block_s=5.0)(m))


def test_the_utterance_embedding_is_computed_only_against_a_reference(tiny_model, two_party_call, monkeypatch,
                                                                       tmp_path):
    """Nothing but the reference comparison reads a channel's utterance embedding (GE2E partials of all its speech):
    without a reference it is not computed, in one reading or in blocks, and every other speaker result is the same."""
    from avsync.speaker.ge2e import SpeakerEncoder

    calls = []
    real = SpeakerEncoder.embed_partials
    monkeypatch.setattr(SpeakerEncoder, "embed_partials", lambda self, wav: calls.append(len(wav)) or real(self, wav))
    left = tmp_path / "left.wav"  # one party of the call as the reference voice
    m = load_media(two_party_call)
    write_audio(left, m.channel(0), m.sample_rate)
    for block_s in (None, 7.0):
        kw = {} if block_s is None else {"block_s": block_s}
        ref = SpoofScorer(tiny_model, speaker=True, hop_s=2.0, reference=str(left), **kw)  # embeds the reference
        calls.clear()
        plain = SpoofScorer(tiny_model, speaker=True, hop_s=2.0, **kw)(two_party_call)
        assert calls == []
        with_ref = ref(two_party_call)
        assert calls  # the reference comparison embeds each channel's speech
        for cp, cr in zip(plain.channels, with_ref.channels, strict=True):
            assert cp.speaker.reference_similarity is None and cr.speaker.reference_similarity is not None
            assert [w.similarity for w in cp.speaker.windows] == [w.similarity for w in cr.speaker.windows]
            assert (cp.speaker.consistency, cp.speaker.change_time_s, cp.speaker.identity_change) == (
                cr.speaker.consistency, cr.speaker.change_time_s, cr.speaker.identity_change)


def test_channels_identical_at_first_then_different_are_both_scored_in_blocks(tiny_model, two_party_call):
    from avsync import load_media

    x = load_media(two_party_call).audio
    y = x.copy()
    y[1, : 12 * SR] = y[0, : 12 * SR]  # the second party echoes the first for 12 s, then speaks
    whole = SpoofScorer(tiny_model, speaker=True)(Media.from_arrays(y, SR))
    scorer = SpoofScorer(tiny_model, speaker=True, block_s=5.0)
    blocks = scorer(Media.from_arrays(y, SR))
    assert len(whole.channels) == 2
    _same_results(whole, blocks)
    # the echoing channel's energies (speaker volume gains) count its first 12 s too
    from avsync.spoof.scorer import _Survey

    survey = _Survey.run(scorer, Media.from_arrays(y, SR))
    for c in (0, 1):
        assert survey.sum_squares(c) == pytest.approx(float(np.sum(np.square(y[c], dtype=np.float64))), rel=1e-9)
    assert [w.score for w in whole.windows if w.channel == 1][:2] == [w.score for w in whole.windows if w.channel == 0][:2]


def test_bfloat16_on_a_cpu_without_it_says_it_runs_slower(tiny_model, monkeypatch):
    """bfloat16 on a CPU without native support (AVX-512 / AMX) is emulated, several times slower than float32: the
    result says so, with the way out; where it is native, no such warning."""
    from avsync.spoof import scorer as scorer_module

    x = _noise(5.0)
    monkeypatch.setattr(scorer_module, "native_bfloat16", lambda device: False)
    slow = SpoofScorer(tiny_model, vad=False, precision="bfloat16", device="cpu")(Media.from_arrays(x, SR))
    assert slow.status is Status.OK and any("emulated" in w and "float32" in w for w in slow.warnings), slow.warnings
    fp32 = SpoofScorer(tiny_model, vad=False, device="cpu")(Media.from_arrays(x, SR))
    assert not any("emulated" in w for w in fp32.warnings)
    monkeypatch.setattr(scorer_module, "native_bfloat16", lambda device: True)
    fast = SpoofScorer(tiny_model, vad=False, precision="bfloat16", device="cpu")(Media.from_arrays(x, SR))
    assert not any("emulated" in w for w in fast.warnings)


def test_native_bfloat16_is_true_off_cpu():
    from avsync.device import native_bfloat16

    assert native_bfloat16("cuda:0") is True
    assert isinstance(native_bfloat16("cpu"), bool)


def test_an_unreadable_reference_is_named_as_the_reference(tiny_model, tmp_path):
    """A reference that cannot be used is a setting's error (ConfigError: `avsync analyze --reference` exits 2 before
    any input), not a verdict on the recordings scored."""
    from avsync import ConfigError, Detector

    empty = tmp_path / "ref.wav"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="the reference recording .*ref.wav.* could not be used: the file is empty"):
        SpoofScorer(tiny_model, speaker=True, reference=str(empty))
    silent = tmp_path / "silent.wav"
    write_audio(str(silent), np.zeros(3 * SR, np.float32), SR)
    with pytest.raises(ConfigError, match="less than 0.5 s of speech"):
        Detector(spoof_model=tiny_model, reference=str(silent)).check_reference()
    Detector(spoof_model=False, reference=str(empty)).check_reference()  # no voice check: nothing to read
    from avsync.errors import BundleError

    missing = Detector(spoof_model=tiny_model, reference=str(silent))
    missing._scorer = lambda: (_ for _ in ()).throw(BundleError("ge2e-resemblyzer is not installed"))
    missing.check_reference()  # a model that is not there is each input's voice check's to say, not a usage error


def test_a_quiet_recording_is_scored_raised_to_the_floor(tiny_model):
    """Below QUIET_PEAK_DB a channel is scored as if at it (a clone played back quietly reads as at a normal level)."""
    from avsync.spoof.scorer import QUIET_PEAK_DB, level_gain

    assert level_gain(0.5) == 1.0 and level_gain(0.0) == 1.0 and level_gain(0.01, None) == 1.0
    assert 20 * np.log10(0.01 * level_gain(0.01)) == pytest.approx(QUIET_PEAK_DB)
    x = _noise(6.0, seed=5)
    x = x / np.abs(x).max()
    at = {db: SpoofScorer(tiny_model, vad=False)(Media.from_arrays(x * 10 ** (db / 20), SR)) for db in (-14, -30, -45)}
    off = {db: SpoofScorer(tiny_model, vad=False, quiet_peak_db=None)(Media.from_arrays(x * 10 ** (db / 20), SR))
           for db in (QUIET_PEAK_DB, -45)}
    assert at[-30].score == pytest.approx(at[-45].score, abs=1e-5) == pytest.approx(off[QUIET_PEAK_DB].score, abs=1e-5)
    assert any("quiet (peak -30 dBFS)" in w for w in at[-30].warnings) and not any("quiet" in w for w in at[-14].warnings)
    assert not any("quiet" in w for w in off[-45].warnings) and off[-45].score != pytest.approx(at[-45].score, abs=1e-4)


def test_a_very_quiet_voice_is_found_on_a_raised_copy(tiny_model):
    """Silero VAD reads a signal at its own level and loses speech whose peak is far below full scale (LibriSpeech at
    -60 dBFS: no_speech); below VAD_QUIET_PEAK_DB the speech is found on a copy raised to QUIET_PEAK_DB, in one block
    and when the recording is read block by block, with a warning. A voice at -30 dBFS keeps its own reading."""
    from avsync.spoof.scorer import VAD_QUIET_PEAK_DB
    from avsync.training import spoof_data as sd

    rng = np.random.default_rng(0)
    parts = [sd.tts_espeak(sd.HARVARD[k], rng) for k in range(3)]
    if any(p is None for p in parts):
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng; scripts/setup.sh does)")
    gap = np.zeros(SR // 2, np.float32)
    x = np.concatenate([np.concatenate([np.asarray(p, np.float32), gap]) for p in parts])
    x /= np.abs(x).max()
    loud = SpoofScorer(tiny_model)(Media.from_arrays(x * 10 ** (-20 / 20), SR))
    assert loud.status is Status.OK and loud.channels[0].speech_s > 3.0
    assert VAD_QUIET_PEAK_DB > -60
    for block_s in (None, 2.0):  # the samples kept in one block; a second reading block by block
        opts = {} if block_s is None else {"block_s": block_s}
        r = SpoofScorer(tiny_model, **opts)(Media.from_arrays(x * 10 ** (-60 / 20), SR))
        assert r.status is Status.OK, (block_s, r.message)
        assert r.channels[0].speech_s == pytest.approx(loud.channels[0].speech_s, rel=0.05)
        assert any("very quiet (peak -60 dBFS)" in w for w in r.warnings)
    mid = SpoofScorer(tiny_model)(Media.from_arrays(x * 10 ** (-30 / 20), SR))
    assert mid.status is Status.OK and not any("very quiet" in w for w in mid.warnings)


def test_background_level_of_the_pauses():
    """``background_db``: the loudest half of the speech cells over the median of the pauses between the words."""
    from avsync.spoof.scorer import background_db

    cell = 0.032
    e = np.r_[np.full(30, 1.0), np.full(20, 0.01), np.full(30, 2.0), np.full(10, 0.0), [5.0]]  # last cell: ignored
    segs = [(0.0, 30 * cell), (50 * cell, 80 * cell)]
    # speech level 2.0 (the loudest half), pause level 0.01 (the median of the pauses between the words; the
    # silence after the last word is not between them)
    assert background_db(e, cell, segs) == pytest.approx(10 * np.log10(2.0 / 0.01))
    assert background_db(np.r_[np.ones(30), np.zeros(20), np.ones(31)], cell, segs) == 120.0  # silent pauses
    assert background_db(e, cell, [(0.0, 80 * cell)]) is None  # no pause inside the speech
    assert background_db(e, cell, [(0.0, 30 * cell), (37 * cell, 80 * cell)]) is None  # 0.22 s: too little pause
    assert background_db(e, cell, []) is None
    # a long pause is not between words (hold music on a call): left out
    hold = np.r_[np.ones(30), np.full(10, 0.001), np.ones(30), np.full(100, 0.5), np.ones(31)]
    segs3 = [(0.0, 30 * cell), (40 * cell, 70 * cell), (170 * cell, 200 * cell)]
    assert background_db(hold, cell, segs3) == pytest.approx(30.0)


@pytest.fixture(scope="module")
def spoken_with_pauses():
    """~20 s of espeak-ng sentences with pauses between them, 16 kHz mono, and the same with pink noise 12 dB under
    the voice."""
    from avsync.training import spoof_data as sd

    rng = np.random.default_rng(9)
    parts = []
    for k in range(5):
        s = sd.tts_espeak(sd.HARVARD[k], rng)
        if s is None:
            pytest.skip("espeak-ng not installed (apt-get install espeak-ng; scripts/setup.sh does)")
        parts += [0.5 * s, np.zeros(int(0.8 * SR), np.float32)]
    x = np.concatenate(parts)
    spec = np.fft.rfft(rng.standard_normal(x.size))
    f = np.fft.rfftfreq(x.size, 1 / SR)
    pink = np.fft.irfft(spec / np.sqrt(np.maximum(f, 20.0)), x.size).astype(np.float32)
    return x, sd.music_bed(x, _Bed(pink), rng, 12.0)


class _Bed:
    """A one-excerpt stand-in for :class:`avsync.training.spoof_data.MusicBeds`."""

    def __init__(self, y):
        self.y = y

    def excerpt(self, n, rng):
        return self.y[:n]


def test_music_or_noise_under_the_voice_is_measured_and_said(tiny_model, spoken_with_pauses):
    from avsync.pipeline import spoof_cue

    clean, noisy = spoken_with_pauses
    sc = SpoofScorer(tiny_model)
    a = sc(Media.from_arrays(audio=clean[None], sample_rate=SR))
    b = sc(Media.from_arrays(audio=noisy[None], sample_rate=SR))
    assert a.status is b.status is Status.OK
    assert a.channels[0].background_db > 40 and not a.channels[0].loud_background
    assert not any("under the voice" in w for w in a.warnings)
    assert not any("under the voice" in n for n in spoof_cue(a).notes)
    # the bed sits 12 dB under the loudest half of the voice's 20 ms frames; the pauses' median reads within 4 dB
    assert b.channels[0].background_db == pytest.approx(12.0, abs=4.0) and b.channels[0].loud_background
    assert any("music or noise about" in w and "dB under the voice" in w for w in b.warnings)
    (note,) = [n for n in spoof_cue(b).notes if "under the voice" in n]
    assert note.startswith("music or noise about") and "misses more synthetic voices" in note
    back = SpoofResult.from_json(b.to_json())  # the reading travels with the result
    assert back.channels[0].background_db == pytest.approx(b.channels[0].background_db)
    # read in blocks: the same
    blocks = SpoofScorer(tiny_model, block_s=5.0)(Media.from_arrays(audio=noisy[None], sample_rate=SR))
    assert blocks.channels[0].background_db == pytest.approx(b.channels[0].background_db, abs=1e-6)


def test_a_call_with_a_party_on_each_channel_is_refused_as_a_reference(tiny_model, two_party_call, tmp_path):
    """Mixed to mono, both parties' voices were the reference, and every voice matched it."""
    from avsync import ConfigError

    with pytest.raises(ConfigError, match="different sound on its channels"):
        SpoofScorer(tiny_model, speaker=True, reference=two_party_call)
    m = load_media(two_party_call)
    twice = tmp_path / "twice.wav"  # one voice on both channels: a reference as before
    write_audio(twice, np.stack([m.channel(0), m.channel(0)]), m.sample_rate)
    SpoofScorer(tiny_model, speaker=True, reference=str(twice))
