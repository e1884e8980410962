"""Each robustness perturbation yields a readable file with the intended property."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avsync.errors import ConfigError
from avsync.evaluation.perturb import PERTURBATIONS, Perturbation, apply_perturbation, silence_bounds, trim_silence
from avsync.media import inspect_media, load_media
from avsync.synth import ClipSpec, burst_audio, make_clip, write_audio


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("perturb_src")
    video = make_clip(d / "v30", ClipSpec(duration=2.0, fps=30.0, size=(640, 480), sample_rate=44_100))
    audio = make_clip(d / "a", ClipSpec(duration=2.0, preset="wav", video=False, sample_rate=16_000))
    return {"video": video, "audio": audio}


def _lag_ms(a: np.ndarray, b: np.ndarray, sr: int = 16_000) -> float:
    n = min(a.size, b.size)
    c = np.correlate(a[:n], b[:n], "full")
    return (int(np.argmax(c)) - (n - 1)) * 1000.0 / sr


EXPECT = {
    "aac64k": {"audio_codec": "aac"},
    "opus16k": {"audio_codec": "opus", "sample_rate": 48_000},
    "mulaw8k": {"sample_rate": 8_000},
    "mp3_32k": {"audio_codec": "mp3"},
    # decoded output kept (PCM); AMR-NB delays speech by 4-5 ms (its algorithmic delay, not signalled in its format)
    "amrnb": {"audio_codec": "pcm_s16le", "sample_rate": 8_000, "lag_ms": 6.0},
    "h264_crf23": {"video_codec": "h264", "height": 480, "fps": 30.0},
    "h264_crf35": {"video_codec": "h264", "height": 480, "fps": 30.0},
    "360p": {"video_codec": "h264", "height": 360, "width": 480, "fps": 30.0},
    "25fps": {"video_codec": "h264", "height": 480, "fps": 25.0, "frames": 50},
    "social2x": {"video_codec": "h264", "height": 480, "fps": 30.0},
    "enhance": {"video_codec": "h264", "height": 960, "width": 1280, "fps": 30.0},
}


def _needs_encoder(name: str) -> None:
    """Skip a perturbation this PyAV build cannot encode (av 18.1.1's wheels hold no AMR-NB encoder)."""
    from avsync.evaluation.perturb import encoder_available

    codec = PERTURBATIONS[name].audio_codec
    if codec and not encoder_available(codec):
        pytest.skip(f"the installed PyAV has no {codec} encoder")


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_perturbation_property_and_sync(sources, tmp_path, name):
    _needs_encoder(name)
    p = PERTURBATIONS[name]
    src = sources["video"]
    out, applied = apply_perturbation(src, name, cache_dir=tmp_path)
    assert applied and out != src
    info = inspect_media(out)
    assert info.status.value == "ok", info.message
    exp = EXPECT[name]
    if p.applies_to == "audio":
        assert info.video.codec == inspect_media(src).video.codec  # video copied, not re-encoded
        if "audio_codec" in exp:
            assert info.audio.codec.startswith(exp["audio_codec"])
        if "sample_rate" in exp:
            assert info.audio.sample_rate == exp["sample_rate"]
    else:
        assert info.audio.codec == "aac"  # audio copied
        assert info.video.codec == exp["video_codec"] and info.video.height == exp["height"]
        assert info.video.fps == pytest.approx(exp["fps"], abs=0.01)
        if "width" in exp:
            assert info.video.width == exp["width"]
        if "frames" in exp:
            assert info.video.frames == exp["frames"]
    # timing survives: audio tracks line up with the source, durations match
    a_src, a_out = load_media(src), load_media(out)
    assert abs(_lag_ms(a_out.mono(), a_src.mono())) <= exp.get("lag_ms", 1.0)
    assert a_out.duration == pytest.approx(a_src.duration, abs=0.06)
    # a second call reuses the cached file
    mtime = Path(out).stat().st_mtime_ns
    assert apply_perturbation(src, name, cache_dir=tmp_path)[0] == out
    assert Path(out).stat().st_mtime_ns == mtime


@pytest.mark.parametrize("name", ["aac64k", "opus16k", "mulaw8k", "mp3_32k", "amrnb"])
def test_audio_only_perturbation(sources, tmp_path, name):
    _needs_encoder(name)
    out, applied = apply_perturbation(sources["audio"], name, cache_dir=tmp_path)
    assert applied
    info = inspect_media(out)
    assert info.status.value == "no_video" and info.audio is not None
    if name == "mulaw8k":
        assert info.audio.codec == "pcm_mulaw" and info.audio.sample_rate == 8000 and out.endswith(".wav")
    x, ref = load_media(out).mono(), load_media(sources["audio"]).mono()
    assert abs(_lag_ms(x, ref)) <= EXPECT[name].get("lag_ms", 1.0)
    n = min(x.size, ref.size)
    assert 0 < np.abs(x[:n] - ref[:n]).max() < 0.5  # changed, but still the same signal


def test_social_rescaling_blurs_and_enhance_sharpens(sources, tmp_path):
    """social2x loses fine detail (two rescaling generations); enhance adds edge contrast (unsharp mask)."""
    def frame(path, size=(640, 480)):
        return next(load_media(path).frames(chunk_size=1, size=size, gray=True)).images[0].astype(float)

    def detail(img):  # high-pass energy: what a 3x3 box blur removes
        import cv2

        return np.abs(img - cv2.blur(img, (3, 3))).mean()

    src = sources["video"]
    social, _ = apply_perturbation(src, "social2x", cache_dir=tmp_path)
    crf23, _ = apply_perturbation(src, "h264_crf23", cache_dir=tmp_path)
    enhanced, _ = apply_perturbation(src, "enhance", cache_dir=tmp_path)
    ref = frame(src)
    assert np.abs(frame(social) - ref).mean() > 1.5 * np.abs(frame(crf23) - ref).mean()
    assert detail(frame(social)) < detail(frame(crf23))
    assert detail(frame(enhanced, (1280, 960))) > 1.2 * detail(frame(crf23, (1280, 960)))


def test_mulaw_removes_high_band(tmp_path):
    sr = 16_000
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 6000 * t) + 0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    src = write_audio(tmp_path / "hi.wav", x, sr)
    out, _ = apply_perturbation(src, "mulaw8k", cache_dir=tmp_path / "c")
    y = load_media(out).mono()
    spec = np.abs(np.fft.rfft(y[:sr]))
    f = np.fft.rfftfreq(sr, 1 / sr)
    assert spec[(f > 5900) & (f < 6100)].max() < 0.02 * spec[(f > 450) & (f < 550)].max()


def test_a_perturbation_of_ones_own_is_applied_and_cached_under_its_name(sources, tmp_path):
    p50 = Perturbation("50fps", "50 fps by timestamp", "video", video_crf=18, video_fps=50.0)
    out, applied = apply_perturbation(sources["video"], p50, cache_dir=tmp_path)
    assert applied and Path(out).parent == tmp_path / "50fps"
    assert inspect_media(out).video.fps == pytest.approx(50.0, abs=0.01)
    assert apply_perturbation(sources["video"], p50, cache_dir=tmp_path)[0] == out


def test_video_perturbation_on_audio_file_is_not_applicable(sources, tmp_path):
    assert apply_perturbation(sources["audio"], "360p", cache_dir=tmp_path) == (sources["audio"], False)
    with pytest.raises(ConfigError, match="unknown perturbation"):
        apply_perturbation(sources["audio"], "nope", cache_dir=tmp_path)


def test_silence_bounds_and_trim(tmp_path):
    sr = 16_000
    x = burst_audio([1.0, 1.5], 3.0, sr)  # bursts of 0.12 s at 1.0 and 1.5 s
    start, end = silence_bounds(x, sr, pad_s=0.0)
    assert start == pytest.approx(1.0, abs=0.03) and end == pytest.approx(1.62, abs=0.03)
    assert silence_bounds(np.zeros(sr), sr) == (0.0, 1.0)
    src = write_audio(tmp_path / "b.wav", x, sr)
    out, (t0, t1) = trim_silence(src, cache_dir=tmp_path / "c")
    m = load_media(out)
    assert m.duration == pytest.approx(t1 - t0, abs=0.002)
    assert np.abs(m.mono()[: int(0.04 * sr)]).max() < 0.01  # only the 50 ms pad before the burst
    assert np.abs(m.mono()).max() > 0.3


def test_trim_video_keeps_sync(tmp_path):
    src = make_clip(tmp_path / "v", ClipSpec(duration=3.0, size=(160, 120)))
    out, (t0, t1) = trim_silence(src, cache_dir=tmp_path / "c")
    assert out.endswith(".mkv") and t0 > 0.2
    info = inspect_media(out)
    assert info.status.value == "ok"
    assert info.duration_s == pytest.approx(t1 - t0, abs=0.05)
    # audio still starts at the first burst (0.4 s in the source) minus the trimmed part
    m = load_media(out)
    first = np.flatnonzero(np.abs(m.mono()) > 0.05)[0] / 16_000
    assert first == pytest.approx(0.4 - t0, abs=0.02)
    # and the video's first flash (top-left corner) moved by the same amount
    flash = next(c.times[i] for c in m.frames(chunk_size=16) for i in range(len(c))
                 if c.images[i, :10, :10].mean() > 200)
    assert flash == pytest.approx(0.4 - t0, abs=0.041)


@pytest.mark.shared
@pytest.mark.parametrize("clip", ["astorfi/sample_video.mp4", "sagar0097/aa011.mpg", "video-retalking/face_1.mp4"])
@pytest.mark.parametrize("name", ["aac64k", "opus16k", "mulaw8k", "mp3_32k", "amrnb", "h264_crf23"])
def test_perturbation_keeps_a_real_files_timeline(shared, tmp_path, clip, name):
    """Real files whose streams do not start together at 0: video frames before time 0 behind an MP4 edit list
    (astorfi, 1.8 s: QuickTime, not Matroska, which showed them and started the audio late), a video starting at
    0.53 s (sagar: the audio used to be written from 0, 13 frames early), an AAC stream whose first packet sits
    before 0 (face_1: decoding after a seek lost it, 23 ms early). The output starts, lasts and keeps its sync
    as the source does."""
    src = shared / "data" / "real_av" / clip
    if not src.exists():
        pytest.skip(f"{src} is not in the shared data set")
    _needs_encoder(name)
    out, applied = apply_perturbation(src, name, cache_dir=tmp_path)
    a, b = load_media(str(src)), load_media(out)
    assert applied and (out.endswith(".mov") == (clip.startswith("astorfi") and PERTURBATIONS[name].applies_to == "audio"))
    assert b.origin_s == pytest.approx(a.origin_s, abs=2e-3)
    assert b.info.video.start_s == pytest.approx(a.info.video.start_s, abs=5e-3)
    assert b.duration == pytest.approx(a.duration, abs=0.09)
    lag = 5.0 if (name == "h264_crf23" and clip.startswith("astorfi")) else EXPECT[name].get("lag_ms", 1.0)
    assert abs(_lag_ms(b.mono(), a.mono())) <= lag  # (astorfi's copied AAC keeps 4 ms of its priming)
    assert b.audio.shape[0] == a.audio.shape[0]  # a stereo source stays stereo (AMR-NB: each channel on its own)


def test_amrnb_keeps_a_stereo_call_stereo(tmp_path):
    """AMR-NB holds one channel: each channel of a two-party call goes through the codec on its own."""
    _needs_encoder("amrnb")
    src = make_clip(tmp_path / "call", ClipSpec(duration=2.0, preset="wav", video=False, sample_rate=8_000,
                                                channel_tones=(300.0, 700.0)))
    out, applied = apply_perturbation(src, "amrnb", cache_dir=tmp_path / "p")
    a, b = load_media(src), load_media(out)
    info = inspect_media(out)
    assert applied and out.endswith(".wav") and info.audio.channels == 2 and info.audio.sample_rate == 8_000
    for c in range(2):  # each channel is its own signal, kept in time (tone bursts: the codec's phase changes
        assert abs(_lag_ms(b.audio[c], a.audio[c])) <= 10.0  # move the correlation peak a few ms; a frame is 40)
    assert np.corrcoef(b.audio[0], b.audio[1])[0, 1] < 0.5


def test_a_perturbation_without_its_encoder_says_so(sources, tmp_path, monkeypatch):
    """A PyAV build without a perturbation's encoder (av 18.1.1 has no AMR-NB) gives a ConfigError naming it, not
    PyAV's UnknownCodecError."""
    from avsync.errors import ConfigError
    from avsync.evaluation import perturb

    monkeypatch.setattr(perturb, "encoder_available", lambda codec: codec != "libopencore_amrnb")
    with pytest.raises(ConfigError, match="no libopencore_amrnb encoder"):
        apply_perturbation(sources["audio"], "amrnb", cache_dir=tmp_path)
