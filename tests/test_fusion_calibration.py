"""Fusion with availability terms, the monotone fit, the threshold choice and the calib/eval split (synthetic)."""

from __future__ import annotations

import numpy as np
import pytest

from avsync.calibration import choose_thresholds, fit
from avsync.evaluation.fusion_split import fake_family, source_groups, split_clips
from avsync.fusion import Cue, FusionConfig, Label, fuse
from avsync.results import Status


def _cue(name, p, status=Status.OK):
    return Cue(name, status, p if status is Status.OK else None, (), (), 1.0)


def test_missing_cue_adds_its_availability_term():
    cfg = FusionConfig(method="logistic", weights={"sync": 1.0, "artefact": 1.0}, missing={"artefact": 2.0})
    assert cfg.combine({"sync": 0.5, "artefact": None}) == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert cfg.combine({"sync": 0.5, "artefact": 0.5}) == pytest.approx(0.5)
    assert cfg.combine({"sync": None, "artefact": None}) is None  # no evidence at all: no score


def test_a_missing_required_cue_cannot_make_a_clip_genuine():
    # an availability term that pulls towards genuine still leaves a clip without sync undetermined
    cfg = FusionConfig(method="logistic", weights={"sync": 1.0, "spoof": 1.0}, missing={"sync": -20.0},
                       manipulated_threshold=0.9, genuine_threshold=0.4)
    out = fuse([_cue("sync", None, Status.NO_FACE), _cue("spoof", 0.3)], duration=5.0, kind="audio+video", config=cfg)
    assert out.score < 0.4 and out.label is Label.UNDETERMINED
    ok = fuse([_cue("sync", 0.2), _cue("spoof", 0.3)], duration=5.0, kind="audio+video", config=cfg)
    assert ok.label is Label.GENUINE


def test_old_yaml_without_the_new_keys_loads_and_keeps_its_hash(tmp_path):
    old = ("bias: 0.0\ngenuine_threshold: 0.35\nhop_s: 1.0\nisotonic_x: []\nisotonic_y: []\nmanipulated_threshold: 0.7\n"
           "method: max\nmin_duration_s: 1.0\nrequired:\n  audio: [spoof]\n  audio+video: [sync]\n  video: [sync]\n"
           "schema_version: 1\nsegment_threshold: 0.5\nversion: old\nweights: {sync: 1.0, spoof: 1.0}\nwindow_s: 2.0\n")
    cfg = FusionConfig.from_yaml(old)
    assert cfg.missing == {} and cfg.fitted_on == {}
    assert "missing" not in cfg.to_yaml() and "fitted_on" not in cfg.to_yaml()
    assert FusionConfig.from_yaml(cfg.to_yaml()).config_hash() == cfg.config_hash()
    new = FusionConfig(method="logistic", missing={"sync": 1.25}, fitted_on={"split": "calib", "clips": 3})
    p = tmp_path / "f.yaml"
    new.save(p)
    back = FusionConfig.load(p)
    assert back == new and back.config_hash() == new.config_hash() != cfg.config_hash()


def _synthetic(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    rows = []
    for t in y:
        sync = 1 / (1 + np.exp(-(2.5 * (2 * t - 1) + rng.normal(0, 1))))  # informative
        noise = float(rng.uniform(0.05, 0.95))  # says nothing
        art = None if (t == 1 and rng.random() < 0.6) or rng.random() < 0.1 else float(rng.uniform(0.2, 0.8))
        rows.append({"sync": float(sync), "spoof": noise, "artefact": art})
    return rows, y


def test_fit_learns_the_informative_cue_and_what_a_missing_cue_means():
    rows, y = _synthetic()
    cfg = fit(rows, y, cues=["sync", "spoof", "artefact"], availability=True, nonnegative=True)
    assert cfg.weights["sync"] > 1.0
    assert cfg.weights["spoof"] < 0.3 * cfg.weights["sync"]
    assert cfg.missing["artefact"] > 0.3  # fakes lack the artefact cue more often...
    rng = np.random.default_rng(5)
    blind = [dict(r, artefact=None if rng.random() < 0.35 else 0.5) for r in rows]  # ...here it says nothing
    other = fit(blind, y, cues=["sync", "spoof", "artefact"], availability=True, nonnegative=True)
    assert cfg.missing["artefact"] > 2 * other.missing["artefact"]
    assert all(v >= 0 for v in list(cfg.weights.values()) + list(cfg.missing.values()))
    # the config reproduces the fitted model
    z = cfg.bias + cfg.weights["sync"] * np.log(0.8 / 0.2) + cfg.missing["artefact"]
    assert cfg.combine({"sync": 0.8, "spoof": 0.5, "artefact": None}) == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-3)


def test_fit_honours_the_flagged_and_undetermined_budgets():
    rows, y = _synthetic(600, seed=1)
    cfg = fit(rows, y, cues=["sync", "spoof", "artefact"], availability=True, nonnegative=True,
              max_false_positive_rate=0.05, max_undetermined_rate=0.10)
    p = np.array([cfg.combine(r) for r, t in zip(rows, y) if t == 0])
    assert np.mean(p >= cfg.manipulated_threshold) <= 0.05
    assert np.mean((p >= cfg.genuine_threshold) & (p < cfg.manipulated_threshold)) <= 0.10
    assert cfg.genuine_threshold <= cfg.manipulated_threshold


def test_fit_moves_the_segment_threshold_with_the_manipulated_one():
    """A fitted config flags segments where its fused windows reach the manipulated threshold: a base config's
    segment threshold (0.7 in the shipped one) once stayed, and a clip read manipulated with no flagged stretch."""
    rows, y = _synthetic(300, seed=2)
    base = FusionConfig(manipulated_threshold=0.7, segment_threshold=0.7)
    for budgets in ({}, {"max_false_positive_rate": 0.05, "max_undetermined_rate": 0.10}):
        cfg = fit(rows, y, cues=["sync", "spoof", "artefact"], base=base, **budgets)
        assert cfg.segment_threshold == cfg.manipulated_threshold


def test_choose_thresholds_budgets_and_forced_undetermined():
    rng = np.random.default_rng(3)
    real = list(rng.uniform(0, 1, 200))
    m, g = choose_thresholds(real, max_flagged=0.05, max_undetermined=0.10)
    r = np.array(real)
    assert np.sum(r >= m) <= 10 and np.sum((r >= g) & (r < m)) <= 20
    assert np.sum((r >= g) & (r < m)) >= 18  # the band is as wide as the budget allows, not needlessly narrow
    # clips without a required cue (or a score) use the budget up first
    ok = [i >= 15 for i in range(200)]
    m2, g2 = choose_thresholds(real, required_ok=ok, max_flagged=0.05, max_undetermined=0.10)
    forced = sum(1 for s, o in zip(real, ok) if not o and s < m2)
    band = sum(1 for s, o in zip(real, ok) if o and g2 <= s < m2)
    assert forced + band <= 20
    # too many forced: the band closes
    m3, g3 = choose_thresholds(real, required_ok=[False] * 200)
    assert g3 == m3


def _row(file, kind, label="", paired="", repo=""):
    return {"file": file, "kind": kind, "label": label, "paired_with": paired, "source_repo": repo}


ROWS = [
    _row("real_av/grid_lipnet/a.mpg", "real_av", "GRID corpus sentence a", repo="r/lipnet"),
    _row("real_av/grid_s1_tvr28/b.mpg", "real_av", "GRID corpus s1", repo="r/grid"),
    _row("real_av/proj/face_1.mp4", "real_av", repo="r/proj"),
    _row("real_av/other/x.mp4", "real_av", repo="r/other"),
    _row("fake_av/w2l/result_voice.mp4", "fake_av", "generator=Wav2Lip", "real_av/proj/face_1.mp4 (in shared/data)", "r/w2l"),
    _row("fake_av/sad/a.mp4", "fake_av", "generator=SadTalker", repo="r/sad"),
    _row("real_av/sad_hdtf/b.mp4", "real_av", repo="r/sad"),
    _row("real_av/hyperlips/MEAD_M003-007.mp4", "real_av", repo="r/hyper"),
    _row("real_av/hyperlips/MEAD_M003-002.mp4", "real_av", repo="r/hyper2"),
    _row("fake_av/dfdc/f.mp4", "fake_av", "DFDC label=FAKE (face swap)", repo="r/dfdc"),
] + [_row(f"real_av/solo/{i}.mp4", "real_av", repo="r/solo") for i in range(12)]


def test_split_is_deterministic_and_keeps_a_fake_with_its_source():
    a, b = split_clips(ROWS), split_clips(list(reversed(ROWS)))
    assert a == b  # same rows, any order: same split
    assert set(a.values()) == {"calib", "eval"}
    g = source_groups(ROWS)
    assert g["fake_av/w2l/result_voice.mp4"] == g["real_av/proj/face_1.mp4"]
    assert a["fake_av/w2l/result_voice.mp4"] == a["real_av/proj/face_1.mp4"]
    assert a["fake_av/sad/a.mp4"] == a["real_av/sad_hdtf/b.mp4"]  # same project
    assert a["real_av/hyperlips/MEAD_M003-007.mp4"] == a["real_av/hyperlips/MEAD_M003-002.mp4"]  # same speaker
    assert a["real_av/grid_lipnet/a.mpg"] == a["real_av/grid_s1_tvr28/b.mpg"] == "calib"
    solo = [a[f"real_av/solo/{i}.mp4"] for i in range(12)]
    assert 4 <= solo.count("eval") <= 8  # real-only sources dealt about evenly


def test_fake_families():
    assert fake_family(ROWS[4]) == "lipsync" and fake_family(ROWS[5]) == "talking_head"
    assert fake_family(ROWS[9]) == "faceswap"


def test_cue_parameters_live_in_the_fusion_config_and_its_hash(tmp_path):
    """cue_params: absent from YAML and hash while empty; set, they round-trip, change the hash and reach the
    Detector's sync and speaker cues; an unknown name is a ConfigError naming the valid ones."""
    from dataclasses import replace
    from types import SimpleNamespace

    from avsync.errors import ConfigError
    from avsync.pipeline import DEFAULT_FUSION_CONFIG, Detector, SpeakerCueParams, SyncCueParams, speaker_cue

    shipped = FusionConfig.load(DEFAULT_FUSION_CONFIG)
    assert shipped.cue_params == {} and "cue_params" not in shipped.to_yaml()
    cfg = replace(shipped, cue_params={"sync": {"lead_tolerance_ms": 200.0}, "speaker": {"identity_change": 0.9}})
    cfg.save(tmp_path / "f.yaml")
    back = FusionConfig.load(tmp_path / "f.yaml")
    assert back == cfg and back.config_hash() == cfg.config_hash() != shipped.config_hash()

    det = Detector(fusion=back, spoof_model=False, device="cpu")
    assert det.sync_params == replace(SyncCueParams.for_model("syncnet"), lead_tolerance_ms=200.0)
    assert det.speaker_params == SpeakerCueParams(identity_change=0.9)
    assert Detector(fusion=shipped, spoof_model=False, device="cpu").sync_params == SyncCueParams.for_model("syncnet")
    own = SyncCueParams(lead_tolerance_ms=80.0)  # given explicitly: used as it is
    assert Detector(fusion=back, sync_params=own, spoof_model=False, device="cpu").sync_params == own

    change = SimpleNamespace(status="ok", identity_change=True, change_time_s=4.0, change_end_s=None,
                             change_similarity=0.3, reference_match=None, windows=(), channel=0)
    result = SimpleNamespace(channels=[SimpleNamespace(speaker=change)])
    assert speaker_cue(result).score == 0.8 and speaker_cue(result, det.speaker_params).score == 0.9

    with pytest.raises(ConfigError, match="lead_tolerance_ms"):
        Detector(fusion=replace(shipped, cue_params={"sync": {"lead_tolerance": 1.0}}), spoof_model=False, device="cpu")
    with pytest.raises(ConfigError, match="cue_params"):
        FusionConfig(cue_params={"sync": {"lead_tolerance_ms": "wide"}})
    with pytest.raises(ConfigError, match="finite"):
        FusionConfig(cue_params={"sync": {"lead_tolerance_ms": float("nan")}})
    with pytest.raises(ConfigError, match="unknown cues"):
        FusionConfig(cue_params={"synch": {"lead_tolerance_ms": 150.0}})
    whole = FusionConfig(cue_params={"sync": {"lead_tolerance_ms": 150}})  # an int: hashed like its YAML's float
    assert FusionConfig.from_yaml(whole.to_yaml()).config_hash() == whole.config_hash()


def test_an_identity_change_is_on_the_timeline_where_it_happens():
    """The windows around the change carry it; the rest of the channel keeps the steady reading (a second voice from
    4 s painted the genuine first seconds as suspicious as the change)."""
    from types import SimpleNamespace

    from avsync.pipeline import SpeakerCueParams, speaker_cue

    wins = tuple(SimpleNamespace(start=0.8 * i, end=0.8 * i + 1.6) for i in range(11))  # 0-9.6 s
    change = SimpleNamespace(status="ok", identity_change=True, change_time_s=4.0, change_end_s=None,
                             change_similarity=0.54, reference_match=None, windows=wins, channel=0)
    cue = speaker_cue(SimpleNamespace(channels=[SimpleNamespace(speaker=change)]))
    params = SpeakerCueParams()
    assert cue.score == params.identity_change and cue.reasons == ("the voice changes identity at 4 s (similarity 0.54)",)
    at = {(round(w.start, 1), round(w.end, 1)): w.score for w in cue.windows}
    assert at[(0.0, 1.6)] == params.steady and at[(8.0, 9.6)] == params.steady
    assert at[(3.2, 4.8)] == params.identity_change and at[(4.8, 6.4)] == params.identity_change
    mismatch = SimpleNamespace(**{**vars(change), "reference_match": False, "reference_similarity": 0.4})
    both = speaker_cue(SimpleNamespace(channels=[SimpleNamespace(speaker=mismatch)]))
    assert both.reasons[0].startswith("the voice changes identity") and "reference" in both.reasons[1]
    assert min(w.score for w in both.windows) == params.reference_mismatch  # a mismatch holds along the channel
    # another voice from 4 s to 6.8 s, then the first again: the whole stretch carries it, the ends do not
    inserted = SimpleNamespace(**{**vars(change), "change_end_s": 6.8})
    cue = speaker_cue(SimpleNamespace(channels=[SimpleNamespace(speaker=inserted)]))
    assert cue.reasons == ("the voice changes identity at 4 s and back at 7 s (similarity 0.54)",)
    at = {(round(w.start, 1), round(w.end, 1)): w.score for w in cue.windows}
    assert at[(0.0, 1.6)] == params.steady and at[(8.0, 9.6)] == params.steady
    assert all(at[k] == params.identity_change for k in ((3.2, 4.8), (4.8, 6.4), (5.6, 7.2), (6.4, 8.0), (7.2, 8.8)))


def test_a_voice_that_matches_the_reference_is_said_too():
    """A mismatch was a reason; a match was in the JSON only: `--reference` gave the same text as without one."""
    from types import SimpleNamespace

    from avsync.pipeline import SpeakerCueParams, speaker_cue

    wins = tuple(SimpleNamespace(start=0.8 * i, end=0.8 * i + 1.6) for i in range(5))
    same = SimpleNamespace(status="ok", identity_change=False, change_time_s=None, change_end_s=None,
                           change_similarity=None, reference_match=True, reference_similarity=0.95, windows=wins,
                           channel=0)
    cue = speaker_cue(SimpleNamespace(channels=[SimpleNamespace(speaker=same)]))
    assert cue.measured == "the voice matches the reference (similarity 0.95)" and not cue.reasons
    assert cue.score == min(SpeakerCueParams().steady, SpeakerCueParams().reference_match)
    plain = SimpleNamespace(**{**vars(same), "reference_match": None, "reference_similarity": None})
    assert speaker_cue(SimpleNamespace(channels=[SimpleNamespace(speaker=plain)])).measured is None
