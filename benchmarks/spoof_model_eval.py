"""Accuracy of a voice spoof model on the ../shared evaluation subsets (nothing here is used for training).

Usage (from the repository root)::

    PYTHONPATH=$PWD:$PWD/cli python benchmarks/spoof_model_eval.py --model lcnn:models/lcnn-spoof/lcnn_spoof.safetensors
    PYTHONPATH=$PWD:$PWD/cli python benchmarks/spoof_model_eval.py --model public:aasist --weights ../shared/weights

Subsets (files listed in ``data/MANIFEST.csv``):

- EER, fake vs its own real counterpart: YourTTS Exp.4 clones and SC-GlowTTS clones vs the VCTK ground
  truth of the same speakers (``fake_speech/yourtts/GT``); each HiFi-GAN-demo vocoder (WaveNet, WaveGlow,
  MelGAN, HiFi-GAN V1–V3) and all of them pooled vs LJSpeech ground truth.
- False-positive rate at the model's threshold on real speech: LibriSpeech test-other and FSDD
  **held-out speakers only** (see ``avsync.training.spoof_data.SPEAKER_SPLITS``), KLettres (en/fr/de),
  YourTTS GT and reference clips, LJSpeech GT.
- ``fsdd_heldout_joined``: FSDD takes last 0.3–0.6 s, below the 1 s that ``avsync spoof`` accepts
  (shorter files get status ``too_short``), so ``fsdd_heldout`` measures the model on inputs the tool
  refuses. The joined subset is what the tool does score: each held-out speaker's takes, in file-name
  order, joined end to end into recordings of at least one window (4.04 s; a shorter remainder is
  dropped), i.e. a caller reading out digits over an 8 kHz line.

Scoring of a file: mono 16 kHz; windows of 64600 samples every 64600 (last aligned to the end; a file
shorter than one window is tiled to it, as the public models' evaluation does); file score = mean of
window probabilities (no VAD). Writes a JSON with every file's score, and whether ``avsync spoof`` would call it
narrowband (source rate <= 8 kHz or no energy above 4 kHz), when ``--json`` is given.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np

from avsync.evaluation.metrics import eer_of

WINDOW = 64600
# held-out (eval) speakers; must match avsync.training.spoof_data.SPEAKER_SPLITS (checked when importable)
LIBRI_EVAL = {"3005", "3080", "3331", "367", "533"}
FSDD_EVAL = {"nicolas", "theo", "yweweler"}
# speakers whose real speech trains the voice models (rtvc_samples: LibriSpeech / VCTK ids); their real
# utterances in the FreeVC demo are left out of its real set
TRAIN_SPEAKERS = {"1320", "3575", "p240", "6829", "8230", "p260"}
# VCTK speakers of the YourTTS demo used by the fine-tuning recipe (train / calib): left out of its subsets
VCTK_TRAINED = {"p225", "p234", "p238", "p245", "p248", "p261", "p294"}
# Harvard lists 5-7: the texts of the generated Kokoro / Piper evaluation fakes (never spoken in training)
try:
    from avsync.training.spoof_finetune import EVAL_TEXTS
except ImportError:  # run outside the repository: the generated subsets are skipped
    EVAL_TEXTS = []


def windows(x: np.ndarray, window: int = WINDOW) -> np.ndarray:
    if x.size < window:
        x = np.tile(x, int(np.ceil(window / max(x.size, 1))))[:window]
    starts = list(range(0, x.size - window + 1, window))
    if starts[-1] + window < x.size:
        starts.append(x.size - window)
    return np.stack([x[s:s + window] for s in starts]).astype(np.float32)


def bootstrap_ci(fn, *groups, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of ``fn(*groups)``, each group resampled with replacement on its own."""
    rng = np.random.default_rng(seed)
    arrs = [np.asarray(g, float) for g in groups]
    vals = [fn(*[a[rng.integers(0, a.size, a.size)] for a in arrs]) for _ in range(n)]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


GEN_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "spoof_eval"


def generated(key: str, data: Path) -> np.ndarray:
    """The waveform of a virtual file: ``gen:kokoro:i`` / ``gen:piper:i`` / ``gen:espeak-ng:i`` (and the other
    :data:`CLASSICAL_TTS`; EVAL_TEXTS[i], seeded),
    ``gen:hifigan:FILE`` (HiFi-GAN copy), ``codec:NAME:FILE`` (codec round trip) or ``music:SNR:FILE`` (a bed of
    :data:`MUSIC` under the speech, ``SNR`` dB below it; track and point seeded by the key); cached as .npy."""
    import hashlib

    from avsync.media import load_media
    from avsync.training import spoof_data as sd
    from avsync.training import spoof_neural as sn

    GEN_CACHE.mkdir(parents=True, exist_ok=True)
    tag = key + ("|" + "|".join(MUSIC) if key.startswith("music:") else "")  # other music, another file
    f = GEN_CACHE / (hashlib.sha1(tag.encode()).hexdigest()[:16] + ".npy")
    if f.exists():
        return np.load(f)
    kind, name, arg = key.split(":", 2)
    if kind == "music":
        import zlib

        src = generated(arg, data) if arg.startswith(("gen:", "codec:", "music:")) else \
            load_media(str(data / arg), require="audio").mono().astype(np.float32)
        if "beds" not in _GEN:
            _GEN["beds"] = sd.MusicBeds(MUSIC)
        y = sd.music_bed(src, _GEN["beds"], np.random.default_rng(zlib.crc32(key.encode())), float(name))
    elif kind == "codec":
        src = generated(arg, data) if arg.startswith(("gen:", "codec:")) else \
            load_media(str(data / arg), require="audio").mono().astype(np.float32)
        y = sd.codec_roundtrip(src, name)
    elif name == "hifigan":
        y = _GEN.setdefault("hifigan", sn.HiFiGANCopy())(sd.load_wave(str(data / arg)), np.random.default_rng(0))
    elif name in CLASSICAL_TTS:
        i = int(arg)
        y = sd.TTS_ENGINES[name](EVAL_TEXTS[i], np.random.default_rng([7, i]))
        if y is None:
            raise RuntimeError(f"{name} is not installed or produced no audio for text {i}")
    else:
        i = int(arg)
        eng = _GEN.setdefault(name, sn.PiperTTS() if name == "piper" else sd.KokoroTTS())
        y = eng(EVAL_TEXTS[i], np.random.default_rng([7, i]))
        if y is None:
            raise RuntimeError(f"{name} produced no audio for text {i}")
    y = np.asarray(y, np.float32)
    np.save(f, y)
    return y


_GEN: dict = {}
MUSIC: list[str] = []
"""Music for the ``@musicSNR`` subsets (``--music``): globs or folders (:class:`avsync.training.spoof_data.MusicBeds`)."""
MUSIC_SOURCES = ("librispeech_heldout", "yourtts_gt", "hdtf_radio", "yourtts_exp4", "hifigan_ts_heldout",
                 "kokoro_eval_texts", "piper_eval_texts")
"""Subsets copied with music under them (``--music``): real speech and the fakes whose real pair is among them."""


def add_music(files: dict[str, list[str]], pairs: dict[str, tuple[str, str]], snrs: list[float]) -> list[str]:
    """Add ``{subset}@music{SNR}`` copies of :data:`MUSIC_SOURCES` with their EER pairs; returns the real ones."""
    real = []
    for snr in snrs:
        tag = f"@music{snr:g}"
        for src in MUSIC_SOURCES:
            if src in files:
                files[src + tag] = [f"music:{snr:g}:{f}" for f in files[src]]
        for fk, rk in [(k, v[1]) for k, v in list(pairs.items()) if k in MUSIC_SOURCES]:
            if fk + tag in files and rk + tag in files:
                pairs[fk + tag] = (fk + tag, rk + tag)
        real += [s + tag for s in ("librispeech_heldout", "yourtts_gt", "hdtf_radio") if s + tag in files]
    return real


def subsets(rows: list[dict]) -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
    """Named file lists and the (fake, real) pairs whose EER is reported."""
    files: dict[str, list[str]] = {}

    def add(name, pred):
        files[name] = sorted({r["file"] for r in rows if pred(r["file"], r)})

    def vctk_eval(f):  # VCTK speakers of the YourTTS demo that no training or calibration split holds
        return not ({Path(f).stem.split("_")[0], Path(f).parent.name} & VCTK_TRAINED)

    add("yourtts_exp4", lambda f, r: f.startswith("fake_speech/yourtts/Exp4_SCL/") and vctk_eval(f))
    add("sc_glowtts", lambda f, r: f.startswith("fake_speech/yourtts/SC-GlowTTS-Trans/") and vctk_eval(f))
    add("yourtts_gt", lambda f, r: f.startswith("fake_speech/yourtts/GT/") and vctk_eval(f))
    add("yourtts_reference", lambda f, r: f.startswith("fake_speech/yourtts/reference/") and vctk_eval(f))
    add("ljspeech_gt", lambda f, r: f.startswith("fake_speech/hifigan_demo/ss/GT/"))
    for v in ("WN", "WG", "MG", "HGAN_V1", "HGAN_V2", "HGAN_V3"):
        add(f"hifigan_demo_{v}", lambda f, r, v=v: f.startswith(f"fake_speech/hifigan_demo/ss/{v}/"))
    files["hifigan_demo_all"] = sorted(f for k in list(files) if k.startswith("hifigan_demo_") for f in files[k])
    add("librispeech_heldout", lambda f, r: f.startswith("real_speech/librispeech_test-other/")
        and Path(f).stem.split("-")[0] in LIBRI_EVAL)
    add("fsdd_heldout", lambda f, r: f.startswith("real_speech/fsdd/") and Path(f).stem.split("_")[1] in FSDD_EVAL)
    add("klettres", lambda f, r: f.startswith("real_speech/debian_klettres/"))
    add("hdtf_radio", lambda f, r: f.startswith("real_speech/sadtalker_hdtf/"))
    # FreeVC demo: each system vs the demo's real utterances of speakers no training split holds
    add("freevc_real", lambda f, r: f.startswith("real_speech/freevc_demo/")
        and Path(f).stem.split("_")[1] not in TRAIN_SPEAKERS)
    for sysname in sorted({r["file"].split("/")[2] for r in rows if r["file"].startswith("fake_speech/freevc_demo/")}):
        add(f"freevc_{sysname}", lambda f, r, s=sysname: f.startswith(f"fake_speech/freevc_demo/{s}/"))
    # other demo pages (research / unlicensed media): each system's fakes vs the same page's real speech
    demos = sorted({r["file"].split("/")[1] for r in rows if r["file"].split("/")[1].endswith("-demo")
                    or r["file"].split("/")[1] == "advspeech"} - {"hifigan_demo"})
    for d in demos:
        add(f"demo_{d}", lambda f, r, d=d: f.startswith(f"fake_speech/{d}/"))
        add(f"demo_{d}_real", lambda f, r, d=d: f.startswith(f"real_speech/{d}/"))
    files["demo_all"] = sorted(f for d in demos for f in files[f"demo_{d}"])
    files["demo_real_all"] = sorted(f for d in demos for f in files[f"demo_{d}_real"])
    # made here (cached under .cache/spoof_eval): held-out texts of the training TTS voices, HiFi-GAN copies
    # of held-out LibriSpeech speakers, and codec copies of held-out real speech
    n_gen = len(EVAL_TEXTS)
    files["kokoro_eval_texts"] = [f"gen:kokoro:{i}" for i in range(n_gen)]
    files["piper_eval_texts"] = [f"gen:piper:{i}" for i in range(n_gen)]
    for eng in CLASSICAL_TTS:  # the Debian engines of the recipe's classical part, a random voice per text
        files[f"{eng}_eval_texts"] = [f"gen:{eng}:{i}" for i in range(n_gen)]
    files["hifigan_ts_heldout"] = [f"gen:hifigan:{f}" for f in files["librispeech_heldout"]]
    for codec in CODEC_COPIES:
        for src in ("librispeech_heldout", "yourtts_gt", "ljspeech_gt", "hdtf_radio", "freevc_real"):
            files[f"{src}@{codec}"] = [f"codec:{codec}:{f}" for f in files[src]]
        files[f"yourtts_exp4@{codec}"] = [f"codec:{codec}:{f}" for f in files["yourtts_exp4"]]
    # virtual recordings "joined:<speaker>:<i>" made of several FSDD takes (see the module docstring)
    files["fsdd_heldout_joined"] = [f"joined:{spk}" for spk in sorted(FSDD_EVAL)]
    pairs = {"yourtts_exp4": ("yourtts_exp4", "yourtts_gt"), "sc_glowtts": ("sc_glowtts", "yourtts_gt")}
    for k in list(files):
        if k.startswith("hifigan_demo_"):
            pairs[k] = (k, "ljspeech_gt")
        elif k.startswith("freevc_") and k != "freevc_real" and "@" not in k:
            pairs[k] = (k, "freevc_real")
        elif k.startswith("demo_") and not k.endswith("_real") and k not in ("demo_all", "demo_real_all"):
            if files.get(f"{k}_real"):
                pairs[k] = (k, f"{k}_real")
    pairs["demo_all"] = ("demo_all", "demo_real_all")
    pairs["kokoro_eval_texts"] = ("kokoro_eval_texts", "librispeech_heldout")
    pairs["piper_eval_texts"] = ("piper_eval_texts", "librispeech_heldout")
    for eng in CLASSICAL_TTS:
        pairs[f"{eng}_eval_texts"] = (f"{eng}_eval_texts", "librispeech_heldout")
    pairs["hifigan_ts_heldout"] = ("hifigan_ts_heldout", "librispeech_heldout")
    for codec in CODEC_COPIES:
        pairs[f"yourtts_exp4@{codec}"] = (f"yourtts_exp4@{codec}", f"yourtts_gt@{codec}")
    return files, pairs


CLASSICAL_TTS = ("espeak-ng", "flite", "festival")
"""TTS engines of the recipe's classical part (``avsync.training.spoof_data.TTS_ENGINES``) whose held-out texts are
rows (``gen:ENGINE:i``; an engine that is not installed leaves its files skipped)."""

CODEC_COPIES = ("mulaw8k", "amrnb", "opus")
"""Codecs of the channel copies (``avsync.training.spoof_data.CODECS``): G.711 µ-law 8 kHz, AMR-NB, Opus."""

REAL_FPR = ["librispeech_heldout", "fsdd_heldout", "fsdd_heldout_joined", "klettres", "yourtts_gt", "yourtts_reference",
            "ljspeech_gt", "hdtf_radio", "freevc_real", "demo_real_all",
            *[f"{s}@{c}" for c in CODEC_COPIES for s in ("librispeech_heldout", "yourtts_gt", "ljspeech_gt", "hdtf_radio",
                                                        "freevc_real")]]


def manifest_rows(shared: str | None = None) -> tuple[Path, list[dict]]:
    """The data folder of ``shared`` (default ``$AVSYNC_SHARED`` or ``../shared``) and its MANIFEST.csv rows."""
    import os

    root = Path(shared or os.environ.get("AVSYNC_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
    data = root / "data" if (root / "data" / "MANIFEST.csv").exists() else root
    with open(data / "MANIFEST.csv", newline="") as fh:
        return data, list(csv.DictReader(fh))


def _unverified(net, state: dict, meta: dict, path: str, precision: str):
    """``(prob, threshold)`` of ``net`` with the tensors ``state`` of the file ``path`` (strictly; no bundle, no
    checksum) and the threshold its metadata ``meta`` records (0.5 without one)."""
    from avsync.spoof.models import SpoofModel

    net.load_state_dict(state, strict=True)
    m = SpoofModel(name=Path(path).stem, bundle=None, net=net.eval(), device="cpu")
    return (lambda w: m.predict(w, precision=precision)), float(meta.get("threshold", 0.5))


def make_scorer(spec: str, weights: str | None, precision: str = "float32"):
    """``lcnn:PATH`` → our model; ``public:NAME`` → a public checkpoint through avsync.spoof.models;
    ``head:PATH`` → a head fitted by ``avsync train spoof --head`` on its (frozen) public checkpoint;
    ``file:NAME:PATH`` → the network of registered model NAME with the weights of PATH, unverified (a candidate, e.g.
    of :func:`avsync.training.spoof_specialist.replace_general`); NAME may also be an architecture
    (:func:`avsync.spoof.models.network_factory`: a ``ThresholdMax`` nesting deeper than any registered model's, a
    candidate of a network no bundle has yet)."""
    import torch

    kind, _, arg = spec.partition(":")
    if kind == "lcnn":
        from avsync.training.spoof import load_lcnn

        net, meta = load_lcnn(arg)
        thr = float(meta.get("threshold", 0.5))

        def prob(w):
            with torch.inference_mode():
                return torch.softmax(net(torch.from_numpy(w)), 1)[:, 0].numpy()

        return prob, thr
    if kind == "head":  # a spoof_head.safetensors of `avsync train spoof --head NAME`, over its base checkpoint
        from safetensors import safe_open
        from safetensors.torch import load_file

        from avsync.spoof.models import load_spoof_model

        with safe_open(arg, "pt") as fh:
            meta = fh.metadata() or {}
        m = load_spoof_model(meta["base"], weights=weights)
        if m.bundle.sha256 != meta.get("base_sha256"):
            raise SystemExit(f"{arg} was fitted on another {meta['base']!r} checkpoint")
        m.net.load_state_dict({**m.net.state_dict(), **load_file(arg)})
        return (lambda w: m.predict(w, precision=precision)), float(meta.get("threshold", 0.5))
    if kind == "aasist":  # an AASIST state dict in safetensors (avsync train spoof --finetune), calibrated
        from avsync.checkpoint import read_checkpoint
        from avsync.spoof.nets import AASIST, AASISTSpectral

        state, meta = read_checkpoint(arg)
        net = AASISTSpectral() if "spectral.weight" in state else AASIST()  # --spectral-branch runs
        return _unverified(net, state, meta, arg, precision)
    if kind == "file":  # file:NAME:PATH — the network of registered model NAME with the (unverified) weights of PATH
        from avsync.checkpoint import read_checkpoint
        from avsync.spoof.models import network_factory, spoof_factory

        name, _, path = arg.partition(":")
        state, meta = read_checkpoint(path)
        factory = network_factory(name) or spoof_factory(name)
        return _unverified(factory(), state, meta, path, precision)
    if kind == "public":
        from avsync.spoof.models import load_spoof_model

        m = load_spoof_model(arg, weights=weights)
        return (lambda w: m.predict(w, precision=precision)), m.threshold
    raise SystemExit(f"unknown model spec {spec!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="public:NAME (any registered spoof bundle), aasist:PATH, lcnn:PATH, "
                    "head:PATH or file:NAME:PATH (the network of NAME, a registered model or an architecture that "
                    "avsync.spoof.models.network_factory builds, with the weights of PATH)")
    ap.add_argument("--weights", default=None, help="models dir for public checkpoints (e.g. ../shared/weights)")
    ap.add_argument("--shared", default=None, help="shared root (default $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--json", default=None, help="write per-file scores and the table here")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma-separated subset names")
    ap.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                    help="network precision of public:/head: models (see avsync.spoof.models.PRECISIONS)")
    ap.add_argument("--extra-real", action="append", default=[], metavar="NAME=GLOB",
                    help="also a real subset NAME of the audio files a glob matches (outside ../shared, e.g. an "
                         "unpacked Debian package); its files' keys are file:PATH (repeatable)")
    ap.add_argument("--run-windows", type=int, default=0, metavar="N",
                    help="a run of N or more consecutive windows at or above the threshold raises a file's score to "
                         "the run's mean (SpoofScorer(run_windows=N)); 0: the mean of all windows only")
    ap.add_argument("--from-json", default=None, metavar="PATH",
                    help="read the window scores another run wrote with --json instead of scoring again (the table "
                         "with this run's --run-windows; the model, threshold and subsets must be that run's)")
    ap.add_argument("--music", action="append", default=[], metavar="GLOB",
                    help="music (a glob or a folder, repeatable) for subsets with a bed under the speech: "
                         "SUBSET@musicSNR of real speech and of the fakes paired with it (see MUSIC_SOURCES)")
    ap.add_argument("--music-snr", default="20,10", metavar="DB,DB",
                    help="speech-to-music ratios of the --music subsets (dB, comma-separated)")
    ap.add_argument("--quiet-peak-db", type=float, default=None, metavar="DB",
                    help="score a file whose peak is below DB dBFS raised to it, as `avsync spoof` does "
                         "(avsync.spoof.scorer.level_gain; default: every file at its own level, the model alone)")
    a = ap.parse_args(argv)

    import torch

    from avsync.media import load_media

    torch.set_num_threads(a.threads)
    from avsync.spoof.scorer import level_gain

    def lift(x: np.ndarray) -> np.ndarray:  # the scorer's rule for quiet recordings, when asked for
        k = level_gain(float(np.abs(x).max(initial=0.0)), a.quiet_peak_db)
        return x if k == 1.0 else (x * np.float32(k)).astype(np.float32)

    data, rows = manifest_rows(a.shared)
    try:  # keep the held-out speaker lists in step with the training recipe
        from avsync.training.spoof_data import SPEAKER_SPLITS

        assert not LIBRI_EVAL & set(SPEAKER_SPLITS["librispeech_test-other"]), "eval speaker in training"
        assert not FSDD_EVAL & set(SPEAKER_SPLITS["fsdd"]), "eval speaker in training"
    except ImportError:
        pass
    files, pairs = subsets(rows)
    real_music: list[str] = []
    if a.music:
        MUSIC[:] = a.music
        real_music = add_music(files, pairs, [float(v) for v in a.music_snr.split(",") if v.strip()])
    if a.only:
        keep = set(a.only.split(","))
        files = {k: v for k, v in files.items() if k in keep or any(k in pairs.get(p, ()) for p in keep)}
        pairs = {k: v for k, v in pairs.items() if k in keep}
    real_fpr = list(REAL_FPR) + real_music
    for spec in a.extra_real:  # real subsets from outside ../shared
        name, _, pattern = spec.partition("=")
        found = sorted(glob.glob(pattern, recursive=True))
        if not name or not found:
            ap.error(f"--extra-real {spec!r}: NAME=GLOB matching at least one file")
        files[name] = [f"file:{Path(f).resolve()}" for f in found]
        real_fpr.append(name)
    prob, thr = make_scorer(a.model, a.weights, a.precision)
    from avsync.spoof.scorer import SpoofWindow, flagged_spans, is_narrowband, run_score

    def file_score(p: np.ndarray) -> float:
        """The mean of the windows, or a run's mean above it (the scorer's rule with ``--run-windows``; the windows
        follow one another)."""
        p = np.asarray(p, float)
        wins = [SpoofWindow(float(i), float(i + 1), float(x), 1.0) for i, x in enumerate(p)]
        run = run_score(flagged_spans(wins, thr), a.run_windows) if a.run_windows else None
        return float(max(np.mean(p), run)) if run is not None else float(np.mean(p))

    scores: dict[str, float] = {}
    window_probs: dict[str, np.ndarray] = {}
    narrow: dict[str, bool] = {}  # whether avsync spoof would call the file narrowband (telephone band)
    t0, n_sec = time.time(), 0.0
    todo = sorted({f for v in files.values() for f in v})
    skipped = []
    joined = [f for f in todo if f.startswith("joined:")]
    todo = [f for f in todo if not f.startswith("joined:")]
    if a.from_json:  # the window scores of an earlier run: only the file scores are computed again
        stored = json.loads(Path(a.from_json).read_text())
        window_probs = {k: np.asarray(v, float) for k, v in stored["window_scores"].items()}
        narrow = dict(stored["narrowband"])
        scores = {k: file_score(v) for k, v in window_probs.items()}
        joined, todo = [], []
    for spk_key in joined:  # FSDD takes of one speaker joined into recordings of >= one window
        takes = sorted(r["file"] for r in rows if r["file"].startswith("real_speech/fsdd/")
                       and Path(r["file"]).stem.split("_")[1] == spk_key.split(":")[1])
        buf: list[np.ndarray] = []
        n_joined = 0
        for f in takes:
            try:
                buf.append(load_media(str(data / f), require="audio").mono().astype(np.float32))
            except Exception as e:  # noqa: BLE001  # takes under avsync's 0.2 s minimum
                skipped.append(f"{f} (joined): {e}")
                continue
            if sum(b.size for b in buf) >= WINDOW:
                x = np.concatenate(buf)
                buf = []
                n_sec += x.size / 16000
                key = f"{spk_key}:{n_joined}"
                window_probs[key] = prob(windows(lift(x)))
                scores[key] = file_score(window_probs[key])
                narrow[f"{spk_key}:{n_joined}"] = True  # FSDD takes are 8 kHz recordings
                n_joined += 1
    for f in todo:
        try:
            src_sr = 16000
            if f.startswith(("gen:", "codec:", "music:")):
                x = generated(f, data)
            else:
                m = load_media(f.removeprefix("file:") if f.startswith("file:") else str(data / f), require="audio")
                src_sr = m.info.audio.sample_rate if m.info.audio is not None else 16000
                x = m.mono().astype(np.float32)
        except Exception as e:  # noqa: BLE001  # e.g. FSDD takes shorter than the 0.2 s minimum; a generator not installed
            skipped.append(f"{f}: {e}")
            continue
        n_sec += x.size / 16000
        window_probs[f] = prob(windows(lift(x)))
        scores[f] = file_score(window_probs[f])
        narrow[f] = is_narrowband(x, 16000, src_sr)  # the scorer's rule (SpoofScorer)
    el = time.time() - t0
    files = {k: [f for f in v if f in scores] for k, v in files.items() if k != "fsdd_heldout_joined"}
    files["fsdd_heldout_joined"] = sorted(k for k in scores if k.startswith("joined:"))
    todo = sorted(scores)
    table = {"model": a.model, "precision": a.precision, "quiet_peak_db": a.quiet_peak_db, "run_windows": a.run_windows,
             "threshold": thr, "files": len(todo),
             "audio_s": round(n_sec, 1), "seconds": round(el, 1), "skipped": skipped, "eer": {}, "fpr_at_threshold": {}, "detected_at_threshold": {},
             "extra_real": {k: files[k] for k in real_fpr if k not in REAL_FPR and k not in real_music}}
    for name, (fk, rk) in pairs.items():
        fs = [scores[f] for f in files[fk]]
        rs = [scores[f] for f in files[rk]]
        if not fs or not rs:
            continue
        table["eer"][name] = {"eer": eer_of(rs, fs), "ci95": bootstrap_ci(eer_of, rs, fs), "n_fake": len(fs),
                              "n_real": len(rs)}
        table["detected_at_threshold"][name] = float(np.mean(np.array(fs) >= thr))
    for name in real_fpr:
        if files.get(name):
            rs = np.array([scores[f] for f in files[name]])
            table["fpr_at_threshold"][name] = {
                "fpr": float(np.mean(rs >= thr)), "n": len(rs), "mean_score": float(rs.mean()),
                "ci95": bootstrap_ci(lambda r: float(np.mean(r >= thr)), rs)}
    print(f"model {a.model} ({a.precision})  threshold {thr:.3f}  {len(todo)} files, {n_sec:.0f} s audio in {el:.0f} s "
          f"({n_sec / max(el, 1e-9):.1f}x real time, {a.threads} thread)")
    for m in skipped:
        print(f"skipped {m}")
    print(f"{'subset':30s} {'EER %':>7s} {'95% CI':>13s} {'det@thr %':>9s}  n_fake/n_real")
    for k, v in table["eer"].items():
        ci = f"{100 * v['ci95'][0]:.1f}-{100 * v['ci95'][1]:.1f}"
        print(f"{k:30s} {100 * v['eer']:7.1f} {ci:>13s} {100 * table['detected_at_threshold'][k]:9.1f}  "
              f"{v['n_fake']}/{v['n_real']}")
    print(f"{'real subset':30s} {'FPR %':>7s} {'95% CI':>13s} {'mean p':>9s}  n")
    for k, v in table["fpr_at_threshold"].items():
        ci = f"{100 * v['ci95'][0]:.1f}-{100 * v['ci95'][1]:.1f}"
        print(f"{k:30s} {100 * v['fpr']:7.1f} {ci:>13s} {v['mean_score']:9.3f}  {v['n']}")
    if a.json:
        Path(a.json).write_text(json.dumps({"table": table, "scores": scores, "narrowband": narrow,
                                            "window_scores": {k: np.asarray(v, float).tolist()
                                                              for k, v in window_probs.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
