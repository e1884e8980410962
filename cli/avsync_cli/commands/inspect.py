"""``avsync inspect FILE... [--json]``: streams, codecs, rates, offsets, sha256 and status."""

from __future__ import annotations

import sys

import click

import avsync
from avsync_cli.common import echo_json, exit_code_for


def _line(info: avsync.MediaInfo) -> str:
    parts = [f"{info.path}: {info.status}"]
    if info.container:
        parts.append(f"container={info.container}")
    if info.duration_s is not None:
        parts.append(f"duration={info.duration_s:.3f}s")
    v, a = info.video, info.audio
    if v is not None:
        fps = f"{v.fps:.3f}fps" + (f" (measured {v.measured_fps:.3f}, VFR)" if v.vfr and v.measured_fps else "")
        rot = f" rot={v.rotation}" if v.rotation else ""
        parts.append(f"video={v.codec} {v.width}x{v.height} {fps} {v.frames} frames{rot}")
    if a is not None:
        parts.append(f"audio={a.codec} {a.sample_rate}Hz {a.channels}ch" + (f" {a.describe()}" if len(info.audio_streams) > 1 else ""))
    if info.av_start_offset_s:
        ms = info.av_start_offset_s * 1000
        parts.append(f"audio starts {abs(ms):.0f} ms {'after' if ms > 0 else 'before'} video")
    if info.duration_mismatch_s and abs(info.duration_mismatch_s) > 0.1:
        d = info.duration_mismatch_s
        parts.append(f"audio is {abs(d):.2f} s {'longer' if d > 0 else 'shorter'} than video")
    if info.sha256:
        parts.append(f"sha256={info.sha256}")  # provenance: the bytes this description is of
    text = "  ".join(parts)
    for o in info.audio_streams[1:]:  # every audio stream is listed; the first is the one analysed
        text += f"\n    also audio {o.describe()}: {o.codec} {o.sample_rate}Hz {o.channels}ch (not analysed)"
    if info.message:
        text += f"\n    {info.message}"
    for w in info.warnings:
        text += f"\n    warning: {w}"
    return text


@click.command("inspect")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per file).")
@click.option("--no-hash", is_flag=True, help="Skip the sha256 of each file (faster on huge files).")
@click.option("--max-duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Cap on duration in seconds (default 6 h).")
def command(files: tuple[str, ...], as_json: bool, no_hash: bool, max_duration: float | None) -> None:
    """Describe media FILES: container, streams, codecs, frame rate (VFR flag), duration, rotation,
    sample rate, channels, start offset between streams, sha256 and a status.

    Statuses: ok, no_audio, no_video, too_short, too_large, empty, not_found, decode_error,
    unsupported_codec. Exit code 1 when any file could not be read.
    """
    limits = avsync.MediaLimits() if max_duration is None else avsync.MediaLimits(max_duration_s=max_duration)
    infos = [avsync.inspect_media(f, limits=limits, sha256=not no_hash) for f in files]
    if as_json:
        echo_json([{**i.to_dict(), "kind": i.kind} for i in infos])
    else:
        for info in infos:
            click.echo(_line(info))
    sys.exit(exit_code_for(i.status for i in infos))
