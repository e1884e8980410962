"""``avsync batch INPUT --out results.jsonl``: run a task over a folder, glob or manifest; resumable."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Literal, NoReturn

import click

from avsync_cli.common import EXIT_USAGE, check_device, echo_json, exit_code_for, fail, precision_option

if TYPE_CHECKING:
    from avsync.device import Precision

_TASKS = ("analyze", "spoof", "sync", "inspect")


@click.command("batch")
@click.argument("source", type=str)
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="JSONL results file (appended; a rerun skips inputs already done).")
@click.option("--task", default="analyze", show_default=True,
              help=f"What to compute per file: {', '.join(_TASKS)} (analyze: the verdict, the voice alone for "
              "audio-only files; or any registered evaluation task, or MODULE:FACTORY).")
@click.option("--model", default=None, help="Model name or path for the task (default: the task's own).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Parallel worker processes (0: in this process) or Ray actors (0: one per cluster CPU/GPU).")
@click.option("--device", default=None, callback=check_device,
              help="auto (default: CUDA when available, else CPU), cpu, cuda or cuda:N; handed to the task (GPU actors on Ray).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local worker processes, or Ray actors on a cluster.")
@click.option("--ray-address", default=None,
              help="Ray cluster: auto, ray://HOST:10001 (default: $RAY_ADDRESS, else a local Ray instance).")
@precision_option(default=None, help="Network precision of the spoof and analyze tasks (default float32); bfloat16 is about 2x faster "
                   "on CPUs with AVX-512 BF16, borderline scores can move. bfloat16 is part of the resume key.")
@click.option("--max-files", type=click.IntRange(min=1), default=None,
              help="Stop after this many new results (rerun to continue).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds one file may take (local engine); past it: status error, worker restarted.")
@click.option("--retry-errors", is_flag=True, help="Score again inputs whose last result is an error.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--no-fsync", is_flag=True, help="Do not fsync each line (faster; still never a torn line on a crash).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def command(source: str, out: str, task: str, model: str | None, jobs: int, device: str | None, engine: Literal["local", "ray"],
            ray_address: str | None, precision: Precision | None, max_files: int | None, timeout: float | None,
            retry_errors: bool, no_progress: bool, no_fsync: bool, as_json: bool) -> None:
    """Run TASK over every input in SOURCE and append one JSON line per input to --out.

    SOURCE is a folder (walked recursively; media recognised by content, other files recorded
    as `skipped`, or as `decode_error` when named like audio or video), a glob such as 'calls/**/*.wav' (quote it), or a manifest: a .csv with a
    `path` (or `file`) column, or a .jsonl with one {"path": ...} per line.

    Each line holds path, sha256, task, model, status, score, label, the task's result, timings
    and the error message when failed. The --out file itself (and any other batch results file found
    in a folder or glob) is never an input. Interrupt at will (Ctrl-C, SIGTERM): rerunning the same command
    skips what is done. Exit codes: 0 ok, 1 an input failed, 2 usage or configuration error
    (unknown task, bad manifest, the task cannot be built), 130 interrupted.
    """
    from avsync.batch import format_summary, run_batch
    from avsync.errors import ConfigError

    def _terminate(signum: int, frame: FrameType | None) -> NoReturn:  # a scheduler's SIGTERM stops the run like Ctrl-C: cleanly
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = run_batch(
            source,
            out,
            task=task,
            model=model,
            jobs=jobs,
            device=device,
            engine=engine,
            ray_address=ray_address,
            # float32 is the tasks' default: asking for it keeps the resume key of runs without the option
            config={"precision": precision} if precision not in (None, "float32") else None,
            max_files=max_files,
            timeout=timeout,
            retry_errors=retry_errors,
            progress=not no_progress,
            fsync=not no_fsync,
        )
    except ConfigError as e:  # unknown task, bad manifest, task cannot be built, --out in use
        fail(str(e), EXIT_USAGE)
        return
    if summary.interrupted and max_files is None:  # stopped: a second Ctrl-C / SIGTERM must not cut the summary
        for s in (signal.SIGINT, signal.SIGTERM):  # (ignored, not handled: the interpreter's exit keeps SIG_IGN)
            signal.signal(s, signal.SIG_IGN)
    if as_json:
        echo_json(summary.to_dict())
    else:
        click.echo(format_summary(summary))
    if summary.interrupted and max_files is None:  # Ctrl-C (a --max-files stop is a normal end)
        sys.exit(130)
    sys.exit(exit_code_for(summary.by_status))
