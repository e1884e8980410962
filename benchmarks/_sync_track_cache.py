"""Face tracks of the shared real_av/fake_av clips, computed once and cached as .npz (benchmark helper).

``tracks_for(data_root, rel_path, cache_dir)`` returns ``(media, tracks, face_fraction)``; the first call
runs :func:`avsync.face.track` with mouth and face crops and writes ``<cache>/<rel_path>.npz`` (not in the
repository: the crops are derived from the shared media; :mod:`avsync.sync.cache` holds the format, which
``avsync train sync --cache`` shares). ``python benchmarks/_sync_track_cache.py CACHE [DATA]`` fills the
cache for every clip the sync evaluations use (GRID first).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from avsync.media import load_media
from avsync.sync.cache import cached_tracks


def eval_rows(data: Path) -> list[dict]:
    """Rows of MANIFEST.csv with audio and video (real_av and fake_av)."""
    return [r for r in csv.DictReader(open(data / "MANIFEST.csv"))
            if r["kind"] in ("real_av", "fake_av") and r["has_audio"] == "yes" and r["video_fps"]]


def is_grid(rel: str) -> bool:
    """GRID corpus clips (``real_av/grid_*``): the training data of the SyncNet-style models."""
    return rel.startswith("real_av/grid_")


def tracks_for(data: Path, rel: str, cache: Path):
    media = load_media(str(data / rel))
    tracks, ff = cached_tracks(media, cache / (rel + ".npz"), crops=("mouth", "face"))
    return media, tracks, ff


def main() -> None:
    import torch

    torch.set_num_threads(1)
    cache = Path(sys.argv[1])
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "shared" / "data"
    rows = eval_rows(data)
    rows.sort(key=lambda r: (0 if "grid_lipnet" in r["file"] else 1, float(r["duration_s"])))
    for r in rows:
        t = time.perf_counter()
        _, tracks, ff = tracks_for(data, r["file"], cache)
        print(f"{r['file']}: {len(tracks)} tracks, face {ff:.2f}, {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
