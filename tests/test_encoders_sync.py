"""Encoders used by sync: Light-ASD parity with the original code, batching, SyncNet-style module."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avsync.encoders.lightasd import LightASD, load_lightasd
from avsync.encoders.motion import audio_activity, highpass, mouth_activity
from avsync.encoders.syncnet import (
    SyncNetConfig,
    SyncNetStyle,
    audio_windows,
    load_syncnet,
    mouth_windows,
    save_syncnet,
)
from avsync.errors import BundleError


@pytest.fixture(scope="module")
def lightasd_inputs():
    rng = np.random.default_rng(0)
    mfcc = rng.standard_normal((1, 100, 13)).astype(np.float32) * 10.0
    video = rng.integers(0, 256, size=(1, 25, 112, 112)).astype(np.float32)
    return torch.from_numpy(mfcc), torch.from_numpy(video)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["pretrain_AVA_CVPR", "finetuning_TalkSet"])
def test_lightasd_matches_reference(shared, lightasd_inputs, name, one_torch_thread):
    ref = json.loads((shared / "weights" / "reference" / "lightasd_reference.json").read_text())[name]
    model = load_lightasd(shared / "weights" / "light-asd" / f"{name}.model")
    n_backbone = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("av_head", "v_head")))
    assert n_backbone == ref["nparams_model"]
    mfcc, video = lightasd_inputs
    with torch.no_grad():
        out = model(mfcc, video)
        rolled = model(torch.roll(mfcc, 10, dims=1), video)
    assert tuple(out.audio_embed.shape) == tuple(ref["audio_embed_shape"])
    assert tuple(out.visual_embed.shape) == tuple(ref["visual_embed_shape"])
    tol = 1e-4
    np.testing.assert_allclose(out.audio_embed[0, 0, :6].numpy(), ref["audio_embed[0,0,:6]"], atol=tol)
    np.testing.assert_allclose(out.visual_embed[0, 0, :6].numpy(), ref["visual_embed[0,0,:6]"], atol=tol)
    np.testing.assert_allclose(out.av_embed[0, 0, :6].numpy(), ref["av_out[0,:6]"], atol=tol)
    np.testing.assert_allclose(out.score[0, :8].numpy(), ref["AV_score_per_frame(logits[:,1])[:8]"], atol=tol)
    assert float(out.score.mean()) == pytest.approx(ref["AV_score_mean"], abs=tol)
    assert float(out.v_logits[..., 1].mean()) == pytest.approx(ref["V_only_score_mean"], abs=tol)
    assert float(rolled.score.mean()) == pytest.approx(ref["AV_score_mean_audio_rolled_10"], abs=tol)


def test_lightasd_batched_equals_single():
    torch.manual_seed(0)
    model = LightASD().eval()
    g = torch.Generator().manual_seed(1)
    mfcc = torch.randn(3, 40, 13, generator=g) * 10
    faces = torch.randint(0, 256, (3, 10, 112, 112), generator=g).float()
    with torch.no_grad():
        batch = model(mfcc, faces)
        for i in range(3):
            one = model(mfcc[i : i + 1], faces[i : i + 1])
            torch.testing.assert_close(batch.av_logits[i], one.av_logits[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(batch.visual_embed[i], one.visual_embed[0], atol=1e-5, rtol=1e-5)


def test_lightasd_rejects_misaligned_audio():
    with pytest.raises(ValueError, match="4 frames per video frame"):
        LightASD()(torch.zeros(1, 30, 13), torch.zeros(1, 10, 112, 112))


def test_lightasd_missing_checkpoint_is_bundle_error(tmp_path):
    with pytest.raises(BundleError):
        load_lightasd(tmp_path / "nope.model")
    bad = tmp_path / "bad.model"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(BundleError, match="not a Light-ASD checkpoint"):
        load_lightasd(bad)


def test_syncnet_shapes_batched_and_roundtrip(tmp_path):
    torch.manual_seed(0)
    cfg = SyncNetConfig(mouth_size=32, width=16, embed_dim=24)
    model = SyncNetStyle(cfg).eval()
    g = torch.Generator().manual_seed(0)
    mf = torch.randn(4, 13, 20, generator=g) * 10
    mouth = torch.randint(0, 256, (4, 5, 32, 32), generator=g, dtype=torch.uint8)
    with torch.no_grad():
        a, v = model(mf, mouth)
        d = model.distance(mf, mouth)
        assert a.shape == v.shape == (4, 24)
        torch.testing.assert_close(a.norm(dim=-1), torch.ones(4))
        assert torch.all((d >= 0) & (d <= 2))
        for i in range(4):
            torch.testing.assert_close(model.embed_audio(mf[i : i + 1])[0], a[i], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(model.embed_video(mouth[i : i + 1])[0], v[i], atol=1e-5, rtol=1e-5)
    path = save_syncnet(model, tmp_path / "m.safetensors")
    again = load_syncnet(path)
    assert again.config == cfg
    with torch.no_grad():
        torch.testing.assert_close(again.distance(mf, mouth), d)
    with pytest.raises(BundleError):
        load_syncnet(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(BundleError, match="not a safetensors"):
        load_syncnet(junk)


def test_window_helpers_alignment():
    mf = torch.arange(100, dtype=torch.float32)[:, None].repeat(1, 13)  # MFCC frame index as value
    win, ok = audio_windows(mf, 25)
    assert win.shape == (25, 13, 20)
    # frame k sees MFCC frames [4(k-2), 4(k-2)+20)
    assert win[5, 0, 0] == 12 and win[5, 0, 19] == 31
    assert not ok[0] and not ok[1] and ok[2] and ok[22] and not ok[23]  # 4 * 20 + 20 <= 100 < 4 * 21 + 20
    mouth = torch.arange(10, dtype=torch.uint8)[:, None, None].repeat(1, 4, 4)
    valid = torch.ones(10, dtype=torch.bool)
    valid[6] = False
    mw, mok = mouth_windows(mouth, valid)
    assert mw.shape == (10, 5, 4, 4)
    assert mw[3, :, 0, 0].tolist() == [1, 2, 3, 4, 5]
    assert mok.tolist() == [False, False, True, True, False, False, False, False, False, False]


def test_motion_signals():
    mouth = np.full((6, 10, 10), 200, np.uint8)
    mouth[3, 3:7, 3:7] = 0  # open mouth in frame 3
    o = mouth_activity(torch.from_numpy(mouth), "opening")
    assert int(o.argmax()) == 3
    m = mouth_activity(torch.from_numpy(mouth), "motion")
    assert m[3] > 0 and m[2] == m[4] and m[0] == 0 and m[5] == 0
    e = torch.tensor([-100.0, -100.0, -10.0, -100.0])
    act = audio_activity(e, "energy", floor_db=40)
    assert act.tolist() == [-50.0, -50.0, -10.0, -50.0]
    x = torch.arange(20, dtype=torch.float64)
    assert torch.allclose(highpass(x, 5)[5:15], torch.zeros(10, dtype=torch.float64))
