"""Audio levels (RFC 6464), voice activity and the active-speaker detector."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sipmeet.media import (
    SILENCE_LEVEL,
    ActiveSpeakerDetector,
    SpeakerChanged,
    audio_level,
    audio_levels,
    voice_activity,
)


def _sine(amplitude: float, samples: int = 160) -> npt.NDArray[np.int16]:
    return np.rint(amplitude * np.sin(2 * np.pi * np.arange(samples) / 16)).astype(np.int16)


def test_reference_levels() -> None:
    # RFC 6464 §3: 0 dBov is the overload point, a full-scale square wave.
    square = np.tile(np.array([32767, -32767], dtype=np.int16), 80)
    assert audio_level(square) == 0
    assert audio_level(_sine(32767)) == 3  # a full-scale sine is -3.01 dBov
    assert audio_level(_sine(32767 / 10)) == 23  # 20 dB lower
    assert audio_level(_sine(32767 / 1000)) == 63
    # Digital silence is 127 (-127 dBov), and so is anything quieter.
    assert audio_level(np.zeros(160, dtype=np.int16)) == SILENCE_LEVEL
    one = np.zeros(160, dtype=np.int16)
    one[0] = 1
    assert audio_level(one) == 112  # one LSB in a frame: -112 dBov


def test_levels_of_every_row_at_once() -> None:
    frames = np.stack([_sine(32767), _sine(3277), np.zeros(160, dtype=np.int16), _sine(33)])
    levels = audio_levels(frames)
    assert levels.dtype == np.uint8
    assert levels.tolist() == [3, 23, 127, 63]
    assert audio_levels(np.zeros((0, 160), dtype=np.int16)).shape == (0,)
    assert audio_levels(np.zeros((2, 0), dtype=np.int16)).tolist() == [127, 127]
    with pytest.raises(ValueError, match="1-D"):
        audio_levels(np.zeros(160, dtype=np.int16))


def test_voice_activity_threshold() -> None:
    levels = np.array([3, 30, 49, 50, 51, 127], dtype=np.uint8)
    assert voice_activity(levels).tolist() == [True, True, True, False, False, False]
    assert voice_activity(levels, threshold_dbov=-30).tolist() == [True] + [False] * 5


def _feed(
    detector: ActiveSpeakerDetector[str], ids: list[str], levels: list[int], frames: int
) -> list[tuple[int, SpeakerChanged[str]]]:
    events = []
    for i in range(frames):
        event = detector.update(np.array(levels, dtype=np.uint8), ids)
        if event is not None:
            events.append((i, event))
    return events


def test_a_speaker_takes_over_after_leading_for_300_ms() -> None:
    detector: ActiveSpeakerDetector[str] = ActiveSpeakerDetector()
    ids = ["alice", "bob", "carol"]
    events = _feed(detector, ids, [25, 127, 127], frames=30)
    # Alice's smoothed loudness passes the threshold after a few frames, then she must
    # lead for 15 frames (300 ms): one event, no earlier than frame 14.
    assert len(events) == 1
    frame, event = events[0]
    assert event == SpeakerChanged("alice", None)
    assert 14 <= frame <= 25
    assert detector.speaker == "alice"


def test_short_bursts_do_not_steal_the_floor() -> None:
    detector: ActiveSpeakerDetector[str] = ActiveSpeakerDetector()
    ids = ["alice", "bob"]
    _feed(detector, ids, [30, 127], frames=40)
    assert detector.speaker == "alice"
    # Bob coughs loudly for 200 ms, then stays quiet: Alice keeps the floor.
    assert _feed(detector, ids, [30, 5], frames=10) == []
    assert _feed(detector, ids, [30, 127], frames=40) == []
    # Bob talks louder for a second: he takes over, once.
    events = _feed(detector, ids, [30, 10], frames=50)
    assert [e for _, e in events] == [SpeakerChanged("bob", "alice")]


def test_equally_loud_speakers_do_not_flap() -> None:
    detector: ActiveSpeakerDetector[str] = ActiveSpeakerDetector()
    ids = ["alice", "bob"]
    _feed(detector, ids, [30, 127], frames=40)
    # Both at nearly the same level: Bob never leads by the margin.
    assert _feed(detector, ids, [30, 29], frames=100) == []
    assert detector.speaker == "alice"


def test_the_speaker_stays_through_silence() -> None:
    detector: ActiveSpeakerDetector[str] = ActiveSpeakerDetector()
    ids = ["alice", "bob"]
    _feed(detector, ids, [30, 127], frames=40)
    assert _feed(detector, ids, [127, 127], frames=100) == []
    assert detector.speaker == "alice"


def test_the_speaker_leaving_is_a_change() -> None:
    detector: ActiveSpeakerDetector[str] = ActiveSpeakerDetector()
    _feed(detector, ["alice", "bob"], [30, 127], frames=40)
    event = detector.update(np.array([127], dtype=np.uint8), ["bob"])
    assert event == SpeakerChanged(None, "alice")
    assert detector.speaker is None
    # Somebody new starts talking: they become the speaker after the hold time.
    events = _feed(detector, ["bob", "dave"], [127, 20], frames=30)
    assert [e for _, e in events] == [SpeakerChanged("dave", None)]


def test_rows_as_participants() -> None:
    detector: ActiveSpeakerDetector[int] = ActiveSpeakerDetector(switch_after_ms=100)
    events = []
    for _ in range(20):
        event = detector.update([127, 20, 127])
        if event is not None:
            events.append(event)
    assert events == [SpeakerChanged(1, None)]
    with pytest.raises(ValueError, match="2 levels for 3 participants"):
        detector.update([1, 2], ["a", "b", "c"])  # type: ignore[list-item]
