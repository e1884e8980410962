"""A picture of a :class:`~avsync.sync.SyncResult`: distance over lags per face and the timeline."""

from __future__ import annotations

import os

from avsync.sync.types import SyncResult

__all__ = ["plot_sync"]


def plot_sync(result: SyncResult, path: str | os.PathLike) -> str:
    """Save a two-panel PNG: mean distance per lag for every face (left; positive lag = audio leads
    video), and the per-window distance and confidence of the active face over time (right).

    Needs matplotlib (``pip install avsync[report]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the install
        from avsync.errors import ConfigError

        raise ConfigError("plotting needs matplotlib", hint="pip install 'avsync[report]'") from e
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for f in result.faces:
        if f.curve:
            ys = [float("nan") if c is None else c for c in f.curve]
            ax1.plot(f.lags, ys, marker=".", label=f"track {f.track_id} ({f.status})")
            if f.offset_frames is not None:
                ax1.axvline(f.offset_frames, ls=":", color=ax1.lines[-1].get_color())
    ax1.set_xlabel("lag (frames, + = audio leads video)")
    ax1.set_ylabel(f"mean distance ({result.model})")
    ax1.set_title(result.summary, fontsize=9)
    if result.faces:
        ax1.legend(fontsize=8)
    ws = [w for w in result.windows if w.distance is not None]
    if ws:
        mids = [(w.start + w.end) / 2 for w in ws]
        ax2.plot(mids, [w.distance for w in ws], marker=".", label="distance at the offset")
        ax2.plot(mids, [w.confidence for w in ws], marker=".", label="confidence")
        ax2.legend(fontsize=8)
    for w in result.windows:
        if w.status.value not in ("ok", "out_of_range"):
            ax2.axvspan(w.start, w.end, color="0.9", zorder=0)
    ax2.set_xlabel("time (s)")
    ax2.set_title(f"timeline (track {result.active_track_id}); grey: no face / no speech", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return os.fspath(path)
