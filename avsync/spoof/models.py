"""Spoof model registry: which network class loads which weights bundle, and the default model.

Change :data:`DEFAULT_MODEL` here, and only here, to switch the default everywhere (API, CLI,
benchmarks).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from avsync.bundles import REGISTRY, Bundle, find, get_bundle, load_state_dict
from avsync.device import PRECISIONS, Precision, check_precision, resolve_device
from avsync.errors import BundleError

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_MODEL", "PRECISIONS", "SPOOF_MODELS", "SPOOF_NETWORKS", "SpoofModel", "check_precision",
           "load_spoof_model", "network_factory", "spoof_factory"]

DEFAULT_MODEL = "aasist-hifigan-kokoro-piper"
"""Name of the default spoof model (a key of :data:`SPOOF_MODELS`).

``aasist-hifigan-kokoro-piper`` (``models/aasist-hifigan-kokoro-piper``, shipped inside the package, so the voice
check works offline out of the box): avsync's fine-tune of the ASVspoof 5 AASIST (``aasist-avsync``), a small LCNN
specialist for copies made by a converged HiFi-GAN vocoder (together ``aasist-hifigan``), a second LCNN specialist
for Kokoro-82M TTS (the three: ``aasist-hifigan-kokoro``, unchanged) and a third for Piper VITS TTS, trained with
music under a share of its clips; run on the same windows, the largest of their threshold-relative evidence counts
(:class:`avsync.spoof.pair.ThresholdMax`, nested). On held-out speakers, texts and generators
(benchmarks/spoof_model_eval.py; the model cards have the tables): Piper VITS held-out texts all detected, 93 % / 87 %
under a bed of music 20 / 10 dB below the voice (``aasist-hifigan-kokoro``: 67 %, 3 %, 3 %); Kokoro-82M EER 3.7 %,
converged HiFi-GAN copies 0 %, every other fake subset as ``aasist-hifigan-kokoro`` (11 pooled TTS /
voice-conversion demo pages 21.2 %, pooled HiFi-GAN-demo vocoders 21.7 %, YourTTS 0 %, SC-GlowTTS 10 %); real
8 kHz FSDD digit takes flagged 8.2 %, KLettres letters 1.9 % (4 of 212), every held-out real subset and its G.711 /
AMR / Opus and music copies as ``aasist-hifigan-kokoro``. The default since 2026-12-07 (docs/spoofmodel.md, "A
fourth network"); ``aasist-hifigan-kokoro`` was the default earlier that day, ``aasist-hifigan`` from 2026-12-06.
"""


def _aasist():
    from avsync.spoof.nets import AASIST

    return AASIST()


def _aasist_l():
    from avsync.spoof.nets import AASIST, AASISTConfig

    return AASIST(AASISTConfig.light())


def _rawgat(fusion: Literal["mul", "add", "cat"]) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        from avsync.spoof.nets import RawGATST

        return RawGATST(fusion)

    return make


def _lcnn():
    from avsync.spoof.lcnn import SpoofLCNN

    return SpoofLCNN()


SPOOF_NETWORKS: dict[str, Callable[[], torch.nn.Module]] = {
    "avsync.spoof.AASIST": _aasist,
    "avsync.spoof.AASIST(light)": _aasist_l,
    "avsync.spoof.RawGATST(fusion='mul')": _rawgat("mul"),
    "avsync.spoof.RawGATST(fusion='add')": _rawgat("add"),
    "avsync.spoof.RawGATST(fusion='cat')": _rawgat("cat"),
    "avsync.spoof.lcnn.SpoofLCNN": _lcnn,
}
"""A bundle's ``architecture`` → factory of its untrained network. Every registered bundle with one of these
architectures is a spoof model: another checkpoint of a known network is one :class:`~avsync.bundles.Bundle`
entry; a new network is its module plus one entry here (docs/plugins.md). A general network beside specialists
(``avsync.spoof.pair.ThresholdMax(BASE,SpoofLCNN)``, nested to any depth) is built from its string
(:func:`network_factory`); those of the registered bundles are entries here too."""

_PAIR, _PAIR_END = "ThresholdMax(", ",SpoofLCNN)"


def _threshold_max(architecture: str) -> Callable[[], torch.nn.Module] | None:
    """Factory of ``[avsync.spoof.pair.]ThresholdMax(BASE,SpoofLCNN)``, ``BASE`` a network of :data:`SPOOF_NETWORKS`
    without its ``avsync.spoof.`` prefix or another such pair; ``None`` for any other string."""
    inner = architecture.removeprefix("avsync.spoof.pair.")
    if not (inner.startswith(_PAIR) and inner.endswith(_PAIR_END)):
        return None
    base = inner[len(_PAIR):-len(_PAIR_END)]
    make_base = _threshold_max(base) if base.startswith(_PAIR) else SPOOF_NETWORKS.get("avsync.spoof." + base)
    if make_base is None:
        return None

    def make() -> torch.nn.Module:
        from avsync.spoof.lcnn import SpoofLCNN
        from avsync.spoof.pair import ThresholdMax

        return ThresholdMax(make_base(), SpoofLCNN())

    return make


def network_factory(architecture: str) -> Callable[[], torch.nn.Module] | None:
    """Factory of the untrained network of a bundle ``architecture``: :data:`SPOOF_NETWORKS`, or a
    :class:`~avsync.spoof.pair.ThresholdMax` nesting of one of them built from its string (a candidate with more
    specialists than any registered model); ``None`` when it is neither."""
    return SPOOF_NETWORKS.get(architecture) or _threshold_max(architecture)


SPOOF_NETWORKS.update({b.architecture: f for b in REGISTRY.values()
                       if b.architecture not in SPOOF_NETWORKS and (f := _threshold_max(b.architecture)) is not None})

SPOOF_MODELS: dict[str, Callable] = {b.name: SPOOF_NETWORKS[b.architecture] for b in REGISTRY.values()
                                     if b.architecture in SPOOF_NETWORKS}
"""Model name → factory of the untrained network (the registry's bundles of :data:`SPOOF_NETWORKS`); the weights
are the bundle of the same name."""


def spoof_factory(name: str) -> Callable[[], torch.nn.Module]:
    """Factory of the untrained network of spoof model ``name``: :data:`SPOOF_MODELS`, else the network of the
    registered bundle's ``architecture`` (a bundle registered at run time). Unknown: :class:`BundleError`."""
    if name in SPOOF_MODELS:
        return SPOOF_MODELS[name]
    bundle = REGISTRY.get(name)
    factory = None if bundle is None else network_factory(bundle.architecture)
    if factory is not None:
        return factory
    raise BundleError(f"unknown spoof model {name!r}", hint=f"choose one of {', '.join(sorted(SPOOF_MODELS))}")


@dataclass
class SpoofModel:
    """A spoof network with its weights bundle, on a device.

    Attributes
    ----------
    name
        Model name (key of :data:`SPOOF_MODELS` and of the bundle registry).
    bundle
        The weights :class:`~avsync.bundles.Bundle` (sha256, licence, input spec).
    net
        The ``nn.Module`` in eval mode: ``[B, window_samples]`` → logits ``[B, 2]`` ``[spoof, bona fide]``.
    device
        Torch device string.
    """

    name: str
    bundle: Bundle
    net: torch.nn.Module
    device: str

    @property
    def window_samples(self) -> int:
        """Samples per network input (64600 for every public model)."""
        return int(self.bundle.input.window_samples or 64600)

    @property
    def threshold(self) -> float:
        """The model's default decision threshold on :meth:`predict` (its calibrated operating point)."""
        return float(self.bundle.threshold)

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) the network's input windows must have (16000 for every public model)."""
        return int(self.bundle.input.sample_rate or 16000)

    def predict(self, batch: np.ndarray, *, precision: Precision = "float32") -> np.ndarray:
        """Probability that each window is synthetic.

        Parameters
        ----------
        batch
            ``[B, window_samples]`` float32 waveforms at 16 kHz in [-1, 1].
        precision
            ``"float32"`` (default; reproduces the public reference outputs to 1e-4) or
            ``"bfloat16"``: the convolutions run in bfloat16 (autocast) and, on CPU, the work
            between them in fused kernels (:mod:`avsync.spoof.cpu_kernels`): about 2x faster on
            CPUs with AVX-512 BF16 or AMX; borderline probabilities can move (see :data:`PRECISIONS`).

        Returns
        -------
        numpy.ndarray
            ``[B]`` float, ``softmax(logits)[:, 0]`` (0 = bona fide, 1 = spoof).
        """
        return self.predict_batches(batch, batch_size=max(1, len(batch)), precision=precision)

    def predict_batches(
        self,
        items: np.ndarray | Sequence[Any],
        *,
        batch_size: int,
        precision: Precision = "float32",
        cut: Callable[[Any], np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`predict` of many windows, ``batch_size`` per forward pass (:func:`avsync.inference.run_batched`).

        ``items``: ``[N, window_samples]`` waveforms, or ``N`` items that ``cut`` turns into one waveform each
        (e.g. window starts over a longer signal, so that only one batch of windows is cut at a time).
        Returns ``[N]`` float64 probabilities (empty for no items).
        """
        from avsync.inference import run_batched
        from avsync.spoof.nets import spoof_probability

        net = self.net
        probs = run_batched(lambda x: spoof_probability(net(x)), items, batch_size=batch_size, device=self.device,
                            precision=precision, cut=cut, dtype=np.float32, empty=np.zeros(0))
        return probs.astype(np.float64)


_CACHE: dict[tuple, SpoofModel] = {}
_LOCK = threading.Lock()


def load_spoof_model(
    name: str = DEFAULT_MODEL,
    *,
    device: str = "auto",
    weights: str | None = None,
    allow_download: bool = False,
) -> SpoofModel:
    """Build the network of ``name`` and load its verified weights (cached per name/device/path).

    Parameters
    ----------
    name
        One of :data:`SPOOF_MODELS`.
    device
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    weights
        Explicit weights file or models directory (see :func:`avsync.bundles.resolve`).
    allow_download
        Download the bundle into the user cache if no local copy exists.

    Raises
    ------
    BundleError
        Unknown model, missing or tampered weights.
    """
    factory = spoof_factory(name)
    device = resolve_device(device)
    key = (name, device, weights)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        bundle = get_bundle(name)
        sd = {}
        own = weights
        if bundle.requires:  # a head trained on a frozen public checkpoint: load the checkpoint first
            is_dir = weights is not None and os.path.isdir(weights)
            for base in bundle.requires:
                sd.update(load_state_dict(get_bundle(base), path=weights if is_dir else None,
                                          allow_download=allow_download))
            if is_dir and find(bundle, path=weights) is None:
                own = None  # a models directory holding only the checkpoint: the head ships with avsync
        sd.update(load_state_dict(bundle, path=own, allow_download=allow_download))
        net = factory()
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise BundleError(f"weights of {name!r} do not fit its network: {str(e)[:300]}") from None
        net.eval().to(device)
        model = SpoofModel(name=name, bundle=bundle, net=net, device=device)
        _CACHE[key] = model
        return model
