"""A new cue is one module (an Analysis, optionally its CueKind) plus its weight in the fusion config."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import avsync
from avsync.cues import CUE_KINDS, Analysis, AnalysisContext, CueKind, cue_color, cue_words, register_cue_kind
from avsync.fusion import Cue, CueWindow, FusionConfig, Label
from avsync.pipeline import DEFAULT_FUSION_CONFIG, Detector, run_analyses
from avsync.results import Status


class Loudness:
    """A toy analysis: windows whose RMS exceeds a level are 'suspicious'."""

    name = "loudness"
    needs = frozenset({"audio"})

    def __init__(self, level: float = 0.1):
        self.level = level
        self.seen_faces = "not run"

    def run(self, media, context: AnalysisContext):
        self.seen_faces = context.faces
        x = media.mono()
        sr = media.sample_rate
        wins = []
        for a in range(0, len(x) - sr + 1, sr):
            rms = float(np.sqrt(np.mean(x[a:a + sr] ** 2)))
            wins.append(CueWindow(a / sr, a / sr + 1, 0.95 if rms > self.level else 0.05))
        score = max(w.score for w in wins)
        loud = [w for w in wins if w.score > 0.5]
        reasons = (f"too loud in {loud[0].start:.0f}–{loud[-1].end:.0f} s",) if loud else ()
        context.models.append(avsync.verdict.ModelRef("loudness-rule", role="loudness"))
        context.details["loudness"] = {"level": self.level}
        return [Cue("loudness", Status.OK, score, tuple(wins), reasons, 1.0)]


class Broken:
    name = "broken"
    needs = frozenset({"audio"})

    def run(self, media, context):
        raise RuntimeError("model file is damaged")


class NeedsVideo(Loudness):
    name = "video-only"
    needs = frozenset({"video"})


@pytest.fixture
def clip():
    sr = 16000
    t = np.arange(6 * sr) / sr
    x = 0.01 * np.sin(2 * np.pi * 220 * t)
    x[3 * sr:5 * sr] *= 50  # loud in 3–5 s
    return avsync.Media.from_arrays(x.astype(np.float32)[None], sample_rate=sr, name="toy")


@pytest.fixture
def kind():
    register_cue_kind(CueKind("loudness", "loudness", "#2ca02c"))
    yield
    CUE_KINDS.pop("loudness", None)


def _detector(extra: dict, analyses):
    base = FusionConfig.load(DEFAULT_FUSION_CONFIG)
    cfg = replace(base, weights={**base.weights, **extra}, required={**base.required, "audio": ()})
    return Detector(fusion=cfg, spoof_model=False, speaker=False, analyses=analyses, device="cpu")


def test_a_plugged_in_cue_is_fused_explained_and_drawn(clip, kind):
    loud = Loudness()
    v = _detector({"loudness": 1.0}, [loud])(clip)
    assert isinstance(loud, Analysis) and loud.seen_faces is None  # audio only: no face tracking ran
    assert [c.name for c in v.cues] == ["loudness"]
    assert v.label == Label.MANIPULATED and v.score > 0.9
    assert v.reasons[0] == "too loud in 3–5 s"  # the cue's own finding leads
    assert [s.kind for s in v.segments] == ["loudness"] and v.segments[0].start <= 3 and v.segments[0].end >= 5
    assert "loudness" in v.provenance.timings and v.details["loudness"] == {"level": 0.1}
    assert any(m.name == "loudness-rule" for m in v.provenance.models)
    assert cue_words("loudness") == "loudness" and cue_color("loudness") == "#2ca02c"
    df = v.to_pandas()
    assert df.loc[(df.start >= 3) & (df.end <= 5), "loudness"].min() > 0.9
    assert v.cue("loudness") is v.cues[0]
    from avsync.report.html import render_html

    html = render_html(v)
    assert "loudness" in html


def test_a_cue_without_a_weight_is_reported_but_not_fused(clip, kind):
    v = _detector({}, [Loudness()])(clip)
    assert [c.name for c in v.cues] == ["loudness"] and v.cues[0].score > 0.9
    assert v.label != Label.MANIPULATED


def test_a_failing_analysis_is_a_cue_status_not_a_traceback(clip):
    v = _detector({"broken": 1.0}, [Broken(), Loudness(level=10.0)])(clip)
    broken = next(c for c in v.cues if c.name == "broken")
    assert broken.status == Status.ERROR and "damaged" in broken.message
    assert [c.name for c in v.cues] == ["broken", "loudness"]


def test_analyses_run_only_on_the_inputs_they_need(clip):
    assert run_analyses([NeedsVideo()], clip, AnalysisContext()) == []
    with pytest.raises(ValueError, match="not an analysis"):
        run_analyses([object()], clip, AnalysisContext())


def test_the_built_in_analyses_run_through_the_same_loop(clip, monkeypatch):
    """An unexpected failure inside a built-in analysis is its cue's status, like a plug-in's: no traceback."""
    def boom(self, *a, **k):
        raise RuntimeError("voice model crashed")

    monkeypatch.setattr(Detector, "_run_spoof", boom)
    base = FusionConfig.load(DEFAULT_FUSION_CONFIG)
    v = Detector(fusion=base, speaker=False, device="cpu")(clip)
    spoof = v.cue("spoof")
    assert spoof is not None and spoof.status == Status.ERROR and "crashed" in spoof.message
    assert v.label == Label.UNDETERMINED  # the voice check is required for audio: never genuine without it


class Recorder(Loudness):
    """A Loudness that notes the thread it ran in (and, independent, what it could see)."""

    def __init__(self, name: str, independent: bool, log: list):
        super().__init__()
        self.name, self.independent, self.log = name, independent, log

    def run(self, media, context):
        import threading

        self.log.append((self.name, threading.current_thread().name, sorted(context.details)))
        out = super().run(media, context)
        context.details[self.name] = context.details.pop("loudness")
        return [replace(c, name=self.name) for c in out]


def test_independent_analyses_run_beside_the_others_with_the_same_outcome(clip):
    """An independent analysis starts at once in a worker thread with a context of its own (it sees no other
    analysis's details); the cues, models, details and their order equal those of one-after-the-other runs."""
    runs = {}
    for concurrent in (False, True):
        log: list = []
        analyses = [Recorder("first", False, log), Recorder("side", True, log), Recorder("last", False, log)]
        ctx = AnalysisContext(details={"media": {}})
        cues = run_analyses(analyses, clip, ctx, concurrent=concurrent)
        runs[concurrent] = ([c.name for c in cues], [c.score for c in cues], [m.name for m in ctx.models],
                            list(ctx.details), sorted(ctx.timings))
        threads = {name: thread for name, thread, _ in log}
        seen = {name: details for name, _, details in log}
        if concurrent:
            assert threads["side"].startswith("avsync-analysis") and not threads["first"].startswith("avsync")
            assert seen["side"] == []  # its own context
            assert seen["last"] == ["first", "media", "side"]  # the side analysis is merged before "last" runs
        else:
            assert not any(t.startswith("avsync-analysis") for t in threads.values())
    assert runs[True] == runs[False]
    assert runs[True][0] == ["first", "side", "last"] and runs[True][3] == ["media", "first", "side", "last"]


def test_an_independent_analysis_that_fails_gives_its_error_cue(clip):
    class BrokenSide(Broken):
        independent = True

    cues = run_analyses([Loudness(), BrokenSide()], clip, AnalysisContext(), concurrent=True)
    assert [c.name for c in cues] == ["loudness", "broken"]
    assert cues[1].status is Status.ERROR and "damaged" in cues[1].message


def test_the_voice_check_runs_beside_the_audio_visual_analysis_with_the_same_verdict(tmp_path):
    """Detector(concurrent=True), the default, gives the verdict of concurrent=False (all but timings)."""
    from avsync.synth import ClipSpec, make_clip

    path = make_clip(tmp_path / "face", ClipSpec(face="photo", size=(320, 320), duration=6.0, timbre="vowel"))
    out = []
    for concurrent in (True, False):
        v = Detector(device="cpu", concurrent=concurrent)(path)
        d = v.to_dict()
        d["provenance"].pop("timings"), d["provenance"].pop("created", None)
        out.append(d)
    assert out[0] == out[1]
    assert {c.name: c.status for c in v.cues}["sync"] is Status.OK and "spoof" in {c.name for c in v.cues}


def test_a_failure_beside_an_independent_analysis_tells_it_to_stop(clip):
    """When the verdict fails (a media error in the main loop), the analysis running beside is told through
    context.cancelled and the error reaches the caller once it has stopped, not after it would have finished."""
    import time

    from avsync.errors import MediaError
    from avsync.pipeline import AnalysisCancelled

    seen = {}

    class Slow:
        name, needs, independent = "slow", frozenset({"audio"}), True

        def run(self, media, context):
            for i in range(500):  # up to 5 s unless cancelled
                if context.cancelled is not None and context.cancelled():
                    seen["stopped_at"] = i
                    raise AnalysisCancelled("stop")
                time.sleep(0.01)
            seen["finished"] = True
            return []

    class Breaks:
        name, needs = "breaks", frozenset({"audio"})

        def run(self, media, context):
            time.sleep(0.05)
            raise MediaError("the audio could not be decoded")

    with pytest.raises(MediaError):
        run_analyses([Breaks(), Slow()], clip, AnalysisContext(), concurrent=True)
    assert "finished" not in seen and seen["stopped_at"] < 500


def test_the_voice_check_stops_at_its_next_progress_call_once_cancelled():
    from avsync.pipeline import AnalysisCancelled, _stop_when

    assert _stop_when(None) is None
    flag = {"on": False}
    check = _stop_when(lambda: flag["on"])
    check(0.0, 60.0)  # not cancelled: nothing happens
    flag["on"] = True
    with pytest.raises(AnalysisCancelled):
        check(60.0, 600.0)


def test_a_long_input_analysed_in_sections_runs_its_analyses_in_turn(clip):
    """Side by side only for media analysed in one piece; beyond 1.5 x section_s they run in turn (flat memory)."""
    threads = {}
    for section_s in (None, 2.0):  # the 6 s toy clip: one piece / sections of 2 s
        log: list = []
        base = FusionConfig.load(DEFAULT_FUSION_CONFIG)
        det = Detector(fusion=replace(base, required={**base.required, "audio": ()}), spoof_model=False,
                       speaker=False, device="cpu", section_s=section_s, analyses=[Recorder("side", True, log)])
        det(clip)
        threads[section_s] = log[0][1]
    assert threads[None].startswith("avsync-analysis") and not threads[2.0].startswith("avsync-analysis")


def test_a_new_lip_sync_model_is_one_module_plus_one_table_entry(tmp_path, monkeypatch):
    """A lip encoder enters through its module (here a module object) and one SYNC_MODEL_SPECS entry: make_scorer,
    the catalog name and Detector(sync_model=...) take it, with no edit elsewhere."""
    import sys
    import types

    from avsync.errors import ConfigError
    from avsync.model_files import SYNC_MODEL_SPECS, SyncModelSpec, sync_model_name
    from avsync.sync.models import MotionScorer, make_scorer
    from avsync.synth import ClipSpec, make_clip

    calls = []

    def toy_scorer(weights=None, device="cpu"):
        calls.append(weights)
        return MotionScorer()

    module = types.ModuleType("avsync_toy_lips")
    module.toy_scorer = toy_scorer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "avsync_toy_lips", module)
    monkeypatch.setitem(SYNC_MODEL_SPECS, "toy-lips", SyncModelSpec("avsync_toy_lips:toy_scorer"))

    assert isinstance(make_scorer("toy-lips", weights="w.safetensors"), MotionScorer) and calls == ["w.safetensors"]
    assert sync_model_name("toy-lips") == "toy-lips"
    path = make_clip(tmp_path / "face", ClipSpec(face="photo", size=(320, 320), duration=4.0, timbre="vowel"))
    v = Detector(device="cpu", sync_model="toy-lips", spoof_model=False, speaker=False, artefacts=False)(path)
    assert len(calls) == 2 and {c.name: c.status for c in v.cues}["sync"] is Status.OK
    with pytest.raises(ConfigError, match="toy-lips"):  # the error lists the table's names
        make_scorer("no-such-model")


def test_the_tracker_cuts_only_the_crop_the_sync_model_reads(tmp_path):
    """Light-ASD reads 112² face crops, the SyncNet-style and motion models mouth crops: the analysis cuts only the
    one its sync model reads (a face crop per frame is a resize that `syncnet` never uses). A plug-in scorer
    object says which with its ``crops``; a model the table does not know gets both."""
    from avsync.model_files import sync_crops
    from avsync.sync.models import MotionScorer
    from avsync.synth import ClipSpec, make_clip

    assert sync_crops("syncnet") == sync_crops("syncnet-grid") == sync_crops("motion") == ("mouth",)
    assert sync_crops("light-asd") == ("face",)
    assert sync_crops(MotionScorer()) == ("mouth",) and sync_crops(object()) == ("mouth", "face")

    class SeesFaces(NeedsVideo):
        def run(self, media, context):
            self.seen_faces = context.faces
            return []

    seen = SeesFaces()
    path = make_clip(tmp_path / "face", ClipSpec(face="photo", size=(320, 320), duration=4.0, timbre="vowel"))
    v = Detector(device="cpu", sync_model="motion", spoof_model=False, speaker=False, artefacts=False,
                 analyses=[seen])(path)
    assert {c.name: c.status for c in v.cues}["sync"] is Status.OK
    tracks = seen.seen_faces.tracks
    assert tracks and all(t.face_crops is None and t.mouth_crops is not None for t in tracks)


def test_a_new_spoof_checkpoint_is_one_bundle_entry(tmp_path, monkeypatch):
    """A checkpoint of a known spoof network enters as one Bundle (its architecture names the network): it loads
    by name, sha256-checked, and `avsync models list` calls it a voice model; an unknown name is a BundleError."""
    import hashlib

    import torch
    from safetensors.torch import save_file

    from avsync import bundles
    from avsync.bundles import Bundle, InputSpec
    from avsync.catalog import list_models
    from avsync.errors import BundleError
    from avsync.spoof import models as sm
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    (tmp_path / "toy").mkdir()
    f = tmp_path / "toy" / "light.safetensors"
    save_file({k: v.contiguous() for k, v in AASIST(AASISTConfig.light()).state_dict().items()}, str(f))
    monkeypatch.setitem(bundles.REGISTRY, "toy-aasist-l", Bundle(
        "toy-aasist-l", "1", "toy/light.safetensors", hashlib.sha256(f.read_bytes()).hexdigest(), "MIT", None,
        "avsync.spoof.AASIST(light)", InputSpec(16000, 64600), description="a toy checkpoint"))
    monkeypatch.setattr(sm, "_CACHE", {})
    m = sm.load_spoof_model("toy-aasist-l", weights=str(tmp_path))
    p = m.predict(np.zeros((1, 64600), np.float32))
    assert p.shape == (1,) and 0 <= float(p[0]) <= 1
    assert {r.name: r.role for r in list_models()}["toy-aasist-l"] == "voice"
    with pytest.raises(BundleError, match="unknown spoof model"):
        sm.load_spoof_model("no-such-voice-model")
