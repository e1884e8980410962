"""``avsync calibrate MANIFEST --out fusion.yaml``: fit fusion weights and thresholds on labelled clips."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Literal

import click

from avsync.model_files import SYNC_MODELS
from avsync_cli.common import EXIT_INPUT_FAILED, EXIT_OK, EXIT_USAGE, device_option, echo_json, fail


@click.command("calibrate")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=str), help="Fusion config YAML to write.")
@click.option("--method", type=click.Choice(["logistic", "isotonic"]), default="logistic", show_default=True)
@click.option("--max-fpr", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="Share of genuine clips allowed above the threshold.")
@click.option("--subset", "subsets", multiple=True, help="Only rows whose subset/path matches (repeatable).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=str), help="Start from this fusion config.")
@click.option("--sync-model", type=click.Choice(SYNC_MODELS), default="syncnet", show_default=True,
              help="Lip-sync model whose cue is fitted (use the same one with `avsync analyze --sync-model`).")
@device_option()
@click.option("--json", "as_json", is_flag=True, help="Print the fitted config and fit statistics as JSON.")
def command(manifest: str, out: str, method: Literal["logistic", "isotonic"], max_fpr: float, subsets: tuple[str, ...],
            config: str | None, sync_model: str, device: str, as_json: bool) -> None:
    """Run the detector on every clip of MANIFEST (CSV/JSONL with path and label real/fake, or ../shared's
    MANIFEST.csv) and fit the fusion model: logistic regression over the cues' log-odds with no negative weight
    (more suspicious evidence never lowers p), optionally followed by an isotonic map; the manipulated threshold
    keeps at most --max-fpr of the genuine clips above it.
    """
    from avsync.calibration import fit
    from avsync.errors import AvsyncError
    from avsync.evaluation.manifest import filter_rows, read_manifest
    from avsync.evaluation.perturb import apply_audio_edit
    from avsync.fusion import FusionConfig
    from avsync.pipeline import Detector

    rows = filter_rows(read_manifest(manifest), subsets)
    if not rows:
        fail(f"no manifest row matches --subset {' '.join(subsets)}" if subsets else f"{manifest} lists no clip",
             EXIT_USAGE)
    try:  # before any clip is analysed: a config that cannot be written would lose the whole run
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    except OSError as e:
        fail(f"cannot write {out}: {e}", EXIT_USAGE)
    base = FusionConfig.load(config) if config else None
    det = Detector.from_pretrained(config=base, device=device, sync_model=sync_model)
    feats, labels, skipped, unread = [], [], [], []
    edited = tempfile.TemporaryDirectory(prefix="avsync-calibrate-")  # copies made by the manifest's audio column
    for i, row in enumerate(rows):
        edit = row.audio_edit
        try:
            path = row.path if edit is None else apply_audio_edit(row.path, edit, cache_dir=edited.name)
        except AvsyncError as e:
            click.echo(f"[{i + 1}/{len(rows)}] {row.id}: {e.status}: {e}", err=True)
            skipped.append(row.id)
            continue
        v = det(path)
        usable = {c.name: c.score for c in v.cues if c.usable}
        if v.status.is_failure:  # not read: its status and why, as avsync eval says it
            click.echo(f"[{i + 1}/{len(rows)}] {row.id}: {v.status}: {v.reasons[0].removeprefix('undetermined: ')}",
                       err=True)
            unread.append(row.id)
            continue
        click.echo(f"[{i + 1}/{len(rows)}] {row.id}: {v.label.value} {json.dumps(usable)}", err=True)
        if not usable:
            skipped.append(row.id)
            continue
        feats.append(usable)
        labels.append(1 if row.label == "fake" else 0)
    edited.cleanup()
    if not (0 < sum(labels) < len(labels)):
        fail(f"{len(feats)} of {len(rows)} clips gave evidence ({int(sum(labels))} fake): calibration needs genuine and "
             "manipulated clips with evidence", EXIT_INPUT_FAILED if unread else EXIT_USAGE)
    # monotone: a small or unbalanced manifest can otherwise give a cue a negative weight, and a verdict would then
    # call a clean lip-sync reading (p = 0.0001) evidence of manipulation
    cfg = fit(feats, labels, method=method, max_false_positive_rate=max_fpr, base=base or det.fusion, nonnegative=True)
    from dataclasses import replace

    from avsync.model_files import model_sha256, sync_model_name

    bundle = sync_model_name(sync_model)  # the cue's scale is the model's: `analyze` notes another model
    cfg = replace(cfg, fitted_on={
        "data": os.path.basename(manifest), "clips": len(feats), "fake": int(sum(labels)),
        "real": len(labels) - int(sum(labels)), "sync_model": bundle, "sync_model_sha256": model_sha256(bundle),
        "command": {"method": method, "nonnegative": True, "max_fpr": max_fpr, "subset": list(subsets), "config": config}})
    cfg.save(out)
    stats = {"clips": len(rows), "used": len(feats), "skipped_no_evidence": skipped, "not_read": unread, "fake": int(sum(labels)),
             "real": len(labels) - int(sum(labels)), "config": cfg.to_dict(), "out": out}
    if as_json:
        echo_json(stats)
    else:
        click.echo(f"fitted on {len(feats)} clips ({stats['fake']} fake, {stats['real']} real); wrote {out}")
        click.echo(f"weights {cfg.weights}, bias {cfg.bias:.3f}, manipulated threshold {cfg.manipulated_threshold:.3f}")
        if unread:
            click.echo(f"{len(unread)} clip(s) could not be read and were left out", err=True)
    sys.exit(EXIT_INPUT_FAILED if unread else EXIT_OK)
