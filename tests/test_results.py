"""Status vocabulary, serialisation and time conversions."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from avsync import AvsyncError, MediaError, Status
from avsync.results import Serializable
from avsync.timebase import (
    SlidingWindow,
    describe_offset,
    frames_to_ms,
    frames_to_seconds,
    join_spans,
    samples_to_seconds,
    seconds_to_frames,
    seconds_to_samples,
)


@dataclass(frozen=True)
class _Inner(Serializable):
    start: float
    end: float


@dataclass(frozen=True)
class _Outer(Serializable):
    status: Status
    windows: tuple[_Inner, ...]
    score: float | None = None
    tags: dict[str, int] | None = None


def test_status_vocabulary():
    for name in ["ok", "no_face", "no_speech", "no_audio", "no_video", "too_short", "decode_error"]:
        assert Status(name).value == name
    assert Status.DECODE_ERROR.is_failure and not Status.NO_FACE.is_failure and not Status.OK.is_failure
    assert str(Status.NO_AUDIO) == "no_audio"


def test_nested_roundtrip_and_json():
    obj = _Outer(Status.NO_SPEECH, (_Inner(0.0, 1.0), _Inner(0.5, 1.5)), score=np.float32(0.25).item(), tags={"a": 1})
    d = obj.to_dict()
    assert d["status"] == "no_speech" and d["windows"][1] == {"start": 0.5, "end": 1.5}
    assert d["schema_version"] == 1
    back = _Outer.from_json(obj.to_json())
    assert back == obj
    assert isinstance(back.windows, tuple) and isinstance(back.status, Status)


def test_nan_is_serialised_as_null():
    obj = _Outer(Status.OK, (), score=float("nan"))
    assert json.loads(obj.to_json())["score"] is None


def test_errors_carry_status_and_hint():
    e = MediaError("no audio track", status=Status.NO_AUDIO, hint="pass --audio FILE")
    assert isinstance(e, AvsyncError) and e.status is Status.NO_AUDIO
    assert str(e) == "no audio track; pass --audio FILE"
    assert MediaError("x").status is Status.DECODE_ERROR


def test_conversions():
    assert seconds_to_samples(1.5, 16000) == 24000
    assert samples_to_seconds(8000, 16000) == 0.5
    assert seconds_to_frames(0.04, 25) == 1 and seconds_to_frames(0.0399, 25) == 0
    assert frames_to_seconds(3, 25) == pytest.approx(0.12)
    assert frames_to_ms(-3, 25) == pytest.approx(-120)


def test_describe_offset_sign():
    assert describe_offset(120) == "audio leads video by 120 ms"
    assert describe_offset(-120) == "audio lags video by 120 ms"
    assert describe_offset(10) == "audio and video are in sync"


def test_join_spans_continues_a_stretch_only_where_the_next_span_touches_or_overlaps_it():
    spans = [(0.0, 2.0, "a"), (2.0, 4.0, "b"), (3.0, 5.0, "c"), (5.5, 6.0, "d"), (6.0, 7.0, "e")]
    assert join_spans(spans) == [(0.0, 5.0, ("a", "b", "c")), (5.5, 7.0, ("d", "e"))]
    assert join_spans([]) == []
    assert join_spans([(1.0, 9.0, 1), (2.0, 3.0, 2)]) == [(1.0, 9.0, (1, 2))]  # a span inside keeps the end


def test_sliding_window_grid():
    w = SlidingWindow(duration=1.0, step=0.5)
    assert w.count(3.0) == 5
    np.testing.assert_allclose(w.starts(3.0), [0, 0.5, 1.0, 1.5, 2.0])
    assert w.count(3.2) == 5 and w.count(3.2, partial=True) == 6
    b = w.bounds(3.2, partial=True)
    assert b[-1, 1] == pytest.approx(3.2)
    assert w.count(0.5) == 0 and w.count(0.5, partial=True) == 1
    sl = w.sample_slices(3.0, 16000)
    assert sl[1] == slice(8000, 24000)
    fs = w.frame_slices(3.0, 25)
    assert fs[0] == slice(0, 25)
    with pytest.raises(ValueError):
        SlidingWindow(0, 1)
