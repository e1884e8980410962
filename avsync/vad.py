"""Voice activity detection: our implementation of Silero VAD v5 (16 kHz) with the weights of the
``silero-vad`` wheel (MIT), loaded from its safetensors file without importing the package.

``speech_mask(audio)`` → :class:`SpeechMask`: speech probability every 32 ms and speech segments
in seconds. The network (:class:`SileroVADNet`) is tensors in, tensors out; the wrapper owns
framing, batching and the segment rules (hysteresis, minimum speech and silence, padding), which
follow the defaults of ``silero_vad.get_speech_timestamps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsync.device import resolve_device
from avsync.results import Serializable

__all__ = ["SileroVADNet", "SpeechMask", "VAD", "VADStream", "speech_mask", "FRAME_SAMPLES", "CONTEXT_SAMPLES"]

FRAME_SAMPLES = 512
"""Samples per VAD decision at 16 kHz (32 ms)."""
CONTEXT_SAMPLES = 64
"""Samples of the previous frame prepended to each frame."""
_SR = 16000


def _net_class():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SileroVADNet(nn.Module):
        """Silero VAD v5 16 kHz network.

        ``forward(frames [B, N, 576], state) → (probabilities [B, N], state)``: ``N`` consecutive
        frames of 512 samples, each preceded by the 64 samples before it (zeros for the first);
        the LSTM state runs along ``N`` and can be carried to the next chunk.
        """

        def __init__(self):
            super().__init__()
            self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
            self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
            self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
            self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
            self.lstm = nn.LSTM(128, 128, batch_first=True)
            self.final_conv = nn.Conv1d(128, 1, 1)

        def forward(self, frames: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
            """``frames [B, N, 576]`` → ``(probabilities [B, N], (h, c))``; pass ``state`` on to continue."""
            b, n, L = frames.shape
            x = F.pad(frames.reshape(b * n, 1, L), (0, 64), mode="reflect")
            x = self.stft_conv(x)
            x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
            for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
                x = F.relu(conv(x))
            h, state = self.lstm(x.squeeze(-1).reshape(b, n, 128), state)  # [B, N, 128]
            out = torch.sigmoid(self.final_conv(F.relu(h).transpose(1, 2)))  # [B, 1, N]
            return out[:, 0], state

        @staticmethod
        def convert_state_dict(sd: dict) -> dict:
            """Map the wheel's keys (``lstm_cell.*``) onto this module's (``lstm.*_l0``)."""
            out = {}
            for k, v in sd.items():
                if k.startswith("lstm_cell."):
                    k = "lstm." + k.split(".", 1)[1] + "_l0"
                out[k] = v
            return out

    return SileroVADNet


def __getattr__(name: str):  # lazy torch import: `from avsync.vad import SileroVADNet`
    if name == "SileroVADNet":
        return _net_class()
    raise AttributeError(name)


@dataclass(frozen=True)
class SpeechMask(Serializable):
    """Speech activity of one mono signal.

    Attributes
    ----------
    frame_s
        Duration of one probability frame in seconds (0.032).
    probabilities
        Speech probability per frame, frame ``i`` covering ``[i * frame_s, (i + 1) * frame_s)``.
    segments
        Speech segments ``(start_s, end_s)`` after the segment rules.
    duration_s
        Length of the analysed signal in seconds.
    """

    frame_s: float
    probabilities: tuple[float, ...]
    segments: tuple[tuple[float, float], ...]
    duration_s: float

    def speech_fraction(self, start: float, end: float) -> float:
        """Fraction of ``[start, end)`` (s) covered by speech segments."""
        if end <= start:
            return 0.0
        covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.segments)
        return covered / (end - start)

    @property
    def speech_s(self) -> float:
        """Total speech in seconds."""
        return float(sum(b - a for a, b in self.segments))

    def as_array(self, sample_rate: int, num_samples: int) -> np.ndarray:
        """Boolean ``[num_samples]`` mask of speech samples at ``sample_rate``."""
        m = np.zeros(num_samples, bool)
        for a, b in self.segments:
            m[int(round(a * sample_rate)) : int(round(b * sample_rate))] = True
        return m


class VAD:
    """Silero VAD wrapper: framing, batching, segment rules.

    Parameters
    ----------
    threshold
        Speech probability above which a frame starts speech; it ends below ``threshold - 0.15``.
    min_speech_s, min_silence_s, pad_s
        Segments shorter than ``min_speech_s`` are dropped, silences shorter than
        ``min_silence_s`` are bridged, and segments are padded by ``pad_s`` on both sides.
    device
        Torch device.
    weights
        Explicit safetensors path (default: the ``silero-vad`` bundle).
    """

    bundle_name = "silero-vad"
    """Weights bundle loaded when no ``weights`` path is given."""

    chunk_frames = 1875
    """Frames per forward pass (1 minute; activations of about 30 MB); the LSTM state is carried across chunks."""

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        min_speech_s: float = 0.25,
        min_silence_s: float = 0.1,
        pad_s: float = 0.03,
        device: str = "cpu",
        weights: str | None = None,
    ):
        import torch

        from avsync.bundles import load_state_dict

        self.threshold, self.min_speech_s, self.min_silence_s, self.pad_s = threshold, min_speech_s, min_silence_s, pad_s
        net_cls = _net_class()
        self.net = net_cls()
        sd = load_state_dict(self.bundle_name, path=weights)
        self.net.load_state_dict(net_cls.convert_state_dict(sd))
        device = resolve_device(device)
        self.net.eval().to(device)
        self.device = torch.device(device)

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability per 32 ms frame of a ``[T]`` 16 kHz waveform, shape ``[ceil(T / 512)]``."""
        stream = self.stream()
        stream.push(audio)
        return stream.finish()

    def stream(self) -> VADStream:
        """A :class:`VADStream`: the same probabilities from a waveform given block by block."""
        return VADStream(self)

    def segments(self, probs: np.ndarray, duration_s: float) -> list[tuple[float, float]]:
        """Speech segments (s) from frame probabilities (hysteresis, min speech/silence, padding)."""
        fs = FRAME_SAMPLES / _SR
        on, off = self.threshold, max(self.threshold - 0.15, 0.01)
        segs: list[list[float]] = []
        active, start = False, 0.0
        for i, p in enumerate(probs):
            if not active and p >= on:
                active, start = True, i * fs
            elif active and p < off:
                active = False
                segs.append([start, i * fs])
        if active:
            segs.append([start, len(probs) * fs])
        merged: list[list[float]] = []
        for s in segs:
            if merged and s[0] - merged[-1][1] < self.min_silence_s:
                merged[-1][1] = s[1]
            else:
                merged.append(s)
        out = []
        for a, b in merged:
            if b - a >= self.min_speech_s:
                out.append((max(0.0, a - self.pad_s), min(duration_s, b + self.pad_s)))
        return out

    def __call__(self, audio: np.ndarray) -> SpeechMask:
        """:class:`SpeechMask` of a ``[T]`` float waveform at 16 kHz."""
        x = np.asarray(audio, np.float32).reshape(-1)
        return self.mask(self.probabilities(x), len(x))

    def mask(self, probs: np.ndarray, num_samples: int) -> SpeechMask:
        """:class:`SpeechMask` of ``num_samples`` samples from their frame probabilities (e.g. a :class:`VADStream`'s)."""
        dur = num_samples / _SR
        return SpeechMask(
            frame_s=FRAME_SAMPLES / _SR,
            probabilities=tuple(float(p) for p in probs),
            segments=tuple(self.segments(probs, dur)),
            duration_s=dur,
        )


class VADStream:
    """Speech probabilities of a long waveform pushed in blocks of any length (bounded memory).

    ``push(block)`` as often as needed, then ``finish()`` → the ``[ceil(T / 512)]`` probabilities that
    :meth:`VAD.probabilities` gives for the whole waveform (the LSTM state and the 64 context samples are
    carried from block to block; the last partial frame is zero-padded).
    """

    def __init__(self, vad: VAD):
        self.vad = vad
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self._rest = np.zeros(0, np.float32)
        self._state = None
        self._out: list[np.ndarray] = []
        self.num_samples = 0

    def _run(self, buf: np.ndarray) -> None:
        """Frames of ``buf`` (a multiple of 512 samples) through the network, carrying the state."""
        import torch

        n = len(buf) // FRAME_SAMPLES
        if n == 0:
            return
        padded = np.concatenate([self._context, buf])
        frames = np.lib.stride_tricks.sliding_window_view(padded, CONTEXT_SAMPLES + FRAME_SAMPLES)[::FRAME_SAMPLES]
        with torch.inference_mode():
            for i in range(0, n, self.vad.chunk_frames):  # bounded memory on long blocks
                chunk = torch.from_numpy(np.array(frames[i : i + self.vad.chunk_frames], np.float32))[None]  # a copy: writable
                p, self._state = self.vad.net(chunk.to(self.vad.device), self._state)
                self._out.append(p[0].float().cpu().numpy())
        self._context = buf[-CONTEXT_SAMPLES:].copy()

    def push(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float32).reshape(-1)
        self.num_samples += len(x)
        buf = np.concatenate([self._rest, x]) if len(self._rest) else x
        full = len(buf) // FRAME_SAMPLES * FRAME_SAMPLES
        self._run(buf[:full])
        self._rest = buf[full:].copy()

    def copy(self) -> VADStream:
        """An independent stream in the same state (a channel that was identical to another until now)."""
        new = VADStream(self.vad)
        new._context, new._rest, new._out, new.num_samples = self._context.copy(), self._rest.copy(), list(self._out), self.num_samples
        new._state = None if self._state is None else tuple(t.clone() for t in self._state)
        return new

    def finish(self) -> np.ndarray:
        if len(self._rest):
            last = np.zeros(FRAME_SAMPLES, np.float32)
            last[: len(self._rest)] = self._rest
            self._rest = np.zeros(0, np.float32)
            self._run(last)
        return np.concatenate(self._out) if self._out else np.zeros(0, np.float32)


_DEFAULT: dict[str, VAD] = {}


def speech_mask(audio: np.ndarray, *, device: str = "cpu") -> SpeechMask:
    """Speech activity of a ``[T]`` 16 kHz mono waveform with the default :class:`VAD` (cached)."""
    if device not in _DEFAULT:
        _DEFAULT[device] = VAD(device=device)
    return _DEFAULT[device](audio)
