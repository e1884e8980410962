"""Face tracks of the shared real_av/fake_av clips, computed once and cached as .npz (benchmark helper).

``tracks_for(data_root, rel_path, cache_dir)`` returns ``(media, tracks, face_fraction)``; the first call
runs :func:`avsync.face.track` with mouth and face crops and writes ``<cache>/<rel_path>.npz`` (not in the
repository: the crops are derived from the shared media). ``python benchmarks/_sync_track_cache.py CACHE``
fills the cache for every clip the sync evaluations use (GRID first).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

from avsync.media import load_media
from avsync.sync.types import TrackCrops


def eval_rows(data: Path) -> list[dict]:
    """Rows of MANIFEST.csv with audio and video (real_av and fake_av)."""
    return [r for r in csv.DictReader(open(data / "MANIFEST.csv"))
            if r["kind"] in ("real_av", "fake_av") and r["has_audio"] == "yes" and r["video_fps"]]


def tracks_for(data: Path, rel: str, cache: Path):
    media = load_media(str(data / rel))
    f = cache / (rel + ".npz")
    if f.exists():
        z = np.load(f)
        n = int(z["n"])
        tracks = [TrackCrops(int(z[f"id{i}"]), z[f"frames{i}"], z[f"valid{i}"], z[f"mouth{i}"], z[f"face{i}"],
                             float(z[f"fps{i}"])) for i in range(n)]
        return media, tracks, float(z["face_fraction"])
    from avsync.face import track
    from avsync.sync import tracks_from_faces

    faces = track(media, crops=("mouth", "face"))
    tracks = tracks_from_faces(faces)
    arrs = {"n": len(tracks), "face_fraction": faces.face_fraction}
    for i, t in enumerate(tracks):
        arrs.update({f"id{i}": t.track_id, f"frames{i}": t.frames, f"valid{i}": t.valid, f"mouth{i}": t.mouth,
                     f"face{i}": t.face, f"fps{i}": t.fps})
    f.parent.mkdir(parents=True, exist_ok=True)
    np.savez(f, **arrs)
    return media, tracks, float(faces.face_fraction)


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
