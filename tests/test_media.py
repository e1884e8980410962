"""Media loading: containers, timestamps, offsets, resampling, VFR, rotation, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

import avsync
from avsync import MediaError, Status, inspect_media, load_media
from avsync.media import Media, resample_audio
from avsync.synth import CODEC_PRESETS, burst_audio, event_times, write_audio

VIDEO_PRESETS = [p for p, (_, v, _) in CODEC_PRESETS.items() if v]
AUDIO_PRESETS = [p for p, (_, v, _) in CODEC_PRESETS.items() if not v]


def audio_onsets(x: np.ndarray, sr: int, thresh: float = 0.02, gap_s: float = 0.05) -> np.ndarray:
    """Start times (s) of tone bursts in ``x``: first sample above ``thresh`` after ``gap_s`` of quiet."""
    idx = np.flatnonzero(np.abs(x) > thresh)
    if not len(idx):
        return np.zeros(0)
    starts = idx[np.r_[True, np.diff(idx) > gap_s * sr]]
    return starts / sr


def flash_onsets(media: Media) -> np.ndarray:
    """Times (s) of the first analysis frame of each flash in the top-left corner."""
    times = []
    for chunk in media.frames(chunk_size=16):
        h, w = chunk.images.shape[1:3]
        corner = chunk.images[:, : h // 12, : w // 12].mean(axis=(1, 2, 3))
        times.extend(chunk.times[corner > 230])
    t = np.asarray(times)
    return t[np.r_[True, np.diff(t) > 0.1]] if len(t) else t


@pytest.mark.parametrize("preset", VIDEO_PRESETS)
def test_every_video_container_opens_with_timestamps(clip, preset):
    path = clip(f"c_{preset}", preset=preset, duration=2.0)
    info = inspect_media(path)
    assert info.status is Status.OK, info.message
    assert info.video.width == 320 and info.video.height == 240
    assert info.video.fps == pytest.approx(25.0, abs=0.01)
    assert info.video.frames == 50
    assert not info.video.vfr
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    m = load_media(path)
    chunks = list(m.frames(chunk_size=16))
    idx = np.concatenate([c.indices for c in chunks])
    times = np.concatenate([c.times for c in chunks])
    assert len(idx) == m.num_frames == 50 if preset not in ("mpg", "mpeg2") else len(idx) == m.num_frames
    np.testing.assert_array_equal(np.diff(idx), 1)
    np.testing.assert_allclose(times, idx / 25.0)
    assert chunks[0].images.dtype == np.uint8 and chunks[0].images.shape[1:] == (240, 320, 3)
    assert m.audio.shape[0] == 1 and m.sample_rate == 16000


@pytest.mark.parametrize("preset", AUDIO_PRESETS)
def test_audio_only_containers(clip, preset):
    path = clip(f"a_{preset}", preset=preset, duration=2.0)
    info = inspect_media(path)
    assert info.status is Status.NO_VIDEO and info.video is None
    assert not info.status.is_failure
    m = load_media(path, require="audio")
    assert m.audio.shape[1] == pytest.approx(2.0 * 16000, abs=0.06 * 16000)
    with pytest.raises(MediaError) as e:
        next(m.frames())
    assert e.value.status is Status.NO_VIDEO
    with pytest.raises(MediaError) as e:
        load_media(path, require="video")
    assert e.value.status is Status.NO_VIDEO


@pytest.mark.parametrize("preset", ["mp4", "mkv", "avi", "mov-hevc", "webm-vp8"])
@pytest.mark.parametrize("offset_ms", [0, 200, -120])
def test_known_offset_recovered(clip, preset, offset_ms):
    """Events: flash at t, tone burst at t - offset. Positive offset = audio leads video."""
    path = clip(f"off_{preset}_{offset_ms}", preset=preset, duration=3.2, offset_s=offset_ms / 1000)
    m = load_media(path)
    ev = event_times(3.2)
    a = audio_onsets(m.mono(), m.sample_rate)
    expected_a = ev - offset_ms / 1000
    expected_a = expected_a[(expected_a >= 0) & (expected_a < 3.2 - 0.12)]
    assert len(a) == len(expected_a)
    np.testing.assert_allclose(a, expected_a, atol=0.001)  # within 1 ms of audio
    # the flash is drawn while the mouth envelope is > 0, i.e. from the first frame after t
    v = flash_onsets(m)
    np.testing.assert_allclose(v, ev[: len(v)] + 0.04, atol=0.0401)  # within one video frame
    assert len(v) == len(ev)


def test_audio_stream_starting_late_is_aligned(clip):
    path = clip("late_audio", preset="mp4", duration=3.2, audio_start_s=0.5)
    info = inspect_media(path)
    assert info.av_start_offset_s == pytest.approx(0.5, abs=0.07)  # AAC priming may show up to 1024 samples
    m = load_media(path)
    a = audio_onsets(m.mono(), m.sample_rate)
    a = a[a > 0.52]  # the burst at 0.4 s is cut by the late start
    ev = event_times(3.2)
    np.testing.assert_allclose(a, ev[ev > 0.5], atol=0.001)
    assert np.abs(m.mono()[: int(0.43 * 16000)]).max() < 1e-3  # padded with silence before the stream starts


def test_vfr_resampled_by_timestamp(clip):
    path = clip("vfr", preset="mkv", duration=3.2, vfr=True)
    info = inspect_media(path)
    assert info.video.vfr
    m = load_media(path)
    v = flash_onsets(m)
    ev = event_times(3.2)
    # resampling by timestamp keeps events in place (by frame count they would drift)
    assert len(v) >= len(ev) - 1  # every flash found (the last may fall at the very end)
    assert np.all(np.abs(v - (ev[: len(v)] + 0.04)) <= 0.08)
    n = sum(len(c) for c in m.frames())
    assert n == m.num_frames
    assert abs(n - 3.2 * 25) <= 2


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_applied(clip, rotation):
    path = clip(f"rot{rotation}", preset="mp4", duration=1.2, rotation=rotation)
    info = inspect_media(path)
    assert info.video.rotation == rotation
    assert (info.video.width, info.video.height) == (320, 240)
    m = load_media(path)
    chunk = next(m.frames())
    assert chunk.images.shape[1:3] == (240, 320)
    # the mouth (dark) is below the face centre once the picture is upright
    img = chunk.images[0].astype(float).mean(axis=2)
    top, bottom = img[60:120, 120:200], img[140:200, 120:200]
    assert bottom.min() < top.min()


@pytest.mark.parametrize("rotation, size", [(0, None), (90, None), (180, None), (270, None), (0, (160, 120))],
                         ids=["native", "rotated90", "rotated180", "rotated270", "scaled"])
def test_rgb_on_demand_gives_the_pixels_of_the_rgb_pass(clip, rotation, size):
    # a gray pass's deferred RGB conversion (whole picture or a region) equals what frames(gray=False) yields
    m = load_media(clip(f"rgbdemand{rotation}", face="photo", duration=0.6, rotation=rotation))
    gray = next(m.frames(chunk_size=8, gray=True, size=size, rgb_on_demand=True))
    rgb = next(m.frames(chunk_size=8, size=size))
    assert next(m.frames(chunk_size=8, gray=True)).rgb is None  # only when asked for
    assert gray.rgb is not None and len(gray.rgb) == len(gray) == len(rgb)
    for source, img in zip(gray.rgb, rgb.images):
        assert np.array_equal(source(), img)
        h, w = img.shape[:2]
        for region in ((0, 0, w, h), (10, 20, 100, 90), (11, 21, 99, 91), (w - 40, h - 30, w, h)):
            x0, y0, x1, y1 = region
            assert np.array_equal(source(region), img[y0:y1, x0:x1]), region
    arrays = Media.from_arrays(None, frames=rgb.images, fps=m.fps)
    chunk = next(arrays.frames(chunk_size=8, gray=True, rgb_on_demand=True))
    assert np.array_equal(chunk.rgb[2]((4, 6, 50, 40)), rgb.images[2][6:40, 4:50])


@pytest.mark.parametrize("rotation", [0, 90])
def test_gray_frames_written_into_their_chunk_equal_the_decoders_gray(clip, rotation):
    """Gray frames go from the luma plane straight into their chunk (upright ones; rotated ones as before): every
    analysis frame equals the decoder's own gray picture of the source frame it was taken from, across chunk
    boundaries, including the frames a VFR clip repeats."""
    import av

    from avsync.media.decode import _rotate

    for path in (clip(f"luma{rotation}", face="photo", duration=1.0, rotation=rotation),
                 clip(f"lumavfr{rotation}", preset="mkv", duration=2.0, vfr=True, rotation=rotation)):
        m = load_media(path)
        with av.open(path) as c:
            want = {round(float(f.time) - m.origin_s, 6): _rotate(f.to_ndarray(format="gray"), rotation)
                    for f in c.decode(video=0)}
        chunks = list(m.frames(chunk_size=7, gray=True))
        got = [(img, round(float(t), 6)) for ch in chunks for img, t in zip(ch.images, ch.source_times)]
        assert len(chunks) > 2 and len({t for _, t in got}) < len(got) + (0 if "vfr" in path else 1)
        assert all(np.array_equal(img, want[t]) for img, t in got)
        # gray="luma": the planes as decoded, each with the table that maps it to the same gray picture
        luma = list(m.frames(chunk_size=7, gray="luma"))
        tables = [tb for ch in luma for tb in ch.extra["gray_tables"]]
        mapped = [img if tb is None else tb[img] for ch in luma for img, tb in zip(ch.images, ch.extra["gray_tables"])]
        assert len(mapped) == len(got) and all(np.array_equal(a, b) for a, (b, _) in zip(mapped, got))
        # upright limited-range frames come unmapped (all but each chunk's first, and a repeated frame already
        # converted); rotated ones mapped as before
        unmapped, most = sum(tb is not None for tb in tables), len(tables) - len(luma)
        assert unmapped == 0 if rotation else (0 < unmapped <= most if "vfr" in path else unmapped == most)
        assert "gray_tables" not in chunks[0].extra


def test_frames_resize_gray_and_range(clip):
    m = load_media(clip("plain", duration=2.0))
    chunks = list(m.frames(chunk_size=7, size=(96, 64), gray=True, start=0.5, end=1.5))
    imgs = np.concatenate([c.images for c in chunks])
    idx = np.concatenate([c.indices for c in chunks])
    assert imgs.shape == (25, 64, 96)
    assert idx[0] == 13 and idx[-1] == 37
    assert max(len(c) for c in chunks) == 7


def test_stereo_channels_kept_and_addressable(clip):
    path = clip("stereo", preset="mp4", duration=2.4, channel_tones=(440.0, 1000.0), channel_shift_s=0.3)
    m = load_media(path)
    assert m.audio.shape[0] == 2 and m.num_channels == 2
    a0, a1 = audio_onsets(m.channel(0), 16000), audio_onsets(m.channel(1), 16000)
    np.testing.assert_allclose(a1[: len(a0) - 1], a0[: len(a0) - 1] + 0.3, atol=0.002)
    spec = np.abs(np.fft.rfft(m.channel(1)[int(0.7 * 16000) : int(0.8 * 16000)]))
    assert np.argmax(spec) * 10 == pytest.approx(1000, abs=20)
    with pytest.raises(MediaError):
        m.channel(2)


@pytest.mark.parametrize("sr", [8000, 44100, 48000])
def test_native_rates_resampled_to_16k(clip, sr):
    m = load_media(clip(f"sr{sr}", preset="wav", duration=1.6, sample_rate=sr))
    assert m.info.audio.sample_rate == sr
    assert m.sample_rate == 16000
    assert m.audio.shape[1] == pytest.approx(1.6 * 16000, abs=2)
    onsets = audio_onsets(m.mono(), 16000)
    assert len(onsets) == len(event_times(1.6))
    np.testing.assert_allclose(onsets, event_times(1.6), atol=0.001)


def test_1khz_tone_stays_1khz_and_no_aliasing(tmp_path):
    sr = 48000
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 12000 * t)  # 12 kHz must vanish at 16 kHz
    path = write_audio(tmp_path / "tone.flac", tone.astype(np.float32), sr, preset="flac")
    y = load_media(path).mono()
    spec = np.abs(np.fft.rfft(y[:16000] * np.hanning(16000)))
    freqs = np.fft.rfftfreq(16000, 1 / 16000)
    assert freqs[np.argmax(spec)] == pytest.approx(1000, abs=1)
    # 12 kHz would alias to 4 kHz without an anti-aliasing filter
    alias = spec[(freqs > 3900) & (freqs < 4100)].max()
    assert alias < 1e-3 * spec.max()


def test_resample_audio_function():
    x = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    y = resample_audio(x[None], 8000, 16000)
    assert y.shape == (1, 16000) and y.dtype == np.float32


def test_bytes_input_matches_path(clip):
    path = clip("bytes", duration=1.2)
    data = open(path, "rb").read()
    a, b = load_media(path), load_media(data)
    assert a.info.sha256 == b.info.sha256 and b.path is None
    np.testing.assert_array_equal(a.audio, b.audio)
    assert sum(len(c) for c in a.frames()) == sum(len(c) for c in b.frames())


def test_from_arrays_roundtrip():
    audio = burst_audio([0.2, 0.6], 1.0, 16000)
    frames = np.zeros((25, 48, 64, 3), np.uint8)
    m = Media.from_arrays(audio, 16000, frames, 25.0)
    assert m.info.status is Status.OK and m.duration == pytest.approx(1.0)
    chunks = list(m.frames(chunk_size=10, gray=True))
    assert [len(c) for c in chunks] == [10, 10, 5] and chunks[0].images.shape[1:] == (48, 64)
    assert Media.from_arrays(audio).info.status is Status.NO_VIDEO
    with pytest.raises(MediaError):
        Media.from_arrays(None, frames=None)


def test_from_arrays_reads_integer_pcm_and_frames_first_stereo_as_a_wav_reader_returns_them():
    """int16 samples straight from a WAV reader were taken as floats 32767 times too loud (a real voice then read as
    synthetic); soundfile's `[T, 2]` stereo as 16000 channels of 2 samples. Both now mean what they say."""
    x = burst_audio([0.2, 0.6], 1.0, 16000).astype(np.float64)
    x *= 0.5 / np.abs(x).max()
    ref = Media.from_arrays(x).audio
    for pcm in ((x * 32767).astype(np.int16), (x * 2 ** 31).astype(np.int32), (x * 127 + 128).astype(np.uint8)):
        m = Media.from_arrays(pcm, 16000)
        assert m.audio.dtype == np.float32 and m.audio.shape == (1, 16000) and m.duration == pytest.approx(1.0)
        np.testing.assert_allclose(m.audio, ref, atol=max(2.5 / 2 ** (8 * pcm.itemsize - 1), 1e-6))
    stereo = Media.from_arrays(np.stack([x, -x], axis=1), 16000)
    assert stereo.audio.shape == (2, 16000) and stereo.info.audio.channels == 2
    np.testing.assert_allclose(stereo.audio[1], -ref[0], atol=1e-6)
    assert Media.from_arrays(np.stack([x, -x]), 16000).audio.shape == (2, 16000)  # [C, T] as before
    with pytest.raises(MediaError, match="integer PCM"):
        Media.from_arrays(np.zeros(100, bool), 16000)
    with pytest.raises(MediaError, match="no PCM scale"):  # np.array of Python ints: int64, no scale to read
        Media.from_arrays(np.array([0, 1000, -1000] * 100), 16000)
    assert Media.from_arrays(np.zeros((0, 2), np.float32), 16000).audio.shape == (2, 0)  # an empty stereo file


# ------------------------------------------------------------------------- bad input
def _truncate(src: str, dst, keep: float) -> str:
    data = open(src, "rb").read()
    dst.write_bytes(data[: int(len(data) * keep)])
    return str(dst)


@pytest.fixture(scope="module")
def bad_inputs(clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "zero.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (d / "text.wav").write_text("this is not audio\n" * 50)
    long_clip = clip("long_for_trunc", preset="mp4", duration=4.0)
    long_avi = clip("long_for_trunc_avi", preset="avi", duration=4.0)
    return {
        "zero": (str(d / "zero.mp4"), Status.EMPTY),
        "random": (str(d / "random.mp4"), Status.DECODE_ERROR),
        "text": (str(d / "text.wav"), Status.DECODE_ERROR),
        "missing": (str(d / "missing.mp4"), Status.NOT_FOUND),
        "directory": (str(d), Status.NOT_FOUND),
        "truncated_mp4": (_truncate(long_clip, d / "trunc.mp4", 0.5), Status.DECODE_ERROR),
        # an AVI header counts the frames, while FFmpeg estimates a cut-off AVI's duration from its size
        "truncated_avi": (_truncate(long_avi, d / "trunc.avi", 0.3), Status.DECODE_ERROR),
        "no_audio": (clip("noaudio", audio=False, duration=1.2), Status.NO_AUDIO),
        "no_video": (clip("novideo", preset="wav", duration=1.2), Status.NO_VIDEO),
        "too_short": (clip("short", preset="wav", duration=0.1), Status.TOO_SHORT),
    }


@pytest.mark.parametrize(
    "case", ["zero", "random", "text", "missing", "directory", "truncated_mp4", "truncated_avi", "no_audio", "no_video",
             "too_short"]
)
def test_bad_input_gets_status_and_message(bad_inputs, case):
    path, status = bad_inputs[case]
    info = inspect_media(path)
    assert info.status is status
    assert info.message and len(info.message) > 10
    if status.is_failure or status is Status.TOO_SHORT:
        with pytest.raises(MediaError) as e:
            load_media(path)
        assert e.value.status is status
        assert str(e.value)


def test_truncated_streamable_file_keeps_what_decodes(clip, tmp_path):
    """A truncated mkv (no index at the end) still yields the frames before the cut, with a warning."""
    src = clip("trunc_src", preset="mkv", duration=4.0)
    path = _truncate(src, tmp_path / "t.mkv", 0.6)
    info = inspect_media(path)
    # the cut leaves the header's duration standing: a status "ok" with a warning that says so, and the
    # frames before the cut
    assert info.status is Status.OK, info.message
    assert any("streams end at" in w for w in info.warnings), info.warnings
    m = load_media(path)
    n = sum(len(c) for c in m.frames())
    assert 0 < n <= 100


def test_a_file_ffmpeg_stops_inside_says_so(clip, monkeypatch):
    """Demuxing that fails early (FFmpeg raises inside the stream, as in some Vorbis files) far before the declared
    end is a decode error that says how far the file reads and what FFmpeg said, not only "truncated"."""
    from avsync.media import probe

    path = clip("stops", preset="mkv", duration=4.0)
    real = probe._packet_scan

    def stops_at_one_second(*args, **kwargs):
        vpts, starts, ends, _, cut = real(*args, **kwargs)
        return vpts[vpts < 1.0], starts, {k: (None if v is None else min(v, 1.0)) for k, v in ends.items()}, \
            "Not yet implemented in FFmpeg, patches welcome", cut

    monkeypatch.setattr(probe, "_packet_scan", stops_at_one_second)
    info = inspect_media(path)
    assert info.status is Status.DECODE_ERROR
    assert "cannot be read past 1.00 s" in info.message and "FFmpeg: Not yet implemented" in info.message


def test_limits_too_large(clip):
    path = clip("limits", duration=2.0)
    info = inspect_media(path, limits=avsync.MediaLimits(max_pixels=100 * 100))
    assert info.status is Status.TOO_LARGE and "pixels" in info.message
    info = inspect_media(path, limits=avsync.MediaLimits(max_duration_s=1.0))
    assert info.status is Status.TOO_LARGE and "duration" in info.message
    with pytest.raises(MediaError) as e:
        load_media(path, limits=avsync.MediaLimits(max_duration_s=1.0))
    assert e.value.status is Status.TOO_LARGE


def test_silent_audio_is_loaded_not_rejected(tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros(16000, np.float32), 16000)
    m = load_media(path)
    assert m.audio.shape == (1, 16000) and not m.audio.any()


def test_info_json_roundtrip(clip):
    info = inspect_media(clip("rt", duration=1.2))
    again = avsync.MediaInfo.from_json(info.to_json())
    assert again == info
    d = info.to_dict()
    assert d["schema_version"] == 1 and d["status"] == "ok"
    assert set(d["video"]) >= {"fps", "width", "height", "frames", "vfr"}
    assert set(d["audio"]) >= {"sample_rate", "channels"}


def test_frames_only_selected_indices(clip):
    """``frames(only=...)`` yields exactly those analysis frames, identical to a full pass (VFR too)."""
    import avsync

    m = avsync.load_media(clip("only_vfr", face="photo", vfr=True, duration=3.0))
    full = {int(k): img for c in m.frames(chunk_size=7) for k, img in zip(c.indices, c.images)}
    sel = [0, 3, 4, 10, 37, 70, 74]
    part = {int(k): img for c in m.frames(chunk_size=3, only=sel) for k, img in zip(c.indices, c.images)}
    assert sorted(part) == sel and all(np.array_equal(part[k], full[k]) for k in sel)
    assert {int(k) for c in m.frames(only=sel, start=0.5) for k in c.indices} == {37, 70, 74}
    arr = avsync.Media.from_arrays(np.zeros((1, 48000), np.float32), 16000, np.stack([full[k] for k in sorted(full)]), 25.0)
    assert {int(k) for c in arr.frames(only=sel) for k in c.indices} == set(sel)


def test_non_finite_samples_become_finite_with_a_warning(tmp_path):
    import soundfile as sf

    x = (0.1 * np.sin(np.arange(16000 * 2) / 7.0)).astype(np.float32)
    x[100:150], x[3000], x[3001] = np.nan, np.inf, -np.inf
    m = Media.from_arrays(x, 16000)
    assert np.isfinite(m.audio).all() and m.audio[0, 3000] == 1.0 and m.audio[0, 3001] == -1.0
    assert any("52 audio sample(s) were NaN or infinite" in w for w in m.info.warnings)
    for sr in (16000, 44100):  # decoded from a float WAV, with and without resampling
        path = tmp_path / f"nan_{sr}.wav"
        sf.write(path, np.resize(x, sr * 2), sr, subtype="FLOAT")
        d = load_media(path)
        assert np.isfinite(d.audio).all()
        assert any("NaN or infinite" in w for w in d.info.warnings)


def test_huge_float_samples_are_silenced_with_a_warning(tmp_path):
    import soundfile as sf

    from avsync.media.decode import is_repair_warning

    x = (0.1 * np.sin(np.arange(16000 * 2) / 7.0)).astype(np.float32)
    spikes = np.linspace(500, len(x) - 500, 10).astype(int)
    x[spikes] = 1e30
    x[spikes[0] + 1] = -5e3
    m = Media.from_arrays(x, 16000)
    assert np.abs(m.audio).max() <= 0.1 + 1e-6 and m.audio[0, spikes[0]] == 0.0
    assert any("11 audio sample(s) were far beyond full scale" in w for w in m.info.warnings)
    assert all(is_repair_warning(w) for w in m.info.warnings)
    for sr in (16000, 44100):  # decoded from a float WAV, with and without resampling
        path = tmp_path / f"huge_{sr}.wav"
        y = np.resize(x, sr * 2)
        sf.write(path, y, sr, subtype="FLOAT")
        d = load_media(path)
        assert np.abs(d.audio).max() < 0.2, sr
        assert any("far beyond full scale" in w for w in d.info.warnings)
    # floats on another scale (int16 values) are not corrupt: left as they are, no warning
    big = (8000 * np.sin(np.arange(16000) / 7.0)).astype(np.float32)
    m = Media.from_arrays(big, 16000)
    assert np.array_equal(m.audio[0], big) and not m.info.warnings


def _two_audio_streams(path) -> str:
    """An mkv with two mono audio streams: #0 English silence, #1 a French tone titled Commentary."""
    from avsync.synth import write_audio_streams

    tone = (0.3 * np.sin(np.arange(32000) / 5.0)).astype(np.float32)
    return write_audio_streams(path, [(np.zeros(32000, np.float32), {"language": "eng"}),
                                      (tone, {"language": "fra", "title": "Commentary"})], 16000)


def test_every_audio_stream_is_listed_and_the_analysed_one_is_named(tmp_path):
    from avsync.pipeline import Detector

    path = _two_audio_streams(tmp_path / "two.mkv")
    info = avsync.inspect_media(path)
    assert [(a.index, a.language, a.title) for a in info.audio_streams] == [(0, "eng", None), (1, "fra", "Commentary")]
    assert info.audio == info.audio_streams[0]
    (w,) = [w for w in info.warnings if "audio streams" in w]
    assert 'stream #0 (eng) is analysed, not stream #1 (fra, "Commentary")' in w
    assert np.abs(load_media(path).audio).max() < 1e-3  # the first stream (silence) is what is decoded
    v = Detector(spoof_model=False, device="cpu")(path)
    assert any(r.startswith("note: the file has 2 audio streams") for r in v.reasons), v.reasons
    assert len(v.details["media"]["audio_streams"]) == 2


@pytest.mark.parametrize("kw", [dict(audio_start_s=0.3), dict(preset="m4a", video=False, sample_rate=44_100,
                                                              channel_tones=(440.0, 660.0))])
def test_audio_blocks_concatenate_to_the_audio(clip, kw):
    """Block-by-block decoding (bounded memory) gives exactly the samples of one decoding, lead included."""
    path = clip("blocks", duration=3.0, **kw)
    whole = load_media(path).audio
    m = load_media(path)
    blocks = list(m.audio_blocks(0.7))
    assert m._audio is None  # nothing kept
    assert all(b.shape[1] == round(0.7 * 16000) for b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)
    m.audio  # once decoded, the blocks are slices of it
    np.testing.assert_array_equal(np.concatenate(list(m.audio_blocks(1.0)), axis=1), whole)


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "rgb24", "yuv420p10le"])
@pytest.mark.parametrize("color_range", [0, 1, 2])
def test_gray_frames_read_from_the_luma_plane_equal_swscales(fmt, color_range):
    """Gray decoding reads the luma plane (range-mapped) instead of running swscale: the same bytes, every
    value 0..255, an odd width (row padding), each range tag; other formats go through swscale."""
    import av

    from avsync.media.decode import _convert_frame, _gray_from_luma, _gray_into

    frame = av.VideoFrame(257, 18, fmt)
    for i, plane in enumerate(frame.planes):
        buf = np.frombuffer(plane, np.uint8)
        buf[:] = np.resize(np.arange(256, dtype=np.uint8), len(buf)) if i == 0 else np.random.default_rng(i).integers(0, 256, len(buf))
    frame.color_range = color_range
    assert np.array_equal(_convert_frame(frame, None, "gray"), frame.to_ndarray(format="gray"))
    fast = fmt.startswith("yuvj") or (fmt in ("yuv420p", "yuv422p", "yuv444p", "nv12") and color_range != 2)
    assert (_gray_from_luma(frame) is not None) == fast
    # written straight into a row of a chunk when read from the luma plane; nothing written otherwise
    gray = frame.to_ndarray(format="gray")
    chunk = np.full((3, 18, 257), 7, np.uint8)
    assert _gray_into(frame, None, chunk[1]) == (fast, None)
    assert (chunk[[0, 2]] == 7).all() and (np.array_equal(chunk[1], gray) if fast else (chunk[1] == 7).all())
    assert _gray_into(frame, (128, 9), chunk[1][:9, :128]) == (False, None)  # scaled: swscale's, not the plane
    # unmapped (Media.frames(gray="luma")): the plane as decoded, and the table that makes it the gray picture
    raw = np.full((18, 257), 7, np.uint8)
    ok, table = _gray_into(frame, None, raw, map_range=False)
    assert ok == fast and (not fast or np.array_equal(raw if table is None else table[raw], gray))
    assert (table is not None) == (fast and not fmt.startswith("yuvj"))


def test_photo_clips_of_different_seeds_differ(tmp_path):
    """``seed`` moves a photo clip's head differently (seed 0 keeps the motion earlier clips had)."""
    from avsync.synth import ClipSpec, _photo, _photo_frame, make_clip

    spec = dict(face="photo", size=(160, 160), duration=1.0)
    frames = {}
    for seed in (0, 1, 2):
        m = load_media(make_clip(tmp_path / f"s{seed}.mp4", ClipSpec(seed=seed, **spec)))
        frames[seed] = np.concatenate([c.images for c in m.frames()]).astype(int)
    assert np.abs(frames[1] - frames[2]).mean() > 1 and np.abs(frames[0] - frames[1]).mean() > 1
    base, mouth = _photo((160, 160))
    np.testing.assert_array_equal(_photo_frame(base, mouth, 0.3, 0.5), _photo_frame(base, mouth, 0.3, 0.5, 0.0))


def test_a_cut_off_wav_is_found_from_its_header(tmp_path):
    """FFmpeg takes a WAV's duration from the file size; the RIFF header says how long it was written to be."""
    path = write_audio(tmp_path / "full.wav", (0.1 * np.sin(np.arange(16000 * 10) * 0.05)).astype(np.float32), 16000)
    data = open(path, "rb").read()
    assert inspect_media(path).warnings == ()
    (tmp_path / "most.wav").write_bytes(data[: int(len(data) * 0.8)])
    most = inspect_media(tmp_path / "most.wav")
    assert not most.status.is_failure and any("header declares 10.00 s" in w for w in most.warnings), most.warnings
    from avsync import Detector

    verdict = Detector(spoof_model=False)(tmp_path / "most.wav")  # what is there is analysed, and the verdict says so
    assert any(r.startswith("note: the file may be cut off (streams end at 8.00 s, the header declares 10.00 s)")
               for r in verdict.reasons), verdict.reasons
    (tmp_path / "half.wav").write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="truncated") as e:
        load_media(tmp_path / "half.wav")
    assert e.value.status is Status.DECODE_ERROR
    streamed = bytearray(data)
    at = data.index(b"data") + 4
    streamed[at:at + 4] = b"\xff\xff\xff\xff"  # a writer that could not seek back to fill in the size
    assert not inspect_media(bytes(streamed[: len(data) // 3])).status.is_failure


def test_writers_make_the_folder_they_write_into(tmp_path):
    """`avsync sample` / `sync --plot` / `faces --preview` / `calibrate --out` into a folder not made yet."""
    from avsync.fusion import FusionConfig
    from avsync.synth import make_clip

    assert os.path.exists(make_clip(tmp_path / "a" / "b" / "clip.mp4", duration=1.0))
    FusionConfig().save(tmp_path / "c" / "fusion.yaml")
    assert (tmp_path / "c" / "fusion.yaml").exists()
