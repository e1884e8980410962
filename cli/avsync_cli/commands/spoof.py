"""``avsync spoof FILE... [--model NAME] [--reference WAV] [--json] [--timeline out.csv]``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

import click

from avsync_cli.common import (
    check_outputs,
    device_option,
    echo_json,
    exit_code_for,
    fail,
    precision_option,
    progress_bar,
    setup_exit_code,
)

if TYPE_CHECKING:
    from avsync.device import Precision
    from avsync.spoof import SpoofResult


def _line(r: SpoofResult) -> str:
    head = f"{r.path}: {r.status}"
    if r.score is not None:
        verdict = "likely synthetic" if r.flagged else "not flagged"
        head += f"  synthetic-speech probability {r.score:.3f} ({verdict} at {r.threshold:.3f})  model={r.model}"
    lines = [head]
    if len(r.channels) > 1:
        for c in r.channels:
            s = "-" if c.score is None else f"{c.score:.3f}"
            lines.append(f"    channel {c.channel}: {c.status} score={s} speech={c.speech_s:.1f}s")
    for c in r.channels:
        who = f" ch{c.channel}" if len(r.channels) > 1 else ""
        for a, b, ps in c.flagged_spans(r.threshold):
            lines.append(f"    synthetic{who} {a:.1f}-{b:.1f}s: {len(ps)} window(s) at or above the threshold, "
                         f"max {max(ps):.3f}")
    for c in r.channels:
        sp = c.speaker
        if sp is None or sp.status.value != "ok":
            continue
        parts = [f"    speaker ch{c.channel}:"]
        if sp.consistency is not None:
            parts.append(f"consistency={sp.consistency:.2f}")
        if sp.change_similarity is not None:
            back = f"-{sp.change_end_s:.1f}s" if sp.change_end_s is not None else ""
            at = f"{sp.change_time_s:.1f}s{back}"
            # the least similar split is always measured; only a change is called one
            parts.append(f"IDENTITY CHANGE at {at} (similarity {sp.change_similarity:.2f})" if sp.identity_change
                         else f"no identity change (least similar at {at}: {sp.change_similarity:.2f})")
        if sp.reference_similarity is not None:
            parts.append(f"reference similarity={sp.reference_similarity:.2f}"
                         + (" (match)" if sp.reference_match else " (no match)"))
        if len(parts) == 1:  # evidence computed but nothing to say (too few speech windows)
            parts.append("too little speech for speaker evidence")
        lines.append(" ".join(parts))
    if r.message:
        lines.append(f"    {r.message}")
    lines += [f"    warning: {w}" for w in r.warnings]
    return "\n".join(lines)


@click.command("spoof")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--model", default=None, help="Spoof model (see `avsync models list`); default: the package default.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="A known genuine recording of the expected speaker: adds speaker similarity.")
@click.option("--speaker", is_flag=True, help="Add speaker-consistency evidence (identity change inside a channel).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per file).")
@click.option("--timeline", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the per-window scores of all files as CSV.")
@click.option("--window", type=float, default=None,
              help="Window length in seconds, 1 s or more (default: the model's, 4.04 s).")
@click.option("--hop", type=float, default=None, help="Hop between windows in seconds (default: one window).")
@click.option("--aggregation", type=click.Choice(["mean", "max", "median"]), default="mean", show_default=True)
@click.option("--run-windows", type=click.IntRange(min=0), default=None,
              help="A run of this many consecutive windows at or above the threshold raises a channel's score to "
                   "the run's mean (a synthetic passage in a long recording; default 2); 0: the aggregate only.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Flag files scoring at least this (default: the model's calibrated threshold).")
@click.option("--no-vad", is_flag=True, help="Score every window, speech or not.")
@device_option()
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Windows per forward pass (default on CPU: 1, or 2 at bfloat16; 16 on GPU).")
@precision_option(default="float32", help="Network precision; bfloat16 is about 2x faster on CPUs with AVX-512 BF16 (borderline scores can move), "
                       "slower on CPUs without AVX-512 (a warning says so).")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Directory holding the weights (layout of `avsync models path`).")
@click.option("--allow-download", is_flag=True, help="Download missing weights from their official URL.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr (shown on a terminal for each file).")
def command(files: tuple[str, ...], model: str | None, reference: str | None, speaker: bool, as_json: bool,
            timeline: str | None, window: float | None, hop: float | None, aggregation: Literal["mean", "max", "median"],
            run_windows: int | None, threshold: float | None, no_vad: bool, device: str, batch_size: int | None, precision: Precision, models_dir: str | None,
            allow_download: bool, no_progress: bool) -> None:
    """Probability that the speech in each FILE is synthetic (0 = genuine, 1 = synthetic), with a
    per-window timeline. Stereo files are scored per channel; 8 kHz audio is flagged narrowband.

    Statuses: ok, no_speech, too_short, no_audio, not_found, decode_error, ... Exit code 1 when a
    file could not be read, 0 otherwise (no_speech is a result, not a failure).
    """
    import avsync
    from avsync.spoof import DEFAULT_MODEL, SpoofScorer, write_timeline
    from avsync.spoof.models import spoof_factory

    try:
        spoof_factory(model or DEFAULT_MODEL)  # a misspelt name is a usage error, not a model_error line per file
    except avsync.AvsyncError as e:
        fail(str(e), 2)
    try:
        scorer = SpoofScorer(model or DEFAULT_MODEL, window_s=window, hop_s=hop, batch_size=batch_size, device=device,
                             vad=not no_vad, aggregation=aggregation, threshold=threshold, speaker=speaker,
                             reference=reference, weights=models_dir, allow_download=allow_download,
                             precision=precision, **({} if run_windows is None else {"run_windows": run_windows}))
    except avsync.AvsyncError as e:
        fail(str(e), setup_exit_code(e))
    except ValueError as e:
        fail(str(e), 2)
    if timeline:
        check_outputs([("--timeline", timeline)], files)
    results = []
    for f in files:
        with progress_bar(not no_progress, unit="s", desc="voice") as update:
            results.append(scorer(f, progress=update))
    if timeline:
        write_timeline(results, timeline)
    if as_json:
        echo_json([r.to_dict() for r in results])
    else:
        for r in results:
            click.echo(_line(r))
    sys.exit(exit_code_for(r.status for r in results))
