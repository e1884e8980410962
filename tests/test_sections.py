"""Long videos in sections (avsync.sections): the merged results equal those of one pass over the clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import avsync
from avsync import load_media
from avsync.fusion import Label
from avsync.results import Status
from avsync.pipeline import Detector
from avsync.sections import MediaSection, MonoAudio, plan_sections

FACE = dict(face="photo", size=(320, 320), timbre="vowel")


def test_plan_sections_tiles_the_clip():
    assert plan_sections(50.0, 60.0) == [(0.0, 50.0)]
    assert plan_sections(90.0, 60.0) == [(0.0, 90.0)]  # up to 1.5 sections: at once
    assert plan_sections(100.0, None) == [(0.0, 100.0)]
    for d in (91.0, 150.0, 179.9, 3600.0, 3630.5):
        s = plan_sections(d, 60.0)
        assert s[0][0] == 0.0 and s[-1][1] == d and all(a[1] == b[0] for a, b in zip(s, s[1:]))
        assert all(b - a == 60.0 for a, b in s[:-1]) and 30.0 <= s[-1][1] - s[-1][0] <= 90.0


def test_media_section_reads_the_parent_span(clip):
    path = clip("sections_span", duration=5.0, **FACE)
    m = load_media(path)
    whole = np.concatenate([c.images for c in m.frames(gray=True)])
    with MonoAudio(load_media(path)) as mono:  # not decoded yet: spilled to a file and read back
        part = mono.read(32_000, 48_000)
        np.testing.assert_array_equal(part, m.mono()[32_000:48_000])
        sec = MediaSection(m, 2.0, 3.0, part)
    chunks = list(sec.frames(gray=True, chunk_size=7))
    idx = np.concatenate([c.indices for c in chunks])
    assert idx.tolist() == list(range(25)) and sec.num_frames == 25 and sec.duration == 1.0
    np.testing.assert_array_equal(np.concatenate([c.images for c in chunks]), whole[50:75])
    np.testing.assert_allclose(chunks[0].times[0], 0.0)
    np.testing.assert_array_equal(sec.mono(), part)
    # gray="luma" (the face tracker's): the range tables come with the section's chunks too
    luma = list(sec.frames(gray="luma", chunk_size=7))
    tables = [t for c in luma for t in c.extra["gray_tables"]]
    assert any(t is not None for t in tables)
    mapped = [img if t is None else t[img] for c in luma for img, t in zip(c.images, c.extra["gray_tables"])]
    np.testing.assert_array_equal(np.stack(mapped), whole[50:75])


@pytest.fixture(scope="module")
def shifted_clip(clip):
    return clip("sections_shift", duration=16.0, offset_s=0.32, **FACE)


def test_long_video_in_sections_gives_the_whole_clip_results(shifted_clip):
    whole = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=None)
    parts = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=6.0)
    seen = []
    a, b = whole(shifted_clip), parts(shifted_clip, progress=lambda d, t: seen.append((d, t)))
    assert a.label is b.label is Label.MANIPULATED
    sa, sb = a.details["sync"], b.details["sync"]
    assert sa["offset_frames"] == sb["offset_frames"] == 8
    # each frame counted once: a section's margins belong to its neighbours' cores
    for key in ("num_frames", "valid_frames"):
        assert [f[key] for f in sb["faces"]] == [f[key] for f in sa["faces"]] == [400], key
    assert sb["faces"][0]["speech_frames"] == pytest.approx(sa["faces"][0]["speech_frames"], rel=0.1)
    assert sb["confidence"] == pytest.approx(sa["confidence"], rel=0.1)
    assert any("audio leads video by 320 ms" in r for r in b.reasons)
    fa, fb = a.details["faces"], b.details["faces"]
    assert fb["num_frames"] == fa["num_frames"] == 400 and len(fb["tracks"]) == len(fa["tracks"]) == 1
    assert fb["tracks"][0]["start_frame"] == 0 and fb["tracks"][0]["end_frame"] == 400  # one face, one id
    assert list(parts.thumbnails) == ["face 0 (0–16 s)"]
    # the timeline: the same windows, once each, and every one carries the clip's offset as evidence
    ws = [(w.start, w.end) for w in b.cue("sync").windows]
    assert ws == [(w.start, w.end) for w in a.cue("sync").windows] and len(ws) == len(set(ws))
    scores = [w.score for w in b.cue("sync").windows if w.valid and w.score is not None]
    assert len(scores) > 20 and all(s > 0.5 for s in scores)
    art_a, art_b = a.details["artefact"], b.details["artefact"]
    assert art_b["status"] == "ok" and abs(art_b["score"] - art_a["score"]) < 0.05
    assert [w["start"] for w in art_b["windows"]] == [w["start"] for w in art_a["windows"]]
    assert seen and seen[-1][0] == seen[-1][1] and all(x[0] <= y[0] for x, y in zip(seen, seen[1:]))


def test_voice_check_of_a_long_video_reads_the_audio_its_sections_decoded(clip, monkeypatch, tmp_path):
    """A video analysed in sections decodes its audio once: the voice check reads every channel back from the
    sections' temporary file (same blocks, same result as decoding again), and the file is removed."""
    import tempfile

    from avsync.media.decode import Media
    from avsync.sections import MonoAudio

    path = clip("sections_stereo", duration=16.0, channel_tones=(440.0, 660.0), **FACE)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    decodes = []
    pieces = Media._decoded_pieces
    monkeypatch.setattr(Media, "_decoded_pieces", lambda self: decodes.append(1) or pieces(self))
    from avsync.spoof import SpoofScorer

    det = Detector(device="cpu", sync_model="motion", artefacts=False, section_s=6.0)
    # every window scored (the tones are not speech), read in 5 s blocks: a survey and a scoring pass
    det._spoof_scorer = SpoofScorer(vad=False, speaker=False, block_s=5.0)
    kept = det(path)
    assert len(decodes) == 1 and not list(tmp_path.iterdir())
    with MonoAudio(load_media(path), channels=True) as spilled:
        m = load_media(path)
        assert spilled.has_channels and spilled.num_channels == 2
        for a, b in zip(spilled.blocks(5.0), m.audio_blocks(5.0), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(spilled.read(1000, 90_000), m.mono()[1000:90_000])
    decodes.clear()
    monkeypatch.setattr(MonoAudio, "has_channels", property(lambda self: False))  # the voice check decodes again
    again = det(path)
    assert len(decodes) == 3 and not list(tmp_path.iterdir())  # sections, the voice check's two passes
    assert kept.details["spoof"] == again.details["spoof"]
    assert kept.details["spoof"]["status"] == "ok" and len(kept.details["spoof"]["windows"]) >= 8  # 2 channels
    assert [c.score for c in kept.cues] == [c.score for c in again.cues]


@pytest.mark.parametrize("channels", [False, True])
def test_audio_that_fails_half_way_leaves_no_temporary_file(clip, monkeypatch, tmp_path, channels):
    """Decoding that breaks after the first block raises its MediaError, and the sections' file is removed."""
    import tempfile

    from avsync.errors import MediaError
    from avsync.results import Status

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    media = load_media(clip("sections_span", duration=5.0, **FACE))

    def broken(block_s):
        yield np.zeros((media.num_channels, 16_000), np.float32)
        raise MediaError("audio decoding stopped", status=Status.DECODE_ERROR)

    monkeypatch.setattr(media, "audio_blocks", broken)
    with pytest.raises(MediaError, match="audio decoding stopped"):
        MonoAudio(media, channels=channels)
    assert not list(tmp_path.iterdir())


def test_a_section_whose_audio_alone_is_off_shows_in_the_timeline(clip):
    """Audio 320 ms early in 6-12 s only: the sections' windows are read at the merged offset, as one piece reads them,
    so the shifted stretch is suspicious (read at each section's own best lag it looked in sync)."""
    m = avsync.load_media(clip("sections_local", duration=18.0, **FACE))
    frames = np.concatenate([c.images for c in m.frames()])
    audio = m.audio.copy()
    k, a, b = int(0.32 * 16000), 6 * 16000, 12 * 16000
    audio[:, a:b] = m.audio[:, a + k:b + k]
    media = avsync.Media.from_arrays(audio, 16000, frames, 25.0)
    whole = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=None)(media)
    parts = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=6.0)(media)

    def mean_p(v, lo, hi):
        return np.mean([w.score for w in v.cue("sync").windows if w.valid and w.score is not None
                        and lo <= (w.start + w.end) / 2 < hi])

    for v in (whole, parts):
        assert mean_p(v, 7.0, 11.0) > 0.7 > 0.3 > mean_p(v, 1.0, 5.0), v.reasons
    assert abs(mean_p(parts, 7.0, 11.0) - mean_p(whole, 7.0, 11.0)) < 0.15


def test_progress_covers_the_voice_check_after_the_sections(clip):
    """A long video's voice check runs after its sections: the call's progress goes on past the frames for it (a
    bar stood at 100 % while the voice check ran), to one total, and never back; audio alone reports its own."""
    from avsync.pipeline import VOICE_PROGRESS_SHARE
    from avsync.spoof import SpoofScorer

    path = clip("sections_stereo", duration=16.0, channel_tones=(440.0, 660.0), **FACE)
    det = Detector(device="cpu", sync_model="motion", artefacts=False, section_s=6.0)
    det._spoof_scorer = SpoofScorer(vad=False, speaker=False, block_s=5.0)
    seen: list[tuple[int, int]] = []
    det(path, progress=lambda d, t: seen.append((d, t)))
    totals = {t for _, t in seen}
    assert len(totals) == 1 and seen[-1][0] == seen[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    from avsync.sections import MARGIN_S

    frames = sum(round((min(16.0, b + MARGIN_S) - max(0.0, a - MARGIN_S)) * 25) for a, b in plan_sections(16.0, 6.0))
    assert totals.pop() == frames + round(VOICE_PROGRESS_SHARE * frames)
    assert len([d for d, _ in seen if d > frames]) >= 2  # the voice check's own steps, after the frames
    # in one piece the voice check runs beside the faces: the frames are the progress
    seen.clear()
    Detector(device="cpu", sync_model="motion", artefacts=False)(path, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] == 400
    # an audio file: its seconds at 25 frames a second
    m = load_media(path)
    from avsync.synth import write_audio

    wav = write_audio(str(Path(path).with_suffix(".progress.wav")), m.audio, m.sample_rate)
    seen.clear()
    det(wav, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (400, 400)


def test_a_long_silent_video_gets_its_mouth_region_checked_in_sections(clip):
    """A video without sound longer than one section is checked section by section (it used to be left unchecked):
    the same mouth-region result as in one piece, its windows once each, progress to the end."""
    path = clip("sections_silent", duration=16.0, audio=False, **FACE)
    whole = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=None)(path)
    seen = []
    parts = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=6.0)(
        path, progress=lambda d, t: seen.append((d, t)))
    assert whole.status is parts.status is Status.NO_AUDIO and parts.label is Label.UNDETERMINED
    a, b = whole.cue("artefact"), parts.cue("artefact")
    assert a.status is b.status is Status.OK and [c.name for c in parts.cues] == ["artefact"]
    assert abs(a.score - b.score) < 0.05
    ws = [(w.start, w.end) for w in b.windows]
    assert ws == [(w.start, w.end) for w in a.windows] and len(ws) == len(set(ws))
    assert parts.details["faces"]["num_frames"] == 400 and len(parts.details["faces"]["tracks"]) == 1
    assert "sync" not in parts.details and "audio" not in parts.provenance.timings
    assert seen and seen[-1][0] == seen[-1][1]
