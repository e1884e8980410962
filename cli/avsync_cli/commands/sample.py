"""``avsync sample OUT``: write a synthetic clip with a known audio/video offset."""

from __future__ import annotations

import click

from avsync.synth import CODEC_PRESETS, ClipSpec, make_clip


@click.command("sample")
@click.argument("out", type=click.Path(dir_okay=False, path_type=str))
@click.option("--offset-ms", type=float, default=0.0, show_default=True, help="Audio leads video by this much (negative: lags).")
@click.option("--duration", type=float, default=6.0, show_default=True, help="Seconds.")
@click.option("--preset", type=click.Choice(sorted(CODEC_PRESETS)), default="mp4", show_default=True)
def command(out: str, offset_ms: float, duration: float, preset: str) -> None:
    """Write a synthetic clip (moving pattern, a mouth that opens with tone bursts) to OUT."""
    path = make_clip(out, ClipSpec(duration=duration, offset_s=offset_ms / 1000.0, preset=preset))
    click.echo(path)
