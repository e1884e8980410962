"""``avsync eval MANIFEST --task spoof|sync|analyze --out DIR``: metrics tables over a manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from avsync.evaluation.perturb import PERTURBATIONS
from avsync_cli.common import EXIT_INPUT_FAILED, EXIT_OK, EXIT_USAGE, echo_json, fail, precision_option, warn

if TYPE_CHECKING:
    from avsync.device import Precision
    from avsync.evaluation import ManifestRow


def _progress(quiet: bool):
    if quiet:
        return None

    def report(i: int, n: int, row: ManifestRow, rec: dict) -> None:
        if (i + 1) % 25 == 0 or i + 1 == n or rec.get("status") != "ok":
            state = "cached" if rec.get("cached") else rec.get("status")
            warn(f"[{i + 1}/{n}] {row.id}: {state}" + (f" ({rec['message']})" if rec.get("message") else ""))

    return report


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings → a dict; VALUE as JSON when it parses (``false``, ``0``, ``"x"``), else as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            fail(f"--option wants KEY=VALUE with KEY a keyword name, got {pair!r}", EXIT_USAGE)
        if key in out:
            fail(f"--option {key} is given twice", EXIT_USAGE)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@click.command("eval")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--task", "task_name", required=True,
              help="Task to evaluate: spoof, sync, analyze, artefacts (or a task registered from Python).")
@click.option("--model", default=None, help="Model name passed to the task (default: the task's default).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder (tables, per-file scores, plots, and the result cache reused by reruns).")
@click.option("--subset", "subsets", multiple=True,
              help="Only these subsets (repeatable): a subset (fake_speech/yourtts), subset/generator "
                   "(fake_speech/hifigan_demo/HGAN_V1), a kind (real_speech) or a path prefix. The real "
                   "counterparts of selected fakes are scored too.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Decision threshold on the fake probability for the FPR/TPR columns.")
@click.option("--trim-silence", is_flag=True, help="Cut leading/trailing silence before scoring.")
@click.option("--perturb", is_flag=True, help="Also run every robustness perturbation and report the metric change.")
@click.option("--perturbations", default=None,
              help=f"Comma-separated perturbations to run (implies --perturb): {','.join(PERTURBATIONS)}.")
@click.option("--by-group", is_flag=True,
              help="Also a row per group (speaker, demo page) of every subset whose fakes come from several groups.")
@click.option("--option", "task_options", multiple=True, metavar="KEY=VALUE",
              help="Keyword option of the task (repeatable; VALUE is read as JSON when it parses, else as text), e.g. "
                   "--option vad=false --option min_duration_s=0 for the spoof task. Part of the cache key.")
@click.option("--n-boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap replicates for the EER, AUC and FPR intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score at most N selected files, and at most N real files paired with them (quick look).")
@precision_option(default=None, help="Network precision of the spoof and analyze tasks (default float32); bfloat16 results are cached "
                   "separately.")
@click.option("--root", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder relative paths in the manifest are resolved against (default: the manifest's folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary table as JSON.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def command(manifest: str, task_name: str, model: str | None, out_dir: str, subsets: tuple[str, ...], threshold: float,
            trim_silence: bool, perturb: bool, perturbations: str | None, by_group: bool, task_options: tuple[str, ...],
            n_boot: int, seed: int, limit: int | None, precision: Precision | None, root: str | None, as_json: bool,
            quiet: bool) -> None:
    """Evaluate a task over MANIFEST (CSV or JSONL; the shared data MANIFEST.csv works as is).

    Writes to --out: summary.md/.csv/.json (one row per subset and generator: EER with a bootstrap
    interval and its threshold, ROC-AUC with a bootstrap interval, AP, min t-DCF, ECE, FPR (with an
    interval) and TPR at --threshold, offset accuracy),
    scores.csv/.jsonl (per file), roc.png, det.png, cache.jsonl (reruns score only new files),
    and with --perturb robustness.md/.csv/.json.

    Exit codes: 0 done (files that fail are counted in n_failed), 1 the task is not available or
    no file could be scored, 2 usage error.
    """
    from avsync.errors import AvsyncError
    from avsync.evaluation import EvalConfig, TaskUnavailable, get_task, read_manifest, run_eval

    try:
        get_task(task_name)
    except AvsyncError as e:
        fail(str(e), EXIT_USAGE)
    names: tuple[str, ...] = ()
    if perturbations:
        names = tuple(p.strip() for p in perturbations.split(",") if p.strip())
        bad = [p for p in names if p not in PERTURBATIONS]
        if bad:
            fail(f"unknown perturbation(s) {', '.join(bad)}; choose from {', '.join(PERTURBATIONS)}", EXIT_USAGE)
    elif perturb:
        names = tuple(PERTURBATIONS)
    options = _parse_options(task_options)
    if "precision" in options:
        fail("give the precision with --precision, not --option precision=...", EXIT_USAGE)
    cfg = EvalConfig(task=task_name, model=model, subsets=tuple(subsets), threshold=threshold,
                     trim_silence=trim_silence, perturbations=names, n_boot=n_boot, seed=seed, limit=limit,
                     precision=None if precision == "float32" else precision,  # float32: the tasks' default, same cache
                     by_group=by_group, options=options)
    try:
        rows = read_manifest(manifest, root=root)
        report = run_eval(rows, cfg, out_dir, progress=_progress(quiet or as_json))
    except TaskUnavailable as e:
        fail(str(e), EXIT_INPUT_FAILED)
    except AvsyncError as e:
        fail(str(e), EXIT_USAGE if e.status.value == "config_error" else EXIT_INPUT_FAILED)
    if as_json:
        from avsync.results import to_jsonable

        echo_json(to_jsonable({"table": report.table, "robustness": report.robustness, "files": report.files,
                               "n_scored": report.n_scored, "n_cached": report.n_cached}))
    else:
        click.echo(Path(report.files["summary.md"]).read_text(encoding="utf-8"))
        if report.robustness:
            click.echo(Path(report.files["robustness.md"]).read_text(encoding="utf-8"))
        missing = sum(1 for r in report.records if r.get("status") == "not_found")
        gone = f", {missing} not found" if missing else ""
        click.echo(f"scored {report.n_scored} file(s), reused {report.n_cached} cached{gone}; results in {out_dir}")
    ok = any(r.get("status") == "ok" for r in report.records)
    sys.exit(EXIT_OK if ok else EXIT_INPUT_FAILED)
