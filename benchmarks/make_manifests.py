"""Write the checked-in benchmark manifests of ``benchmarks/manifests/`` from ../shared/data/MANIFEST.csv.

Usage (from the repository root)::

    python benchmarks/make_manifests.py            # rewrite benchmarks/manifests/*.csv
    python benchmarks/make_manifests.py --check    # exit 1 when a checked-in file differs

``voice_heldout.csv`` — the held-out evaluation set of the voice models (the files of the model card of
``aasist-avsync``; ``avsync eval --task spoof`` runs it). Every file is one the fine-tuning recipe
(:mod:`avsync.training.spoof_finetune`) neither trained nor calibrated on, by the recipe's own split rules:
``avsync.training.spoof_data.SPEAKER_SPLITS`` and ``spoof_finetune.VCTK_SPLITS`` name the train / calib
speakers, every other speaker of those subsets is held out (``real_sources(...)`` split ``eval``); the demo
pages, KLettres and the HDTF radio clips were never read by the recipe. Subsets (the card's rows):

=====================  ==========================================================================================
subset                 files (group; generator)
=====================  ==========================================================================================
yourtts                YourTTS Exp.4 and SC-GlowTTS clones of the held-out VCTK speakers and their ground truth
                       (group: the VCTK speaker; generator: ``Exp4_SCL``, ``SC-GlowTTS-Trans``)
yourtts_reference      the reference clips of the same speakers (real only)
hifigan_demo           HiFi-GAN demo: WaveNet, WaveGlow, MelGAN, HiFi-GAN V1–V3 copies of LJSpeech and the
                       LJSpeech ground truth (group ``LJSpeech``; generator: the system folder)
freevc_demo            FreeVC demo: six VC systems and the page's real utterances of speakers no training split
                       holds (group ``freevc_demo``: every system is compared with all of them)
demo_pages             every other ``*-demo`` page and AdvSpeech: fakes and the page's own real recordings
                       (group: the page; generator: the ``generator=`` of the shared description)
librispeech_heldout    LibriSpeech test-other, held-out speakers (group: speaker)
fsdd_heldout           Free Spoken Digit Dataset, held-out speakers (group: speaker)
klettres               Debian KLettres letters, all languages (group: language)
hdtf_radio             HDTF radio clips of the SadTalker repository (group: clip)
=====================  ==========================================================================================

Paths are ``${AVSYNC_SHARED}/data/<file>`` (run with ``AVSYNC_SHARED=../shared``); ``id`` is the shared
file name. Rows are sorted by ``id`` so that every set's scores come in the order the benchmark script
(``benchmarks/spoof_model_eval.py``) resamples them. The card's other rows are made at evaluation time
(Kokoro / Piper speaking held-out texts, HiFi-GAN copies, codec copies, joined FSDD takes) and stay with
that script.

``artefacts_heldout.csv`` — the held-out evaluation set of the artefact models (the clips of
``benchmarks/eval_artefacts.py`` and of the cards of ``artefact-mouth`` / ``artefact-face``; ``avsync eval --task
artefacts`` runs it): every ``real_av`` / ``fake_av`` video except the sources the shipped recipe trains or
calibrates on (``avsync.training.artefacts.REAL_SOURCES_V2``, ``CALIB_SOURCES_V2``) and the 96x96 mouth-ROI clip
(``real_av/usr_lrs3/``), the script's ``DEFAULT_EXCLUDE``. ``subset`` is the row the script reports a clip in
(``eval_artefacts.report_family``: ``real``, ``wav2lip``, ``w2l-gfpgan``, ``hallo+w2l``, ``hyperlips``, ``edtalk``,
``dreamtalk``, ``sadtalker``, ``hallo``, ``faceswap``), ``group`` the source folder (``fake_av/wav2lip_vivek``),
``generator`` the system named by the shared description's ``generator=`` (else the folder). Every fake subset is
compared with all real rows (pairing ``same-modality``), as the script does.

``sync_heldout.csv`` — the held-out set of the lip-sync models (``benchmarks/eval_sync_models.py``'s clips:
every ``real_av`` / ``fake_av`` file with audio and video except GRID and CREMA-D, the script's
``DEFAULT_EXCLUDE``; ``avsync eval --task sync`` runs it). Each real clip comes with copies made at evaluation
time by the ``audio`` column (:class:`avsync.evaluation.manifest.AudioEdit`), all paired with it:

=================  ================================================================================================
subset             rows
=================  ================================================================================================
real               the real clips as they are (``offset_frames``: 0, assumed in sync; the SyncNet demo clip: its
                   published +3)
shift320 / 200     the audio moved 8 / 5 frames earlier (audio leads video by 320 / 200 ms), fake
swapped            the audio of the next real clip in file order, looped or cut to length (dubbed), fake
recovery           the audio moved by each offset of the script's ``DEFAULT_SHIFTS`` but 0 (fake; ``offset_frames``:
                   the clip's own plus the shift)
lipsync            the lip-sync and talking-head fakes on their own audio (generator: as ``avsync eval`` reads
                   the shared description)
=================  ================================================================================================

``fusion_heldout.csv`` — the evaluation split of the fused verdict (``benchmarks/fusion_calibrate.py``'s ``eval``
clips: split by source, never fitted on; ``avsync eval --task analyze`` runs it): its 24 real clips (``real``),
per real clip the audio moved by ±3, ±5, ±8 and ±15 frames (``shift120``, ``shift200``, ``shift320``,
``shift600``; both directions in each) and the audio of the script's donor clip (``dubbed``), all made by the
``audio`` column and paired with their clip, and its 22 fakes by the script's family (``lipsync``,
``talking_head``, ``faceswap``). The script's HiFi-GAN voice copies are not in it: the vocoder is a generator of
the training recipe, loaded nowhere else.

``group`` is the source folder (``real_av/pcavs``); ``id`` the file, with ``#shift320``, ``#shift200``,
``#swapped`` or ``#shift:N`` for a copy. The copies of the 320 / 200 ms rows and the recovery rows
of the same shift are the same edit: ``avsync eval`` scores each edit once.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "benchmarks" / "manifests"
VOICE_HELDOUT = "voice_heldout.csv"
ARTEFACTS_HELDOUT = "artefacts_heldout.csv"
SYNC_HELDOUT = "sync_heldout.csv"
FUSION_HELDOUT = "fusion_heldout.csv"
COLUMNS = ("path", "label", "kind", "group", "generator", "offset_frames", "segments", "subset", "paired_with", "id")
PREFIX = "${AVSYNC_SHARED}/data/"
HIFIGAN_DEMO_SYSTEMS = ("WN", "WG", "MG", "HGAN_V1", "HGAN_V2", "HGAN_V3")


def _vctk(path: str) -> str:
    m = re.search(r"\b(p\d{3})", path)
    return m.group(1) if m else ""


def _generator(description: str, fallback: str) -> str:
    """The system named by ``generator=...`` in a shared description, up to ``(``, ``;`` or a full stop."""
    if "generator=" not in description:
        return fallback
    g = re.split(r"\s*\(|;|\.\s", description.split("generator=", 1)[1], maxsplit=1)[0].strip()
    return g or fallback


def voice_heldout_rows(data: Path) -> list[dict[str, str]]:
    """Rows of ``voice_heldout.csv`` from ``data/MANIFEST.csv`` (``data`` = ``<shared>/data``), sorted by id."""
    from avsync.training import spoof_data as sd
    from avsync.training.spoof_finetune import STUDIO_SUBSETS, VCTK_SPLITS

    with open(data / "MANIFEST.csv", newline="") as fh:
        shared = {r["file"]: r for r in csv.DictReader(fh)}
    out: dict[str, dict[str, str]] = {}

    def add(file: str, label: str, subset: str, group: str, generator: str = "") -> None:
        out[file] = {"path": PREFIX + file, "label": label, "kind": f"{label}_speech", "group": group,
                     "generator": generator, "offset_frames": "", "segments": "", "subset": subset,
                     "paired_with": "", "id": file}

    def rel(src: sd.RealSource) -> str:
        return Path(src.path).relative_to(data).as_posix()

    # the recipe's own split of the real speech: speakers it does not list are "eval"
    studio = sd.real_sources(data.parent, subsets=STUDIO_SUBSETS, splits={"yourtts": VCTK_SPLITS})
    vctk_eval = {s.speaker for s in studio if s.split == "eval"}
    assert not vctk_eval & set(VCTK_SPLITS)
    for s in studio:
        f = rel(s)
        if s.split == "eval" and f.startswith("fake_speech/yourtts/GT/"):
            add(f, "real", "yourtts", s.speaker)
        elif s.split == "eval" and f.startswith("fake_speech/yourtts/reference/"):
            add(f, "real", "yourtts_reference", s.speaker)
    for f in shared:
        for system in ("Exp4_SCL", "SC-GlowTTS-Trans"):
            if f.startswith(f"fake_speech/yourtts/{system}/") and _vctk(f) in vctk_eval:
                add(f, "fake", "yourtts", _vctk(f), system)
    held = sd.real_sources(data.parent, subsets={k: sd.REAL_SUBSETS[k] for k in ("librispeech_test-other", "fsdd")})
    for s in held:
        if s.split == "eval":
            add(rel(s), "real", "librispeech_heldout" if s.subset == "librispeech_test-other" else "fsdd_heldout",
                s.speaker)
    rtvc_trained = set(sd.SPEAKER_SPLITS["rtvc_samples"])  # LibriTTS / VCTK speakers whose speech trains
    pages = sorted({f.split("/")[1] for f in shared if f.split("/")[1].endswith("-demo") or f.split("/")[1] == "advspeech"}
                   - {"hifigan_demo"})
    for f, row in shared.items():
        parts = f.split("/")
        if parts[0] not in ("real_speech", "fake_speech") or len(parts) < 3:
            continue
        if parts[:3] == ["fake_speech", "hifigan_demo", "ss"]:
            if parts[3] == "GT":
                add(f, "real", "hifigan_demo", "LJSpeech")
            elif parts[3] in HIFIGAN_DEMO_SYSTEMS:
                add(f, "fake", "hifigan_demo", "LJSpeech", parts[3])
        elif parts[1] == "freevc_demo":
            if parts[0] == "fake_speech":
                add(f, "fake", "freevc_demo", "freevc_demo", parts[2])
            elif Path(f).stem.split("_")[1] not in rtvc_trained:
                add(f, "real", "freevc_demo", "freevc_demo")
        elif parts[1] in pages:
            if parts[0] == "fake_speech":
                add(f, "fake", "demo_pages", parts[1], _generator(row.get("label", ""), parts[1]))
            else:
                add(f, "real", "demo_pages", parts[1])
        elif parts[:2] == ["real_speech", "debian_klettres"]:
            add(f, "real", "klettres", parts[2])
        elif parts[:2] == ["real_speech", "sadtalker_hdtf"]:
            add(f, "real", "hdtf_radio", Path(f).stem.rsplit("_", 1)[0])
    _require_files(data, out)
    return [out[k] for k in sorted(out)]


def artefacts_heldout_rows(data: Path) -> list[dict[str, str]]:
    """Rows of ``artefacts_heldout.csv``: the clips ``benchmarks/eval_artefacts.py`` scores, sorted by id."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from eval_artefacts import DEFAULT_EXCLUDE, report_family
    finally:
        sys.path.pop(0)

    with open(data / "MANIFEST.csv", newline="") as fh:
        shared = [r for r in csv.DictReader(fh)  # the selection of eval_artefacts.main (no --only)
                  if r["kind"] in ("real_av", "fake_av") and r["video_fps"]
                  and not r["file"].startswith(DEFAULT_EXCLUDE)]
    out = []
    for r in shared:
        f, folder = r["file"], "/".join(r["file"].split("/")[:2])
        label = "fake" if r["kind"] == "fake_av" else "real"
        out.append({"path": PREFIX + f, "label": label, "kind": r["kind"], "group": folder,
                    "generator": _generator(r["label"], folder.split("/")[1]) if label == "fake" else "",
                    "offset_frames": "", "segments": "", "subset": report_family(f, r["label"]),
                    "paired_with": "", "id": f})
    _require_files(data, [r["id"] for r in out])
    return sorted(out, key=lambda r: r["id"])


def sync_heldout_rows(data: Path) -> list[dict[str, str]]:
    """Rows of ``sync_heldout.csv``: ``eval_sync_models.py``'s clips and, per real clip, its edited copies."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from _sync_track_cache import eval_rows
        from eval_sync_models import DEFAULT_EXCLUDE, DEFAULT_SHIFTS

        from avsync.evaluation.manifest import map_shared_row
    finally:
        sys.path.pop(0)

    rows = [r for r in eval_rows(data) if not r["file"].startswith(DEFAULT_EXCLUDE)]
    reals = [r for r in rows if r["kind"] == "real_av"]
    out: list[dict[str, str]] = []

    def add(r: dict, label: str, subset: str, *, audio: str = "", offset: object = "", generator: str = "",
            paired: str = "", tag: str = "") -> None:
        f = r["file"]
        out.append({"path": PREFIX + f, "label": label, "kind": "fake_av" if label == "fake" else r["kind"],
                    "group": "/".join(f.split("/")[:2]), "generator": generator, "offset_frames": str(offset),
                    "segments": "", "subset": subset, "paired_with": paired,
                    "id": f"{f}#{tag or audio}" if audio else f, "audio": audio})

    for i, r in enumerate(reals):
        f = r["file"]
        m = re.search(r"AV offset (-?\d+)", r["label"])
        own = int(m.group(1)) if m else 0
        add(r, "real", "real", offset=own)
        add(r, "fake", "shift320", audio="shift:+8", offset=own + 8, generator="audio +320 ms", paired=f,
            tag="shift320")
        add(r, "fake", "shift200", audio="shift:+5", offset=own + 5, generator="audio +200 ms", paired=f,
            tag="shift200")
        donor = reals[(i + 1) % len(reals)]["file"]
        add(r, "fake", "swapped", audio=f"from:{PREFIX}{donor}", generator="swapped audio", paired=f,
            tag="swapped")
        for s in DEFAULT_SHIFTS:
            if s:
                add(r, "fake", "recovery", audio=f"shift:{s:+d}", offset=own + s, generator="injected offset", paired=f)
    for r in rows:
        if r["kind"] == "fake_av":  # the generator as avsync eval names it when it reads MANIFEST.csv itself
            add(r, "fake", "lipsync", generator=map_shared_row(r, base=data).generator)
    _require_files(data, [r["file"] for r in rows])
    return out


def fusion_heldout_rows(data: Path) -> list[dict[str, str]]:
    """Rows of ``fusion_heldout.csv``: ``fusion_calibrate.py``'s eval clips and their shifted and dubbed copies."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import fusion_calibrate as fc
    finally:
        sys.path.pop(0)

    clips = fc.recipe_clips(data)
    donor = fc.donors(clips)
    names = {3: "shift120", 5: "shift200", 8: "shift320", 15: "shift600"}
    out: list[dict[str, str]] = []
    for c in sorted((c for c in clips if c["split"] == "eval"), key=lambda c: c["clip"]):
        f = c["clip"]
        row = {"path": PREFIX + f, "group": "/".join(f.split("/")[:2]), "segments": "", "id": f, "audio": ""}
        if c["label"]:
            out.append({**row, "label": "fake", "kind": "fake_av", "generator": c["family"], "offset_frames": "",
                        "subset": c["family"], "paired_with": ""})
            continue
        out.append({**row, "label": "real", "kind": "real_av", "generator": "", "offset_frames": "",
                    "subset": "real", "paired_with": ""})
        for k, name in names.items():
            for s in (k, -k):
                out.append({**row, "label": "fake", "kind": "fake_av", "generator": f"audio {40 * s:+d} ms",
                            "subset": name, "paired_with": f, "offset_frames": "", "id": f"{f}#shift:{s:+d}",
                            "audio": f"shift:{s:+d}"})
        if f in donor:  # as the script: no dubbed copy for a clip without a donor of another source
            out.append({**row, "label": "fake", "kind": "fake_av", "generator": "swapped audio", "subset": "dubbed",
                        "paired_with": f, "offset_frames": "", "id": f"{f}#dubbed", "audio": f"from:{PREFIX}{donor[f]}"})
    _require_files(data, {c["clip"] for c in clips if c["split"] == "eval"} | {donor[c["clip"]] for c in clips
                                                                              if c["split"] == "eval" and c["clip"] in donor})
    return out


def _require_files(data: Path, files) -> None:
    """Stop when a listed file (path relative to ``data``) is not there."""
    missing = sorted(f for f in files if not (data / f).exists())
    if missing:
        raise SystemExit(f"{len(missing)} listed file(s) are not in {data}: {missing[:3]}")


MANIFESTS = {VOICE_HELDOUT: voice_heldout_rows, ARTEFACTS_HELDOUT: artefacts_heldout_rows,
             SYNC_HELDOUT: sync_heldout_rows, FUSION_HELDOUT: fusion_heldout_rows}


def render(rows: list[dict[str, str]]) -> str:
    """CSV text of ``rows`` (native manifest columns, ``\\n`` line ends)."""
    buf = io.StringIO()
    extra = ["audio"] if any(r.get("audio") for r in rows) else []  # the optional column, where used
    w = csv.DictWriter(buf, fieldnames=[*COLUMNS, *extra], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def shared_data(shared: str | None) -> Path:
    """``<shared>/data`` of ``--shared``, ``$AVSYNC_SHARED`` or ``../shared`` beside the repository."""
    from avsync.training.spoof_data import shared_data_dir

    return shared_data_dir(shared)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=None, help="shared root (default $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--out", default=str(OUT_DIR), help="folder of the manifests (default benchmarks/manifests)")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    a = ap.parse_args(argv)
    data = shared_data(a.shared)
    stale = 0
    for name, make in MANIFESTS.items():
        text = render(make(data))
        target = Path(a.out) / name
        if a.check:
            same = target.exists() and target.read_text() == text
            state = "up to date" if same else "differs from the shared MANIFEST.csv: rerun without --check"
            print(f"{target}: {state}")
            stale += not same
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target} ({text.count(chr(10)) - 1} rows)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
