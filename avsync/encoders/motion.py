"""Training-free mouth-motion and audio-activity signals (tensors in, tensors out).

These are the two sides of the training-free sync baseline: a 1-D "how open / how much moving is
the mouth" signal per video frame and a 1-D "how loud / how much changing is the sound" signal per
video frame. :class:`~avsync.sync.models.MotionScorer` cross-correlates them over lags.
"""

from __future__ import annotations

from typing import Literal

import torch

from avsync.errors import ConfigError

__all__ = ["AudioSignal", "VisualSignal", "audio_activity", "highpass", "mouth_activity"]

VisualSignal = Literal["opening", "motion"]
AudioSignal = Literal["energy", "flux"]


def mouth_activity(mouth: torch.Tensor, kind: VisualSignal = "opening", *, inner: float = 0.6) -> torch.Tensor:
    """A per-frame mouth signal from gray mouth crops.

    Parameters
    ----------
    mouth
        ``[..., N, S, S]`` gray crops (0..255, any dtype), one per consecutive analysis frame.
    kind
        ``"opening"``: darkness of the central region (``-mean`` intensity; an open mouth shows the
        dark oral cavity); ``"motion"``: mean absolute difference to the previous frame (first frame
        copies the second).
    inner
        Fraction of the crop (centred) that is averaged, to leave out cheeks and chin.

    Returns
    -------
    torch.Tensor
        ``[..., N]`` float32.
    """
    x = mouth.to(torch.float32)
    s_h, s_w = x.shape[-2], x.shape[-1]
    mh, mw = max(1, int(round(s_h * (1 - inner) / 2))), max(1, int(round(s_w * (1 - inner) / 2)))
    if s_h > 2 * mh and s_w > 2 * mw:
        x = x[..., mh : s_h - mh, mw : s_w - mw]
    if kind == "opening":
        return -x.mean(dim=(-2, -1))
    if kind == "motion":
        d = (x[..., 1:, :, :] - x[..., :-1, :, :]).abs().mean(dim=(-2, -1))  # between k and k+1
        if d.shape[-1] == 0:
            return torch.zeros(x.shape[:-2])
        back = torch.cat([d[..., :1], d], dim=-1)
        fwd = torch.cat([d, d[..., -1:]], dim=-1)
        return 0.5 * (back + fwd)
    raise ConfigError(f"unknown mouth signal {kind!r}; use 'opening' or 'motion'")


def audio_activity(energy_db: torch.Tensor, kind: AudioSignal = "energy", *, floor_db: float = 50.0) -> torch.Tensor:
    """A per-frame audio signal from frame energies in dB (:func:`avsync.features.audio.frame_energy`).

    ``"energy"``: the energy clipped to ``floor_db`` below its maximum (so that silence is flat);
    ``"flux"``: its absolute frame-to-frame change (onsets and offsets), the counterpart of mouth ``"motion"``.
    Returns ``[..., N]``.
    """
    e = energy_db.to(torch.float32)
    e = torch.maximum(e, e.amax(dim=-1, keepdim=True) - floor_db)
    if kind == "energy":
        return e
    if kind == "flux":
        d = (e[..., 1:] - e[..., :-1]).abs()
        if not d.shape[-1]:
            return torch.zeros_like(e)
        return 0.5 * (torch.cat([d[..., :1], d], dim=-1) + torch.cat([d, d[..., -1:]], dim=-1))
    raise ConfigError(f"unknown audio signal {kind!r}; use 'energy' or 'flux'")


def highpass(x: torch.Tensor, width: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Subtract a centred moving average of ``width`` frames (over valid frames only) along the last axis."""
    if width <= 1:
        return x
    m = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    xz = torch.where(m > 0, x, torch.zeros_like(x))
    kernel = torch.ones(1, 1, width, dtype=x.dtype, device=x.device)
    pad = width // 2
    flat_x, flat_m = xz.reshape(-1, 1, x.shape[-1]), m.reshape(-1, 1, x.shape[-1])
    num = torch.nn.functional.conv1d(torch.nn.functional.pad(flat_x, (pad, width - 1 - pad)), kernel)
    den = torch.nn.functional.conv1d(torch.nn.functional.pad(flat_m, (pad, width - 1 - pad)), kernel)
    avg = (num / den.clamp(min=1)).reshape(x.shape)
    return x - avg
