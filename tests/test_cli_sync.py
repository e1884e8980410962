"""``avsync sync`` through click's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from avsync_cli.main import cli
from click.testing import CliRunner

SIZE = (160, 120)


def _box(size=SIZE):
    w, h = size
    r = min(w, h) // 3
    cx, my = w // 2, h // 2 + r // 2
    return f"{(cx - 0.6 * r) / w:.4f},{(my - 0.5 * r) / h:.4f},{(cx + 0.6 * r) / w:.4f},{(my + 0.5 * r) / h:.4f}"


@pytest.fixture(scope="module")
def offset_clip(clip):
    return clip("cli_sync", duration=3.0, size=SIZE, offset_s=0.12)


def test_sync_json_with_fixed_box(offset_clip, tmp_path):
    png = tmp_path / "sync.png"
    r = CliRunner().invoke(cli, ["sync", offset_clip, "--json", "--model", "motion", "--mouth-box", _box(), "--plot",
                                 str(png)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["status"] == "ok" and abs(d["offset_frames"] - 3) <= 1
    assert d["model"] == "motion" and d["faces"][0]["windows"]
    assert png.stat().st_size > 1000


def test_sync_text_and_out_of_range(offset_clip):
    r = CliRunner().invoke(cli, ["sync", offset_clip, "--model", "motion", "--mouth-box", _box(), "--max-lag", "2"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("out_of_range")


def test_sync_without_a_face_reports_no_face(offset_clip):
    r = CliRunner().invoke(cli, ["sync", offset_clip, "--json"])  # a drawn disc: the tracker finds no face
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["status"] == "no_face"


def test_sync_usage_errors(offset_clip, tmp_path):
    r = CliRunner().invoke(cli, ["sync", offset_clip, "--mouth-box", "1,2,3"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["sync", str(tmp_path / "missing.mp4"), "--mouth-box", _box()])
    assert r.exit_code == 1 and "error" in r.output


def test_sync_text_reports_a_drift(clip, monkeypatch):
    """A clip whose audio runs 2 % slow (in sync at the start, 320 ms late after 16 s): the text output gives the
    drift and calls the single offset the best constant one. ``motion`` gets a permissive drift rule (it has none)."""
    import numpy as np

    from avsync.sync import drift as drift_module

    monkeypatch.setitem(drift_module.DRIFT_RULES, "motion",
                        drift_module.DriftRule(follow_distance_mid=np.inf, min_follow_share=0.0))
    path = clip("cli_drift", duration=16.0, size=SIZE, drift=0.02)
    r = CliRunner().invoke(cli, ["sync", path, "--model", "motion", "--mouth-box", _box()])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("ok: audio drifts against video: audio and video are in sync at 0 s")
    assert "  best constant offset " in r.output and "  drift: offset +0." in r.output


def test_sync_text_marks_an_unsure_offset_as_analyze_reads_it():
    """`avsync sync` prints the offset as measured; one read under the confidence at which `avsync analyze` takes an
    offset of this model as a finding is marked as an unsure reading (the same sureness as the sync cue)."""
    from avsync_cli.commands.sync import _text

    from avsync.results import Status
    from avsync.sync.cue_params import SyncCueParams
    from avsync.sync.types import SyncResult

    params = SyncCueParams.for_model("syncnet")

    def reading(conf):
        return _text(SyncResult(status=Status.OK, model="syncnet", summary="audio leads video by 160 ms",
                                offset_frames=4, offset_ms=160.0, confidence=conf, min_distance=1.1))

    assert params.sureness(params.confidence_mid) == pytest.approx(0.5)
    assert params.sureness(-1e6) == 0.0 and params.sureness(1e6) == 1.0  # no overflow at the extremes
    assert "an unsure reading" in reading(params.confidence_mid - 3 * params.confidence_scale)
    assert "unsure" not in reading(params.confidence_mid + 3 * params.confidence_scale)


def test_plot_of_an_input_without_faces_is_not_an_empty_picture(tmp_path):
    from avsync.synth import write_audio

    wav = write_audio(tmp_path / "a.wav", (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32),
                      16000)
    r = CliRunner().invoke(cli, ["sync", str(wav), "--plot", str(tmp_path / "p.png")])
    assert r.exit_code == 0 and "no plot written" in r.output and not (tmp_path / "p.png").exists()
