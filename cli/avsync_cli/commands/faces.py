"""``avsync faces FILE... [--json] [--preview out.mp4]``: face tracks with time ranges, sizes, validity."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

import click
import numpy as np

import avsync
from avsync_cli.common import check_outputs, device_option, echo_json, exit_code_for, fail, setup_exit_code

if TYPE_CHECKING:
    from avsync.face.landmarks import LandmarkerName
    from avsync.face.types import FaceTracks


def _text(res: FaceTracks) -> str:
    head = f"{res.path}: {res.status}  {res.num_frames} frames @ {res.fps:g} fps  {res.frame_size[0]}x{res.frame_size[1]}"
    head += f"  face in {100 * res.face_fraction:.1f} % of frames  detector={res.detector} keyframes={res.keyframes}"
    lines = [head]
    if res.message:
        lines.append(f"    {res.message}")
    dom = res.dominant()
    for t in res.tracks:
        mark = " (dominant)" if dom is not None and t.track_id == dom.track_id else ""
        tiny = "  TINY" if t.median_size < res.min_face else ""
        lines.append(
            f"  track {t.track_id}{mark}: {t.start_s:.2f}-{t.end_s:.2f} s  {len(t)} frames  "
            f"valid {100 * t.valid_fraction:.1f} %  size {t.median_size:.0f} px  score {t.mean_score:.2f}{tiny}"
        )
        if t.mouth_open is not None:
            mo = t.mouth_open[np.isfinite(t.mouth_open)]
            lips = (f"lips ({res.landmarker}) in {len(mo)} frames, mouth opening median {np.median(mo):.3f} "
                    f"range {mo.min():.3f}-{mo.max():.3f}") if len(mo) else f"lips ({res.landmarker}): none found"
            lines.append(f"      {lips}")
    if res.shot_changes:
        lines.append(f"  shot changes at frames {list(res.shot_changes)}")
    for w in res.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


@click.command("faces")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per file).")
@click.option("--frames", "with_frames", is_flag=True, help="With --json: include per-frame boxes, points, validity.")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write an MP4 with boxes, track ids and mouth boxes drawn (one input only).")
@click.option("--detector", type=click.Choice(["auto", "yunet", "haar"]), default="auto", show_default=True,
              help="auto: YuNet when the yuface wheel is installed, else OpenCV Haar.")
@click.option("--keyframe-interval", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Largest number of frames between detections.")
@click.option("--min-face", type=click.FloatRange(min=0), default=32.0, show_default=True, help="Faces smaller than this (px) are flagged tiny.")
@click.option("--landmarks", "landmarks", type=click.Choice(["facemesh", "mediapipe", "face-alignment"]), default=None,
              help="Lip landmarks and mouth opening per frame (in --json --frames: mouth_open). facemesh: own PyTorch "
              "face mesh (checkpoint in --models-dir / AVSYNC_MODELS_DIR); mediapipe: the mediapipe package; "
              "face-alignment: 2D-FAN (checkpoint placed by hand).")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder holding the landmark checkpoint (facemesh, face-alignment).")
@device_option("Torch device of facemesh / face-alignment: auto (CUDA when available, else CPU), cpu, cuda or cuda:N.")
def command(files: tuple[str, ...], as_json: bool, with_frames: bool, preview: str | None,
            detector: Literal["auto", "yunet", "haar"], keyframe_interval: int, min_face: float,
            landmarks: LandmarkerName | None, models_dir: str | None, device: str) -> None:
    """Find and track the faces of video FILES: per track its time range, size, confidence and the
    fraction of frames where it was seen.

    Statuses: ok, no_face (with the fraction of frames that had a face), no_video, and the media
    failures of ``avsync inspect``. Exit code 1 when any file could not be read.
    """
    if preview and len(files) != 1:
        raise click.UsageError("--preview takes exactly one input file")
    if preview:
        check_outputs([("--preview", preview)], files)
    from avsync.face import track

    landmarker = None
    if landmarks:
        from avsync.face.landmarks import get_landmarker

        try:  # once for all files; a missing package or checkpoint is reported with its hint
            landmarker = get_landmarker(landmarks, weights=models_dir, device=device)
        except avsync.AvsyncError as e:
            fail(str(e), setup_exit_code(e))
    results = []
    for f in files:
        try:
            media = avsync.load_media(f, require="video")
            res = track(media, detector=detector, keyframe_interval=keyframe_interval, min_face=min_face,
                        landmarks=landmarker)
            if preview:
                from avsync.face.preview import write_preview

                write_preview(media, res, preview)
            results.append((res.status, res.to_dict(arrays=with_frames) if as_json else _text(res)))
        except avsync.AvsyncError as e:
            payload = {"path": f, "status": e.status.value, "message": str(e)} if as_json else f"{f}: {e.status}\n    {e}"
            results.append((e.status, payload))
    if as_json:
        echo_json([p for _, p in results])
    else:
        for _, p in results:
            click.echo(p)
    sys.exit(exit_code_for(s for s, _ in results))
