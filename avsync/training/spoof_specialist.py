"""Specialist voice models: the LCNN of ``lcnn-spoof`` trained only on real speech against one generator family of the
fine-tuning recipe — copies through its converged HiFi-GAN vocoder (``avsync train spoof --fakes hifigan``) or its
Kokoro-82M TTS clips (``--fakes kokoro``) or its Piper VITS clips (``--fakes piper``) or its classical fakes (``--fakes
classical-ft``: Debian TTS engines and signal-processing vocoders; ``--fakes tts-classical``: the engines only).

The recipe of :mod:`avsync.training.spoof` with the clean clips of :func:`hifigan_items`: the same speakers and splits
as the default voice model's fine-tuning (:mod:`avsync.training.spoof_finetune`, whose cache files it shares), so a
model trained here can sit beside it (docs/spoofmodel.md, "A specialist for converged HiFi-GAN copies").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from avsync.training import spoof_finetune as ft
from avsync.training.spoof import Item, TrainConfig, extra_real_items, train_spoof
from avsync.training.spoof_finetune import FinetuneConfig


def _recipe_clips(split: str, cfg: TrainConfig, cache: Path, parts: tuple[str, ...], keep: Callable[[Item], bool], *,
                  say: Callable[[str], None]) -> list[Item]:
    """The clips of ``parts`` of the fine-tuning recipe (:func:`avsync.training.spoof_finetune.part_items`: same
    speakers, same splits, same cache files) for which ``keep`` holds, in the recipe's order, then the
    ``cfg.extra_real`` recordings of ``split`` (:func:`extra_real_items`)."""
    fc = FinetuneConfig(out=cfg.out, shared=cfg.shared, seed=cfg.seed, cache=str(cache), tiny=cfg.tiny,
                        threads=cfg.threads, warp_copies=cfg.warp_copies)
    out = [it for part in parts for it in ft.part_items(part, split, fc, say=say) if keep(it)]
    out += extra_real_items(split, cfg.extra_real)
    say(f"[data] {split}: {len(out)} clean clips {dict(Counter(i.family for i in out))}")
    return out


def hifigan_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """Real speech of ``split`` and its copies through the converged HiFi-GAN vocoder: the ``real_hifigan`` and
    ``studio`` parts of the fine-tuning recipe without their classical copies. Each real segment is followed by its
    plain copy of the same length, so ``paired`` crops work. With ``cfg.warp_copies`` also the recipe's ``warp``
    part (copies at warped vocoder rates, each after its real segment band-limited alike)."""
    parts = ("real_hifigan", "studio") + (("warp",) if cfg.warp_copies else ())
    return _recipe_clips(split, cfg, cache, parts,
                         lambda it: it.label == 0 or it.family.startswith("voc:hifigan"), say=say)


def kokoro_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """Real speech of ``split`` (the real clips of :func:`hifigan_items`) and the fine-tuning recipe's Kokoro-82M TTS
    clips of that split (its ``kokoro`` part: random texts, random mixes of the wheel's style vectors)."""
    return _recipe_clips(split, cfg, cache, ("real_hifigan", "studio", "kokoro"),
                         lambda it: it.label == 0 or it.family == "tts:kokoro", say=say)


def piper_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """Real speech of ``split`` (the real clips of :func:`hifigan_items`) and the fine-tuning recipe's Piper VITS
    clips of that split (its ``piper`` part: ``en_US-joe-medium`` speaking the recipe's texts)."""
    return _recipe_clips(split, cfg, cache, ("real_hifigan", "studio", "piper"),
                         lambda it: it.label == 0 or it.family == "tts:piper", say=say)


def classical_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """Real speech of ``split`` (the real clips of :func:`hifigan_items`) and the fine-tuning recipe's classical fakes of
    that split (its ``classical`` part: the Debian TTS engines espeak-ng, flite and festival speaking random texts, and
    copies of the real segments through signal-processing vocoders: WORLD, LPC, Griffin-Lim, phase vocoder, ...).
    ``--fakes classical-ft``: not ``--fakes classical``, which is ``lcnn-spoof``'s own recipe and speakers."""
    neural = ("voc:hifigan", "tts:kokoro", "tts:piper")
    return _recipe_clips(split, cfg, cache, ("real_hifigan", "studio", "classical"),
                         lambda it: it.label == 0 or not it.family.startswith(neural), say=say)


def classical_tts_items(split: str, cfg: TrainConfig, cache: Path, *, say: Callable[[str], None] = print) -> list[Item]:
    """Real speech of ``split`` (the real clips of :func:`hifigan_items`) and the Debian TTS engines' clips of the
    fine-tuning recipe's ``classical`` part (espeak-ng, flite, festival on random texts), without its vocoder copies."""
    engines = ("tts:espeak-ng", "tts:flite", "tts:festival")
    return _recipe_clips(split, cfg, cache, ("real_hifigan", "studio", "classical"),
                         lambda it: it.label == 0 or it.family in engines, say=say)


SPECIALIST_DATA: dict[str, Callable[..., list[Item]]] = {"hifigan": hifigan_items, "kokoro": kokoro_items,
                                                         "piper": piper_items, "classical-ft": classical_items,
                                                         "tts-classical": classical_tts_items}
"""``TrainConfig.fakes`` of a specialist → the builder of its clean clips."""


def train_specialist(cfg: TrainConfig, *, say: Callable[[str], None] = print) -> dict:
    """:func:`avsync.training.spoof.train_spoof` on the clips of ``SPECIALIST_DATA[cfg.fakes]``."""
    from avsync.errors import ConfigError

    if cfg.fakes not in SPECIALIST_DATA:
        raise ConfigError(f"a specialist trains on fakes in {sorted(SPECIALIST_DATA)}, got {cfg.fakes!r}")
    return train_spoof(cfg, say=say, clean=SPECIALIST_DATA[cfg.fakes])


def export_pair(specialist: str | Path, dest: str | Path, *, base: str = "aasist-avsync") -> dict[str, str]:
    """Write the :class:`avsync.spoof.pair.ThresholdMax` of the registered voice model ``base`` (its weights as
    avsync ships them, its threshold) and the specialist LCNN at ``specialist`` (a :func:`train_specialist`
    output; its threshold from the file's metadata) as one safetensors file. Returns the metadata written."""
    import torch

    from avsync import __version__
    from avsync.bundles import get_bundle, load_state_dict
    from avsync.checkpoint import write_checkpoint
    from avsync.spoof.models import spoof_factory
    from avsync.training.spoof import load_lcnn

    bundle = get_bundle(base)
    net, meta = load_lcnn(specialist)
    state = {f"base.{k}": v for k, v in load_state_dict(bundle).items()}
    state.update({f"specialist.{k}": v for k, v in net.state_dict().items()})
    state["base_threshold"] = torch.tensor(float(bundle.threshold))
    state["specialist_threshold"] = torch.tensor(float(meta["threshold"]))
    # the file must load, strictly, into the pair of the base's network and a default LCNN
    from avsync.spoof.lcnn import SpoofLCNN
    from avsync.spoof.pair import ThresholdMax

    ThresholdMax(spoof_factory(base)(), SpoofLCNN()).load_state_dict(state, strict=True)
    info = {"format": "avsync-spoof-pair", "base": base, "base_sha256": bundle.sha256,
            "base_threshold": f"{float(bundle.threshold):.6f}", "specialist_config": meta.get("config", "{}"),
            "specialist_threshold": f"{float(meta['threshold']):.6f}", "threshold": "0.500000",
            "avsync_version": __version__, "window_samples": "64600", "sample_rate": "16000",
            "polarity": "softmax(logits)[:, 0] = sigmoid(max of the two networks' log-odds relative to their thresholds)"}
    write_checkpoint(dest, state, info)
    return info


def replace_general(name: str, general: str | Path, dest: str | Path) -> dict[str, str]:
    """Write the registered voice model ``name`` (a :class:`avsync.spoof.pair.ThresholdMax`, nested or not) with its
    general network — the innermost ``base`` — and that network's threshold taken from ``general`` (an
    ``avsync train spoof --finetune`` output: its tensors and its ``threshold`` metadata) as one safetensors file; the
    specialists and their thresholds stay as ``name`` ships them. Returns the metadata written."""
    return replace_networks(name, dest, general=general)


def replace_networks(name: str, dest: str | Path, *, general: str | Path | None = None,
                     specialists: dict[int, str | Path] | None = None) -> dict[str, str]:
    """Write the registered voice model ``name`` (a :class:`avsync.spoof.pair.ThresholdMax`, nested or not) with some
    of its networks replaced, each with its threshold: the general network (the innermost ``base``) by ``general``
    (an ``avsync train spoof --finetune`` output), and the specialist at nesting depth ``d`` (0: the outermost, e.g.
    the Kokoro LCNN of ``aasist-hifigan-kokoro``; 1: the one inside it) by ``specialists[d]`` (an ``avsync train spoof
    --fakes ...`` output: its tensors and its ``threshold`` metadata). Every other tensor stays as ``name`` ships it;
    the file must load strictly into ``name``'s network. Returns the metadata written."""
    import torch

    from avsync import __version__
    from avsync.bundles import get_bundle, load_state_dict
    from avsync.checkpoint import read_checkpoint, write_checkpoint
    from avsync.errors import ConfigError
    from avsync.spoof.models import spoof_factory

    bundle = get_bundle(name)
    state = dict(load_state_dict(bundle))
    depth = 0
    while "base." * depth + "base_threshold" in state:
        depth += 1
    if not depth:
        raise ConfigError(f"{name!r} is no pair of a general network and specialists")
    # tensor prefix -> (threshold key, metadata key, what it is, file)
    parts: dict[str, tuple[str, str, str, str | Path]] = {}
    if general is not None:
        parts["base." * depth] = ("base." * (depth - 1) + "base_threshold", "general", "general", general)
    for d, path in (specialists or {}).items():
        if not 0 <= d < depth:
            raise ConfigError(f"{name!r} has specialists at depths 0..{depth - 1}, not {d}")
        parts["base." * d + "specialist."] = ("base." * d + "specialist_threshold", f"specialist_{d}",
                                              f"specialist {d}", path)
    info = {"format": "avsync-spoof-pair", "model": name, "model_sha256": bundle.sha256}
    for prefix, (thr_key, key, what, path) in parts.items():
        new, meta = read_checkpoint(path)
        old = [k for k in state if k.startswith(prefix)]
        if sorted(k.removeprefix(prefix) for k in old) != sorted(new):
            raise ConfigError(f"{path} does not hold the tensors of {name!r}'s {what} network")
        for k in old:
            del state[k]
        state.update({prefix + k: v for k, v in new.items()})
        state[thr_key] = torch.tensor(float(meta["threshold"]))
        info[key], info[f"{key}_threshold"] = Path(path).name, f"{float(meta['threshold']):.6f}"
    spoof_factory(name)().load_state_dict(state, strict=True)
    info.update({"threshold": "0.500000", "avsync_version": __version__, "window_samples": "64600",
                 "sample_rate": "16000",
                 "polarity": "softmax(logits)[:, 0] = sigmoid(max of the networks' log-odds relative to their thresholds)"})
    write_checkpoint(dest, state, info)
    return info
