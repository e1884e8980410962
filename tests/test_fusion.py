"""Fusion, abstention, calibration and the verdict's serialisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avsync import ConfigError, Status
from avsync.calibration import fit, isotonic_fit
from avsync.fusion import Cue, CueWindow, FusionConfig, Label, cue_from_windows, fuse, logit, sigmoid


def _cue(name, score, windows=(), status=Status.OK, reasons=(), message=None):
    return Cue(name, status, score, tuple(windows), tuple(reasons), 1.0 if status is Status.OK else 0.0, message)


def test_genuine_when_required_cues_agree():
    out = fuse([_cue("sync", 0.1), _cue("spoof", 0.2)], duration=10, kind="audio+video")
    assert out.label is Label.GENUINE and out.score < 0.5


def test_manipulated_with_reasons_from_the_cue():
    out = fuse([_cue("sync", 0.95, reasons=["audio leads video by 320 ms"]), _cue("spoof", 0.3)], duration=10, kind="audio+video")
    assert out.label is Label.MANIPULATED
    assert "audio leads video by 320 ms" in out.reasons


def test_no_face_is_undetermined_not_genuine():
    out = fuse(
        [_cue("sync", None, status=Status.NO_FACE, message="no face for 80% of the clip"), _cue("spoof", 0.1)],
        duration=10,
        kind="audio+video",
    )
    assert out.label is Label.UNDETERMINED
    assert out.reasons[0] == "undetermined: no face for 80% of the clip"
    # the missing cue's message is the verdict's first reason: not repeated as "lip sync not checked: ..." below it
    assert not any("no face for 80% of the clip" in r for r in out.reasons[1:]), out.reasons
    both = fuse([_cue("sync", None, status=Status.NO_FACE, message="no face for 80% of the clip"),
                 _cue("spoof", 0.1), _cue("artefact", None, status=Status.NO_FACE, message="no face to check")],
                duration=10, kind="audio+video")
    assert "mouth region not checked: no face to check" in both.reasons  # another missing cue is still said


def test_no_face_but_synthetic_voice_is_still_manipulated():
    out = fuse([_cue("sync", None, status=Status.NO_FACE), _cue("spoof", 0.97)], duration=10, kind="audio+video")
    assert out.label is Label.MANIPULATED


def test_video_without_audio_and_too_short():
    assert fuse([], duration=10, kind="video").label is Label.UNDETERMINED
    out = fuse([_cue("spoof", 0.1)], duration=0.4, kind="audio")
    assert out.label is Label.UNDETERMINED and "shorter" in out.undetermined_reason


def test_inconclusive_band():
    cfg = FusionConfig(genuine_threshold=0.3, manipulated_threshold=0.7)
    assert fuse([_cue("spoof", 0.5)], duration=5, kind="audio", config=cfg).label is Label.UNDETERMINED
    assert fuse([_cue("spoof", 0.2)], duration=5, kind="audio", config=cfg).label is Label.GENUINE


def test_windows_and_segments():
    wins = [CueWindow(t, t + 1, 0.9 if 4 <= t < 7 else 0.1) for t in range(10)]
    out = fuse([_cue("spoof", 0.4, wins)], duration=10, kind="audio", config=FusionConfig(window_s=1, hop_s=1))
    assert len(out.windows) == 10
    assert [round(w.score, 2) for w in out.windows][4:7] == [0.9, 0.9, 0.9]
    (seg,) = out.segments
    assert (seg.start, seg.end, seg.kind) == (4, 7, "spoof")


def test_timeline_lookup_equals_a_scan_of_every_window():
    """The fused timeline finds a cue's windows by bisection: exactly the scores of a scan of every window
    (unsorted windows of varying length, invalid and unscored ones, two channels, spans on and off the grid)."""
    from avsync.fusion import MIN_COVER, _covered, _CueTimeline

    def _cover(cue, ch, a, b):
        return _covered([(max(a, w.start), min(b, w.end)) for w in cue.windows if w.valid and w.score is not None
                         and w.channel == ch and min(b, w.end) > max(a, w.start)]) / (b - a)

    rng = np.random.default_rng(7)
    starts = rng.uniform(0, 100, 400)
    lengths = rng.choice([0.5, 2.0, 4.04, 9.0], 400)
    windows = [CueWindow(float(a), float(a + n), None if i % 17 == 0 else float(rng.uniform()), valid=i % 11 != 0,
                         channel=None if i < 50 else int(i % 2)) for i, (a, n) in enumerate(zip(starts, lengths))]
    cue = _cue("spoof", 0.5, windows)

    def scan(start, end):
        num, den, grid = {}, {}, {}
        fine = np.linspace(start, end, 4001)[:-1] + (end - start) / 8000  # coverage on a fine grid of the span
        for w in cue.windows:
            if not w.valid or w.score is None:
                continue
            ov = min(end, w.end) - max(start, w.start)
            if ov > 0:
                num[w.channel] = num.get(w.channel, 0.0) + ov * float(w.score)
                den[w.channel] = den.get(w.channel, 0.0) + ov
                grid[w.channel] = grid.get(w.channel, np.zeros(len(fine), bool)) | ((fine >= w.start) & (fine < w.end))
        return {ch: num[ch] / den[ch] for ch in num if grid[ch].mean() >= MIN_COVER - 1e-3}

    timeline = _CueTimeline(cue)
    spans = [(float(a), float(a) + float(n)) for a, n in zip(rng.uniform(-10, 110, 300), rng.uniform(0.1, 12, 300))]
    spans += [(float(w.start), float(w.end)) for w in windows[:40]] + [(200.0, 202.0), (-5.0, 0.0)]
    for a, b in spans:
        got, want = timeline.channel_scores(a, b), scan(a, b)
        # the same sums in the same order: equal, not close (a channel covering the span's half to within the fine
        # grid's step may fall either side)
        assert {ch: v for ch, v in got.items() if ch in want} == {ch: v for ch, v in want.items() if ch in got}
        assert len(set(got) ^ set(want)) == 0 or all(abs(_cover(cue, ch, a, b) - MIN_COVER) < 2e-3
                                                     for ch in set(got) ^ set(want))
    assert timeline.channel_scores(200.0, 202.0) == {} and timeline.score(200.0, 202.0) is None
    assert _CueTimeline(_cue("sync", 0.2)).score(0.0, 10.0) is None


def test_cue_from_windows_statuses():
    c = cue_from_windows("spoof", [0, 1], [1, 2], [0.2, 0.6])
    assert c.status is Status.OK and c.score == pytest.approx(0.4) and c.coverage == 1
    empty = cue_from_windows("spoof", [0, 1], [1, 2], [None, None], message_if_empty="no speech found")
    assert empty.status is Status.NO_SPEECH and not empty.usable and empty.message == "no speech found"


def test_config_yaml_roundtrip_and_validation(tmp_path):
    cfg = FusionConfig(weights={"sync": 2.0, "spoof": 0.5}, bias=-0.3, genuine_threshold=0.2)
    cfg.save(tmp_path / "f.yaml")
    back = FusionConfig.load(tmp_path / "f.yaml")
    assert back == cfg and back.config_hash() == cfg.config_hash()
    assert FusionConfig().config_hash() != cfg.config_hash()
    with pytest.raises(ConfigError):
        FusionConfig.from_yaml("weights: {sync: 1}\nbogus: 3\n")
    with pytest.raises(ConfigError):
        FusionConfig(genuine_threshold=0.8, manipulated_threshold=0.5)
    with pytest.raises(ConfigError):
        FusionConfig.load(tmp_path / "missing.yaml")


def test_logit_sigmoid_inverse():
    p = np.array([0.01, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(sigmoid(logit(p)), p)


def test_calibration_learns_the_informative_cue():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    informative = np.clip(np.where(y == 1, rng.normal(0.75, 0.12, n), rng.normal(0.3, 0.12, n)), 0.01, 0.99)
    noise = rng.uniform(0.05, 0.95, n)
    rows = [{"sync": float(a), "spoof": float(b)} for a, b in zip(informative, noise)]
    cfg = fit(rows, y, max_false_positive_rate=0.05)
    assert cfg.weights["sync"] > 1.0 and abs(cfg.weights["spoof"]) < 0.3
    p = np.array([cfg.combine(r) for r in rows])
    assert np.mean(p[y == 0] >= cfg.manipulated_threshold) <= 0.05
    assert np.mean(p[y == 1] >= cfg.manipulated_threshold) > 0.7
    iso = fit(rows, y, method="isotonic")
    assert iso.method == "isotonic" and len(iso.isotonic_x) >= 2
    assert FusionConfig.from_yaml(iso.to_yaml()) == iso


def test_calibration_needs_both_classes():
    with pytest.raises(ConfigError):
        fit([{"sync": 0.2}], [0])


def test_isotonic_is_monotone():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    y = np.array([0, 1, 0, 1, 1])
    kx, ky = isotonic_fit(x, y)
    assert np.all(np.diff(ky) >= 0) and ky[-1] == 1


def test_cue_notes_are_caveats_not_findings():
    cue = Cue("spoof", Status.OK, 0.1, (), (), 1.0, None, ("telephone-band audio: the voice model is less well tested on it",))
    out = fuse([cue], duration=5, kind="audio")
    assert out.label is Label.GENUINE
    assert "note: telephone-band audio: the voice model is less well tested on it" in out.reasons
    assert not any(r.startswith("outweighed") for r in out.reasons)


def test_a_clone_on_one_channel_of_a_call_is_not_averaged_away():
    # a call: channel 0 genuine, channel 1 a cloned voice from 3 to 6 s; per-channel windows
    wins = [CueWindow(t, t + 1, 0.05, channel=0) for t in range(10)]
    wins += [CueWindow(t, t + 1, 0.95 if 3 <= t < 6 else 0.05, channel=1) for t in range(10)]
    out = fuse([_cue("spoof", 0.7, wins)], duration=10, kind="audio", config=FusionConfig(window_s=1, hop_s=1))
    assert [round(w.score, 2) for w in out.windows][3:6] == [0.95, 0.95, 0.95]  # not the 0.5 of a mean
    (seg,) = out.segments
    assert (seg.start, seg.end, seg.kind, seg.channel) == (3, 6, "spoof", 1)
    # a cue measured on the whole clip has segments without a channel
    out = fuse([_cue("spoof", 0.7, [CueWindow(t, t + 1, 0.9 if t >= 5 else 0.1) for t in range(10)])],
               duration=10, kind="audio", config=FusionConfig(window_s=1, hop_s=1))
    assert [s.channel for s in out.segments] == [None]


def test_undetermined_says_which_cue_points_where_and_what_it_measured():
    cfg = FusionConfig(genuine_threshold=0.3, manipulated_threshold=0.7)
    sync = Cue("sync", Status.OK, 0.6, (), (), 1.0, measured="audio lags video by 120 ms, confidence 2.10")
    voice = Cue("spoof", Status.OK, 0.2, (), (), 1.0, measured="8 s of speech scored")
    out = fuse([sync, voice], duration=10, kind="audio+video", config=cfg)
    assert out.label is Label.UNDETERMINED
    why = out.reasons[0]
    assert why.startswith("undetermined: the evidence is inconclusive (p = 0.60")
    assert "lip sync leans to manipulation (p = 0.60: audio lags video by 120 ms" in why
    assert "voice leans to genuine (p = 0.20: 8 s of speech scored)" in why


def test_a_cue_at_the_midpoint_points_neither_way():
    """A sync cue exactly at its neutral point (an offset at the tolerance) neither leans to genuine nor to
    manipulation in the undetermined explanation."""
    cfg = FusionConfig(genuine_threshold=0.35, manipulated_threshold=0.7)
    sync = Cue("sync", Status.OK, 0.5, (), (), 1.0, measured="audio lags video by 120 ms, confidence 0.09")
    voice = Cue("spoof", Status.OK, 0.15, (), (), 1.0, measured="7 s of speech scored")
    why = fuse([sync, voice], duration=10, kind="audio+video", config=cfg).reasons[0]
    assert "lip sync points neither way (p = 0.50: audio lags video by 120 ms" in why
    assert "voice leans to genuine (p = 0.15" in why


def test_max_weights_scale_suspicion_only():
    """Under "max", a down-weighted cue leaning to genuine is not pulled towards 0.5 (where it would outrank every
    other cue and lift the fused probability above all of them); its suspicion still counts at its weight."""
    cfg = FusionConfig(weights={"spoof": 1.0, "speaker": 0.5, "sync": 0.0}, genuine_threshold=0.35,
                       manipulated_threshold=0.7)
    assert cfg.combine({"spoof": 0.05, "speaker": 0.30}) == pytest.approx(0.30)  # not sigmoid(0.5 logit 0.3) = 0.40
    assert cfg.combine({"spoof": 0.12, "speaker": 0.10}) == pytest.approx(0.12)
    assert cfg.combine({"spoof": 0.12, "speaker": 0.90}) == pytest.approx(sigmoid(0.5 * logit(0.9)))
    assert cfg.combine({"spoof": 0.12, "sync": 0.99}) == pytest.approx(0.12)  # weight 0: no part in the max
    assert cfg.combine({"sync": 0.99}) is None
    out = fuse([_cue("spoof", 0.05), _cue("speaker", 0.30)], duration=10, kind="audio", config=cfg)
    assert out.label is Label.GENUINE and out.score == pytest.approx(0.30)
    # every fused window lies within the range of its cues' window scores
    wins = [CueWindow(t, t + 1, 0.2) for t in range(6)]
    out = fuse([_cue("spoof", 0.05, [CueWindow(t, t + 1, 0.05) for t in range(6)]), _cue("speaker", 0.2, wins)],
               duration=6, kind="audio", config=FusionConfig(window_s=1, hop_s=1, weights=cfg.weights))
    assert all(w.score == pytest.approx(0.2) for w in out.windows)
    # the summing methods keep weight x log-odds
    lin = FusionConfig(weights={"spoof": 1.0, "speaker": 0.5}, method="logistic")
    assert lin.combine({"spoof": 0.5, "speaker": 0.30}) == pytest.approx(sigmoid(0.5 * logit(0.3)))


def test_probabilities_are_never_printed_as_a_threshold_they_are_not():
    from avsync.fusion import format_p

    assert [format_p(p) for p in (0.3546, 0.6996, 0.35, 0.5, 0.123, 0.999, None)] == [
        "0.355", "0.6996", "0.35", "0.50", "0.12", "0.999", "n/a"]
    cfg = FusionConfig(genuine_threshold=0.35, manipulated_threshold=0.7)
    art = Cue("artefact", Status.OK, 0.3546, (), (), 1.0, measured="mouth region")
    sync = Cue("sync", Status.OK, 0.1, (), (), 1.0)
    voice = Cue("spoof", Status.OK, 0.2, (), (), 1.0)
    out = fuse([art, sync, voice], duration=10, kind="audio+video", config=cfg)
    assert out.label is Label.UNDETERMINED
    why = out.reasons[0]
    assert why.startswith("undetermined: the evidence is inconclusive (p = 0.355, between the 0.35 needed")
    # the cue that keeps the clip from "genuine" says so; the others lean to genuine plainly
    assert "mouth region leans to genuine, but not below the 0.35 needed (p = 0.355" in why
    assert "voice leans to genuine (p = 0.20)" in why


def test_a_genuine_verdict_says_what_each_cue_measured():
    """Per channel for a call, the offset for lip sync: the numbers behind "no sign of manipulation" are said."""
    voice = Cue("spoof", Status.OK, 0.28, (), (), 1.0,
                measured="channel 0 model score 0.33 over 9 s of speech, channel 1 model score 0.47 over 12 s of speech")
    sync = Cue("sync", Status.OK, 0.08, (), (), 1.0, measured="audio and video are in sync, confidence 1.20")
    out = fuse([voice, sync], duration=12, kind="audio+video")
    assert out.label is Label.GENUINE
    assert out.reasons[0] == ("no sign of manipulation in lip sync (p = 0.08: audio and video are in sync, confidence "
                              "1.20), voice (p = 0.28: channel 0 model score 0.33 over 9 s of speech, channel 1 model "
                              "score 0.47 over 12 s of speech)")


def test_max_mean_takes_the_strongest_suspicion_and_the_mean_reassurance():
    """``max-mean``: with a cue leaning to manipulation, the same as ``max``; with every cue leaning to genuine,
    the mean of their log-odds (one less reassuring cue does not decide alone)."""
    from avsync.fusion import logit, sigmoid

    mx = FusionConfig(weights={"sync": 1.0, "spoof": 1.0, "artefact": 1.0}, method="max")
    mm = FusionConfig(weights={"sync": 1.0, "spoof": 1.0, "artefact": 1.0}, method="max-mean")
    suspicious = {"sync": 0.9, "spoof": 0.05, "artefact": 0.01}
    assert mm.combine(suspicious) == pytest.approx(mx.combine(suspicious)) == pytest.approx(0.9)
    calm = {"sync": 0.02, "spoof": 0.4, "artefact": 0.01}
    assert mx.combine(calm) == pytest.approx(0.4)
    assert mm.combine(calm) == pytest.approx(sigmoid(np.mean([logit(0.02), logit(0.4), logit(0.01)])))
    assert mm.combine(calm) < 0.1
    assert FusionConfig.from_yaml(mm.to_yaml()).method == "max-mean"
    with pytest.raises(ConfigError, match="max-mean"):
        FusionConfig(method="mean")


def test_the_window_at_the_end_is_as_long_as_the_others():
    """An 8.01 s clip: the end is covered by 6-8.01 s, not by 7-8.01 s, which would read the last cue window almost
    alone; a genuine clip whose one end window is suspicious gets no red stretch from it. An 8.6 s clip ends 6.6-8.6."""
    wins = [CueWindow(a, a + 2, {6.0: 0.95, 5.5: 0.6}.get(float(a), 0.02)) for a in np.arange(0, 6.5, 0.5)]
    cfg = FusionConfig(window_s=2, hop_s=1, segment_threshold=0.7)
    out = fuse([_cue("sync", 0.03, wins), _cue("spoof", 0.1)], duration=8.01, kind="audio+video", config=cfg)
    assert out.label is Label.GENUINE
    # 6.01-8.01 would nearly repeat 6-8: the two are one window, 6-8.01
    assert [(w.start, w.end) for w in out.windows][-2:] == [(5.0, 7.0), (6.0, 8.01)]
    assert all(w.end - w.start == pytest.approx(2.0, abs=0.011) for w in out.windows)
    assert not out.segments
    later = fuse([_cue("sync", 0.03, wins), _cue("spoof", 0.1)], duration=8.6, kind="audio+video", config=cfg)
    assert [(w.start, w.end) for w in later.windows][-2:] == [(6.0, 8.0), (pytest.approx(6.6), 8.6)]
    short = fuse([_cue("spoof", 0.1, [CueWindow(0, 1.5, 0.1)])], duration=1.5, kind="audio", config=cfg)
    assert [(w.start, w.end) for w in short.windows] == [(0.0, 1.5)]  # shorter than a window: the clip itself


def test_a_genuine_verdict_names_a_stretch_that_reaches_the_segment_threshold():
    wins = [CueWindow(t, t + 1, 0.8 if 4 <= t < 6 else 0.02) for t in range(10)]
    cfg = FusionConfig(window_s=1, hop_s=1, segment_threshold=0.7)
    out = fuse([_cue("sync", 0.1, wins), _cue("spoof", 0.1)], duration=10, kind="audio+video", config=cfg)
    assert out.label is Label.GENUINE and len(out.segments) == 1
    assert "note: lip sync reaches p = 0.80 in 4–6 s, not enough for the clip as a whole" in out.reasons


def test_an_undetermined_verdict_says_what_the_checks_that_ran_read():
    """No face: the voice and speaker checks that ran (and found nothing) are named, not only what is missing."""
    out = fuse([_cue("sync", None, status=Status.NO_FACE, message="no face was found"), _cue("spoof", 0.13),
                 _cue("speaker", 0.1)], duration=10, kind="audio+video")
    assert out.label is Label.UNDETERMINED and out.reasons[0] == "undetermined: no face was found"
    assert "checked: speaker consistency (p = 0.10), voice (p = 0.13)" in out.reasons  # least suspicious first
    band = fuse([_cue("sync", 0.5), _cue("spoof", 0.2)], duration=10, kind="audio+video",
                config=FusionConfig(genuine_threshold=0.35, manipulated_threshold=0.7))
    assert band.label is Label.UNDETERMINED and not any(r.startswith("checked:") for r in band.reasons)


def test_undetermined_names_its_segments_and_says_a_quoted_reason_once():
    cfg = FusionConfig(window_s=1, hop_s=1, segment_threshold=0.7, genuine_threshold=0.35, manipulated_threshold=0.7)
    wins = [CueWindow(t, t + 1, 0.8 if 4 <= t < 6 else 0.5) for t in range(10)]
    change = "the voice changes identity at 4 s (similarity 0.54)"
    out = fuse([_cue("sync", 0.3, wins), _cue("speaker", 0.55, reasons=[change])], duration=10, kind="audio+video",
               config=cfg)
    assert out.label is Label.UNDETERMINED and out.segments
    assert sum(change in r for r in out.reasons) == 1, out.reasons  # quoted by its leaning, not repeated
    assert any(r.startswith("note: lip sync reaches p = 0.80 in 4–6 s") for r in out.reasons), out.reasons


def test_a_genuine_verdict_does_not_call_a_leaning_cue_outweighed():
    cfg = FusionConfig(genuine_threshold=0.35, manipulated_threshold=0.7)
    stretch = "voice in 0.0-4.0 s looks synthetic (model score 0.60, threshold 0.50)"
    out = fuse([_cue("sync", 0.05), _cue("spoof", 0.30, reasons=[stretch])], duration=10, kind="audio+video", config=cfg)
    assert out.label is Label.GENUINE
    assert f"note: {stretch}, not enough for the clip as a whole" in out.reasons
    assert not any(r.startswith("outweighed:") for r in out.reasons)


def test_a_cue_window_reaching_into_silence_does_not_speak_for_it():
    """Speech until 71.5 s, then silence: the fused window 71-73 s, a quarter covered, carries no lip-sync score (it
    took the one window reaching into it at full weight and became a flagged segment inside the silence)."""
    wins = [CueWindow(a, a + 2, 0.86 if a == 69.5 else 0.1) for a in np.arange(60.0, 70.0, 0.5)]
    out = fuse([_cue("sync", 0.1, wins), _cue("spoof", 0.1)], duration=80, kind="audio+video",
               config=FusionConfig(window_s=2, hop_s=1, segment_threshold=0.7))
    at = {w.start: w.cues.get("sync") for w in out.windows}
    assert at[71.0] is None and at[70.0] is not None
    assert not [g for g in out.segments if g.start >= 71.0]


def test_an_undetermined_verdict_says_a_weak_finding_is_not_enough():
    """Under an undetermined headline a stretch that "looks synthetic" says it is not enough for a verdict, as the
    genuine verdict's notes do; a cue that reaches the threshold on a clip too short to judge keeps its words."""
    cfg = FusionConfig(genuine_threshold=0.35, manipulated_threshold=0.7)
    stretch = "voice in 1–5 s looks synthetic (model score 0.53, threshold 0.50)"
    voice = replace(_cue("spoof", 0.502, reasons=[stretch]), measured="model score 0.502 over 3.6 s of speech")
    out = fuse([_cue("sync", 0.16), voice], duration=10, kind="audio+video", config=cfg)
    assert out.label is Label.UNDETERMINED
    assert f"{stretch}, not enough to call the clip manipulated" in out.reasons, out.reasons
    assert stretch not in out.reasons
    short = fuse([_cue("sync", 0.1), _cue("spoof", 0.9, reasons=[stretch])], duration=0.5, kind="audio+video", config=cfg)
    assert short.label is Label.UNDETERMINED and stretch in short.reasons
