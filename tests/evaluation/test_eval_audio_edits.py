"""The manifest's ``audio`` column: shifted and swapped copies of a clip made at evaluation time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from avsync_cli.main import cli
from click.testing import CliRunner

from avsync.errors import ConfigError, MediaError
from avsync.evaluation import register_task, unregister_task
from avsync.evaluation.manifest import AudioEdit, read_manifest, write_manifest
from avsync.evaluation.perturb import apply_audio_edit, edit_audio
from avsync.media import load_media
from avsync.synth import ClipSpec, make_clip, shift_audio


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit_src")
    return {
        # stereo, channels differ; the audio stream starts 0.2 s after the video on the file's clock
        "a": make_clip(d / "a", ClipSpec(duration=3.0, channel_tones=(440.0, 660.0), audio_start_s=0.2, seed=1)),
        "b": make_clip(d / "b", ClipSpec(duration=1.3, channel_tones=(300.0, 500.0), event_period_s=0.37, seed=2)),
        "wav": make_clip(d / "w", ClipSpec(duration=1.0, preset="wav", video=False)),
    }


@pytest.mark.parametrize("spec", ["", "shift:+8", "shift:-5", "shift:3"])
def test_parse_and_canonical_text(spec):
    e = AudioEdit.parse(spec)
    assert e.source is None and e.shift_frames == (int(spec.split(":")[1]) if spec else 0)
    assert AudioEdit.parse(e.spec()) == e


@pytest.mark.parametrize("spec", ["shift:", "shift:1.5", "delay:3", "from:"])
def test_bad_edits_are_config_errors(spec):
    with pytest.raises(ConfigError):
        AudioEdit.parse(spec)


@pytest.mark.parametrize("frames", [0, 8, -5])
def test_shifted_copy_reads_back_exactly(clips, tmp_path, frames):
    src = load_media(clips["a"])
    out = edit_audio(clips["a"], tmp_path / "x.mov", AudioEdit(shift_frames=frames))
    got = load_media(out)
    assert got.origin_s == pytest.approx(src.origin_s, abs=1e-3) and got.audio.shape == src.audio.shape
    want = np.stack([shift_audio(c, frames, src.sample_rate, 25.0) for c in src.audio])
    np.testing.assert_array_equal(got.audio, want)  # float PCM at the analysis rate: the very samples
    np.testing.assert_array_equal(np.concatenate([c.images for c in got.frames(gray=True)]),
                                  np.concatenate([c.images for c in src.frames(gray=True)]))  # video copied
    if frames:  # the audio now leads (or lags) the unchanged video by `frames` frames
        n = 40 * 16 * abs(frames)
        a, b = src.audio[0], got.audio[0]
        np.testing.assert_array_equal(b[: len(b) - n] if frames > 0 else b[n:], a[n:] if frames > 0 else a[: len(a) - n])


def test_swapped_audio_is_the_donors_looped(clips, tmp_path):
    src, donor = load_media(clips["a"]), load_media(clips["b"])
    out = edit_audio(clips["a"], tmp_path / "s.mov", AudioEdit(source=clips["b"], shift_frames=2))
    got = load_media(out)
    assert got.audio.shape[0] == 2  # the clip's channels, the donor's mono mix in each
    n = round(src.duration * src.sample_rate)
    want = shift_audio(np.resize(donor.mono(), n), 2, 16000, 25.0)
    np.testing.assert_array_equal(got.audio[0, :n], want[: got.audio.shape[1]])
    np.testing.assert_array_equal(got.audio[0], got.audio[1])


def test_audio_only_or_missing_inputs_raise_media_errors(clips, tmp_path):
    with pytest.raises(MediaError):
        edit_audio(clips["wav"], tmp_path / "w.mov", AudioEdit(shift_frames=1))
    with pytest.raises(MediaError):
        edit_audio(clips["a"], tmp_path / "m.mov", AudioEdit(source=str(tmp_path / "missing.wav")))


def test_cached_copies_are_named_by_content(clips, tmp_path):
    p1 = apply_audio_edit(clips["a"], AudioEdit(shift_frames=4), cache_dir=tmp_path)
    p2 = apply_audio_edit(clips["a"], AudioEdit(shift_frames=4), cache_dir=tmp_path)
    p3 = apply_audio_edit(clips["a"], AudioEdit(source=clips["b"], shift_frames=4), cache_dir=tmp_path)
    assert p1 == p2 != p3 and len(list(tmp_path.iterdir())) == 2


def test_manifest_column_ids_and_round_trip(clips, tmp_path):
    root = Path(clips["a"]).parent
    (root / "m.csv").write_text(
        "path,label,offset_frames,audio\n"
        f"{Path(clips['a']).name},real,0,\n"
        f"{Path(clips['a']).name},fake,8,shift:+8\n"
        f"{Path(clips['a']).name},fake,,from:{Path(clips['b']).name}\n")
    rows = read_manifest(root / "m.csv")
    assert [r.id for r in rows] == [Path(clips["a"]).name, f"{Path(clips['a']).name}#shift:+8",
                                    f"{Path(clips['a']).name}#from:{Path(clips['b']).name}"]
    assert rows[1].audio_edit == AudioEdit(8) and rows[2].audio_edit.source == clips["b"]  # resolved like path
    for name in ("w.csv", "w.jsonl"):
        again = read_manifest(write_manifest(rows, tmp_path / name))
        assert [(r.id, r.audio) for r in again] == [(r.id, r.audio) for r in rows]
    (root / "bad.csv").write_text(f"path,label,audio\n{Path(clips['a']).name},fake,delay:3\n")
    with pytest.raises(ConfigError, match="unknown audio edit"):
        read_manifest(root / "bad.csv")


def test_eval_scores_each_edit_once_with_its_truth(clips, tmp_path):
    root = Path(clips["a"]).parent
    a, b = Path(clips["a"]).name, Path(clips["b"]).name
    rows = [{"path": a, "label": "real", "offset_frames": 0, "subset": "real"},
            {"path": a, "label": "fake", "offset_frames": 6, "subset": "shifted", "audio": "shift:+6",
             "paired_with": a},
            {"path": a, "label": "fake", "offset_frames": 6, "subset": "recovery", "audio": "shift:+6",
             "paired_with": a, "id": "again"},
            {"path": a, "label": "fake", "subset": "swapped", "audio": f"from:{b}", "paired_with": a}]
    (root / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    original = load_media(clips["a"]).audio[0]
    calls = []

    def lag_scorer(path):  # the shift that maps the original onto this audio (±10 frames), else None
        calls.append(path)
        x = load_media(path).audio[0]
        for k in range(-10, 11):
            if np.array_equal(x, shift_audio(original, k, 16000, 25.0)):
                return {"status": "ok", "score": float(k != 0), "offset_frames": k}
        return {"status": "ok", "score": 1.0, "offset_frames": None}

    register_task("toy_edits", lag_scorer, replace=True)
    try:
        out = tmp_path / "o"
        r = CliRunner().invoke(cli, ["eval", str(root / "e.jsonl"), "--task", "toy_edits", "--out", str(out),
                                     "--json", "--n-boot", "0"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        table = {row["set"]: row for row in json.loads(r.output)["table"]}
        assert len(calls) == 3  # the original, the +6 copy (scored once for two rows), the swapped copy
        assert table["shifted"]["auc"] == 1.0 and table["shifted"]["offset_acc_exact"] == 1.0
        assert table["recovery"]["offset_acc_exact"] == 1.0 and table["real"]["n_real"] == 1
        assert table["swapped"]["auc"] == 1.0 and "n_offset" not in table["swapped"]  # no known offset: no columns
        scores = {x["id"]: x for x in map(json.loads, (out / "scores.jsonl").read_text().splitlines())}
        assert scores["again"]["audio_edit"] == "shift:+6" and scores[a].get("audio_edit") is None
        import csv

        with open(out / "scores.csv", newline="") as fh:
            edits = {r["id"]: r["audio_edit"] for r in csv.DictReader(fh)}
        assert edits["again"] == "shift:+6" and edits[a] == "" and edits[f"{a}#from:{b}"].startswith("from:")
        r = CliRunner().invoke(cli, ["eval", str(root / "e.jsonl"), "--task", "toy_edits", "--out", str(out),
                                     "--json", "--n-boot", "0"], catch_exceptions=False)
        assert r.exit_code == 0 and len(calls) == 3  # a rerun reads every edit from the cache
    finally:
        unregister_task("toy_edits")


@pytest.mark.shared
def test_a_video_with_an_edit_list_keeps_its_timeline(shared, tmp_path):
    """An MP4 whose first video frames sit before time 0 (an edit list hides 1.8 s of encoder pre-roll): the
    copy starts and lasts as the source does; only frames the edit list hid after the end may show."""
    src = shared / "data" / "real_av" / "astorfi" / "sample_video.mp4"
    if not src.exists():
        pytest.skip(f"{src} is not in the shared data set")
    m = load_media(str(src))
    got = load_media(edit_audio(src, tmp_path / "e.mov", AudioEdit(shift_frames=0)))
    assert got.origin_s == m.origin_s and got.duration == pytest.approx(m.duration, abs=1e-3)
    np.testing.assert_array_equal(got.audio, m.audio)
    a = np.concatenate([c.images for c in m.frames(gray=True)])
    b = np.concatenate([c.images for c in got.frames(gray=True)])
    assert a.shape == b.shape
    same = [np.array_equal(x, y) for x, y in zip(a, b)]
    assert all(same[:-3]), same.index(False)  # every frame but the last three (the edit list's end)


def test_edge_cases_of_edits(clips, tmp_path):
    # a shift past the whole clip leaves silence (it used to fail to broadcast between 1x and 2x the length)
    np.testing.assert_array_equal(shift_audio(np.ones(8000, np.float32), 15, 16000), np.zeros(8000, np.float32))
    np.testing.assert_array_equal(shift_audio(np.ones(8000, np.float32), -40, 16000), np.zeros(8000, np.float32))
    with pytest.raises(ConfigError, match="two from"):
        AudioEdit.parse("from:a.wav;from:b.wav")
    # a missing donor is the input's not_found, not an internal error
    with pytest.raises(MediaError) as e:
        apply_audio_edit(clips["a"], AudioEdit(source=str(tmp_path / "gone.wav")), cache_dir=tmp_path)
    assert str(e.value.status) == "not_found"
    # "shift:0" is no edit, but the row keeps an id of its own beside the clip's
    root = Path(clips["a"]).parent
    (root / "z.csv").write_text(f"path,label,audio\n{Path(clips['a']).name},real,\n{Path(clips['a']).name},fake,shift:0\n")
    rows = read_manifest(root / "z.csv")
    assert rows[1].id.endswith("#shift:0") and rows[1].audio_edit is None
