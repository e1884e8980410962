"""``avsync analyze FILE...``: the fused, calibrated verdict with reasons, timeline and reports."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from avsync.model_files import SYNC_MODELS
from avsync_cli.common import (
    artefact_models,
    check_outputs,
    device_option,
    echo_json,
    exit_code_for,
    precision_option,
    progress_bar,
)

if TYPE_CHECKING:
    from avsync.device import Precision
    from avsync.sync.models import ModelName
    from avsync.verdict import Verdict


@click.command("analyze")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one verdict per file).")
@click.option("--html", "html_out", type=click.Path(path_type=str), help="Write a self-contained HTML report (to an existing folder, or with several files: one NAME.html each in that folder, NAME unique per input).")
@click.option("--full-paths", is_flag=True, help="Keep the input's full path (and other file-system paths) in the HTML "
              "report; by default it names the input by its file name and sha256, so a forwarded report does not show your folders.")
@click.option("--csv", "csv_out", type=click.Path(path_type=str), help="Write the per-window timeline as CSV (to an existing folder, or with several files: one NAME.csv each in that folder).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=str), help="Fusion config YAML (from `avsync calibrate`).")
@click.option("--sync-model", type=click.Choice(SYNC_MODELS), default="syncnet",
              show_default=True, help="Lip-sync model (syncnet: the shipped syncnet-v3 checkpoint, trained also on "
                   "generated in-sync faces, non-commercial research use; syncnet-v2: GRID only, no restriction).")
@click.option("--spoof-model", default=None, help="Spoof model bundle (default: the shipped model); 'none' skips the voice check.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=str), help="A known genuine recording of the expected voice.")
@click.option("--no-speaker", is_flag=True, help="Skip speaker-consistency evidence.")
@click.option("--no-artefacts", is_flag=True, help="Skip the generated-face (artefact) check.")
@click.option("--no-still", is_flag=True, help="Leave the frozen-surroundings evidence (a face animated from one "
              "photo) out of the artefact check.")
@click.option("--artefact-model", type=click.Choice(artefact_models()), default=None,
              help="Artefact model (default: the shipped default; `avsync models list` shows each one's licence).")
@device_option()
@precision_option(default="float32", help="Voice-model precision; bfloat16 is about 2x faster on CPUs with AVX-512 BF16.")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=str), help="Look for model bundles here first.")
@click.option("--allow-download", is_flag=True, help="Download a missing model bundle from its official URL (checked by sha256).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--sequential", is_flag=True,
              help="Run the voice check after the video analyses instead of beside them (clips up to 90 s; longer ones always run in turn).")
def command(files: tuple[str, ...], as_json: bool, html_out: str | None, full_paths: bool, csv_out: str | None, config: str | None,
            sync_model: ModelName, spoof_model: str | None, reference: str | None, no_speaker: bool, no_artefacts: bool,
            no_still: bool, artefact_model: str | None, device: str, precision: Precision, models_dir: str | None, allow_download: bool,
            no_progress: bool, sequential: bool) -> None:
    """Is the speech in FILES genuine? Prints the verdict (genuine / manipulated / undetermined), why, and where.

    Video with audio: lip sync per face + mouth-region artefacts + voice check, fused. Audio only (calls, stereo per channel): voice
    check. Video without audio: the mouth-region check alone, so manipulated when the picture shows a generated
    face, otherwise undetermined with the reason. Exit code 1 when a file could not be read.
    """
    from avsync.pipeline import Detector
    from avsync.report import windows_csv, write_html

    det = Detector.from_pretrained(
        config=config, device=device, sync_model=sync_model,
        spoof_model=False if (spoof_model or "").lower() == "none" else spoof_model,
        speaker=not no_speaker, artefacts=False if no_artefacts else (artefact_model or True), still=not no_still, reference=reference, models_dir=models_dir, allow_download=allow_download,
        precision=precision, concurrent=not sequential,
    )
    from avsync.errors import ConfigError

    try:
        det.check_reference()  # a reference that cannot be used is a usage error, not a verdict on every input
    except ConfigError as e:
        raise click.BadParameter(str(e), param_hint="--reference") from None
    if len(files) > 1:
        for opt, out, ext in (("--html", html_out, ".html"), ("--csv", csv_out, ".csv")):
            if out and Path(out).exists() and not Path(out).is_dir():
                raise click.UsageError(f"{opt} {out} is a file; with several inputs {opt} takes a folder")
            if out and not Path(out).exists() and Path(out).suffix.lower() == ext:  # meant as one report, surely
                raise click.UsageError(f"{opt} {out} names one report, and there are {len(files)} inputs: give a "
                                       f"folder for their reports (one {ext} each)")
    folders = [out for out in (html_out, csv_out) if out and (len(files) > 1 or Path(out).is_dir())]
    names = _report_names(files) if folders else None
    html_paths = _report_paths(html_out, names if html_out in folders else None, ".html")
    csv_paths = _report_paths(csv_out, names if csv_out in folders else None, ".csv")
    check_outputs([*(("--html", h) for h in html_paths or ()), *(("--csv", c) for c in csv_paths or ())], files)
    verdicts = []
    for i, f in enumerate(files):
        with progress_bar(not no_progress, unit="frame", desc="analysis") as update:
            v = det(f, progress=update)
        verdicts.append(v)
        if html_paths:
            write_html(v, html_paths[i], thumbnails=det.thumbnails, full_paths=full_paths)
        if csv_paths:
            csv_paths[i].parent.mkdir(parents=True, exist_ok=True)
            csv_paths[i].write_text(windows_csv(v))
        if not as_json:
            click.echo(f"{f}: {v.summary()}")
            for r in v.reasons[1:]:
                click.echo(f"    - {r}")
    if as_json:
        echo_json([_json(v) for v in verdicts])  # a list, like every command taking FILE...
    sys.exit(exit_code_for(v.status for v in verdicts))


def _report_names(files: Sequence[str]) -> list[str]:
    """One report name per file (several files): the file's stem; inputs sharing a stem (``a/x.wav``,
    ``b/x.flac``) get their folder's name in front (``a_x``, ``b_x``), then a counter, so that no report
    overwrites another of the same run."""
    stems = [Path(f).stem for f in files]
    repeated = {s for s in stems if stems.count(s) > 1}
    used: set[str] = set()
    names = []
    for f, stem in zip(files, stems):
        name = stem
        if stem in repeated:
            parent = Path(f).absolute().parent.name
            name = f"{parent}_{stem}" if parent else stem
        base, n = name, 1
        while name.lower() in used:  # the same path twice, or a folder name that repeats too
            n += 1
            name = f"{base}_{n}"
        used.add(name.lower())
        names.append(name)
        if name != stem:
            click.echo(f"{f}: reports named {name} (another input is also called {stem})", err=True)
    return names


def _report_paths(out: str | None, names: list[str] | None, ext: str) -> list[Path] | None:
    """Where each file's report goes: ``out`` itself (one file, ``out`` not a folder), else ``out/NAME.ext``."""
    if not out:
        return None
    if names is None:
        return [Path(out)]
    return [Path(out) / f"{n}{ext}" for n in names]


def _json(v: Verdict) -> dict:
    d = v.to_dict()
    d["sync"] = d.get("details", {}).get("sync")
    d["spoof"] = d.get("details", {}).get("spoof")
    return d
