"""Speaker embeddings (GE2E), identity consistency over time, and comparison with a reference voice."""

from avsync.speaker.evidence import SpeakerEvidence, SpeakerWindow, reference_embedding, speaker_evidence
from avsync.speaker.ge2e import SpeakerEncoder, mel_filterbank

__all__ = [
    "SpeakerEncoder",
    "SpeakerEvidence",
    "SpeakerWindow",
    "speaker_evidence",
    "reference_embedding",
    "mel_filterbank",
]
