"""benchmarks/fusion_calibrate.py --cue-calibration: per-cue maps fitted on the kinds each cue targets, then "max"."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fusion_calibrate as fc  # noqa: E402

from avsync.fusion import FusionConfig, logit, sigmoid  # noqa: E402


def _row(kind: str, sync: float, artefact: float, spoof: float = 0.1) -> dict:
    return {"clip": kind, "variant": "orig", "split": "calib", "label": int(kind != "real"), "kind": kind,
            "duration_s": 5.0, "scores": {"sync": sync, "spoof": spoof, "speaker": 0.1, "artefact": artefact},
            "status": dict.fromkeys(fc.CUES, "ok"), "coverage": dict.fromkeys(fc.CUES, 1.0)}


def _rows(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = [_row("real", rng.uniform(0.02, 0.3), rng.uniform(0.01, 0.1)) for _ in range(30)]
    rows += [_row("shift+8", rng.uniform(0.5, 0.99), rng.uniform(0.01, 0.1)) for _ in range(20)]
    rows += [_row("swap", rng.uniform(0.4, 0.95), rng.uniform(0.01, 0.1)) for _ in range(10)]
    # generated faces: in sync (the sync cue reads them as genuine), mouth region higher than any real clip's
    rows += [_row("fake:lipsync", rng.uniform(0.01, 0.05), rng.uniform(0.15, 0.5)) for _ in range(8)]
    rows += [_row("fake:talking_head", rng.uniform(0.01, 0.05), rng.uniform(0.12, 0.4)) for _ in range(8)]
    return rows


def test_each_cue_is_fitted_only_against_what_it_targets():
    cal = fc.fit_cue_calibration(_rows())
    assert set(cal) == {"sync", "artefact"}  # voice and speaker keep their models' calibration
    for cue in cal:
        assert cal[cue][0] > 0  # monotone: more suspicious evidence, a higher calibrated score
    # the generated faces' low sync scores do not enter the sync fit: it would otherwise flatten its slope
    rows = _rows()
    sync_only = [r for r in rows if r["kind"] != "fake:lipsync" and r["kind"] != "fake:talking_head"]
    assert np.allclose(fc.fit_cue_calibration(sync_only)["sync"], cal["sync"])
    # an unusable cue's row is left out of that cue's fit
    rows[0]["status"]["artefact"], rows[0]["scores"]["artefact"] = "no_face", None
    assert np.isfinite(fc.fit_cue_calibration(rows)["artefact"]).all()


def test_per_cue_maps_apply_before_the_shipped_max_and_thresholds_come_from_calib_reals():
    rows = _rows()
    pc = fc.with_calibrated_cues(FusionConfig(), rows, version="t")
    a, b = pc.calibration["artefact"]
    r = rows[-1]
    assert np.isclose(pc.row(r)["scores"]["artefact"], sigmoid(a * logit(r["scores"]["artefact"]) + b))
    assert pc.row(r)["scores"]["spoof"] == r["scores"]["spoof"] and r["scores"] is not pc.row(r)["scores"]
    real = [fc.verdict(pc, x) for x in rows if x["label"] == 0]
    assert sum(label == "manipulated" for label, _ in real) <= 0.05 * len(real)
    assert sum(label == "undetermined" for label, _ in real) <= 0.10 * len(real)
    # the generated faces rank above the real clips more often than under the uncalibrated max, where the real
    # clips' sync cue (up to 0.3) outweighs the generated faces' mouth-region cue (0.12-0.5)
    from avsync.evaluation.metrics import roc_auc

    sel = [x for x in rows if x["kind"] == "real" or x["kind"].startswith("fake:")]
    y = [x["label"] for x in sel]
    calibrated = roc_auc(y, [fc.verdict(pc, x)[1] for x in sel])
    plain = roc_auc(y, [fc.verdict(FusionConfig(), x)[1] for x in sel])
    assert calibrated > plain + 0.1
