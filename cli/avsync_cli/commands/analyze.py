"""``avsync analyze FILE...``: the fused, calibrated verdict with reasons, timeline and reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from avsync_cli.common import device_option, echo_json, exit_code_for, precision_option


def _progress_bar(enabled: bool):
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="frame", desc="faces", leave=False, file=sys.stderr, disable=None)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update


@click.command("analyze")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one verdict per file).")
@click.option("--html", "html_out", type=click.Path(path_type=str), help="Write a self-contained HTML report (a folder with several files).")
@click.option("--csv", "csv_out", type=click.Path(path_type=str), help="Write the per-window timeline as CSV (a folder with several files).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=str), help="Fusion config YAML (from `avsync calibrate`).")
@click.option("--sync-model", type=click.Choice(["motion", "light-asd", "syncnet"]), default="motion", show_default=True)
@click.option("--spoof-model", default=None, help="Spoof model bundle (default: the shipped model); 'none' skips the voice check.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=str), help="A known genuine recording of the expected voice.")
@click.option("--no-speaker", is_flag=True, help="Skip speaker-consistency evidence.")
@click.option("--no-artefacts", is_flag=True, help="Skip the mouth-region artefact check.")
@device_option()
@precision_option(default="float32", help="Voice-model precision; bfloat16 is about 2x faster on CPUs with AVX-512 BF16.")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=str), help="Look for model bundles here first.")
@click.option("--allow-download", is_flag=True, help="Download a missing model bundle from its official URL (checked by sha256).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def command(files, as_json, html_out, csv_out, config, sync_model, spoof_model, reference, no_speaker, no_artefacts,
            device, precision, models_dir, allow_download, no_progress) -> None:
    """Is the speech in FILES genuine? Prints the verdict (genuine / manipulated / undetermined), why, and where.

    Video with audio: lip sync per face + mouth-region artefacts + voice check, fused. Audio only (calls, stereo per channel): voice
    check. Video without audio: undetermined, with the reason. Exit code 1 when a file could not be read.
    """
    from avsync.pipeline import Detector
    from avsync.report import windows_csv, write_html

    det = Detector.from_pretrained(
        config=config, device=device, sync_model=sync_model,
        spoof_model=False if (spoof_model or "").lower() == "none" else spoof_model,
        speaker=not no_speaker, artefacts=not no_artefacts, reference=reference, models_dir=models_dir, allow_download=allow_download,
        precision=precision,
    )
    many = len(files) > 1
    verdicts = []
    for f in files:
        bar, update = _progress_bar(not no_progress)
        try:
            v = det(f, progress=update)
        finally:
            if bar is not None:
                bar.close()
        verdicts.append(v)
        stem = Path(f).stem
        if html_out:
            out = Path(html_out) / f"{stem}.html" if many else Path(html_out)
            write_html(v, out, thumbnails=det.thumbnails)
        if csv_out:
            out = Path(csv_out) / f"{stem}.csv" if many else Path(csv_out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(windows_csv(v))
        if not as_json:
            click.echo(f"{f}: {v.summary()}")
            for r in v.reasons[1:]:
                click.echo(f"    - {r}")
    if as_json:
        echo_json([_json(v) for v in verdicts])  # a list, like every command taking FILE...
    sys.exit(exit_code_for(v.status for v in verdicts))


def _json(v) -> dict:
    d = v.to_dict()
    d["sync"] = d.get("details", {}).get("sync")
    d["spoof"] = d.get("details", {}).get("spoof")
    return d
