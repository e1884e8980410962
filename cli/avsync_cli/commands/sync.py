"""``avsync sync FILE [--json] [--model NAME] [--plot out.png]``: audio-visual offset and confidence per face."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

import avsync
from avsync.model_files import SYNC_MODELS
from avsync_cli.common import check_outputs, device_option, echo_json, exit_code_for, progress_bar

if TYPE_CHECKING:
    from avsync.sync import SyncResult
    from avsync.sync.cue_params import SyncCueParams
    from avsync.sync.models import ModelName


def _box(value: str | None):
    if value is None:
        return None
    try:
        box = tuple(float(v) for v in value.split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise click.BadParameter("expected x0,y0,x1,y1 as fractions of the frame, e.g. 0.3,0.5,0.7,0.75")
    return box


def _cue_params(model: str) -> SyncCueParams:
    """The sync cue parameters `avsync analyze` reads ``model``'s results with (the shipped fusion config's)."""
    from avsync.fusion import FusionConfig
    from avsync.pipeline import DEFAULT_FUSION_CONFIG, sync_cue_params

    fusion = FusionConfig.load(DEFAULT_FUSION_CONFIG) if DEFAULT_FUSION_CONFIG.exists() else FusionConfig()
    return sync_cue_params(model, fusion)


def _text(res: SyncResult) -> str:
    lines = [f"{res.status}: {res.summary}"]
    if res.offset_frames is not None:
        best = "best constant offset" if res.drift is not None else "offset"
        unit = "frame" if abs(res.offset_frames) == 1 else "frames"
        lines.append(f"  {best} {res.offset_frames:+d} {unit} ({res.offset_ms:+.0f} ms; + = audio leads video)")
    if res.drift is not None:
        d = res.drift
        lines.append(f"  drift: offset {d.start_frames:+.1f} frames at {d.start:.1f} s, {d.end_frames:+.1f} frames at "
                     f"{d.end:.1f} s; confidence along it {d.confidence:.3f}")
    offset_read = res.confidence is not None and res.offset_frames is not None and res.drift is None
    # how `avsync analyze` reads this model's results, where the text names it
    params = _cue_params(res.model) if res.faces or offset_read else None
    if res.confidence is not None:
        lines.append(f"  confidence {res.confidence:.3f}  min distance {res.min_distance:.3f}  model {res.model}")
        if params is not None and offset_read:
            if params.sureness(res.confidence) < 0.5:
                lines.append(f"  an unsure reading: `avsync analyze` takes an offset of this model as a finding from "
                             f"confidence {params.confidence_mid:.3f} on")
    if params is not None:
        from avsync.pipeline import unreadable_lips

        unread = unreadable_lips(res, params)
        if unread is not None:
            lines.append(f"  {unread}: `avsync analyze` reads nothing from this face's lips")
    if res.evidence:
        lines.append(f"  active speaker: {res.evidence}")
    for f in res.faces:
        off = "-" if f.offset_frames is None else f"{f.offset_frames:+d}"
        conf = "-" if f.confidence is None else f"{f.confidence:.3f}"
        art = "" if f.articulation is None else f" articulation {f.articulation:.2f}"
        lines.append(f"  track {f.track_id} [{f.start:.2f}-{f.end:.2f} s] {f.status} offset {off} confidence {conf}{art}")
    if res.message:
        lines.append(f"  {res.message}")
    return "\n".join(lines)


@click.command("sync")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the SyncResult as JSON.")
@click.option("--model", type=click.Choice(SYNC_MODELS), default="syncnet", show_default=True,
              help="syncnet: our dual encoder (shipped syncnet-v3 checkpoint: GRID + generated in-sync faces through "
                   "recording channels, non-commercial research use; or --weights); syncnet-v3: the same by name; "
                   "syncnet-v2: the same network trained on 20 min of GRID only (no restriction); "
                   "syncnet-grid: its first version (11 GRID sentences); motion: training-free mouth motion vs audio energy; "
                   "light-asd: the public Light-ASD checkpoint (needs --weights or $AVSYNC_MODELS_DIR).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None, help="Checkpoint of the model.")
@click.option("--max-lag", type=click.IntRange(1, 250), default=15, show_default=True,
              help="Search offsets within ± this many frames (25 fps).")
@click.option("--mouth-box", default=None, metavar="X0,Y0,X1,Y1",
              help="Use this fixed mouth region (fractions of the frame) instead of face tracking, "
                   "e.g. 0.3,0.5,0.7,0.75 for a face-crop video (with --model light-asd the whole frame is the face).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Save a PNG of the lag curve and timeline.")
@device_option()
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr (shown on a terminal while faces are tracked).")
def command(file: str, as_json: bool, model: ModelName, weights: str | None, max_lag: int, mouth_box: str | None,
            plot_path: str | None, device: str, no_progress: bool) -> None:
    """Measure the audio/video offset of FILE per face: offset in frames and ms (positive = audio leads
    video), confidence (median - minimum distance over lags), a per-window timeline, and the active speaker.

    Statuses: ok, out_of_range (best match at the edge of ±max-lag), no_face, no_speech, no_audio, no_video.
    """
    from avsync.sync import analyze_sync, fixed_box_track

    if plot_path:
        check_outputs([("--plot", plot_path)], [file])
    box = _box(mouth_box)
    try:
        media = avsync.load_media(file)
        tracks = None
        if box is not None and media.has_video:
            face = (0.0, 0.0, 1.0, 1.0) if model == "light-asd" else None
            tracks = [fixed_box_track(media, mouth_box=box, face_box=face)]
        with progress_bar(not no_progress and tracks is None, unit="frame", desc="faces") as update:
            res = analyze_sync(media, tracks, model=model, weights=weights, max_lag=max_lag, device=device,
                               progress=update)
    except avsync.AvsyncError as e:
        if box is None and e.status == avsync.Status.MODEL_ERROR and "face tracking" in e.message:
            e = avsync.AvsyncError(e.message, status=e.status,
                                   hint="on a face-crop video pass --mouth-box X0,Y0,X1,Y1 (e.g. 0.3,0.5,0.7,0.75)")
        if as_json:
            echo_json({"path": file, "status": str(e.status), "message": str(e)})
        elif e.status.is_failure:
            click.echo(f"error: {e}", err=True)
        else:  # an absence (too_short, no_audio, no_video): a result, printed like one
            click.echo(f"{e.status}: {e}")
        sys.exit(exit_code_for([e.status]))  # too_short, no_audio... are results: exit 0
    if plot_path and not res.faces:  # nothing to draw (no video, no face): said instead of an empty picture
        click.echo(f"no plot written to {plot_path}: {res.summary or res.status}", err=True)
    elif plot_path:
        from avsync.sync.plot import plot_sync

        plot_sync(res, plot_path)
    if as_json:
        echo_json({"path": file, **res.to_dict()})
    else:
        click.echo(_text(res))
    sys.exit(exit_code_for([res.status]))
