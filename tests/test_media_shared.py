"""Golden checks on the real media in ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from avsync import Status, inspect_media, load_media

pytestmark = pytest.mark.shared


def test_every_manifest_file_matches_inspect(shared, shared_manifest):
    problems = []
    for row in shared_manifest:
        info = inspect_media(shared / "data" / row["file"])
        where = row["file"]
        if info.status.is_failure:
            problems.append(f"{where}: {info.status} {info.message}")
            continue
        if abs(info.duration_s - float(row["duration_s"])) > 0.1:
            problems.append(f"{where}: duration {info.duration_s} != {row['duration_s']}")
        if info.sha256 != row["sha256"]:
            problems.append(f"{where}: sha256 differs")
        if row["video_fps"]:
            v = info.video
            if v is None:
                problems.append(f"{where}: no video")
            else:
                if abs(v.fps - float(row["video_fps"])) > 0.01:
                    problems.append(f"{where}: fps {v.fps} != {row['video_fps']}")
                if f"{v.width}x{v.height}" != row["video_resolution"]:
                    problems.append(f"{where}: size {v.width}x{v.height} != {row['video_resolution']}")
        if row["has_audio"] == "yes":
            a = info.audio
            if a is None:
                problems.append(f"{where}: no audio")
            elif (str(a.sample_rate), str(a.channels)) != (row["audio_sample_rate"], row["audio_channels"]):
                problems.append(f"{where}: audio {a.sample_rate}/{a.channels}")
        elif info.status is not Status.NO_AUDIO:
            problems.append(f"{where}: expected no_audio, got {info.status}")
    assert not problems, "\n".join(problems[:20])


def test_three_videos_without_audio(shared, shared_manifest):
    silent = [r["file"] for r in shared_manifest if r["video_fps"] and r["has_audio"] != "yes"]
    assert len(silent) == 3
    for f in silent:
        assert inspect_media(shared / "data" / f).status is Status.NO_AUDIO


def test_real_clip_decodes_in_full(shared, shared_manifest):
    row = next(r for r in shared_manifest if r["file"].endswith("syncnet/example.avi"))
    m = load_media(shared / "data" / row["file"])
    n = sum(len(c) for c in m.frames(chunk_size=50, gray=True))
    assert n == pytest.approx(float(row["duration_s"]) * 25, abs=2)
    assert m.audio.shape[1] == pytest.approx(float(row["duration_s"]) * 16000, abs=0.05 * 16000)


def test_stereo_44k_real_clip(shared, shared_manifest):
    row = next(r for r in shared_manifest if r["kind"] == "real_av" and r["audio_channels"] == "2")
    m = load_media(shared / "data" / row["file"])
    assert m.audio.shape[0] == 2 and m.sample_rate == 16000
    assert m.audio.shape[1] / 16000 == pytest.approx(float(row["duration_s"]), abs=0.1)


def test_speech_with_a_few_huge_samples_is_still_speech(shared, tmp_path):
    """10 samples at 1e30 in a float WAV of real speech: repaired with a warning, speech still found."""
    import soundfile as sf

    from avsync.spoof import SpoofScorer

    x, sr = sf.read(shared / "data" / "real_speech" / "freevc_demo" / "wavs" / "M_p272_219.flac", dtype="float32")
    x = x if x.ndim == 1 else x[:, 0]
    x[np.linspace(1000, len(x) - 1000, 10).astype(int)] = 1e30
    path = tmp_path / "spiky.wav"
    sf.write(path, x, sr, subtype="FLOAT")
    r = SpoofScorer("lcnn-spoof", device="cpu")(str(path))  # shipped weights: the VAD decides no_speech
    assert r.status.value == "ok", r.message
    assert any("10 audio sample(s) were far beyond full scale" in w for w in r.warnings)
