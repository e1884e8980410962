"""``avsync sample OUT``: write a synthetic clip with a known audio/video offset."""

from __future__ import annotations

import click

from avsync.synth import CODEC_PRESETS, ClipSpec, make_clip


@click.command("sample")
@click.argument("out", type=click.Path(dir_okay=False, path_type=str))
@click.option("--offset-ms", type=float, default=0.0, show_default=True, help="Audio leads video by this much (negative: lags).")
@click.option("--duration", type=click.FloatRange(min=0.5), default=6.0, show_default=True, help="Seconds.")
@click.option("--preset", type=click.Choice(sorted(CODEC_PRESETS)), default="mp4", show_default=True)
@click.option("--face", type=click.Choice(["photo", "disc"]), default="photo", show_default=True,
              help="photo: a real face photo with an animated mouth; disc: a drawn disc with a corner flash.")
@click.option("--timbre", type=click.Choice(["vowel", "tone"]), default="vowel", show_default=True)
def command(out: str, offset_ms: float, duration: float, preset: str, face: str, timbre: str) -> None:
    """Write a synthetic talking-face clip to OUT: the mouth opens with each audio burst, shifted by --offset-ms.

    Its mouth is animated and its voice a synthetic buzz: analyse it with `--sync-model motion` (`avsync sync
    --model motion`); the learned lip-sync models read real faces and speech, and read this mouth as not following
    the sound.
    """
    if abs(offset_ms) >= duration * 1000:
        raise click.BadParameter(f"|{offset_ms:g}| ms is not shorter than the clip ({duration:g} s)",
                                 param_hint="--offset-ms")
    spec = ClipSpec(duration=duration, offset_s=offset_ms / 1000.0, preset=preset, face=face, timbre=timbre, size=(320, 320))
    path = make_clip(out, spec)
    click.echo(path)
