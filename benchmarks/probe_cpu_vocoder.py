"""Probe: can a neural vocoder trained on this CPU stand in for HiFi-GAN-style copy-synthesis fakes?

    AVSYNC_SHARED=../shared PYTHONPATH=$PWD:$PWD/cli python benchmarks/probe_cpu_vocoder.py \
        [--minutes 15] [--eval-at 5] [--threads 2] [--device cpu] [--out vocoder_probe.json]

1. Trains a small HiFi-GAN-style generator (log-mel 80 bands, hop 256 → waveform; transposed-conv
   upsampling ×8 ×8 ×2 ×2 with dilated residual blocks, 0.29 M parameters) for ``--minutes`` on the
   real speech of the spoof recipe's ``train`` speakers (``avsync.training.spoof_data``), with a
   multi-resolution STFT loss + log-mel L1 loss and no discriminator (seeded).
2. Copy-synthesises up to 16 clips (first 6 s) of the ``calib`` speakers (never seen by the vocoder)
   and scores real and copy with the default voice model and with ``lcnn-spoof``.

If the default model already flags the copies while it misses the HiFi-GAN-demo copies of the
evaluation set, such a vocoder does not teach anything new: what is needed is a converged vocoder
(adversarial training, GPU hours). Prints the log-mel L1 distance of copy to original (a converged
HiFi-GAN is far lower than an under-trained one) and the scores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SR, NFFT, HOP, NMEL, SEG = 16000, 1024, 256, 80, 8192


def build(device: str):
    import librosa
    import torch
    from torch import nn
    from torch.nn import functional as F

    basis = torch.tensor(librosa.filters.mel(sr=SR, n_fft=NFFT, n_mels=NMEL, fmin=0, fmax=8000), device=device)
    win = torch.hann_window(NFFT, device=device)

    def mel(x):  # [B, T] → [B, 80, T / 256] log-mel
        p = (NFFT - HOP) // 2
        spec = torch.stft(F.pad(x, (p, p), mode="reflect"), NFFT, HOP, window=win, center=False,
                          return_complex=True).abs()
        return torch.log(torch.clamp(basis @ spec, min=1e-5))

    class ResBlock(nn.Module):
        def __init__(self, c, k=3, dilations=(1, 3, 5)):
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv1d(c, c, k, dilation=d, padding=(k * d - d) // 2) for d in dilations])

        def forward(self, x):
            for conv in self.convs:
                x = x + conv(F.leaky_relu(x, 0.1))
            return x

    class Generator(nn.Module):
        def __init__(self, ch=128, ups=((8, 16), (8, 16), (2, 4), (2, 4))):
            super().__init__()
            self.pre = nn.Conv1d(NMEL, ch, 7, padding=3)
            self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
            for i, (u, k) in enumerate(ups):
                c = ch // 2 ** (i + 1)
                self.ups.append(nn.ConvTranspose1d(c * 2, c, k, u, padding=(k - u) // 2))
                self.blocks.append(ResBlock(c))
            self.post = nn.Conv1d(c, 1, 7, padding=3)

        def forward(self, m):
            x = self.pre(m)
            for up, block in zip(self.ups, self.blocks):
                x = block(up(F.leaky_relu(x, 0.1)))
            return torch.tanh(self.post(F.leaky_relu(x, 0.1))).squeeze(1)

    def stft_loss(y, x):
        total = 0.0
        for n, h in ((512, 128), (1024, 256), (2048, 512)):
            w = torch.hann_window(n, device=device)
            ys = torch.stft(y, n, h, window=w, return_complex=True).abs().clamp(min=1e-7)
            xs = torch.stft(x, n, h, window=w, return_complex=True).abs().clamp(min=1e-7)
            total = total + torch.norm(xs - ys, p="fro") / torch.norm(xs, p="fro") + F.l1_loss(ys.log(), xs.log())
        return total / 3

    return mel, Generator, stft_loss


def _waves(split: str, shared: str, *, min_len: int) -> list[np.ndarray]:
    from avsync.training.spoof_data import load_wave, real_sources

    out = []
    for s in real_sources(shared):
        if s.split != split:
            continue
        try:
            w = load_wave(s.path)
        except Exception:  # noqa: BLE001, S112  # FSDD takes under avsync's 0.2 s minimum
            continue
        if w.size > min_len:
            out.append(w)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-at", default="", help="also evaluate after these minutes of training, e.g. 5,15")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED",
                                                        str(Path(__file__).resolve().parents[2] / "shared")))
    a = ap.parse_args(argv)

    import torch
    from torch.nn import functional as F

    from avsync.spoof import load_spoof_model
    from avsync.training.spoof import clip_windows, load_lcnn

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    os.environ.setdefault("AVSYNC_MODELS_DIR", str(Path(a.shared) / "weights"))
    mel, Generator, stft_loss = build(a.device)
    train = _waves("train", a.shared, min_len=SEG + 1)
    print(f"vocoder training data: {len(train)} clips, {sum(w.size for w in train) / SR / 60:.1f} min of speech")
    g = Generator().to(a.device)
    opt = torch.optim.AdamW(g.parameters(), 4e-4, betas=(0.8, 0.99))
    rng = np.random.default_rng(a.seed)
    calib = [w[: 6 * SR] for w in _waves("calib", a.shared, min_len=int(1.5 * SR))][:16]
    default = load_spoof_model()
    lcnn, _ = load_lcnn(Path(__file__).resolve().parents[1] / "models" / "lcnn-spoof" / "lcnn_spoof.safetensors")

    def p_default(w):
        return float(np.mean(default.predict(clip_windows(w))))

    def p_lcnn(w):
        with torch.inference_mode():
            return float(torch.softmax(lcnn(torch.from_numpy(clip_windows(w))), 1)[:, 0].mean())

    def evaluate(step, minutes, losses) -> dict:
        g.eval()
        with torch.inference_mode():
            copies = [g(mel(torch.from_numpy(w)[None].to(a.device)))[0, : w.size].cpu().numpy() for w in calib]
            dist = [float(F.l1_loss(mel(torch.from_numpy(c)[None].to(a.device)),
                                    mel(torch.from_numpy(w)[None].to(a.device)))) for c, w in zip(copies, calib)]
        g.train()
        r = {"steps": step, "minutes": round(minutes, 2), "loss": float(np.mean(losses[-500:])), "clips": len(calib),
             "logmel_l1_copy_vs_real": float(np.mean(dist)),
             f"{default.name}_real": [p_default(w) for w in calib], f"{default.name}_copy": [p_default(c) for c in copies],
             "lcnn-spoof_real": [p_lcnn(w) for w in calib], "lcnn-spoof_copy": [p_lcnn(c) for c in copies]}
        print(f"== after {step} steps ({minutes:.1f} min of training), loss {r['loss']:.3f}; {len(calib)} calib "
              f"clips; log-mel L1 copy vs real {r['logmel_l1_copy_vs_real']:.3f}")
        for k in (f"{default.name}_real", f"{default.name}_copy", "lcnn-spoof_real", "lcnn-spoof_copy"):
            v = np.array(r[k])
            print(f"   {k:<26} mean {v.mean():.3f}  >= 0.5: {int((v >= 0.5).sum())}/{v.size}  {np.round(v, 3).tolist()}",
                  flush=True)
        return r

    checkpoints = sorted({float(m) for m in a.eval_at.split(",") if m} | {a.minutes})
    results, trained, step, losses = [], 0.0, 0, []
    t0 = time.time()
    while checkpoints:
        if trained >= checkpoints[0] * 60:
            results.append(evaluate(step, trained / 60, losses))
            checkpoints.pop(0)
            continue
        t1 = time.time()
        batch = []
        for _ in range(8):
            w = train[rng.integers(len(train))]
            s = rng.integers(0, w.size - SEG)
            batch.append(w[s : s + SEG])
        x = torch.from_numpy(np.stack(batch)).to(a.device)
        m = mel(x)
        y = g(m)[:, :SEG]
        loss = stft_loss(y, x) + 0.5 * F.l1_loss(mel(y), m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        trained += time.time() - t1  # training time only (evaluations excluded)
        losses.append(float(loss.detach()))
        if step % 1000 == 0:
            print(f"step {step} ({trained:.0f} s of training, {time.time() - t0:.0f} s wall): "
                  f"loss {np.mean(losses[-1000:]):.3f}", flush=True)
    res = {"checkpoints": results}
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
