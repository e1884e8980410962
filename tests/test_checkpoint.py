"""avsync.checkpoint: the one writer / reader of the checkpoints avsync trains."""

from __future__ import annotations

import json

import pytest
import torch

from avsync import __version__
from avsync.checkpoint import read_checkpoint, read_metadata, write_checkpoint
from avsync.errors import BundleError


def test_round_trip_keeps_tensors_and_encodes_metadata(tmp_path):
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()  # not contiguous
    p = write_checkpoint(tmp_path / "sub" / "m.safetensors", {"w": t, "n": torch.tensor([3])},
                         {"class": "X", "config": {"width": 8}, "threshold": "0.5"})
    state, meta = read_checkpoint(p)
    assert torch.equal(state["w"], t) and state["n"].dtype == torch.int64
    assert meta["class"] == "X" and json.loads(meta["config"]) == {"width": 8} and meta["threshold"] == "0.5"
    assert meta["avsync_version"] == __version__ and read_metadata(p) == meta


def test_a_writer_keeps_its_own_version_and_bad_files_are_bundle_errors(tmp_path):
    p = write_checkpoint(tmp_path / "m.safetensors", {"w": torch.zeros(1)}, {"avsync_version": "0.0.1"})
    assert read_metadata(p)["avsync_version"] == "0.0.1"
    with pytest.raises(BundleError, match="not found"):
        read_metadata(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(BundleError, match="not a safetensors checkpoint"):
        read_checkpoint(bad)
