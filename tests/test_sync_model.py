"""The shipped SyncNet-style checkpoints (models/syncnet-v3, the default; models/syncnet-v2; models/syncnet-grid)
and the `avsync train sync` recipe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avsync import bundles
from avsync.errors import BundleError
from avsync.media import load_media
from avsync.results import Status
from avsync.sync import SyncNetScorer, analyze_sync, default_tracks, make_scorer, sync_tracks
from avsync.synth import shift_audio

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "syncnet-grid" / "avsync_syncnet.safetensors"
SHIPPED_V2 = REPO / "models" / "syncnet-v2" / "avsync_syncnet.safetensors"
SHIPPED_V3 = REPO / "models" / "syncnet-v3" / "avsync_syncnet.safetensors"


@pytest.fixture
def no_user_models(monkeypatch, tmp_path):
    """Only the package's models/ directory is searched."""
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))


def test_shipped_checkpoint_resolves_through_the_bundle_with_its_sha(no_user_models):
    from avsync.encoders.syncnet import load_syncnet

    b = bundles.get_bundle("syncnet-grid")
    assert b.license == "Apache-2.0" and b.url is None
    path = bundles.resolve("syncnet-grid")
    assert path.resolve() == SHIPPED.resolve()
    assert bundles.sha256_file(path) == b.sha256
    assert SHIPPED.stat().st_size < 5_000_000
    model = load_syncnet(path)
    assert model.config.mouth_size == b.input.crop_size[0] == 48
    card = (SHIPPED.parent / "MODEL_CARD.md").read_text()
    assert b.sha256 in card
    info = json.loads((SHIPPED.parent / "training.json").read_text())
    assert info["sha256"] == b.sha256
    assert info["data"]["train_files"] and all(f.endswith(".mpg") for f in info["data"]["train_files"])  # GRID only
    scorer = make_scorer("syncnet-grid")
    assert isinstance(scorer, SyncNetScorer) and scorer.name == "syncnet-grid"


def test_default_checkpoint_is_syncnet_v3(no_user_models):
    from avsync.encoders.syncnet import load_syncnet
    from avsync.pipeline import SYNCNET_V3_CUE_PARAMS, SyncCueParams
    from avsync.sync.models import DEFAULT_SYNC_MODEL, SYNCNET_BUNDLE

    assert DEFAULT_SYNC_MODEL == "syncnet" and SYNCNET_BUNDLE == "syncnet-v3"
    b = bundles.get_bundle("syncnet-v3")
    # trained on other projects' generator outputs: the restriction is stated (shown by `avsync models list`)
    assert b.license == "Apache-2.0" and b.url is None and b.role == "lip sync" and "non-commercial" in b.restrictions
    path = bundles.resolve("syncnet-v3")
    assert path.resolve() == SHIPPED_V3.resolve() and bundles.sha256_file(path) == b.sha256
    assert load_syncnet(path).config.mouth_size == b.input.crop_size[0] == 48
    assert b.sha256 in (SHIPPED_V3.parent / "MODEL_CARD.md").read_text()
    info = json.loads((SHIPPED_V3.parent / "training.json").read_text())
    assert info["sha256"] == b.sha256
    # GRID (CC-BY 4.0) plus generated in-sync clips, each listed with its licence; no real clip but GRID
    grid = [f for f in info["data"]["train_files"] if f.startswith("real_av/grid_")]
    extra = info["data"]["extra"]
    assert grid and extra and all(e["kind"] == "fake_av" and e["license"] for e in extra)
    assert sorted(info["data"]["train_files"]) == sorted(grid + [e["file"] for e in extra])
    assert not set(info["data"]["holdout_files"]) & set(info["data"]["train_files"])
    # the recipe of the card: 4500 steps, half of the items' audio through recording channels
    assert info["train_config"]["steps"] == 4500 and info["train_config"]["channel_share"] == 0.5
    for name in ("syncnet", "syncnet-v3"):  # found by default, and by its own name: one model, one cue
        scorer = make_scorer(name)
        assert isinstance(scorer, SyncNetScorer) and scorer.name == name
        assert SyncCueParams.for_model(name) == SyncCueParams() == SYNCNET_V3_CUE_PARAMS
    assert len({bundles.sha256_file(f) for f in (SHIPPED, SHIPPED_V2, SHIPPED_V3)}) == 3


def test_syncnet_v2_stays_selectable_without_restrictions_and_with_its_own_cue(no_user_models):
    from avsync.pipeline import SYNCNET_V2_CUE_PARAMS, SyncCueParams

    b = bundles.get_bundle("syncnet-v2")
    assert b.license == "Apache-2.0" and b.url is None and b.role == "lip sync" and not b.restrictions
    path = bundles.resolve("syncnet-v2")
    assert path.resolve() == SHIPPED_V2.resolve() and bundles.sha256_file(path) == b.sha256
    assert b.sha256 in (SHIPPED_V2.parent / "MODEL_CARD.md").read_text()
    info = json.loads((SHIPPED_V2.parent / "training.json").read_text())
    assert info["sha256"] == b.sha256
    # licence-compatible training data only: GRID (CC-BY 4.0)
    assert info["data"]["train_files"] and all(f.startswith("real_av/grid_") for f in info["data"]["train_files"])
    assert not set(info["data"]["holdout_files"]) & set(info["data"]["train_files"])
    scorer = make_scorer("syncnet-v2")
    assert isinstance(scorer, SyncNetScorer) and scorer.name == "syncnet-v2"
    # its cue parameters were fitted for it (models/syncnet-v2/MODEL_CARD.md), not the default model's
    assert SyncCueParams.for_model("syncnet-v2") is SYNCNET_V2_CUE_PARAMS != SyncCueParams()
    assert (SYNCNET_V2_CUE_PARAMS.confidence_mid, SYNCNET_V2_CUE_PARAMS.window_margin_mid) == (0.046, 0.0443)


def test_weights_resolution_order(no_user_models, tmp_path, monkeypatch):
    from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle, save_syncnet

    own = save_syncnet(SyncNetStyle(SyncNetConfig(width=8, embed_dim=16)), tmp_path / "own.safetensors")
    assert make_scorer("syncnet", weights=own).model.config.width == 8  # explicit weights win
    legacy = tmp_path / "models" / "syncnet"
    legacy.mkdir(parents=True)
    shutil.copy(own, legacy / "avsync_syncnet.safetensors")
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(tmp_path / "models"))
    assert make_scorer("syncnet").model.config.width == 8  # a user checkpoint in $AVSYNC_MODELS_DIR wins
    # a tampered copy of the bundle in $AVSYNC_MODELS_DIR is refused (sha256), not loaded
    bad = tmp_path / "bad"
    for name, src in (("syncnet-grid", SHIPPED), ("syncnet-v2", SHIPPED_V2), ("syncnet-v3", SHIPPED_V3)):
        (bad / name).mkdir(parents=True)
        (bad / name / "avsync_syncnet.safetensors").write_bytes(src.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(bad))
    for model in ("syncnet", "syncnet-v3", "syncnet-v2", "syncnet-grid"):
        with pytest.raises(BundleError, match="sha256"):
            make_scorer(model)
    # a user checkpoint under $AVSYNC_MODELS_DIR/syncnet/ stands in for the default name only: a model named by
    # its version runs its own bundle
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(tmp_path / "models"))
    assert make_scorer("syncnet").model.config.width == 8
    assert make_scorer("syncnet-v3").model.config.width != 8
    # and the provenance names the file that ran
    from avsync.sync.models import weights_sha256

    assert weights_sha256("syncnet") == bundles.sha256_file(own) != bundles.get_bundle("syncnet-v3").sha256
    assert weights_sha256("syncnet-v3") == bundles.get_bundle("syncnet-v3").sha256
    monkeypatch.delenv("AVSYNC_MODELS_DIR")
    assert weights_sha256("syncnet") == bundles.get_bundle("syncnet-v3").sha256 and weights_sha256("motion") is None


def test_missing_checkpoint_is_a_clear_bundle_error(no_user_models, monkeypatch, tmp_path):
    monkeypatch.setattr(bundles, "_PACKAGE_MODELS", tmp_path / "empty")
    with pytest.raises(BundleError, match="no SyncNet-style checkpoint found") as e:
        make_scorer("syncnet")
    assert e.value.status == Status.NOT_FOUND


def test_shipped_model_tracks_an_offset_on_a_face_photo(clip, no_user_models, one_torch_thread):
    # the synthetic photo clip (tracker → 96² mouth crops → resized to 48²), audio leading by 160 ms = 4 frames
    # against the same clip in sync: where a model reads a drawn animation in sync is its own convention
    # (syncnet-v2 at 0, syncnet-v3 at +2 frames: models/syncnet-v3/MODEL_CARD.md), the 4 frames between them are not
    path = clip("sync_photo_160", face="photo", size=(320, 320), duration=6.0, timbre="vowel", offset_s=0.16)
    synced = analyze_sync(load_media(clip("sync_photo_0", face="photo", size=(320, 320), duration=6.0,
                                          timbre="vowel", offset_s=0.0)), model="syncnet")
    media = load_media(path)
    res = analyze_sync(media, model="syncnet")
    assert res.status == synced.status == Status.OK and res.model == "syncnet", res.summary
    assert abs(synced.offset_frames) <= 2, synced.summary
    assert abs(res.offset_frames - synced.offset_frames - 4) <= 1, (res.summary, synced.summary)
    tracks = default_tracks(media)
    moved = sync_tracks(shift_audio(media.mono(), 5, 16000, 25.0), 16000, tracks, model="syncnet")
    assert moved.status == Status.OK and abs(moved.offset_frames - res.offset_frames - 5) <= 1, moved.summary


@pytest.mark.shared
def test_shipped_model_on_grid_clips(shared, no_user_models, one_torch_thread):
    # GRID is the training data: the shifts must be recovered exactly there (a pipeline check, not an evaluation)
    media = load_media(str(shared / "data" / "real_av" / "grid_lipnet" / "bbaf2n.mpg"))
    tracks = default_tracks(media)
    scorer = make_scorer("syncnet")
    found = [sync_tracks(shift_audio(media.mono(), s, 16000, 25.0), 16000, tracks, model=scorer).offset_frames
             for s in (0, -6, 4)]
    assert None not in found
    assert abs(found[0]) <= 1
    assert abs(found[1] - found[0] + 6) <= 1 and abs(found[2] - found[0] - 4) <= 1


@pytest.mark.shared
def test_cli_train_sync_tiny(shared, tmp_path, one_torch_thread):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    from avsync.encoders.syncnet import load_syncnet

    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "sync", "--out", str(out), "--shared", str(shared), "--tiny", "--holdout", "1",
                                 "--validation", "none", "--cache", str(tmp_path / "tracks")])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "tracks").rglob("*.npz"))) == 3  # face tracks cached once per clip
    info = json.loads((out / "training.json").read_text())
    assert len(info["data"]["train_files"]) == 2 and len(info["data"]["holdout_files"]) == 1
    assert all(f.endswith(".mpg") for f in info["data"]["train_files"] + info["data"]["holdout_files"])
    assert info["holdout"]["syncnet"]["total"] == 5 and len(info["curve"]) == 3
    assert np.isfinite(info["loss_first_last"]).all()
    assert load_syncnet(out / "avsync_syncnet.safetensors").config.mouth_size == 48
    assert info["sha256"] == bundles.sha256_file(out / "avsync_syncnet.safetensors")
    assert (out / "ckpt" / "last.pt").is_file()


def test_train_sync_resume_continues_the_same_run(tmp_path, one_torch_thread):
    """A run interrupted after a checkpoint and resumed ends with the same weights as an uninterrupted one."""
    from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle
    import torch

    from avsync.training.sync import SyncClip, SyncTrainConfig, train_sync

    rng = np.random.default_rng(0)
    clips = [SyncClip(mouth=rng.integers(0, 255, (40, 24, 24), dtype=np.uint8), valid=np.ones(40, bool),
                      audio=rng.standard_normal(16000 * 2).astype(np.float32) * 3000, name=f"c{i}", group=f"g{i % 2}")
             for i in range(3)]
    cfg = SyncTrainConfig(steps=6, batch_size=4, num_near=2, num_swap=2, other_group_swap=0.5, strong_augment=True)

    def model():
        torch.manual_seed(0)
        return SyncNetStyle(SyncNetConfig(mouth_size=24, width=8, embed_dim=16))

    full = model()
    log_full = train_sync(full, clips, cfg)
    ck = tmp_path / "ckpt" / "last.pt"
    half = model()  # interrupted after the step-3 checkpoint, then resumed in a fresh model

    class Stop(Exception):
        pass

    def stop(step, loss, acc):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        train_sync(half, clips, SyncTrainConfig(**{**cfg.__dict__, "log_every": 1}), callback=stop, checkpoint=ck,
                   checkpoint_every=3)
    assert torch.load(ck, weights_only=True)["step"] == 3
    resumed = model()
    log = train_sync(resumed, clips, cfg, checkpoint=ck, checkpoint_every=3)
    assert np.allclose(log.loss, log_full.loss, atol=1e-5)
    for k, v in full.state_dict().items():
        assert torch.allclose(v.float(), resumed.state_dict()[k].float(), atol=1e-5), k


def test_grid_files_only_lists_cc_by_grid_rows(tmp_path):
    from avsync.training.sync import grid_files

    data = tmp_path / "data"
    data.mkdir()
    (data / "MANIFEST.csv").write_text(
        "file,license_of_repo\n"
        "real_av/grid_lipnet/b.mpg,MIT (code); GRID corpus media is CC-BY-4.0 (Cooke et al.)\n"
        "real_av/grid_lipnet/a.mpg,MIT (code); GRID corpus media is CC-BY-4.0 (Cooke et al.)\n"
        "real_av/grid_lipnet/x.mpg,CC-BY-NC-4.0\n"
        "real_av/other/c.mp4,CC-BY-4.0\n")
    assert [Path(f).name for f in grid_files(tmp_path)] == ["a.mpg", "b.mpg"]


def test_extra_training_clips_are_named_by_file_or_folder_any_licence(tmp_path):
    """``avsync train sync --add``: manifest files or folders of real talking faces with audio, whatever the
    licence; a path naming none is a ConfigError, not an empty training set."""
    from avsync.errors import ConfigError
    from avsync.training.sync import extra_files

    data = tmp_path / "data"
    data.mkdir()
    (data / "MANIFEST.csv").write_text(
        "file,kind,license_of_repo,video_fps,has_audio\n"
        "real_av/lrs/2.mp4,real_av,research only,25,yes\n"
        "real_av/lrs/1.mp4,real_av,research only,25,yes\n"
        "real_av/lrs/silent.mp4,real_av,research only,25,no\n"
        "real_av/vox/a.mp4,real_av,CC-BY-4.0,25,yes\n"
        "real_av/vox/b.mp4,real_av,CC-BY-4.0,25,yes\n"
        "fake_av/lrs/3.mp4,fake_av,MIT,25,yes\n"
        "real_speech/lrs/4.wav,real_speech,MIT,,yes\n")
    rows = extra_files(tmp_path, ["real_av/lrs", "real_av/vox/b.mp4", "real_av/lrs/1.mp4"])
    assert [r["file"] for r in rows] == ["real_av/lrs/1.mp4", "real_av/lrs/2.mp4", "real_av/vox/b.mp4"]
    with pytest.raises(ConfigError, match="names no real talking-face clip"):
        extra_files(tmp_path, ["real_av/vo"])  # a prefix of a folder name is not the folder


def test_synced_training_clips_are_generated_lipsync_or_talking_heads_grouped_by_project(tmp_path):
    """``avsync train sync --add-synced``: only generated lip-sync / talking-head clips with audio (a face swap keeps
    its source's timing, a real clip is not generated); each generator project is one training group."""
    from avsync.errors import ConfigError
    from avsync.training.sync import _train_group, extra_files

    data = tmp_path / "data"
    data.mkdir()
    (data / "MANIFEST.csv").write_text(
        "file,kind,label,source_repo,license_of_repo,video_fps,has_audio\n"
        "fake_av/w2l/b.mp4,fake_av,Wav2Lip output,x/w2l,MIT,25,yes\n"
        "fake_av/w2l/a.mp4,fake_av,Wav2Lip output,x/w2l,MIT,25,yes\n"
        "fake_av/w2l/mute.mp4,fake_av,Wav2Lip output,x/w2l,MIT,25,no\n"
        "fake_av/heads/h.mp4,fake_av,SadTalker animation,y/heads,none,25,yes\n"
        "fake_av/dfdc/s.mp4,fake_av,DFDC face swap,z/dfdc,research,25,yes\n"
        "real_av/r/1.mp4,real_av,speaker,r/r,CC-BY-4.0,25,yes\n")
    rows = extra_files(tmp_path, ["fake_av/w2l", "fake_av/heads/h.mp4"], synced=True)
    assert [r["file"] for r in rows] == ["fake_av/w2l/a.mp4", "fake_av/w2l/b.mp4", "fake_av/heads/h.mp4"]
    assert {_train_group(r) for r in rows[:2]} == {"generated:x/w2l"} and _train_group(rows[2]) == "generated:y/heads"
    for wrong in ("fake_av/dfdc", "real_av/r"):
        with pytest.raises(ConfigError, match="names no generated lip-sync or talking-head clip"):
            extra_files(tmp_path, [wrong], synced=True)
    with pytest.raises(ConfigError, match="names no real talking-face clip"):
        extra_files(tmp_path, ["fake_av/w2l"])  # without synced, only real clips


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts of varied length and level (syllable-like energy changes) at 16 kHz."""
    rng = np.random.default_rng(seed)
    env = np.repeat(rng.uniform(0, 1, int(seconds * 12)) ** 3, 16000 // 12)
    return (rng.standard_normal(env.size) * env * 0.3).astype(np.float32)


def test_channel_copies_keep_the_timing_and_the_level():
    """The recording-channel copies of `--audio-channel` keep the clip's length, RMS level and timing: the onsets
    of their 10 ms energy envelopes line up with the recording's within one 10 ms step, a quarter of a video frame
    (a shifted copy would teach a wrong offset; reverberation lengthens the decays, not the onsets)."""
    from avsync.training.sync import channel_copies

    x = _speechlike(4.0)
    copies = channel_copies(x, 16000, np.random.default_rng(1), n=6)
    assert len(copies) == 6
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))

    def env(y):  # onsets: rises of the log energy per 10 ms
        e = np.log(np.mean(y[: y.size // 160 * 160].reshape(-1, 160).astype(np.float64) ** 2, axis=1) + 1e-6)
        return np.maximum(np.diff(e), 0)

    e0 = env(x)
    for y in copies:
        assert y.shape == x.shape and y.dtype == np.float32
        assert abs(float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) / rms - 1) < 1e-3
        assert not np.allclose(y, x)
        e = env(y)
        lags = range(-8, 9)
        corr = [float(np.dot(e0[max(0, -L): e0.size - max(0, L)], e[max(0, L): e.size - max(0, -L)])) for L in lags]
        assert abs(list(lags)[int(np.argmax(corr))]) <= 1, corr
    assert channel_copies(x, 8000, np.random.default_rng(1)) == ()


def test_channel_share_reads_items_from_the_channels_and_zero_changes_nothing():
    """`channel_share` 0 draws the same batches as a config without it (no extra random draw); above 0, items read
    their audio from the clips' channel copies."""
    import torch

    from avsync.training.sync import SyncClip, SyncTrainConfig, sample_batch

    rng = np.random.default_rng(0)

    def clips(with_channels: bool):
        out = []
        for i in range(3):
            a = _speechlike(2.0, seed=i) * 3000
            ch = (np.zeros_like(a), np.zeros_like(a)) if with_channels else ()
            out.append(SyncClip(mouth=rng.integers(0, 255, (40, 24, 24), dtype=np.uint8), valid=np.ones(40, bool),
                                audio=a, name=f"c{i}", group=f"g{i % 2}", channels=ch))
        return out

    plain, silent = clips(False), clips(True)
    for c, d in zip(plain, silent):
        d.mouth = c.mouth
    cfg = SyncTrainConfig(batch_size=6, num_near=2, num_swap=2, augment=False)
    m0, f0 = sample_batch(plain, cfg, torch.Generator().manual_seed(3))
    m1, f1 = sample_batch(silent, cfg, torch.Generator().manual_seed(3))  # share 0: the channels are never read
    assert torch.equal(m0, m1) and torch.equal(f0, f1)
    _, f2 = sample_batch(silent, SyncTrainConfig(**{**cfg.__dict__, "channel_share": 1.0}), torch.Generator().manual_seed(3))
    # every candidate now comes from an all-zero channel: its MFCC frames are all the same (the log floor)
    assert torch.allclose(f2, f2[..., :1].expand_as(f2))
    assert not torch.allclose(f0, f0[..., :1].expand_as(f0))


def test_channel_share_reads_the_positive_and_its_shifts_from_one_channel():
    """With `channel_share` 1, an item's positive and its shifted negatives come from one copy of its clip (one
    recording through one channel), while different items may draw different copies. The copies here are the
    steady recording at -12 dB and +12 dB, so each window's energy (MFCC c0) tells which one it came from."""
    import torch

    from avsync.training.sync import SyncClip, SyncTrainConfig, sample_batch

    rng = np.random.default_rng(0)
    clips = []
    for i in range(3):
        a = (rng.standard_normal(16000 * 2) * 300).astype(np.float32)  # steady level: every window has the same energy
        clips.append(SyncClip(mouth=rng.integers(0, 255, (40, 24, 24), dtype=np.uint8), valid=np.ones(40, bool),
                              audio=a, name=f"c{i}", group=f"g{i % 2}", channels=(a / 4, a * 4)))
    cfg = SyncTrainConfig(batch_size=16, num_shift=6, num_near=2, num_swap=2, augment=False, channel_share=1.0)
    _, feats = sample_batch(clips, cfg, torch.Generator().manual_seed(0))
    loud = feats[:, :, 0, :].mean(-1) > float(feats[:, :, 0, :].mean())  # [B, K]: from the +12 dB copy
    own = loud[:, : 1 + cfg.num_shift + cfg.num_near]
    assert bool((own == own[:, :1]).all())  # one channel per item for the positive and its shifts
    assert 0 < int(own[:, 0].sum()) < cfg.batch_size  # and both copies are drawn across the batch


def test_a_longer_window_trains_saves_and_scores_with_its_own_span(tmp_path, one_torch_thread):
    """`--context 9`: batches of 9 mouth frames and 36 MFCC frames, a model that says so in its checkpoint, and a
    scorer that reads windows of that span (no distance where a 9-frame window would leave the track)."""
    import torch

    from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle, load_syncnet, save_syncnet
    from avsync.errors import ConfigError
    from avsync.sync.types import TrackCrops
    from avsync.training.sync import SyncClip, SyncTrainConfig, sample_batch, train_sync

    with pytest.raises(ValueError):
        SyncNetConfig(frames=8, audio_steps=32)  # a window is centred on its frame
    with pytest.raises(ValueError):
        SyncNetConfig(frames=9)  # its audio span must follow
    rng = np.random.default_rng(0)
    clips = [SyncClip(mouth=rng.integers(0, 255, (60, 24, 24), dtype=np.uint8), valid=np.ones(60, bool),
                      audio=_speechlike(2.4, seed=i) * 3000, name=f"c{i}", group=f"g{i % 2}") for i in range(3)]
    cfg = SyncTrainConfig(steps=2, batch_size=4, num_near=2, num_swap=2, context=9)
    mouth, feats = sample_batch(clips, cfg, torch.Generator().manual_seed(0))
    assert mouth.shape == (4, 9, 24, 24) and feats.shape[-2:] == (13, 36)
    small = dict(mouth_size=24, width=8, embed_dim=16)
    with pytest.raises(ConfigError, match="9"):
        train_sync(SyncNetStyle(SyncNetConfig(**small)), clips, cfg)  # a 5-frame model, a 9-frame config
    model = SyncNetStyle(SyncNetConfig.for_context(9, **small))
    train_sync(model, clips, cfg)
    path = save_syncnet(model, tmp_path / "m.safetensors")
    loaded = load_syncnet(path)
    assert loaded.config.frames == 9 and loaded.config.audio_steps == 36

    n = 50
    track = TrackCrops(0, np.arange(n), np.ones(n, bool), mouth=rng.integers(0, 255, (n, 24, 24), dtype=np.uint8))
    audio = _speechlike(n / 25, seed=7)
    d = SyncNetScorer(loaded).distances(audio, 16000, track, np.array([0]))[0]
    five = SyncNetScorer(SyncNetStyle(SyncNetConfig(**small)).eval()).distances(audio, 16000, track, np.array([0]))[0]
    # (the last frame's audio window reaches one MFCC frame past the audio in both: NaN there)
    assert np.isnan(d[:4]).all() and np.isnan(d[-4:]).all() and np.isfinite(d[4:-5]).all()
    assert np.isnan(five[:2]).all() and np.isfinite(five[2:-3]).all()  # the shipped span as before


def test_clips_without_a_full_window_are_found_by_the_span_asked():
    """`train_sync_checkpoint` leaves out clips that hold no run of `context` valid frames (found per span)."""
    from avsync.training.sync import SyncClip, _has_window

    valid = np.array([1, 1, 1, 1, 0] + [1] * 6 + [0, 1], bool)
    c = SyncClip(mouth=np.zeros((len(valid), 8, 8), np.uint8), valid=valid, audio=np.zeros(16000, np.float32))
    assert _has_window(c, 5) and not _has_window(c, 7) and _has_window(c, 3)
    assert not _has_window(SyncClip(mouth=np.zeros((3, 8, 8), np.uint8), valid=np.ones(3, bool),
                                    audio=np.zeros(16000, np.float32)), 5)


@pytest.mark.parametrize("value", ["8", "1"])
def test_cli_train_sync_refuses_a_window_that_cannot_be_centred(tmp_path, value):
    """`--context` must be odd and at least 3: a usage error that says so, before any data is read."""
    from avsync_cli.main import cli
    from click.testing import CliRunner

    r = CliRunner().invoke(cli, ["train", "sync", "--out", str(tmp_path / "run"), "--context", value])
    assert r.exit_code == 2, r.output
    assert "--context" in r.output and ("even" in r.output or "range" in r.output)
    assert not (tmp_path / "run").exists()


def test_channel_copies_with_music_lay_a_bed_under_a_share_and_keep_the_timing(tmp_path):
    """`avsync train sync --audio-channel P --music DIR`: a share `p_music` of the channel copies also get music
    under the speech, at no delay (the copy minus its music bed follows the recording's timing as before); without
    beds the copies are those of the recipe before the option existed; `--music` without `--audio-channel` is refused."""
    import unittest.mock as um

    import soundfile as sf
    from click.testing import CliRunner

    from avsync.training import spoof_data as sd
    from avsync.training.sync import channel_copies
    from avsync_cli.main import cli

    (tmp_path / "m").mkdir()
    t = np.arange(32000) / 16000
    sf.write(tmp_path / "m" / "a.ogg", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
    x = _speechlike(4.0)
    plain = channel_copies(x, 16000, np.random.default_rng(1), n=4)
    same = channel_copies(x, 16000, np.random.default_rng(1), n=4, beds=None, p_music=1.0)
    assert all(np.array_equal(a, b) for a, b in zip(plain, same))
    beds = sd.MusicBeds([str(tmp_path / "m")])
    laid = []
    real = sd.music_bed
    with um.patch.object(sd, "music_bed", lambda y, b, rng, snr=None: laid.append(1) or real(y, b, rng, snr)):
        music = channel_copies(x, 16000, np.random.default_rng(1), n=20, beds=beds, p_music=0.5)
    assert len(music) == 20 and 5 <= len(laid) <= 15
    assert all(y.shape == x.shape and y.dtype == np.float32 for y in music)
    r = CliRunner().invoke(cli, ["train", "sync", "--out", str(tmp_path / "t"), "--music", str(tmp_path / "m")])
    assert r.exit_code == 2 and "--audio-channel" in r.output, r.output
