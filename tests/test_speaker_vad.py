"""Silero VAD reimplementation and GE2E speaker evidence."""

from __future__ import annotations

import numpy as np
import pytest

from avsync import load_media
from avsync.vad import VAD

SR = 16000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vad():
    return VAD()


@pytest.fixture(scope="module")
def encoder():
    from avsync import BundleError
    from avsync.speaker import SpeakerEncoder

    try:
        return SpeakerEncoder()
    except BundleError as e:  # resemblyzer's weights are an optional install
        pytest.skip(f"GE2E weights absent ({e})")


def test_vad_finds_nothing_in_silence_noise_and_tone(vad):
    t = np.arange(3 * SR) / SR
    for x in (np.zeros(3 * SR), 0.01 * np.random.default_rng(0).standard_normal(3 * SR),
              0.5 * np.sin(2 * np.pi * 440 * t)):
        m = vad(x.astype(np.float32))
        assert m.segments == () and m.speech_s == 0.0
        assert len(m.probabilities) == -(-3 * SR // 512)


def test_vad_chunking_carries_the_state(vad, monkeypatch):
    x = (0.1 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    whole = vad.probabilities(x)
    monkeypatch.setattr(vad, "chunk_frames", 7)
    np.testing.assert_allclose(vad.probabilities(x), whole, atol=1e-6)
    # pushed in blocks of any length (not whole frames), the same probabilities
    stream = vad.stream()
    for a, b in ((0, 700), (700, 701), (701, 20_000), (20_000, len(x))):
        stream.push(x[a:b])
    np.testing.assert_allclose(stream.finish(), whole, atol=1e-6)
    assert len(whole) == -(-len(x) // 512)


def test_vad_segment_rules(vad):
    fs = 0.032
    probs = np.array([0.0] * 10 + [0.9] * 20 + [0.1] * 2 + [0.9] * 20 + [0.0] * 10 + [0.9] * 3 + [0.0] * 10)
    segs = vad.segments(probs, len(probs) * fs)
    # the 64 ms gap is bridged (< 100 ms), the 96 ms blip is dropped (< 250 ms), 30 ms padding
    assert len(segs) == 1
    assert segs[0][0] == pytest.approx(10 * fs - 0.03) and segs[0][1] == pytest.approx(52 * fs + 0.03)


def test_mel_matches_librosa(encoder):
    librosa = pytest.importorskip("librosa")
    x = (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    ref = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=400, hop_length=160, n_mels=40).T
    ours = encoder.mel(x)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_partial_slices_follow_resemblyzer_rule(encoder):
    s = encoder.partial_slices(3 * SR)  # 3 s at 1.3 partials/s, 1.6 s partials
    # n_frames = 301, step = 77: starts 0, 77, 154; the last covers (48000 - 24640) / 25600 = 91 % >= 75 %
    assert [(a.start, a.stop) for a in s] == [(0, 160), (77, 237), (154, 314)]
    assert len(encoder.partial_slices(1000)) == 1


def test_embeddings_are_unit_norm_and_nonnegative(encoder):
    e = encoder.embed_utterance((0.1 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32))
    assert e.shape == (256,) and abs(np.linalg.norm(e) - 1) < 1e-5 and (e >= 0).all()


@pytest.mark.shared
def test_vad_on_real_speech(shared, vad):
    f = sorted(shared.glob("data/real_speech/librispeech_test-other/*.flac"))[0]
    x = load_media(f).mono()
    m = vad(x)
    assert 0.4 * len(x) / SR < m.speech_s <= len(x) / SR


@pytest.mark.shared
def test_reference_same_speaker_scores_higher_than_other_speaker(shared, encoder, vad):
    from avsync.speaker import reference_embedding, speaker_evidence

    gt = shared / "data" / "fake_speech" / "yourtts" / "GT" / "VCTK"
    speakers = sorted(p.name for p in gt.iterdir())[:4]
    wins = 0
    for spk in speakers:
        other = speakers[(speakers.index(spk) + 1) % len(speakers)]
        a, b = sorted((gt / spk).glob("*.wav"))[:2]
        c = sorted((gt / other).glob("*.wav"))[0]
        probe = load_media(a).mono()
        same_ref = reference_embedding(encoder, load_media(b).mono(), mask=vad(load_media(b).mono()))
        other_ref = reference_embedding(encoder, load_media(c).mono(), mask=vad(load_media(c).mono()))
        m = vad(probe)
        same = speaker_evidence(probe, m, encoder, reference=same_ref).reference_similarity
        diff = speaker_evidence(probe, m, encoder, reference=other_ref).reference_similarity
        wins += same > diff
    assert wins == len(speakers)


@pytest.mark.shared
def test_identity_change_inside_a_channel_is_found(shared, encoder, vad):
    from avsync.speaker import speaker_evidence

    ls = sorted(shared.glob("data/real_speech/librispeech_test-other/*.flac"))
    by_spk: dict = {}
    for f in ls:
        by_spk.setdefault(f.name.split("-")[0], []).append(f)
    f1, f2 = list(by_spk.values())[:2]
    a = np.concatenate([load_media(f).mono() for f in f1[:2]])[: 8 * SR]
    b = np.concatenate([load_media(f).mono() for f in f2[:2]])[: 8 * SR]
    spliced = np.concatenate([a, b])
    ev_splice = speaker_evidence(spliced, vad(spliced), encoder)
    ev_single = speaker_evidence(a, vad(a), encoder)
    assert ev_splice.change_similarity < ev_single.change_similarity
    assert abs(ev_splice.change_time_s - len(a) / SR) < 2.5
    assert ev_splice.identity_change


@pytest.mark.shared
def test_a_voice_inserted_into_a_channel_is_found_with_its_end(shared, encoder, vad):
    """A-B-A: the single best split leaves the first voice on both sides of the inserted one (similarity above the
    threshold); the stretch search finds B and where it ends, and one speaker's recording still reads steady."""
    from avsync.speaker import speaker_evidence

    by_spk: dict = {}
    for f in sorted(shared.glob("data/real_speech/librispeech_test-other/*.flac")):
        by_spk.setdefault(f.name.split("-")[0], []).append(f)
    f1, f2 = list(by_spk.values())[2:4]
    a = np.concatenate([load_media(f).mono() for f in f1])
    b = np.concatenate([load_media(f).mono() for f in f2])[: 8 * SR]
    aba = np.concatenate([a[: 8 * SR], b, a[8 * SR : 16 * SR]])
    ev = speaker_evidence(aba, vad(aba), encoder)
    assert ev.identity_change and ev.change_end_s is not None
    assert abs(ev.change_time_s - 8.0) < 2.5 and abs(ev.change_end_s - 16.0) < 2.5
    steady = speaker_evidence(a[: 24 * SR], vad(a[: 24 * SR]), encoder)
    assert not steady.identity_change and steady.change_similarity > 0.75


@pytest.mark.shared
def test_scorer_reference_option_same_speaker_higher(shared):
    from avsync.spoof import SpoofScorer

    gt = shared / "data" / "fake_speech" / "yourtts" / "GT" / "VCTK"
    probe, same = sorted((gt / "p225").glob("*.wav"))[:2]
    other = sorted((gt / "p347").glob("*.wav"))[0]
    weights = str(shared / "weights")
    from avsync import BundleError, bundles

    try:
        bundles.resolve("ge2e-resemblyzer")
    except BundleError as e:
        pytest.skip(f"GE2E weights absent ({e})")
    sims = [SpoofScorer("aasist-l", weights=weights, reference=str(ref))(str(probe)).channels[0].speaker
            for ref in (same, other)]
    assert sims[0].reference_similarity > sims[1].reference_similarity
    assert sims[0].reference_match and not sims[1].reference_match
