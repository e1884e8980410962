"""A specialist voice model: the LCNN of ``lcnn-spoof`` trained only on real speech against its copies through the
converged HiFi-GAN vocoder of the fine-tuning recipe (``avsync train spoof --fakes hifigan``).

The recipe of :mod:`avsync.training.spoof` with the clean clips of :func:`hifigan_items`: the same speakers and splits
as the default voice model's fine-tuning (:mod:`avsync.training.spoof_finetune`, whose cache files it shares), so a
model trained here can sit beside it (docs/spoofmodel.md, "A specialist for converged HiFi-GAN copies").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from avsync.training import spoof_finetune as ft
from avsync.training.spoof import Item, TrainConfig, train_spoof
from avsync.training.spoof_finetune import FinetuneConfig


def hifigan_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """Real speech of ``split`` and its copies through the converged HiFi-GAN vocoder: the ``real_hifigan`` and
    ``studio`` parts of the fine-tuning recipe (:func:`avsync.training.spoof_finetune.part_items`, same speakers,
    same splits, same cache files) without their classical copies. Each real segment is followed by its plain copy
    of the same length, so ``paired`` crops work."""
    fc = FinetuneConfig(out=cfg.out, shared=cfg.shared, seed=cfg.seed, cache=str(cache), tiny=cfg.tiny,
                        threads=cfg.threads)
    items = [it for part in ("real_hifigan", "studio") for it in ft.part_items(part, split, fc, say=say)]
    keep = [it for it in items if it.label == 0 or it.family.startswith("voc:hifigan")]
    say(f"[data] {split}: {len(keep)} clean clips {dict(Counter(i.family for i in keep))}")
    return keep


def train_hifigan_specialist(cfg: TrainConfig, *, say: Callable[[str], None] = print) -> dict:
    """:func:`avsync.training.spoof.train_spoof` on :func:`hifigan_items` (``cfg.fakes`` must be ``"hifigan"``)."""
    from avsync.errors import ConfigError

    if cfg.fakes != "hifigan":
        raise ConfigError(f"the specialist trains on fakes='hifigan', got {cfg.fakes!r}")
    return train_spoof(cfg, say=say, clean=hifigan_items)
