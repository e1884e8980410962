"""One batched inference runner for every network: items → batches → device → model → concatenated outputs.

The spoof, artefact, speaker and sync models all score many inputs of one shape (waveform windows, face crops,
mel partials, mouth or MFCC windows, chunks of a face track) with a network that takes a batch. The loop that
cuts the batches, moves them to the device, runs the network under :func:`torch.inference_mode` at the chosen
precision, brings the outputs back to the CPU and joins them is :func:`run_batched`; each model keeps its own
preprocessing (what ``cut`` and ``model`` do) and decides its batch size.

* ``items`` is an array or tensor whose first axis is the batch axis (sliced ``items[i : i + batch_size]``), or
  any sequence (window starts, ``(channel, window)`` pairs) together with ``cut``, which turns one item into
  one input; the inputs of a batch are stacked. Only one batch of inputs exists at a time, so memory is bounded
  by the batch size, not by the number of items.
* Numpy batches become tensors with :func:`torch.from_numpy` (after :func:`numpy.ascontiguousarray`, to
  ``dtype`` when given), then ``.to(device)``; tensors are moved as they are.
* ``precision``: ``"float32"`` runs in float32 (an outer autocast is switched off); ``"bfloat16"`` runs the
  network under :func:`torch.autocast` in bfloat16 (:data:`avsync.device.PRECISIONS`).
* Outputs are concatenated along their first axis, in the order of ``items``; no items give ``empty`` (each
  model passes the empty output of its own shape and dtype).

Results do not depend on the batch size beyond what the network's kernels do with different batch shapes:
the batches are the slices ``[0, b), [b, 2b), ...`` and nothing is reordered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from avsync.device import Precision, check_precision
from avsync.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["check_batch_size", "run_batched"]


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int:
    """``batch_size`` as an ``int``; :class:`~avsync.errors.ConfigError` unless it is a whole number of at least 1."""
    try:
        value = int(batch_size)
    except (TypeError, ValueError):
        value = 0
    if isinstance(batch_size, bool) or value < 1 or (isinstance(batch_size, float) and value != batch_size):
        raise ConfigError(f"{name} must be at least 1, got {batch_size!r}", hint=f"pass a whole number {name} >= 1")
    return value


def _to_tensor(batch: Any, dtype: Any) -> torch.Tensor:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch
    return torch.from_numpy(np.ascontiguousarray(batch, dtype=dtype))


def _stack(inputs: list[Any]) -> Any:
    import torch

    if inputs and isinstance(inputs[0], torch.Tensor):
        return torch.stack(inputs)
    return np.stack(inputs)


@overload
def run_batched(
    model: Callable[[torch.Tensor], torch.Tensor], items: np.ndarray | torch.Tensor | Sequence[Any], *,
    batch_size: int, device: str | torch.device = ..., precision: Precision = ...,
    cut: Callable[[Any], Any] | None = ..., dtype: Any = ..., empty: np.ndarray, numpy: Literal[True] = ...,
) -> np.ndarray: ...


@overload
def run_batched(
    model: Callable[[torch.Tensor], torch.Tensor], items: np.ndarray | torch.Tensor | Sequence[Any], *,
    batch_size: int, device: str | torch.device = ..., precision: Precision = ...,
    cut: Callable[[Any], Any] | None = ..., dtype: Any = ..., empty: torch.Tensor, numpy: Literal[False],
) -> torch.Tensor: ...


def run_batched(
    model: Callable[[torch.Tensor], torch.Tensor],
    items: np.ndarray | torch.Tensor | Sequence[Any],
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
    precision: Precision = "float32",
    cut: Callable[[Any], Any] | None = None,
    dtype: Any = None,
    empty: np.ndarray | torch.Tensor,
    numpy: bool = True,
) -> np.ndarray | torch.Tensor:
    """Run ``model`` over ``items`` in batches of ``batch_size`` and join the outputs (module docstring).

    Parameters
    ----------
    model
        Batch tensor on ``device`` → output tensor whose first axis is the batch (or, for chunks of one sequence,
        the chunk's frames); it does the network's own preprocessing and postprocessing (layout, scaling,
        softmax, ``.float()``).
    items
        Array or tensor ``[N, ...]`` of inputs, or a sequence of ``N`` items that ``cut`` turns into inputs.
    batch_size
        Items per forward pass (:func:`check_batch_size`).
    device
        Torch device the batches are moved to (the model's).
    precision
        ``"float32"`` or ``"bfloat16"`` (autocast), :data:`avsync.device.PRECISIONS`.
    cut
        ``item → input`` (numpy array or tensor); the inputs of a batch are stacked. ``None``: ``items`` is
        sliced directly.
    dtype
        Numpy dtype numpy batches are converted to before they become tensors (``None``: as they are).
    empty
        The result when there are no items.
    numpy
        Return a numpy array (``True``) or a CPU tensor.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The outputs of all batches, concatenated along the first axis in the order of ``items``.
    """
    import torch

    batch_size = check_batch_size(batch_size)
    check_precision(precision)
    outs: list[Any] = []
    with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                                                enabled=precision == "bfloat16"):
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            batch = chunk if cut is None else _stack([cut(item) for item in chunk])
            y = model(_to_tensor(batch, dtype).to(device)).cpu()
            outs.append(y.numpy() if numpy else y)
    if not outs:
        return empty
    return np.concatenate(outs) if numpy else torch.cat(outs)
