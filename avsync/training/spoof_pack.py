"""Training clips of the voice recipe in a compact, portable form ("pack").

``avsync train spoof --finetune NAME --pack-out DIR`` writes the recipe's training split (the clips
:func:`avsync.training.spoof_finetune.split_items` builds or reads from its cache) into ``shards`` files
``DIR/pack_<k>.npz``; ``--pack DIR`` trains from them on a machine that has neither ``../shared`` nor the
generators (a lent GPU machine, whose upload size is limited). Clips are dealt to shards at random (seeded), so
each shard alone is a random subset of every family.

Each clip is stored as 16-bit PCM (the recipe's float16 cache rounded to the int16 grid), losslessly coded:
the first difference modulo 2^16, zigzag-mapped, its low and high bytes bz2-compressed apart (about 65 % of
the int16 size on speech). :func:`read_pack` returns exactly the int16 values divided by 32767.
"""

from __future__ import annotations

import bz2
from pathlib import Path

import numpy as np

from avsync.training.spoof import Item

SCALE = 32767.0


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float32) * SCALE), -32768, 32767).astype(np.int16)


def encode_pcm16(q: np.ndarray) -> tuple[bytes, bytes]:
    """Lossless code of an int16 signal: (low bytes, high bytes) of the zigzag first difference, bz2'd."""
    q = np.ascontiguousarray(q, dtype=np.int16)
    d = np.diff(q.view(np.uint16), prepend=np.uint16(0)).view(np.int16)  # wraps modulo 2^16
    zz = ((d.astype(np.int32) << 1) ^ (d.astype(np.int32) >> 15)).astype(np.uint16)
    b = zz.view(np.uint8)
    return bz2.compress(b[0::2].tobytes(), 9), bz2.compress(b[1::2].tobytes(), 9)


def decode_pcm16(lo: bytes, hi: bytes) -> np.ndarray:
    """Inverse of :func:`encode_pcm16`."""
    b = np.empty(2 * len(lo_b := bz2.decompress(lo)), dtype=np.uint8)
    b[0::2] = np.frombuffer(lo_b, dtype=np.uint8)
    b[1::2] = np.frombuffer(bz2.decompress(hi), dtype=np.uint8)
    zz = b.view(np.uint16).astype(np.int32)
    d = ((zz >> 1) ^ -(zz & 1)).astype(np.int16)
    return np.cumsum(d.view(np.uint16), dtype=np.uint16).view(np.int16)


def write_pack(items: list[Item], out: str | Path, *, shards: int = 1, seed: int = 0) -> list[Path]:
    """Write ``items`` into ``out/pack_<k>.npz`` (``k < shards``); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("pack_*.npz"):  # a directory is one pack: shards of an earlier one would be read with it
        old.unlink()
    owner = np.random.default_rng([seed, 7]).permutation(len(items)) % max(shards, 1)
    paths = []
    for k in range(max(shards, 1)):
        sel = [items[i] for i in np.flatnonzero(owner == k)]
        q = np.concatenate([to_pcm16(i.wave) for i in sel]) if sel else np.zeros(0, np.int16)
        lo, hi = encode_pcm16(q)
        p = out / f"pack_{k}.npz"
        np.savez(p, lo=np.frombuffer(lo, np.uint8), hi=np.frombuffer(hi, np.uint8),
                 lens=np.array([i.wave.size for i in sel], dtype=np.int64),
                 label=np.array([i.label for i in sel], dtype=np.int64),
                 family=np.array([i.family for i in sel]), clean=np.array([i.clean for i in sel], dtype=bool))
        paths.append(p)
    return paths


def read_pack(paths: list[str | Path] | str | Path) -> list[Item]:
    """Clips of every ``pack_*.npz`` in a directory, or of the listed files."""
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        paths = sorted(p.glob("pack_*.npz"), key=lambda f: int(Path(f).stem.split("_")[1])) if p.is_dir() else [p]
    items: list[Item] = []
    for f in paths:
        z = np.load(f, allow_pickle=False)
        w = decode_pcm16(z["lo"].tobytes(), z["hi"].tobytes()).astype(np.float32) / SCALE
        offs = np.concatenate([[0], np.cumsum(z["lens"])])
        items += [Item(w[offs[k]:offs[k + 1]], int(z["label"][k]), str(z["family"][k]), bool(z["clean"][k]))
                  for k in range(len(z["lens"]))]
    return items
