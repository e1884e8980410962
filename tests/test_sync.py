"""Sync analysis on synthetic clips with a known offset (positive = audio leads video)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsync.media import Media, load_media
from avsync.results import Status
from avsync.sync import (
    FaceSync,
    MotionScorer,
    SyncResult,
    TrackCrops,
    analyze_sync,
    fixed_box_track,
    sync_tracks,
)
from avsync.synth import shift_audio
from avsync.timebase import SlidingWindow

SIZE = (160, 120)


def mouth_box(size=SIZE):
    """The synthetic mouth region (see avsync.synth._frame_image) as frame fractions."""
    w, h = size
    r = min(w, h) // 3
    cx, my = w // 2, h // 2 + r // 2
    return ((cx - 0.6 * r) / w, (my - 0.5 * r) / h, (cx + 0.6 * r) / w, (my + 0.5 * r) / h)


def face_box(size=SIZE):
    w, h = size
    r = min(w, h) // 3
    return ((w // 2 - r) / w, (h // 2 - r) / h, (w // 2 + r) / w, (h // 2 + r) / h)


@pytest.fixture(scope="module")
def synth(clip):
    cache = {}

    def get(offset_s=0.0, **kw):
        key = (offset_s, tuple(sorted(kw.items())))
        if key not in cache:
            path = clip(f"sync_{offset_s}_{len(cache)}", duration=4.0, size=SIZE, offset_s=offset_s, **kw)
            media = load_media(path)
            cache[key] = (media, fixed_box_track(media, mouth_box=mouth_box()))
        return cache[key]

    return get



@pytest.mark.parametrize("offset_s", [0.0, 0.12, -0.2, 0.28])
@pytest.mark.parametrize("visual", ["motion", "opening"])
def test_recovers_known_offset(synth, offset_s, visual):
    media, track = synth(offset_s)
    res = analyze_sync(media, [track], model=MotionScorer(visual=visual))
    assert res.status == Status.OK, res.message
    expected = round(offset_s * 25)
    assert abs(res.offset_frames - expected) <= 1
    assert res.offset_ms == pytest.approx(res.offset_frames * 40.0)
    assert res.confidence > 0.3
    assert res.active_track_id == 0
    word = "in sync" if expected == 0 else ("leads" if expected > 0 else "lags")
    assert word in res.summary


@pytest.mark.parametrize("k", [-4, 3, 7])
def test_shifting_audio_moves_estimate_by_k(synth, k):
    media, track = synth(0.08)
    audio = media.mono()
    base = sync_tracks(audio, 16000, [track]).offset_frames
    moved = sync_tracks(shift_audio(audio, k), 16000, [track]).offset_frames
    assert moved - base == k


def test_audio_at_another_rate_and_tracks_off_the_25fps_grid(synth):
    import dataclasses

    from avsync.errors import ConfigError
    from avsync.media.decode import resample_audio

    media, track = synth(0.28)
    audio = media.mono()
    base = sync_tracks(audio, 16000, [track])
    at48 = sync_tracks(resample_audio(audio, 16000, 48000), 48000, [track])
    assert at48.offset_frames == base.offset_frames == 7
    with pytest.raises(ConfigError, match="25 fps"):  # a learned model's windows are 5 frames of 25 fps
        sync_tracks(audio, 16000, [dataclasses.replace(track, fps=50.0)], model="syncnet")


def test_out_of_range_instead_of_a_wrong_number(synth):
    media, track = synth(0.4)  # +10 frames
    res = analyze_sync(media, [track], max_lag=6, model="motion")  # a synthetic mouth: the training-free model
    assert res.status == Status.OUT_OF_RANGE
    assert res.offset_frames is None and res.offset_ms is None
    assert "range" in res.summary
    assert res.faces[0].curve and len(res.faces[0].lags) == 13
    ok = analyze_sync(media, [track], max_lag=15, model="motion")
    assert ok.status == Status.OK and abs(ok.offset_frames - 10) <= 1


def test_no_face_when_no_valid_frames(synth):
    media, track = synth(0.0)
    blind = TrackCrops(track_id=3, frames=track.frames, valid=np.zeros(len(track), bool), mouth=track.mouth)
    res = analyze_sync(media, [blind])
    assert res.status == Status.NO_FACE
    assert res.faces[0].status == Status.NO_FACE and res.faces[0].track_id == 3
    assert res.offset_frames is None
    assert analyze_sync(media, []).status == Status.NO_FACE


def test_no_speech_for_silence(synth):
    media, track = synth(0.0)
    res = sync_tracks(np.zeros_like(media.mono()), 16000, [track])
    assert res.status == Status.NO_SPEECH
    assert res.offset_frames is None and res.faces[0].status == Status.NO_SPEECH
    hiss = (1e-4 * np.random.default_rng(0).standard_normal(len(media.mono()))).astype(np.float32)
    assert sync_tracks(hiss, 16000, [track]).status == Status.NO_SPEECH


def test_no_audio_and_no_video():
    frames = np.zeros((50, 32, 32), np.uint8)
    assert analyze_sync(Media.from_arrays(None, frames=frames)).status == Status.NO_AUDIO
    assert analyze_sync(Media.from_arrays(np.zeros(16000, np.float32))).status == Status.NO_VIDEO


def test_without_tracks_the_tracker_runs_and_reports_no_face(synth):
    media, _ = synth(0.0)  # a drawn disc, not a face: the tracker finds nothing
    res = analyze_sync(media)
    assert res.status == Status.NO_FACE and not res.faces


@pytest.mark.parametrize("offset_ms", [0, 160, -120])
def test_tracker_to_offset_end_to_end_on_a_face_photo(clip, offset_ms):
    from avsync import load_media

    path = clip(f"sync_photo_{offset_ms}", face="photo", size=(320, 320), duration=6.0, timbre="vowel",
                offset_s=offset_ms / 1000)
    # the drawn mouth is the training-free motion model's domain; the learned default reads it on its own
    # convention (tests/test_sync_model.py::test_shipped_model_tracks_an_offset_on_a_face_photo)
    res = analyze_sync(load_media(path), model="motion")
    assert res.status == Status.OK, res.summary
    assert abs(res.offset_frames - round(offset_ms / 40)) <= 1, res.summary


def test_active_speaker_among_two_faces(synth):
    media, speaker = synth(0.12)
    _, other = synth(0.0, event_period_s=0.56, seed=3)  # another face, moving to other words
    listener = TrackCrops(track_id=7, frames=other.frames, valid=other.valid, mouth=other.mouth)
    res = analyze_sync(media, [listener, speaker], model="motion")
    assert res.status == Status.OK
    assert res.active_track_id == 0
    assert abs(res.offset_frames - 3) <= 1
    by_id = {f.track_id: f for f in res.faces}
    assert by_id[0].confidence > by_id[7].confidence
    assert "track 0" in res.evidence and "track 7" in res.evidence


def test_timeline_windows_and_gaps(synth):
    media, track = synth(-0.12)
    valid = track.valid.copy()
    valid[60:] = False  # the face is lost after 2.4 s
    partial = TrackCrops(track_id=0, frames=track.frames, valid=valid, mouth=track.mouth)
    grid = SlidingWindow(duration=1.6, step=0.4)
    res = analyze_sync(media, [partial], window=grid, model="motion")
    assert res.status == Status.OK and abs(res.offset_frames + 3) <= 1
    starts = [w.start for w in res.windows]
    assert starts[:3] == pytest.approx([0.0, 0.4, 0.8])
    assert all(w.end - w.start <= 1.6 + 1e-9 for w in res.windows)
    late = [w for w in res.windows if w.start >= 2.4]
    assert late and all(w.status == Status.NO_FACE and w.distance is None for w in late)
    early = [w for w in res.windows if w.end <= 2.4 and w.status == Status.OK]
    assert len(early) >= 2
    assert all(w.distance is not None and w.confidence is not None for w in early)
    assert np.median([w.offset_frames for w in early]) == pytest.approx(res.offset_frames, abs=1)


def test_result_roundtrip(synth):
    media, track = synth(0.12)
    res = analyze_sync(media, [track])
    again = SyncResult.from_json(res.to_json())
    assert again == res
    assert isinstance(again.faces[0], FaceSync) and again.faces[0].windows == res.faces[0].windows
    d = res.to_dict()
    assert d["status"] == "ok" and d["faces"][0]["windows"][0]["status"] in {s.value for s in Status}


def test_track_validation():
    with pytest.raises(ValueError, match="increasing"):
        TrackCrops(track_id=0, frames=np.array([0, 2, 1]), valid=np.ones(3, bool))
    with pytest.raises(ValueError, match="mouth crops"):
        TrackCrops(track_id=0, frames=np.arange(3), valid=np.ones(3, bool), mouth=np.zeros((2, 8, 8), np.uint8))


def test_syncnet_training_reduces_loss_and_finds_offset(clip, one_torch_thread):
    from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle
    from avsync.sync import SyncNetScorer
    from avsync.training.sync import SyncTrainConfig, clip_from_track, train_sync

    torch.manual_seed(0)
    size = (96, 72)
    clips = []
    for i, (period, tone) in enumerate([(0.8, 440.0), (0.56, 300.0), (0.68, 600.0)]):
        media = load_media(clip(f"train_{i}", duration=4.0, size=size, event_period_s=period, channel_tones=(tone,), seed=i))
        clips.append(clip_from_track(media, fixed_box_track(media, mouth_box=mouth_box(size), mouth_size=24)))
    model = SyncNetStyle(SyncNetConfig(mouth_size=24, width=16, embed_dim=32))
    log = train_sync(model, clips, SyncTrainConfig(steps=60, batch_size=16, lr=3e-3, seed=0))
    assert len(log.loss) == 60
    assert np.mean(log.loss[-10:]) < 0.8 * np.mean(log.loss[:10])
    assert np.mean(log.accuracy[-10:]) > np.mean(log.accuracy[:10])
    # the few-step model already orders lags on a held-out clip
    media = load_media(clip("train_heldout", duration=4.0, size=size, offset_s=0.12, event_period_s=0.72, seed=5))
    res = sync_tracks(media.mono(), 16000, [fixed_box_track(media, mouth_box=mouth_box(size), mouth_size=24)],
                      model=SyncNetScorer(model))
    assert res.status == Status.OK and abs(res.offset_frames - 3) <= 1


def test_unknown_model_and_missing_syncnet_weights(synth, monkeypatch, tmp_path):
    from avsync import bundles
    from avsync.errors import BundleError, ConfigError

    media, track = synth(0.0)
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bundles, "_PACKAGE_MODELS", tmp_path / "no_models")  # as if models/ were not shipped
    with pytest.raises(ConfigError):
        analyze_sync(media, [track], model="nope")
    with pytest.raises(BundleError, match="no SyncNet-style checkpoint found"):
        analyze_sync(media, [track], model="syncnet")


@pytest.mark.shared
def test_light_asd_scorer_on_synthetic_clip(shared, synth, one_torch_thread):
    media, _ = synth(0.0)
    faces = fixed_box_track(media, mouth_box=None, face_box=face_box())
    assert faces.face.shape[1:] == (112, 112)
    res = analyze_sync(media, [faces], model="light-asd",
                       weights=shared / "weights" / "light-asd" / "pretrain_AVA_CVPR.model", max_lag=5)
    assert res.model == "light-asd"
    face = res.faces[0]
    assert face.status in (Status.OK, Status.OUT_OF_RANGE)
    assert face.speaking_score is not None and np.isfinite(face.speaking_score)
    assert len(face.curve) == 11 and all(c is not None for c in face.curve)


def test_manifest_loader_and_training_entry_point(clip, tmp_path, one_torch_thread):
    from avsync.encoders.syncnet import load_syncnet
    from avsync.training.sync import clips_from_manifest, main

    size = (96, 72)
    a = clip("manifest_a", duration=2.0, size=size)
    b = clip("manifest_b", duration=2.0, size=size, event_period_s=0.56, seed=2)
    c = clip("manifest_c", duration=2.0, size=size, offset_s=0.12)
    manifest = tmp_path / "clips.csv"
    manifest.write_text(f"path,offset_frames\n{a},0\n{b},\n{c},3\n")
    box = mouth_box(size)

    def track_fn(media):
        return [fixed_box_track(media, mouth_box=box, mouth_size=24)]

    clips = clips_from_manifest(manifest, track_fn=track_fn)
    assert [cl.name for cl in clips] == [a, b]  # the known out-of-sync clip is skipped
    assert clips[0].mouth.shape[1:] == (24, 24) and clips[0].valid.all()
    assert clips_from_manifest(manifest) == []  # the real tracker finds no face in drawn discs
    out = tmp_path / "m.safetensors"
    box_arg = ",".join(f"{v:.4f}" for v in box)
    assert main(["--manifest", str(manifest), "--out", str(out), "--steps", "3", "--batch-size", "4",
                 "--mouth-box", box_arg, "--mouth-size", "32"]) == 0
    assert load_syncnet(out).config.mouth_size == 32


def test_syncnet_scorer_chunking_and_batching_do_not_change_distances(synth):
    from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle
    from avsync.sync import SyncNetScorer

    torch.manual_seed(0)
    media, track = synth(0.0)
    model = SyncNetStyle(SyncNetConfig(mouth_size=48, width=8, embed_dim=16)).eval()
    lags = np.arange(-4, 5)
    full = SyncNetScorer(model).distances(media.mono(), 16000, track, lags)
    small = SyncNetScorer(model, batch_size=7, chunk=13).distances(media.mono(), 16000, track, lags)
    assert full.shape == (9, len(track))
    np.testing.assert_allclose(small, full, atol=1e-5, equal_nan=True)
    assert np.isnan(full[:, :2]).all() and np.isfinite(full[4, 10:-10]).all()


def test_crop_resize_in_chunks_is_the_one_pass_resize(monkeypatch):
    """A long track's crops are resized RESIZE_CHUNK at a time (bounded float copies): the same bytes as all at once,
    remainder included."""
    from avsync.sync import crops as sync_crops

    gray = np.random.default_rng(0).integers(0, 256, (23, 96, 80), dtype=np.uint8)
    box = (0.1, 0.2, 0.9, 0.95)
    monkeypatch.setattr(sync_crops, "RESIZE_CHUNK", 10**6)
    whole = sync_crops.crop_resize(gray, box, 48)
    monkeypatch.setattr(sync_crops, "RESIZE_CHUNK", 5)  # 4 full chunks and a remainder of 3
    chunked = sync_crops.crop_resize(gray, box, 48)
    assert chunked.shape == (23, 48, 48) and chunked.dtype == np.uint8
    np.testing.assert_array_equal(chunked, whole)
    assert sync_crops.crop_resize(gray[:0], box, 48).shape == (0, 48, 48)


def test_light_asd_found_by_name_must_be_the_published_checkpoint(tmp_path, monkeypatch):
    """A pretrain_AVA_CVPR.model under AVSYNC_MODELS_DIR is sha256-checked against the light-asd-ava bundle."""
    from avsync.errors import BundleError
    from avsync.sync.models import _resolve_weights

    (tmp_path / "light-asd").mkdir()
    (tmp_path / "light-asd" / "pretrain_AVA_CVPR.model").write_bytes(b"not the checkpoint")
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(tmp_path))
    with pytest.raises(BundleError, match="sha256"):
        _resolve_weights("light-asd", None)
    explicit = tmp_path / "mine.model"
    explicit.write_bytes(b"x")
    assert _resolve_weights("light-asd", explicit) == str(explicit)  # an explicit file is the user's choice


def test_speech_columns_dilate_speech_onto_track_frames():
    from avsync.sync import speech_columns

    speech = np.zeros(40, bool)
    speech[[10, 30]] = True
    frames = np.arange(5, 35)
    cols = speech_columns(frames, speech, 2)
    near = {int(f) for f, c in zip(frames, cols) if c}
    assert near == {8, 9, 10, 11, 12, 28, 29, 30, 31, 32}
    assert speech_columns(frames, speech, 0).sum() == 2
    # frames past the audio's end are never near speech
    assert speech_columns(np.arange(38, 45), speech, 3).tolist() == [False] * 7


class _SplitScorer:
    """Distances with their minimum at lag +2 on frames near speech and at lag -5 (deeper, more frames) elsewhere."""

    name, crops = "probe", "mouth"

    def __init__(self, speech_frames):
        self.speech_frames = speech_frames

    def distances(self, audio, sample_rate, track, lags):
        lags = np.asarray(lags)
        d = np.ones((len(lags), len(track)), np.float32)
        for j, f in enumerate(track.frames):
            best = 2 if self.speech_frames[f] else -5
            d[:, j] = 1.0 - (0.3 if not self.speech_frames[f] else 0.2) * (lags == best)
        return d


def test_curve_speech_pad_reads_the_offset_from_speech_only():
    from avsync.sync import speech_frames
    from avsync.sync.analyze import analyze_track

    sr, fps = 16000, 25.0
    rng = np.random.default_rng(0)
    audio = np.zeros(sr * 8, np.float32)
    audio[sr * 2 : sr * 4] = 0.3 * rng.standard_normal(sr * 2)  # 2 s of "speech" in 8 s
    speech = speech_frames(audio, sr, fps=fps)
    assert 45 <= speech.sum() <= 55
    track = TrackCrops(track_id=0, frames=np.arange(200), valid=np.ones(200, bool))
    scorer = _SplitScorer(speech)
    every = analyze_track(audio, sr, track, scorer, speech=speech, detect_drift=False)
    near = analyze_track(audio, sr, track, scorer, speech=speech, detect_drift=False, curve_speech_pad=0)
    assert every.offset_frames == -5
    assert near.offset_frames == 2
    # too few frames near speech: the whole track is read, as without the option
    few = np.zeros_like(speech)
    few[100:104] = True
    sparse = analyze_track(audio, sr, track, _SplitScorer(few), speech=few, detect_drift=False, curve_speech_pad=0,
                           min_speech_frames=1)
    assert sparse.offset_frames == -5


class _PeakScorer:
    """Distances with their minimum at the model's lag 3 on every frame."""

    crops = "mouth"

    def __init__(self, name):
        self.name = name

    def distances(self, audio, sample_rate, track, lags):
        lags = np.asarray(lags)
        return np.repeat((1.0 - 0.3 * (lags == 3)).astype(np.float32)[:, None], len(track), axis=1)


def test_offsets_are_read_from_the_models_own_zero(monkeypatch):
    """A model with an offset bias b reports its best lag L as L - b; the search still spans ±max_lag of offset."""
    from avsync.sync import OFFSET_BIAS_FRAMES
    from avsync.sync.analyze import analyze_track

    sr = 16000
    audio = 0.3 * np.random.default_rng(0).standard_normal(sr * 4).astype(np.float32)
    track = TrackCrops(track_id=0, frames=np.arange(100), valid=np.ones(100, bool))
    plain = analyze_track(audio, sr, track, _PeakScorer("probe"), detect_drift=False)
    assert plain.offset_frames == 3
    assert analyze_track(audio, sr, track, _PeakScorer("probe"), detect_drift=False, offset_bias_frames=1).offset_frames == 2
    assert OFFSET_BIAS_FRAMES == {}  # none fitted (the syncnet-v3 probe failed its rule)
    monkeypatch.setitem(OFFSET_BIAS_FRAMES, "syncnet-v3", 1)  # a model's registered bias is the default
    v3 = analyze_track(audio, sr, track, _PeakScorer("syncnet-v3"), detect_drift=False)
    assert v3.offset_frames == 2 and v3.lags == plain.lags and v3.confidence == pytest.approx(plain.confidence)
    # the model's lag 3 is offset 15 with a bias of -12: inside the ±15 search, not at its edge
    edge = analyze_track(audio, sr, track, _PeakScorer("probe"), detect_drift=False, offset_bias_frames=-12)
    assert edge.status == Status.OUT_OF_RANGE
    inside = analyze_track(audio, sr, track, _PeakScorer("probe"), detect_drift=False, offset_bias_frames=-11)
    assert inside.status == Status.OK and inside.offset_frames == 14


def test_curve_speech_pad_on_a_track_with_gaps():
    """A track that misses frames: the scorer's columns span its whole frame range (NaN in the gap), and the
    speech columns are read on that span."""
    from avsync.sync import MotionScorer, speech_frames
    from avsync.sync.analyze import analyze_track

    sr, fps = 16000, 25.0
    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal(sr * 8)).astype(np.float32)
    frames = np.r_[np.arange(0, 100), np.arange(120, 200)]
    mouth = rng.integers(0, 255, (len(frames), 48, 48), dtype=np.uint8)
    track = TrackCrops(track_id=0, frames=frames, valid=np.ones(len(frames), bool), mouth=mouth)
    speech = speech_frames(audio, sr, fps=fps)
    res = analyze_track(audio, sr, track, MotionScorer(), speech=speech, detect_drift=False, curve_speech_pad=2)
    assert res.status in (Status.OK, Status.OUT_OF_RANGE), res.message
