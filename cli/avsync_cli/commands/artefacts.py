"""``avsync artefacts FILE... [--json] [--threshold P]``: mouth-region generation / blending artefacts."""

from __future__ import annotations

import sys

import click

from avsync_cli.common import (
    artefact_models,
    device_option,
    echo_json,
    exit_code_for,
    fail,
    progress_bar,
    setup_exit_code,
)


@click.command("artefacts")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per file).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Flag files and windows scoring at least this.")
@click.option("--sample-fps", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True, help="Face crops scored per second of video.")
@click.option("--model", type=click.Choice(artefact_models()), default=None,
              help="Artefact model (default: the shipped default).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="A checkpoint written by `avsync train artefacts` (safetensors) instead of a shipped model.")
@device_option()
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Directory holding the weights (layout of `avsync models path`).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr (shown on a terminal for each file).")
def command(files: tuple[str, ...], as_json: bool, threshold: float, sample_fps: float, model: str | None,
            weights: str | None, device: str, models_dir: str | None, no_progress: bool) -> None:
    """Probability that the mouth region of each FILE's main face was generated or pasted
    (lip-sync generators such as Wav2Lip), with a per-window timeline.

    Statuses: ok, no_face (none, or too small), no_video, not_found, decode_error, ... Exit code 1 when a
    file could not be read.
    """
    import avsync
    from avsync.artefacts import DEFAULT_ARTEFACT_MODEL, ArtefactResult, ArtefactScorer

    try:
        scorer = ArtefactScorer(model or DEFAULT_ARTEFACT_MODEL, weights=weights or models_dir, device=device,
                                sample_fps=sample_fps, threshold=threshold)
    except avsync.AvsyncError as e:
        fail(str(e), setup_exit_code(e))
    results = []
    for f in files:
        try:
            with progress_bar(not no_progress, unit="frame", desc="faces") as update:
                res = scorer(avsync.load_media(f), progress=update)
        except avsync.AvsyncError as e:
            res = ArtefactResult(e.status, threshold=threshold, message=str(e))
        results.append((f, res))
    if as_json:
        echo_json([{"path": f, **r.to_dict()} for f, r in results])
    else:
        for f, r in results:
            click.echo(f"{f}: {r.status.value}  {r.summary}")
            spans: list[list[float]] = []
            for w in r.windows:  # overlapping flagged windows merge into one span
                if w.score is None or w.score < r.threshold:
                    continue
                if spans and w.start <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], w.end)
                else:
                    spans.append([w.start, w.end])
            if spans:
                click.echo("    artefacts in: " + ", ".join(f"{a:.0f}–{b:.0f} s" for a, b in spans))
    sys.exit(exit_code_for(r.status for _, r in results))
