"""The HTML report: self-contained, renders in headless Chromium without console errors, not blank."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import avsync
from avsync import Status
from avsync.fusion import Cue, CueWindow, FusionConfig, fuse
from avsync.report import render_html, windows_csv, write_html
from avsync.verdict import ModelRef, Provenance, Verdict


def make_verdict(label_cues=None, duration=12.0) -> Verdict:
    sync_w = tuple(CueWindow(t, t + 2, 0.85 if 4 <= t < 9 else 0.15) for t in np.arange(0, duration - 1, 1.0))
    spoof_w = tuple(CueWindow(t, t + 4, 0.2, valid=t < 8) for t in np.arange(0, duration - 3, 2.0))
    cues = label_cues or [
        Cue("sync", Status.OK, 0.8, sync_w, ("audio leads video by 320 ms",), 0.9),
        Cue("spoof", Status.OK, 0.2, spoof_w, (), 0.7),
    ]
    cfg = FusionConfig()
    out = fuse(cues, duration=duration, kind="audio+video", config=cfg)
    prov = Provenance(
        input_path="/data/clip <1>.mp4",
        input_sha256="ab" * 32,
        avsync_version=avsync.__version__,
        config_hash=cfg.config_hash(),
        models=(ModelRef("aasist", "1", "cd" * 32, "spoof"),),
        timings={"total": 1.5},
    )
    details = {"sync": {"offset_curve": {"lags_ms": list(range(-600, 601, 40)), "values": list(np.abs(np.arange(-15, 16) - 8) + 5.0)}}}
    return Verdict(out.label, out.score, Status.OK, out.reasons, out.segments, tuple(cues), out.windows, prov, duration, "audio+video", details)


def test_verdict_json_roundtrip():
    v = make_verdict()
    back = Verdict.from_json(v.to_json())
    assert back == v
    d = v.to_dict()
    assert {"label", "score", "reasons", "segments", "provenance", "cues", "windows"} <= set(d)
    assert d["provenance"]["input_sha256"] == "ab" * 32


def test_to_pandas_and_csv():
    v = make_verdict()
    df = v.to_pandas()
    assert list(df.columns[:3]) == ["start", "end", "score"] and {"sync", "spoof"} <= set(df.columns)
    assert len(df) == len(v.windows)
    lines = windows_csv(v).splitlines()
    assert lines[0] == "start,end,score,spoof,sync" and len(lines) == len(v.windows) + 1


def test_cues_to_pandas_keeps_each_channel_of_a_call():
    """A call with a clone on channel 1 from 4 s: to_pandas() has the most suspicious channel per window,
    cues_to_pandas() every channel's own windows."""
    wins = tuple(CueWindow(t, t + 2, 0.1, channel=0) for t in range(0, 10, 2))
    wins += tuple(CueWindow(t, t + 2, 0.9 if t >= 4 else 0.1, channel=1) for t in range(0, 10, 2))
    v = make_verdict([Cue("spoof", Status.OK, 0.9, wins, (), 1.0)], duration=10.0)
    long = v.cues_to_pandas()
    assert list(long.columns) == ["cue", "channel", "start", "end", "score", "valid"] and len(long) == 10
    per = long.groupby("channel")["score"].max()
    assert per[0] == pytest.approx(0.1) and per[1] == pytest.approx(0.9)
    assert long[(long.channel == 1) & (long.start >= 4)].score.min() == pytest.approx(0.9)
    assert v.to_pandas()["spoof"].max() == pytest.approx(0.9)  # the wide frame: the most suspicious channel


def test_html_is_self_contained_and_escaped():
    page = render_html(make_verdict(), thumbnails={"face 1": np.full((64, 64, 3), 128, np.uint8)})
    assert "clip &lt;1&gt;.mp4" in page and "<1>" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)
    assert page.count("data:image/png;base64,") >= 3  # timeline, offset curve, thumbnail
    blob = re.search(r'<script type="application/json" id="verdict-json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(blob)["label"] == "manipulated"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on this machine (Debian package `chromium`; scripts/setup.sh installs it)")


def _run_chromium(exe, tmp_path, *args):
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_report_renders_in_headless_chromium(tmp_path):
    exe = _chromium()
    html_path = write_html(make_verdict(), tmp_path / "report.html", thumbnails={"face 1": np.zeros((32, 32), np.uint8)})
    url = html_path.resolve().as_uri()
    dom = _run_chromium(exe, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="verdict-banner"' in dom.stdout and "audio leads video by 320 ms" in dom.stdout
    console_errors = [l for l in dom.stderr.splitlines() if "CONSOLE" in l and ("Error" in l or "Uncaught" in l)]
    assert not console_errors, console_errors
    shot = tmp_path / "shot.png"
    r = _run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400", "--hide-scrollbars", url)
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)[..., :3]
    assert img.std() > 0.05  # not blank
    # the red "manipulated" banner is on screen
    red = (np.abs(img[..., 0] - 0xB3 / 255) < 0.05) & (img[..., 1] < 0.25) & (img[..., 2] < 0.25)
    assert red.mean() > 0.01


def test_call_report_has_a_line_and_a_segment_column_per_channel(tmp_path):
    from avsync.fusion import CueWindow

    wins = tuple(CueWindow(t, t + 2, 0.9 if (ch == 1 and 4 <= t < 8) else 0.1, True, ch)
                 for ch in (0, 1) for t in np.arange(0, 10, 1.0))
    cue = Cue("spoof", Status.OK, 0.9, wins, ("voice on channel 1 in 4–9 s looks synthetic (model score 0.97, threshold 0.70)",), 1.0)
    v = make_verdict([cue])
    assert {s.channel for s in v.segments} == {1}
    page = render_html(v)
    seg_table = re.search(r'<table id="segments">(.*?)</table>', page, re.S).group(1)
    assert "<th>channel</th>" in seg_table and "<td>1</td>" in seg_table
    from avsync.report.html import _cue_lines

    assert [label for label, _ in _cue_lines(cue)] == ["spoof (channel 0)", "spoof (channel 1)"]
    rows = list(csv.DictReader(io.StringIO(windows_csv(v))))  # and a column per channel in the window CSV
    assert {"spoof", "spoof_ch0", "spoof_ch1"} <= set(rows[0])
    at5 = next(r for r in rows if float(r["start"]) == 5.0)
    assert float(at5["spoof_ch1"]) > 0.8 > 0.2 > float(at5["spoof_ch0"]) and at5["spoof"] == at5["spoof_ch1"]


def test_why_has_no_file_system_paths():
    from avsync.report.html import without_paths

    cue = Cue("spoof", Status.MODEL_ERROR, None, (), (), 0.0,
              "voice check unavailable: weights not found at /home/user/.cache/avsync/models/aasist/x.pth")
    page = render_html(make_verdict([cue, Cue("sync", Status.OK, 0.1, (), (), 1.0)]))
    assert "/home/user" not in page.split('id="verdict-json"')[0] and "x.pth" in page
    assert without_paths("audio/video offset; G.711 / AMR; https://example.org/a/b") == \
        "audio/video offset; G.711 / AMR; https://example.org/a/b"
    assert without_paths("missing ./models/a.pth and C:\\data\\b.wav") == "missing a.pth and b.wav"
    assert without_paths("not found in /root/.cache/avsync, /work/main/models; run it") == \
        "not found in …/avsync, …/models; run it"  # folders say they were cut


def _embedded(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="verdict-json">(.*?)</script>', page, re.S).group(1))


def test_a_forwarded_report_shows_no_folder_of_the_machine_that_made_it():
    cue = Cue("spoof", Status.MODEL_ERROR, None, (), (), 0.0,
              "voice check unavailable: weights not found at /home/user/.cache/avsync/models/aasist/x.pth")
    v = make_verdict([cue, Cue("sync", Status.OK, 0.1, (), (), 1.0)])
    page = render_html(v)
    assert "/data/" not in page and "/home/user" not in page  # nowhere: table, reasons, notes, embedded JSON
    d = _embedded(page)
    assert d["provenance"]["input_path"] == "clip <1>.mp4" and d["provenance"]["input_sha256"] == "ab" * 32
    assert "weights not found at x.pth" in [c["message"] for c in d["cues"] if c["name"] == "spoof"][0]
    back = Verdict.from_dict(d)  # still a verdict: only strings changed
    assert back.label == v.label and back.score == v.score and back.windows == v.windows
    full = render_html(v, full_paths=True)
    assert "<code>/data/clip &lt;1&gt;.mp4</code>" in full
    assert _embedded(full)["provenance"]["input_path"] == "/data/clip <1>.mp4"
    assert "/home/user" not in full.split('id="verdict-json"')[0]  # the "Why" and notes cut paths either way


def test_a_relative_input_path_shows_no_folder_either():
    """``avsync analyze sources/anonymous/clip.mp4``: the folder of a relative path (a source's name) is not in the
    report; its path fields (the media's, the voice check's, the faces') are cut to the file name like the input's."""
    from dataclasses import replace

    v = make_verdict([Cue("sync", Status.OK, 0.1, (), (), 1.0)])
    rel = "Quelle_Anonym/interview.mp4"
    v = replace(v, provenance=replace(v.provenance, input_path=rel),
                details={"media": {"path": rel}, "spoof": {"path": rel, "reference_path": "refs/Quelle_Anonym/ref.wav"}})
    page = render_html(v)
    assert "Quelle_Anonym" not in page
    d = _embedded(page)
    assert d["provenance"]["input_path"] == d["details"]["media"]["path"] == "interview.mp4"
    assert d["details"]["spoof"]["reference_path"] == "ref.wav"
