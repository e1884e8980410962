"""The batched inference runner (avsync.inference.run_batched): batch boundaries, cut items, empty input, the batch
size and precision checks, inference mode and bfloat16 autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsync.errors import ConfigError
from avsync.inference import check_batch_size, run_batched


class Toy(torch.nn.Module):
    """Deterministic and elementwise (no reduction whose order could depend on the batch shape); records its calls."""

    def __init__(self, features: int = 7):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(features, generator=g))
        self.b = torch.nn.Parameter(torch.randn(features, generator=g))
        self.calls: list[tuple[int, ...]] = []
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        self.modes.append(torch.is_inference_mode_enabled())
        return torch.tanh(x * self.w + self.b)


@pytest.fixture
def items() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((10, 7)).astype(np.float32)


@pytest.mark.parametrize("bs", [1, 3, 4, 9, 10, 11, 64])
def test_batches_give_the_one_big_batch_result(items, bs) -> None:
    toy = Toy()
    one = toy(torch.from_numpy(items)).detach().numpy()
    toy.calls.clear()
    toy.modes.clear()
    out = run_batched(toy, items, batch_size=bs, empty=np.zeros((0, 7), np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (10, 7)
    assert np.array_equal(out, one)
    # the batches are the slices [0, bs), [bs, 2 bs), ... in order, the last one shorter
    sizes = [s[0] for s in toy.calls]
    assert sizes == [min(bs, 10 - i) for i in range(0, 10, bs)]
    assert all(toy.modes)  # under torch.inference_mode


def test_cut_items_are_stacked_batch_by_batch(items) -> None:
    signal = np.random.default_rng(1).standard_normal(100).astype(np.float32)
    starts = np.array([0, 13, 40, 41, 93])
    toy = Toy(features=7)
    expected = toy(torch.from_numpy(np.stack([signal[s : s + 7] for s in starts]))).detach().numpy()
    cut_calls = []

    def cut(s):
        cut_calls.append(int(s))
        return signal[s : s + 7]

    out = run_batched(toy, starts, batch_size=2, cut=cut, empty=np.zeros((0, 7), np.float32))
    assert np.array_equal(out, expected)
    assert cut_calls == list(starts) and [c[0] for c in toy.calls[1:]] == [2, 2, 1]
    # a sequence of items (pairs) works the same, and tensors cut from a tensor come back as a tensor
    pairs = [(0, 3), (1, 5), (0, 9)]
    rows = torch.from_numpy(items)
    got = run_batched(toy, pairs, batch_size=2, cut=lambda p: rows[p[0]] + rows[p[1]], empty=torch.zeros(0, 7),
                      numpy=False)
    assert isinstance(got, torch.Tensor) and got.shape == (3, 7)
    assert torch.equal(got, toy(torch.stack([rows[a] + rows[b] for a, b in pairs])).detach())


def test_dtype_conversion_and_tensor_items(items) -> None:
    toy = Toy()
    as64 = items.astype(np.float64)
    out = run_batched(toy, as64, batch_size=4, dtype=np.float32, empty=np.zeros((0, 7), np.float32))
    assert np.array_equal(out, run_batched(toy, items, batch_size=10, empty=np.zeros((0, 7), np.float32)))
    t = run_batched(toy, torch.from_numpy(items), batch_size=3, empty=torch.zeros(0, 7), numpy=False)
    assert isinstance(t, torch.Tensor) and t.device.type == "cpu" and np.array_equal(t.numpy(), out)


def test_empty_input_gives_the_empty_output_without_running_the_model() -> None:
    toy = Toy()
    empty = np.zeros((0, 7), np.float32)
    out = run_batched(toy, np.zeros((0, 7), np.float32), batch_size=4, empty=empty)
    assert out is empty and out.shape == (0, 7) and toy.calls == []
    assert run_batched(toy, [], batch_size=1, cut=lambda s: s, empty=np.zeros(0)).shape == (0,)
    t = run_batched(toy, torch.zeros(0, 7), batch_size=2, empty=torch.zeros(0, 128), numpy=False)
    assert tuple(t.shape) == (0, 128)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None, "x"])
def test_batch_size_must_be_a_whole_number_of_at_least_one(items, bad) -> None:
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        run_batched(Toy(), items, batch_size=bad, empty=np.zeros((0, 7), np.float32))
    with pytest.raises(ValueError):  # ConfigError is a ValueError
        check_batch_size(bad)
    assert check_batch_size(3) == 3 and check_batch_size(np.int64(2)) == 2 and check_batch_size(4.0) == 4


def test_precision_is_checked(items) -> None:
    with pytest.raises(ConfigError, match="precision"):
        run_batched(Toy(), items, batch_size=2, precision="float16", empty=np.zeros((0, 7), np.float32))


def test_bfloat16_runs_under_autocast_and_float32_does_not(items) -> None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(7, 5).eval()
    seen = []

    def model(x):
        y = lin(x)
        seen.append(y.dtype)
        return y.float()

    ref = run_batched(model, items, batch_size=4, empty=np.zeros((0, 5), np.float32))
    assert seen == [torch.float32] * 3
    seen.clear()
    bf = run_batched(model, items, batch_size=4, precision="bfloat16", empty=np.zeros((0, 5), np.float32))
    assert seen == [torch.bfloat16] * 3 and bf.dtype == np.float32 and bf.shape == (10, 5)
    assert np.allclose(bf, ref, atol=0.05)
    # "float32" means float32, even inside an outer autocast
    seen.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        again = run_batched(model, items, batch_size=4, empty=np.zeros((0, 5), np.float32))
    assert seen == [torch.float32] * 3 and np.array_equal(again, ref)


def test_artefact_scorer_refuses_a_zero_batch_before_reading_weights() -> None:
    from avsync.artefacts.scorer import ArtefactScorer

    with pytest.raises(ConfigError, match="batch must be at least 1"):
        ArtefactScorer(batch=0, weights="/nonexistent/weights.safetensors")
