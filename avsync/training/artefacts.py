"""Training recipe of the mouth-region artefact model (:class:`avsync.artefacts.model.ArtefactNet`).

:func:`train_artefacts` does everything offline and seeded:

1. reads the real talking-face clips whose licence allows training a shipped model (the GRID corpus
   sentences of ``../shared/data/real_av/grid_lipnet``, CC-BY 4.0; see ``../shared/data/README.md``),
   tracks the face and cuts aligned crops of every frame (:func:`avsync.artefacts.artefact_crops`);
2. splits them by clip into ``train`` and ``calib`` (held out: never trained on); adds crops of
   synthetic clips of scikit-image's public-domain astronaut portrait (:mod:`avsync.synth`) to ``train``;
3. trains on batches of real crops and self-blended forgeries made on the fly
   (:mod:`avsync.training.artefact_data`), classes balanced;
4. fits Platt scaling (logit → probability) on held-out calib crops (real vs forged, fixed seed) and
   records the calib ROC-AUC;
5. writes ``<out>/artefact_mouth.safetensors`` (weights + metadata: width, crop size, calibration,
   config) and ``<out>/training.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avsync.errors import ConfigError
from avsync.training import artefact_data as ad
from avsync.training.spoof import fit_platt
from avsync.training.sync import GRID_DIR, grid_files

MODEL_FILE = "artefact_mouth.safetensors"
TRAIN_SOURCES = (GRID_DIR + "/",)
"""Manifest path prefixes of the training clips (GRID corpus, CC-BY 4.0; :func:`grid_files` checks the licence)."""


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
    n_calib_clips: int = 2
    n_calib_samples: int = 512
    threads: int = 1
    cache: str | None = None
    tiny: bool = False
    log: list = field(default_factory=list)


def _crops(path: Path, cache: Path, size: int) -> np.ndarray:
    dst = cache / (path.stem + f"_{size}.npz")
    if dst.exists():
        return np.load(dst)["images"]
    import avsync
    from avsync.artefacts import artefact_crops
    from avsync.face import track

    media = avsync.load_media(path)
    faces = track(media, crops=())
    main = faces.dominant()
    if main is None:
        return np.zeros((0, size, size, 3), np.uint8)
    imgs = artefact_crops(media, main, size=size).images
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dst, images=imgs)
    return imgs


def _photo_crops(cache: Path, size: int) -> list[np.ndarray]:
    """Crops of synthetic clips of the public-domain astronaut portrait (scikit-image) at three sizes."""
    from avsync.synth import ClipSpec, make_clip

    out = []
    for w, h in ((320, 240), (640, 480), (1280, 720)):
        dst = cache / f"photo_{w}x{h}_{size}.npz"
        if not dst.exists():
            clip = make_clip(cache / f"photo_{w}x{h}", ClipSpec(duration=3.0, size=(w, h), face="photo", preset="mp4"))
            imgs = _crops(Path(clip), cache, size)
            np.savez_compressed(dst, images=imgs)
        out.append(np.load(dst)["images"])
    return [c for c in out if len(c)]


def auc_neg_pos(neg, pos) -> float:
    """ROC-AUC of scores ``pos`` (label 1) against ``neg`` (label 0); NaN when either is empty."""
    from avsync.evaluation.metrics import roc_auc

    if not len(neg) or not len(pos):
        return float("nan")
    return float(roc_auc(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


def train_artefacts(cfg: TrainConfig, say=print) -> dict:
    """Train, calibrate and write the artefact model; returns the summary written to ``training.json``."""
    import torch
    from safetensors.torch import save_file

    from avsync.artefacts.model import ArtefactNet
    from avsync.training.spoof_data import shared_data_dir

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    data = shared_data_dir(cfg.shared)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache) if cfg.cache else out / "cache"
    files = [Path(f) for f in grid_files(data)]
    if cfg.tiny:
        files = files[:3]
    if len(files) <= cfg.n_calib_clips:
        raise ConfigError(f"need more than {cfg.n_calib_clips} training clips, found {len(files)} under {data}")
    order = rng.permutation(len(files))
    calib_files = sorted(str(files[i]) for i in order[: cfg.n_calib_clips])
    train_files = sorted(str(files[i]) for i in order[cfg.n_calib_clips :])
    say(f"crops of {len(files)} clips (cache {cache})")
    train = [c for c in (_crops(Path(f), cache, cfg.size) for f in train_files) if len(c)]
    calib = [c for c in (_crops(Path(f), cache, cfg.size) for f in calib_files) if len(c)]
    if cfg.photo_clips and not cfg.tiny:
        train += _photo_crops(cache, cfg.size)

    # fixed held-out set: calib clips, real vs forged, seeded
    crng = np.random.default_rng(cfg.seed + 1)
    n_cal = 64 if cfg.tiny else cfg.n_calib_samples
    cal_x, cal_y = ad.make_batch(calib, n_cal, crng)

    net = ArtefactNet(width=cfg.width)
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
        x, y = ad.make_batch(train, cfg.batch, rng)
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
        "model": "artefact-mouth",
        "architecture": "avsync.artefacts.model.ArtefactNet",
        "width": cfg.width,
        "crop_size": cfg.size,
        "steps": step,
        "minutes": round((time.time() - t0) / 60, 2),
        "calibration": {"a": a, "b": b, "calib_auc": auc, "n": len(cal_y)},
        "train_files": [str(Path(f).relative_to(data)) for f in train_files],
        "calib_files": [str(Path(f).relative_to(data)) for f in calib_files],
        "config": meta_cfg,
        "log": cfg.log,
    }
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    state["calibration"] = torch.tensor([a, b], dtype=torch.float32)
    save_file(state, str(out / MODEL_FILE),
              metadata={"width": str(cfg.width), "crop_size": str(cfg.size), "model": "artefact-mouth"})
    (out / "training.json").write_text(json.dumps(summary, indent=1))
    return summary
