"""benchmarks/sync_genuine_offsets.py --perturb: the re-encoded variants it reads each clip in."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sync_genuine_offsets as sgo  # noqa: E402

from avsync.media import inspect_media, load_media  # noqa: E402


@pytest.fixture
def data(tmp_path, clip):
    d = tmp_path / "data"
    (d / "real_av" / "src").mkdir(parents=True)
    shutil.copy(clip("sgo", preset="mp4", duration=2.0), d / "real_av" / "src" / "a.mp4")
    (d / "MANIFEST.csv").write_text("file,kind,has_audio,video_codec\nreal_av/src/a.mp4,real_av,yes,h264\n")
    return d


@pytest.mark.parametrize("name, fps", [("50fps", 50.0), ("30fps", 30.0), ("h264_crf23", 25.0)])
def test_a_variant_is_the_clip_re_encoded_once_at_its_frame_rate(data, tmp_path, name, fps):
    cache = tmp_path / "cache"
    path = sgo.variant_path(data, "real_av/src/a.mp4", name, cache)
    assert Path(path).is_file() and Path(path).is_relative_to(cache)
    info = inspect_media(path)
    assert info.video.fps == pytest.approx(fps, abs=0.01)
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert load_media(path).has_audio  # the audio is carried over: the clip can still be read for sync
    mtime = Path(path).stat().st_mtime_ns
    assert sgo.variant_path(data, "real_av/src/a.mp4", name, cache) == path
    assert Path(path).stat().st_mtime_ns == mtime  # made once


def test_an_unknown_perturbation_is_refused_with_the_names(data, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["sync_genuine_offsets.py", "--shared", str(data.parent), "--perturb", "bogus"])
    with pytest.raises(SystemExit, match="unknown perturbation.*30fps.*50fps"):
        sgo.main()
