"""avsync analyze / Detector end to end on synthetic face clips, bad input, JSON and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import avsync
from avsync import Status
from avsync.fusion import FusionConfig, Label
from avsync.pipeline import Detector
from avsync.synth import write_audio
from avsync.verdict import Verdict
from avsync_cli.main import cli

FACE = dict(face="photo", size=(320, 320), duration=6.0, timbre="vowel")


@pytest.fixture(scope="module")
def detector():
    # the voice check is exercised in the spoof tests; here the synthetic buzz is not speech anyway. The drawn
    # mouths of these clips are for the training-free motion model (the default syncnet model reads real faces:
    # tests/test_sync_model.py, models/syncnet-v3/MODEL_CARD.md)
    return Detector(spoof_model=False, device="cpu", sync_model="motion")


@pytest.fixture(scope="module")
def swapped(clip, media_dir):
    """The face of one clip with another voice whose syllables fall at unrelated, irregular times (dubbed)."""
    import av

    from avsync import load_media
    from avsync.synth import ClipSpec, make_clip

    from avsync.synth import burst_audio

    video = load_media(clip("pipe_orig", **FACE))
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.uniform(0.25, 0.9, 20))
    other_audio = burst_audio(times[times < 5.8], 6.0, 16000, freq=440.0, timbre="vowel")[None]
    frames = np.concatenate([c.images for c in video.frames()])
    out = media_dir / "pipe_swapped.mp4"
    make_clip(out, ClipSpec(**{**FACE, "audio": False}))  # any video; we remux below
    with av.open(str(out), "w") as c:
        vs = c.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = 320, 320, "yuv420p"
        as_ = c.add_stream("aac", rate=16000)
        as_.layout = "mono"
        for img in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        from avsync.synth import _mux_pcm

        _mux_pcm(c, as_, other_audio, 16000)
    return str(out)


def test_in_sync_clip_is_genuine(detector, clip):
    v = detector(clip("pipe_orig", **FACE))
    assert v.label is Label.GENUINE, v.reasons
    assert v.status is Status.OK and v.kind == "audio+video"
    assert v.cue("sync").usable and v.score < 0.5
    assert v.reasons[0].startswith("no sign of manipulation")


@pytest.mark.parametrize("offset_ms", [320, -560])
def test_offset_clip_is_manipulated_with_plain_language_reason(detector, clip, offset_ms):
    v = detector(clip(f"pipe_off{offset_ms}", offset_s=offset_ms / 1000, **FACE))
    assert v.label is Label.MANIPULATED, v.reasons
    word = "leads" if offset_ms > 0 else "lags"
    assert any(f"audio {word} video by" in r for r in v.reasons), v.reasons


def test_media_at_other_rates_reads_as_at_the_analysis_rates(detector, clip):
    """A Media at 48 kHz / 8 kHz or 50 fps (arrays or a file opened so) is brought to 16 kHz and 25 fps, not misread."""
    from avsync.media.decode import resample_audio

    path = clip("pipe_off320", offset_s=0.32, **FACE)
    m = avsync.load_media(path)
    frames = np.concatenate([c.images for c in m.frames()])
    ref = detector(avsync.Media.from_arrays(m.audio, 16000, frames, 25.0))
    assert ref.label is Label.MANIPULATED and ref.details["sync"]["offset_frames"] == 8
    others = [avsync.Media.from_arrays(resample_audio(m.audio, 16000, 48000), 48000, frames, 25.0),
              avsync.Media.from_arrays(m.audio, 16000, np.repeat(frames, 2, axis=0), 50.0),
              avsync.load_media(path, sample_rate=8000), avsync.load_media(path, fps=50.0)]
    for media in others:
        v = detector(media)
        assert v.label is Label.MANIPULATED, v.reasons
        assert v.details["sync"]["offset_frames"] == 8
        assert abs(v.score - ref.score) < 0.02, (v.score, ref.score)
    assert others[0].at_rates() is not others[0] and ref is not None
    media = avsync.load_media(path)
    assert media.at_rates() is media  # already at 16 kHz, 25 fps


def test_mouth_region_of_the_face_lip_sync_heard_speaking(detector, clip):
    """Beside a larger silent face, the mouth-region check scores the speaker that lip sync chose, not the largest."""
    import cv2

    m = avsync.load_media(clip("pipe_orig", **FACE))
    frames = np.concatenate([c.images for c in m.frames()])
    still = cv2.resize(frames[0], (480, 480), interpolation=cv2.INTER_LINEAR)  # a bystander: larger, never moving
    canvas = np.zeros((len(frames), 480, 800, 3), np.uint8)
    canvas[:, 80:400, :320] = frames
    canvas[:, :, 320:] = still
    v = detector(avsync.Media.from_arrays(m.audio, 16000, canvas, 25.0))
    speaker = v.details["sync"]["active_track_id"]
    faces = {f["track_id"]: f for f in v.details["sync"]["faces"]}
    assert len(faces) == 2 and speaker is not None
    assert v.details["artefact"]["track_id"] == speaker
    # one thumbnail per face, though both are pictured in the same (middle) frame: the report shows who is who
    assert len(detector.thumbnails) == 2


def test_faces_shown_on_their_side_are_not_judged(detector, clip):
    """A picture turned by 90° (a wrong rotation flag): lip sync and the mouth region say why they did not judge it,
    instead of reading the turned face as out of sync and generated."""
    from avsync.face import get_detector
    from avsync.face.orientation import picture_turn

    m = avsync.load_media(clip("pipe_orig", **FACE))
    frames = np.concatenate([c.images for c in m.frames()])
    for k, turn in ((1, 90), (3, 270)):
        turned = avsync.Media.from_arrays(m.audio, 16000, np.ascontiguousarray(np.rot90(frames, k=k, axes=(1, 2))), 25.0)
        assert picture_turn(turned, get_detector("auto")) == turn
    v = detector(turned)
    assert v.label is Label.UNDETERMINED and v.details["orientation"] == {"turn_deg": 270}
    assert v.reasons[0].startswith("undetermined: the picture shows the faces turned by 270°"), v.reasons
    assert v.cue("sync").status is Status.SKIPPED and v.cue("artefact").status is Status.SKIPPED
    assert picture_turn(m, get_detector("auto")) == 0 and "orientation" not in detector(m).details
    # `avsync sync` and `avsync artefacts` track the faces themselves: they ask the same question first
    from avsync.artefacts import ArtefactScorer
    from avsync.sync import analyze_sync

    res = analyze_sync(turned)
    assert res.status is Status.SKIPPED and res.offset_frames is None and "turned by 270°" in res.message
    art = ArtefactScorer()(turned)
    assert art.status is Status.SKIPPED and art.score is None and "turned by 270°" in art.message
    assert analyze_sync(turned, check_orientation=False).status is not Status.SKIPPED
    seen: list[tuple[int, int]] = []  # `avsync sync` / `avsync artefacts` draw their progress from the tracking
    assert analyze_sync(m, progress=lambda d, t: seen.append((d, t))).status is Status.OK
    assert seen and seen[-1][0] == seen[-1][1] == m.num_frames
    seen.clear()
    assert ArtefactScorer()(m, progress=lambda d, t: seen.append((d, t))).status is Status.OK
    assert seen and seen[-1][0] == seen[-1][1]


def test_swapped_audio_is_manipulated(detector, swapped):
    v = detector(swapped)
    assert v.label is Label.MANIPULATED, (v.reasons, v.cue("sync"))


def test_no_face_is_undetermined(detector, clip):
    v = detector(clip("pipe_disc", duration=4.0))  # a drawn disc: no face
    assert v.label is Label.UNDETERMINED
    assert "no usable face" in v.reasons[0]
    assert v.status is Status.NO_FACE  # like `avsync faces` / `avsync sync` say


def test_verdict_status_names_the_absence_only_when_no_cue_gave_evidence():
    from avsync.fusion import Cue
    from avsync.pipeline import verdict_status

    no_face = Cue("sync", Status.NO_FACE, None, (), (), 0.0, "no usable face")
    no_speech = Cue("spoof", Status.NO_SPEECH, None, (), (), 0.0, "no speech found")
    voice = Cue("spoof", Status.OK, 0.2, (), (), 1.0)
    no_weights = Cue("spoof", Status.MODEL_ERROR, None, (), (), 0.0, "voice check unavailable")
    assert verdict_status([no_face, voice]) is Status.OK  # evidence from the voice: ok, reasons say the rest
    assert verdict_status([no_face, no_speech]) is Status.NO_SPEECH
    assert verdict_status([no_face]) is Status.NO_FACE
    assert verdict_status([no_face, no_weights]) is Status.NO_FACE
    # nothing ran, for want of its model: a failure to fix and retry, not an "ok" verdict about the input
    assert verdict_status([no_weights]) is Status.MODEL_ERROR
    assert verdict_status([no_weights, Cue("sync", Status.MODEL_ERROR, None, (), (), 0.0, "no weights")]) \
        is Status.MODEL_ERROR
    assert verdict_status([no_weights, voice]) is Status.OK
    assert verdict_status([voice], has_audio=False) is Status.NO_AUDIO
    # shorter than the fusion's minimum: too_short, whatever stopped the cues (a 0.4 s clip also has no face track)
    assert verdict_status([no_face], too_short=True) is Status.TOO_SHORT
    assert verdict_status([no_face, voice], too_short=True) is Status.TOO_SHORT


def test_silence_and_no_face_give_absence_statuses_like_the_single_commands(tmp_path):
    det = Detector(spoof_model="lcnn-spoof", speaker=False, artefacts=False, device="cpu")  # shipped weights
    silence = write_audio(tmp_path / "silence.wav", np.zeros(16000 * 3, np.float32), 16000)
    v = det(silence)
    assert v.status is Status.NO_SPEECH and v.label is Label.UNDETERMINED, v.reasons
    # the missing evidence is named (once: the reason is the voice check's own message), and a mono file's message
    # does not speak of channels
    assert v.reasons[0] == "undetermined: the recording is silent" and sum("silent" in r for r in v.reasons) == 1, v.reasons
    assert not any("channel 0" in r for r in v.reasons), v.reasons
    r = CliRunner().invoke(cli, ["analyze", silence, "--json", "--spoof-model", "lcnn-spoof", "--no-speaker",
                                 "--no-artefacts", "--no-progress"])
    assert r.exit_code == 0, r.output  # an absence is a result
    assert json.loads(r.output)[0]["status"] == "no_speech"


def test_no_audio_is_undetermined(detector, clip):
    v = detector(clip("pipe_noaudio", audio=False, **FACE))
    assert v.label is Label.UNDETERMINED and v.status is Status.NO_AUDIO
    assert "no audio track" in v.reasons[0]
    # the picture alone is still looked at: the mouth-region check runs on a video without sound
    assert [c.name for c in v.cues] == ["artefact"] and v.cue("artefact").status is Status.OK
    assert any(m.role == "face detector" for m in v.provenance.models) and "faces" in v.details  # tracked as asked
    haar = Detector(spoof_model=False, sync_model="motion", face_detector="haar", device="cpu")
    assert haar(clip("pipe_noaudio", audio=False, **FACE)).cue("artefact").status is Status.SKIPPED  # no landmarks
    assert any(r.startswith("checked: mouth region") for r in v.reasons), v.reasons


def test_a_silent_video_is_manipulated_by_its_picture_alone_and_never_genuine():
    from avsync.fusion import Cue, fuse

    art = Cue("artefact", Status.OK, 0.95, (), ("the picture around the face stays frozen",), 1.0)
    out = fuse([art], duration=8.0, kind="video")
    assert out.label is Label.MANIPULATED and out.reasons[0] == "the picture around the face stays frozen"
    assert "note: the file has no audio track, so neither lip sync nor the voice can be checked" in out.reasons
    low = fuse([Cue("artefact", Status.OK, 0.02, (), (), 1.0)], duration=8.0, kind="video")
    assert low.label is Label.UNDETERMINED and low.reasons[0].startswith("undetermined: the file has no audio track")
    # a fitted config's terms for the missing audio cues (fitted on clips with sound) cannot make it manipulated
    fitted = FusionConfig(method="logistic", weights={"sync": 1.0, "spoof": 1.0, "artefact": 1.0},
                          missing={"sync": 1.0, "spoof": 1.0})
    mild = fuse([Cue("artefact", Status.OK, 0.3, (), (), 1.0)], duration=8.0, kind="video", config=fitted)
    assert mild.label is Label.UNDETERMINED, (mild.score, mild.reasons)


def test_audio_with_the_voice_check_off_says_nothing_was_checked(detector, tmp_path):
    """An audio file with `--spoof-model none`: status `skipped` and why, not `ok` with no cue at all."""
    path = write_audio(tmp_path / "voice.wav", (0.1 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32), 16000)
    v = detector(path)  # spoof_model=False
    assert v.label is Label.UNDETERMINED and v.status is Status.SKIPPED and v.score is None
    assert v.reasons[0].startswith("undetermined: the voice check is turned off"), v.reasons


def test_silence_is_undetermined(detector, tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros(16000 * 3, np.float32), 16000)
    v = Detector(device="cpu")(path)  # voice path with the default spoof model (or its absence)
    assert v.label is Label.UNDETERMINED, v.reasons
    assert v.kind == "audio"


@pytest.mark.parametrize("content,status", [(b"", Status.EMPTY), (b"garbage" * 100, Status.DECODE_ERROR)])
def test_bad_files_give_a_status_not_a_traceback(detector, tmp_path, content, status):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    v = detector(str(p))
    assert v.label is Label.UNDETERMINED and v.status is status and v.reasons[0].startswith("undetermined:")
    import hashlib

    assert v.provenance.input_sha256 == hashlib.sha256(content).hexdigest()  # provenance, even of an empty file


def test_verdict_json_roundtrip_and_provenance(detector, clip):
    v = detector(clip("pipe_orig", **FACE))
    back = Verdict.from_json(v.to_json())
    assert back.label == v.label and back.score == pytest.approx(v.score) and back.reasons == v.reasons
    p = v.provenance
    assert len(p.input_sha256) == 64 and p.avsync_version == avsync.__version__
    assert p.config_hash == detector.fusion.config_hash() and p.timings["total"] > 0
    assert {m.role for m in p.models} >= {"face detector", "sync"}
    # every model that has weights names their sha256 (the face detector too); motion has none
    assert all(m.sha256 and len(m.sha256) == 64 for m in p.models if m.name != "motion"), p.models
    from avsync.catalog import list_models

    listed = {r.name for r in list_models()}  # named as `avsync models list` names them
    assert all(m.name in listed for m in p.models if m.role in ("face detector", "sync")), p.models
    assert v.details["fusion"]["manipulated_threshold"] == detector.fusion.manipulated_threshold
    thumbs = detector.thumbnails  # colour pictures of the faces for the report
    assert thumbs and all(img.ndim == 3 and img.shape[2] == 3 for img in thumbs.values())
    df = v.to_pandas()
    assert len(df) == len(v.windows) and "sync" in df.columns


def test_cli_analyze_json_html_csv(clip, tmp_path):
    path = clip("pipe_off320", offset_s=0.32, **FACE)
    html, csvf = tmp_path / "r.html", tmp_path / "w.csv"
    r = CliRunner().invoke(
        cli, ["analyze", path, "--json", "--spoof-model", "none", "--sync-model", "motion", "--html", str(html), "--csv",
              str(csvf), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    (d,) = json.loads(r.output)  # a list, even for one file
    assert {"label", "score", "reasons", "segments", "sync", "spoof", "provenance"} <= set(d)
    assert d["label"] == "manipulated" and d["sync"]["offset_frames"] == pytest.approx(8, abs=1)
    assert {"input_sha256", "models", "avsync_version", "config_hash", "timings"} <= set(d["provenance"])
    page = html.read_text()
    assert "MANIPULATED" in page.upper() and "data:image/png;base64" in page
    assert d["provenance"]["input_path"] == path  # the JSON on stdout keeps the path; the report, the name only
    assert str(Path(path).parent) not in page and Path(path).name in page
    assert csvf.read_text().startswith("start,end,score")


def test_calibrate_command_fits_a_config(clip, tmp_path):
    rows = [("pipe_orig", 0.0, "real"), ("pipe_off320", 0.32, "fake"), ("pipe_cal_real2", 0.0, "real"),
            ("pipe_off-560", -0.56, "fake")]
    manifest = tmp_path / "m.csv"
    lines = ["path,label"]
    for name, off, label in rows:
        kw = dict(FACE, seed=3) if name == "pipe_cal_real2" else FACE
        lines.append(f"{clip(name, offset_s=off, **kw)},{label}")
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "fusion.yaml"
    r = CliRunner().invoke(cli, ["calibrate", str(manifest), "--out", str(out), "--json", "--sync-model", "motion"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    cfg = FusionConfig.load(out)
    assert cfg.version == "calibrated" and cfg.weights["sync"] > 0
    assert min(cfg.weights.values()) >= 0 and cfg.fitted_on["command"]["nonnegative"]  # monotone
    det = Detector(fusion=cfg, spoof_model=False)
    assert det(clip("pipe_off320", offset_s=0.32, **FACE)).label is Label.MANIPULATED


def test_spoof_cue_notes_short_speech_and_repaired_samples():
    from avsync.pipeline import spoof_cue
    from avsync.spoof import ChannelSpoof, SpoofResult, SpoofWindow

    win = SpoofWindow(0.0, 1.5, 0.1, 0.8)
    res = SpoofResult(Status.OK, 0.1, "m", windows=(win,), channels=(ChannelSpoof(0, Status.OK, 0.1, (win,), 1.2),),
                      flagged=False, narrowband=True,
                      warnings=("3 audio sample(s) were NaN or infinite; set to silence / full scale",))
    notes = spoof_cue(res).notes
    assert any("telephone-band" in n for n in notes)
    assert any("only 1.2 s of speech" in n for n in notes)
    assert any("NaN or infinite" in n for n in notes)
    longer = SpoofResult(Status.OK, 0.1, "m", windows=(win,), flagged=False,
                         channels=(ChannelSpoof(0, Status.OK, 0.1, (win,), 3.0),))
    assert spoof_cue(longer).notes == ()
    one = SpoofResult(Status.OK, 0.155, "m", windows=(win,), flagged=False, threshold=0.5,
                      channels=(ChannelSpoof(0, Status.OK, 0.155, (win,), 8.0),))
    cue = spoof_cue(one)  # the model score is printed as the cue's p is: one number, one way
    assert cue.measured.startswith("model score 0.155 over 8.0 s of speech") and cue.score == pytest.approx(0.155)


def test_a_run_of_synthetic_windows_is_one_stretch_on_the_timeline():
    """The voice check counts a run of windows above its threshold with the run's mean: the run's windows carry it,
    so the fused timeline flags the stretch the reason names as one segment, not the windows one by one."""
    from avsync.fusion import fuse
    from avsync.pipeline import spoof_cue
    from avsync.spoof import ChannelSpoof, SpoofResult, SpoofWindow

    probs = [0.1] * 5 + [0.95, 0.6, 0.9, 0.93] + [0.1] * 5
    wins = tuple(SpoofWindow(4.0 * i, 4.0 * i + 4.0, p, 1.0) for i, p in enumerate(probs))
    run = float(np.mean(probs[5:9]))

    def result(run_windows: int) -> SpoofResult:
        return SpoofResult(Status.OK, run, "m", windows=wins, flagged=True, threshold=0.5, run_windows=run_windows,
                           channels=(ChannelSpoof(0, Status.OK, run, wins, 56.0),))

    cue = spoof_cue(result(2))
    assert cue.reasons == ("voice in 20–36 s looks synthetic (model score up to 0.95, threshold 0.50)",)
    inside = [w.score for w in cue.windows if 20 <= w.start < 36]
    assert inside == pytest.approx([0.95, run, 0.9, 0.93])  # the 0.6 window carries the run's mean
    assert [w.score for w in cue.windows if w.start < 20 or w.start >= 36] == pytest.approx([0.1] * 10)
    [seg] = fuse([cue], duration=56.0, kind="audio").segments  # the stretch, to the fused grid's second
    assert 19.0 <= seg.start <= 20.0 and 36.0 <= seg.end <= 37.0 and seg.kind == "spoof"
    # a result without the run rule keeps each window's own score
    assert [w.score for w in spoof_cue(result(0)).windows] == pytest.approx(probs)


def test_sync_task_lines_carry_a_label(clip):
    from avsync.sync.task import eval_task

    score = eval_task(model="motion", device="cpu")
    shifted = score(clip("pipe_off320", offset_s=0.32, **FACE))
    assert shifted["label"] == "out_of_sync" and shifted["score"] >= 0.5, shifted["score"]
    assert score(clip("pipe_orig", **FACE))["label"] in ("in_sync", "undetermined")


def test_a_constant_offset_shows_in_every_window_and_segment(clip):
    # one source of truth: a clip flagged for its offset does not show a timeline of in-sync windows
    det = Detector(spoof_model=False, sync_model="motion", artefacts=False, device="cpu")
    v = det(clip("pipe_off320", offset_s=0.32, **FACE))
    assert v.label is Label.MANIPULATED and "audio leads video by" in v.reasons[0]
    sync = v.cue("sync")
    usable = [w for w in sync.windows if w.valid]
    assert usable and all(w.score >= 0.5 for w in usable), [round(w.score, 2) for w in usable]
    fused = [w for w in v.windows if w.score is not None]
    assert sum(w.score >= v.score - 1e-9 for w in fused) >= len(fused) // 2  # most of the timeline at the headline
    assert v.segments and v.segments[0].kind == "sync"
    covered = sum(s.end - s.start for s in v.segments)
    assert covered >= 0.5 * v.duration_s


def test_eval_task_analyze_takes_detector_options(clip):
    """`avsync eval --task analyze --option KEY=VALUE`: sync model, artefacts, speaker and the voice check."""
    from avsync.errors import ConfigError
    from avsync.evaluation import get_task

    path = clip("pipe_orig", **FACE)
    task = get_task("analyze")
    rec = task.factory(None, device="cpu", sync_model="motion", artefacts=False, speaker=False, spoof=False)(path)
    assert rec["status"] == "ok" and {c["name"] for c in rec["cues"]} == {"sync"}
    assert rec["details"]["sync"]["model"] == "motion"
    with pytest.raises(ConfigError, match="no option 'detector'"):
        task.factory(None, device="cpu", detector="yunet")


def test_calibrate_says_which_clips_it_could_not_read(clip, tmp_path):
    """A missing clip is named with its status and left out, the config is still written (into a folder made for it)
    and the exit code says an input could not be read; a --subset that matches nothing is a usage error at once."""
    real1, real2 = clip("pipe_orig", **FACE), clip("pipe_cal_real2", **dict(FACE, seed=3))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,audio\n"
                        f"{real1},real,\n{real1},fake,shift:+8\n{real2},real,\n{real2},fake,shift:-14\n"
                        f"{tmp_path / 'gone.mp4'},fake,\n")
    out = tmp_path / "new" / "fusion.yaml"
    r = CliRunner().invoke(cli, ["calibrate", str(manifest), "--out", str(out), "--json", "--sync-model", "motion"],
                           catch_exceptions=False)
    assert r.exit_code == 1 and out.exists(), r.output
    assert json.loads(r.stdout)["not_read"] == [str(tmp_path / "gone.mp4")]
    assert f"{tmp_path / 'gone.mp4'}: not_found" in r.stderr
    r = CliRunner().invoke(cli, ["calibrate", str(manifest), "--out", str(out), "--subset", "nosuch"])
    assert r.exit_code == 2 and "no manifest row matches --subset nosuch" in r.output


def test_calibrate_makes_the_manifests_audio_edits(clip, tmp_path):
    """`avsync calibrate` scores a row's edited copy (the audio column), not the clip as it is. The drawn faces of
    these clips are read with the ``motion`` model, as elsewhere in this file (``--sync-model``)."""
    real1, real2 = clip("pipe_orig", **FACE), clip("pipe_cal_real2", **dict(FACE, seed=3))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,audio\n"
                        f"{real1},real,\n{real1},fake,shift:+8\n{real2},real,\n{real2},fake,shift:-14\n"
                        f"{real2},fake,from:{tmp_path / 'missing.wav'}\n")
    out = tmp_path / "fusion.yaml"
    r = CliRunner().invoke(cli, ["calibrate", str(manifest), "--out", str(out), "--json", "--sync-model", "motion"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    stats = json.loads(r.stdout)
    assert (stats["used"], stats["fake"], stats["real"]) == (4, 2, 2)
    assert stats["skipped_no_evidence"] == [f"{real2}#from:{tmp_path / 'missing.wav'}"]  # the donor does not exist
    sync = {line.split("] ", 1)[1].split(": ")[0]: json.loads(line[line.index("{"):])["sync"]
            for line in r.stderr.splitlines() if line.startswith("[") and "{" in line}
    assert sync[f"{real1}#shift:+8"] > sync[real1] + 0.05  # the copy with the audio 8 frames early, not the clip
    # the config records the sync model whose cue it was fitted on; a run with another one says so
    from avsync.fusion import FusionConfig
    from avsync.pipeline import config_sync_note

    cfg = FusionConfig.load(out)
    assert cfg.fitted_on["sync_model"] == "motion" and cfg.fitted_on["real"] == 2
    assert config_sync_note(cfg, "motion") is None
    assert "fitted on the lip-sync cue of motion, and this run reads syncnet-v3" in config_sync_note(cfg, "syncnet")
    v = Detector(fusion=cfg, spoof_model=False, artefacts=False, speaker=False, device="cpu")(real1)
    assert any(r.startswith("note: the fusion config was fitted on the lip-sync cue of motion") for r in v.reasons)


def test_a_clip_shorter_than_the_minimum_is_too_short_not_no_face(clip):
    """A 0.4 s talking-face clip: its verdict says it is too short first, and its status says the same (not the
    ``no_face`` of a face track too short to score)."""
    v = Detector(spoof_model=False, sync_model="motion", artefacts=False, device="cpu")(clip("short_av", duration=0.4))
    assert v.status is Status.TOO_SHORT
    assert v.label is Label.UNDETERMINED and "shorter than the 1 s needed" in v.reasons[0]


def test_lips_following_no_offset_need_speech_found_by_the_voice_check(clip):
    """A clip whose audio the VAD does not take for speech (a synthetic vowel buzz): a sync reading of "lips follow
    the audio at no offset" is not evidence, and the sync cue says why; with the rule off (or speech) it flags."""
    from dataclasses import replace

    from avsync.pipeline import MOTION_CUE_PARAMS

    path = clip("pipe_little_speech", **FACE)
    strict = replace(MOTION_CUE_PARAMS, mismatch_distance_mid=-5.0)  # every reading counts as lips not following
    kw = dict(spoof_model="lcnn-spoof", speaker=False, artefacts=False, device="cpu", sync_model="motion",
              sync_params=strict)
    v = Detector(**kw)(path)
    voice = next(c for c in v.cues if c.name == "spoof")
    assert voice.status is Status.NO_SPEECH, voice  # the VAD finds no speech in the buzz
    sync = next(c for c in v.cues if c.name == "sync")
    assert sync.status is Status.OK and sync.score <= 0.5 + 1e-9, sync
    assert "only 0.00 s of speech" in sync.measured and not any("at any offset" in r for r in v.reasons), v.reasons
    assert v.label is not Label.MANIPULATED
    off = Detector(**kw, sync_min_speech_s=0)(path)
    assert next(c for c in off.cues if c.name == "sync").score > 0.9
    assert off.label is Label.MANIPULATED and any("at any offset" in r for r in off.reasons), off.reasons


def test_calls_from_several_threads_keep_their_own_state(clip, monkeypatch):
    """One Detector analysing two clips at once from two threads gives each clip the verdict it gets alone: what a
    call carries between its analyses (the voice check's speech for the sync cue, a long video's audio) belongs to
    the call, not to the Detector. Both calls are held just before the sync cue is read again with the speech, so
    each has finished its analyses by then."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    det = Detector(spoof_model="lcnn-spoof", speaker=False, artefacts=False, device="cpu", sync_model="motion")
    paths = [clip("pipe_orig", **FACE), clip("pipe_off320", offset_s=0.32, **FACE)]

    def key(v):
        return v.label, round(v.score, 6), tuple(v.reasons), tuple((c.name, c.score, c.measured) for c in v.cues)

    alone = [key(det(p)) for p in paths]
    assert alone[0][0] is not Label.MANIPULATED and alone[1][0] is Label.MANIPULATED, alone
    assert "of speech" in dict((c[0], c[2]) for c in alone[0][3])["sync"]  # the cue was read again with the speech
    both_there = threading.Barrier(2, timeout=120)
    read_again = Detector._sync_with_speech

    def held(self, *args, **kwargs):
        both_there.wait()
        return read_again(self, *args, **kwargs)

    monkeypatch.setattr(Detector, "_sync_with_speech", held)
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda p: key(det(p)), paths))
    assert together == alone


@pytest.mark.parametrize("kw,match", [
    (dict(spoof_model="aasist-hifigan-kokor"), "unknown spoof model"),
    (dict(sync_model="syncnet-v9"), "unknown sync model"),
    (dict(artefacts="artefact-foo"), "unknown artefact model"),
    (dict(face_detector="yolo"), "unknown face detector"),
    (dict(device="gpu"), "unknown device"),
    (dict(precision="float16"), "precision must be one of"),
])
def test_a_misspelt_name_is_a_config_error_when_the_detector_is_built(kw, match):
    """Not a verdict that quietly leaves the check out (a misspelt voice model gave 'genuine' without a voice check)."""
    from avsync import ConfigError

    with pytest.raises(ConfigError, match=match):
        Detector(**kw)


def test_without_its_voice_model_the_speaker_check_says_it_did_not_run(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    v = Detector(spoof_model="aasist", models_dir=tmp_path / "empty", sync_model="motion", device="cpu")(
        clip("pipe_orig", **FACE))
    assert v.cue("spoof").status is Status.MODEL_ERROR and v.cue("speaker").status is Status.MODEL_ERROR
    assert "speaker consistency not checked: it runs with the voice check, which could not run" in v.reasons


@pytest.mark.parametrize("shown, flipped, turn", [(0.90, 0.94, 180), (0.94, 0.90, 0), (0.90, 0.91, 0)])
def test_a_face_shown_upside_down_scoring_a_few_points_under_its_upright_copy_reads_turned(shown, flipped, turn):
    """YuNet finds an upside-down face nearly as surely as the upright one (0.90 against 0.94 on a 720p interview):
    three points of its confidence are enough to vote for the turn, one is not."""
    from avsync.face.orientation import picture_turn
    from avsync.face.types import Detections

    frames = np.zeros((50, 40, 60, 3), np.uint8)
    frames[:, :2, :2] = 255  # a mark in the top-left corner as shown: where it is tells how a copy is turned

    class Stub:
        def detect(self, img):
            upright, upside_down = img[0, 0, 0] > 0, img[-1, -1, 0] > 0
            if not (upright or upside_down):  # turned on its side: no face
                return Detections.empty()
            score = shown if upright else flipped
            return Detections(np.array([[1, 1, 10, 10]], np.float32), np.zeros((1, 5, 2), np.float32),
                              np.array([score], np.float32))

    media = avsync.Media.from_arrays(np.zeros(32000, np.float32), 16000, frames, 25.0)
    assert picture_turn(media, Stub()) == turn


def test_a_file_damaged_part_way_says_where_the_analysis_stopped(tmp_path):
    """Bytes overwritten in the middle of an MP4: decoding stops there, and the verdict says so in its notes (it
    was in the JSON of the voice check only, under a plain "genuine")."""
    from avsync.synth import ClipSpec, make_clip

    p = Path(make_clip(tmp_path / "c", ClipSpec(duration=6.0, size=(160, 120), seed=1)))
    data = bytearray(p.read_bytes())
    a = len(data) // 2
    data[a : a + len(data) // 5] = np.random.default_rng(0).integers(0, 256, len(data) // 5, dtype=np.uint8).tobytes()
    p.write_bytes(bytes(data))
    v = Detector(spoof_model=False, artefacts=False, sync_model="motion")(p)
    notes = [r for r in v.reasons if "decoding stopped early" in r]
    assert notes and "video decoding stopped early, at 3.0 s" in " ".join(notes), v.reasons
    assert all("what follows was not analysed" in r for r in notes)
