"""The portable pack of the voice recipe's training clips (avsync.training.spoof_pack)."""

from __future__ import annotations

import numpy as np

from avsync.training.spoof import Item
from avsync.training.spoof_pack import decode_pcm16, encode_pcm16, read_pack, to_pcm16, write_pack


def test_pcm16_code_is_lossless_at_the_extremes_and_on_noise():
    rng = np.random.default_rng(0)
    for q in (rng.integers(-32768, 32768, 50_000).astype(np.int16),
              np.array([-32768, 32767, -32768, 0, 32767, 1, -1], dtype=np.int16),  # differences wrap modulo 2^16
              np.zeros(0, dtype=np.int16)):
        lo, hi = encode_pcm16(q)
        np.testing.assert_array_equal(decode_pcm16(lo, hi), q)


def test_pack_deals_clips_to_shards_and_reads_them_back(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    items = [Item((0.3 * np.sin(2 * np.pi * (100 + 7 * k) * t[: 3000 + k]) + 0.003 * rng.standard_normal(3000 + k))
                  .astype(np.float32), k % 2, f"fam{k % 3}", clean=bool(k % 4)) for k in range(40)]
    paths = write_pack(items, tmp_path, shards=3, seed=0)
    assert [p.name for p in paths] == ["pack_0.npz", "pack_1.npz", "pack_2.npz"]
    shards = [read_pack(p) for p in paths]
    assert sorted(len(s) for s in shards) == [13, 13, 14]
    back = {it.wave.size: it for it in read_pack(tmp_path)}  # the lengths tell the clips apart
    assert len(back) == len(items)
    for it in items:
        b = back[it.wave.size]
        assert (b.label, b.family, b.clean) == (it.label, it.family, it.clean)
        np.testing.assert_array_equal(b.wave, to_pcm16(it.wave).astype(np.float32) / 32767)
    raw = sum(it.wave.size * 2 for it in items)
    assert sum(p.stat().st_size for p in paths) < 0.8 * raw  # smaller than the int16 samples
