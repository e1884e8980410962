"""Manifest reading, writing, filtering, pairing; the shared MANIFEST.csv mapping (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avsync.errors import ConfigError
from avsync.evaluation.manifest import (
    ManifestRow,
    _default_subset,
    filter_rows,
    paired_reals,
    read_manifest,
    write_manifest,
)


def _rows():
    return [
        ManifestRow("fake_speech/t/GT/s1_a.wav", "/x/1", "real", "real_speech", "s1", "", "fake_speech/t"),
        ManifestRow("fake_speech/t/GT/s2_a.wav", "/x/2", "real", "real_speech", "s2", "", "fake_speech/t"),
        ManifestRow("fake_speech/t/G1/s1_1.wav", "/x/3", "fake", "fake_speech", "s1", "G1", "fake_speech/t"),
        ManifestRow("fake_av/gen/a.mp4", "/x/4", "fake", "fake_av", "gen", "Gen", "fake_av/gen",
                    segments=((0.5, 1.5),), paired_with="real_av/gen/a.mp4"),
        ManifestRow("real_av/gen/a.mp4", "/x/5", "real", "real_av", "spk", "", "real_av/gen", offset_frames=0.0),
        ManifestRow("real_av/other/b.mp4", "/x/6", "real", "real_av", "b", "", "real_av/other"),
        ManifestRow("fake_av/lone/c.mp4", "/x/7", "fake", "fake_av", "c", "Lone", "fake_av/lone"),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    rows = _rows()
    p = write_manifest(rows, tmp_path / f"m{suffix}")
    back = read_manifest(p)
    assert back == rows


def test_native_csv_labels_paths_segments(tmp_path):
    (tmp_path / "m.csv").write_text(
        "path,label,kind,group,generator,offset_frames,segments\n"
        "a/b/c.wav,bonafide,real_speech,spk,,,\n"
        "a/b/d.wav,spoof,fake_speech,spk,tts,-2,\"[[0.5, 1.0]]\"\n"
        "/abs/e.wav,1,fake_av,,,,\n"
        "/data/real_av/grid/f.mpg,0,real_av,,,,\n"
    )
    rows = read_manifest(tmp_path / "m.csv")
    assert [r.label for r in rows] == ["real", "fake", "fake", "real"]
    assert rows[0].path == str(tmp_path / "a/b/c.wav") and rows[0].subset == "a/b"
    assert rows[1].offset_frames == -2.0 and rows[1].segments == ((0.5, 1.0),) and rows[1].y == 1
    assert rows[2].path == "/abs/e.wav"
    assert [rows[2].subset, rows[3].subset] == ["abs", "real_av/grid"]  # an absolute path: its nearest folders
    assert _default_subset("beside.wav") == "."
    assert read_manifest(tmp_path / "m.csv", root="/data")[0].path == "/data/a/b/c.wav"


@pytest.mark.parametrize(
    "line, match",
    [
        ('{"path": "a.wav", "label": "maybe"}', "neither real nor fake"),
        ('{"path": "a.wav", "label": "fake", "segments": [[2, 1]]}', "start < end"),
        ('{"path": "a.wav", "label": "fake", "segments": "oops"}', "JSON"),
        ('{"label": "fake"}', "path column is empty"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_rows_raise_config_error(tmp_path, line, match):
    (tmp_path / "m.jsonl").write_text(line + "\n")
    with pytest.raises(ConfigError, match=match):
        read_manifest(tmp_path / "m.jsonl")


def test_missing_columns_duplicates_and_empty(tmp_path):
    (tmp_path / "a.csv").write_text("name,x\nfoo,1\n")
    with pytest.raises(ConfigError, match="needs columns"):
        read_manifest(tmp_path / "a.csv")
    (tmp_path / "b.jsonl").write_text('{"path": "a.wav", "label": "real"}\n' * 2)
    with pytest.raises(ConfigError, match="duplicate"):
        read_manifest(tmp_path / "b.jsonl")
    (tmp_path / "c.jsonl").write_text("\n")
    with pytest.raises(ConfigError, match="no rows"):
        read_manifest(tmp_path / "c.jsonl")
    with pytest.raises(ConfigError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")


def test_environment_variables_in_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``${NAME}`` / ``$NAME`` come from the environment; a relative value is relative to the working directory."""
    data = tmp_path / "data"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "m.csv").write_text(
        "path,label,id\n"
        "${AVSYNC_TEST_DATA}/fake_speech/src/G/a.wav,fake,\n"
        "$AVSYNC_TEST_DATA/real_speech/src/b.wav,real,\n"
        "rel/${AVSYNC_TEST_SUB}/c.wav,real,c\n"
    )
    monkeypatch.setenv("AVSYNC_TEST_DATA", str(data))
    monkeypatch.setenv("AVSYNC_TEST_SUB", "x")
    rows = read_manifest(tmp_path / "m" / "m.csv")
    assert [r.path for r in rows] == [str(data / "fake_speech/src/G/a.wav"), str(data / "real_speech/src/b.wav"),
                                      str(tmp_path / "m" / "rel/x/c.wav")]
    # the id keeps the path as written; the default subset is taken after the leading variable
    assert rows[0].id == "${AVSYNC_TEST_DATA}/fake_speech/src/G/a.wav" and rows[0].subset == "fake_speech/src"
    assert rows[1].subset == "real_speech/src" and rows[2].id == "c"
    assert read_manifest(tmp_path / "m" / "m.csv", root="/elsewhere")[0].path == rows[0].path  # --root: unaffected
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AVSYNC_TEST_DATA", "data")  # relative value: from the working directory, as a shell would
    assert read_manifest(tmp_path / "m" / "m.csv")[0].path == str(data / "fake_speech/src/G/a.wav")
    monkeypatch.delenv("AVSYNC_TEST_DATA")
    with pytest.raises(ConfigError, match=r"m.csv:2: .*AVSYNC_TEST_DATA\}, which is not set"):
        read_manifest(tmp_path / "m" / "m.csv")


def test_filter_rows():
    rows = _rows()
    assert len(filter_rows(rows)) == 7
    assert [r.id for r in filter_rows(rows, ["fake_speech/t"])] == [r.id for r in rows[:3]]
    assert [r.id for r in filter_rows(rows, ["fake_speech/t/G1"])] == ["fake_speech/t/G1/s1_1.wav"]
    assert [r.id for r in filter_rows(rows, ["real_av"])] == ["real_av/gen/a.mp4", "real_av/other/b.mp4"]
    assert filter_rows(rows, ["nothing"]) == []


def test_pairing_rules():
    rows = _rows()
    reals, rule = paired_reals([rows[2]], rows)
    assert rule == "same-group" and [r.id for r in reals] == ["fake_speech/t/GT/s1_a.wav"]
    reals, rule = paired_reals([rows[3]], rows)
    assert rule == "paired" and [r.id for r in reals] == ["real_av/gen/a.mp4"]
    reals, rule = paired_reals([rows[6]], rows)
    assert rule == "same-modality" and {r.id for r in reals} == {"real_av/gen/a.mp4", "real_av/other/b.mp4"}


# ------------------------------------------------------------------------------- shared data
def test_shared_manifest_mapping(shared):
    rows = read_manifest(shared / "data" / "MANIFEST.csv")
    assert len(rows) >= 900
    by_id = {r.id: r for r in rows}
    # label from kind, for every row
    for r in rows:
        assert r.label == ("real" if r.kind.startswith("real") else "fake")
        assert r.subset == "/".join(r.id.split("/")[:2])
    # YourTTS: clones are fake with the system folder as generator, the GT of the same speaker is real
    clone = next(r for r in rows if r.id.startswith("fake_speech/yourtts/Exp4_SCL/"))
    assert clone.label == "fake" and clone.generator == "Exp4_SCL" and clone.group.startswith("p")
    gts = [r for r in rows if r.id.startswith("fake_speech/yourtts/GT/")]
    assert gts and all(r.label == "real" and r.generator == "" for r in gts)
    reals, rule = paired_reals([clone], rows)
    assert rule == "same-group" and reals and all(r.group == clone.group for r in reals)
    # HiFi-GAN copy-synthesis against the LJSpeech ground truth
    hgan = [r for r in rows if r.subset == "fake_speech/hifigan_demo" and r.generator == "HGAN_V1"]
    assert len(hgan) == 5
    reals, rule = paired_reals(hgan, rows)
    assert rule == "same-group" and all("/GT/" in r.id for r in reals) and {r.group for r in reals} == {"LJSpeech"}
    # speakers parsed from descriptions; the SyncNet demo's published offset
    assert {r.group for r in rows if r.subset == "real_speech/fsdd"} >= {"george", "jackson"}
    assert by_id["real_av/syncnet/example.avi"].offset_frames == 3.0
    assert {r.generator for r in rows if r.subset == "fake_av/sadtalker"} == {"SadTalker"}
    # a fake video with a named real counterpart
    w2l = by_id["fake_av/wav2lip-gfpgan/kim_lip_synced.mp4"]
    assert paired_reals([w2l], rows) == ([by_id["real_av/wav2lip-gfpgan/kim_7s_raw.mp4"]], "paired")
    # paths resolve into the shared folder
    assert all(r.path.startswith(str(shared / "data")) for r in rows)
    assert sum(1 for r in rows[:50] if __import__("os").path.exists(r.path)) == 50


def test_copied_shared_rows_naming_their_files_from_elsewhere_keep_their_sets(shared, tmp_path, monkeypatch):
    """Rows of the shared MANIFEST.csv copied into a manifest of one's own, their `file` made absolute or started with
    ${AVSYNC_SHARED}: the same sets, groups and generators as in the shared manifest (the absolute ones read as set
    'Exp4_SCL/VCTK', generator 'shared'), and the variable is expanded (every row was not_found)."""
    import csv

    src = list(csv.DictReader(open(shared / "data" / "MANIFEST.csv", newline="")))
    picked = [r for r in src if r["file"].startswith("fake_speech/yourtts/")][:4]
    want = {r.id: r for r in read_manifest(shared / "data" / "MANIFEST.csv")}
    monkeypatch.setenv("AVSYNC_SHARED", str(shared))
    for prefix in (str(shared.resolve() / "data") + "/", "${AVSYNC_SHARED}/data/"):
        own = tmp_path / "own.csv"
        with open(own, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(picked[0]))
            w.writeheader()
            w.writerows({**r, "file": prefix + r["file"]} for r in picked)
        for row in read_manifest(own):
            ref = want[row.id]
            assert (row.subset, row.group, row.generator, row.label) == (ref.subset, ref.group, ref.generator, ref.label)
            assert __import__("os").path.exists(row.path), row.path


def test_the_shared_root_is_the_kind_folder_under_data():
    from avsync.evaluation.manifest import _shared_relative

    assert _shared_relative("/home/u/real_av/shared/data/fake_speech/yourtts/x/b.wav") == "fake_speech/yourtts/x/b.wav"
    assert _shared_relative("${AVSYNC_SHARED}/data/real_av/x/y.mp4") == "real_av/x/y.mp4"
    assert _shared_relative("fake_speech/a/b.wav") == "fake_speech/a/b.wav"


def test_shared_subset_filter(shared):
    rows = read_manifest(shared / "data" / "MANIFEST.csv")
    sel = filter_rows(rows, ["fake_speech/yourtts"])
    assert {r.subset for r in sel} == {"fake_speech/yourtts"} and {r.label for r in sel} == {"real", "fake"}
    assert json.dumps(sel[0].to_dict())
