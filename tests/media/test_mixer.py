"""MixMinus: everybody hears everybody but itself, saturated, with gains and mutes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import numpy.typing as npt
import pytest

from sipmeet.media import MixMinus


def _reference(
    frames: npt.NDArray[np.int16],
    gains: npt.NDArray[np.float64] | None = None,
    muted: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int16]:
    """Row by row, in Python integers: the sum of the other rows, clipped."""
    rows = frames.astype(np.int64)
    if gains is not None:
        rows = (rows * np.rint(np.clip(gains, 0, 8) * 4096).astype(np.int64)[:, None]) >> 12
    if muted is not None:
        rows[muted] = 0
    out = np.empty(frames.shape, dtype=np.int16)
    for i in range(frames.shape[0]):
        others = [rows[j] for j in range(frames.shape[0]) if j != i]
        total = np.sum(others, axis=0) if others else np.zeros(frames.shape[1], dtype=np.int64)
        out[i] = np.clip(total, -32768, 32767)
    return out


def _random(rows: int, samples: int, scale: int = 8000, seed: int = 1) -> npt.NDArray[np.int16]:
    return np.random.default_rng(seed).integers(-scale, scale, (rows, samples), dtype=np.int16)


@pytest.mark.parametrize("rows", [1, 2, 3, 10])
def test_each_row_hears_the_sum_of_the_others(rows: int) -> None:
    frames = _random(rows, 160)
    out = MixMinus().mix(frames)
    assert out.dtype == np.int16 and out.shape == (rows, 160)
    assert np.array_equal(out, _reference(frames))


def test_one_participant_hears_silence() -> None:
    assert not MixMinus().mix(_random(1, 160)).any()


def test_two_participants_hear_each_other_exactly() -> None:
    frames = _random(2, 320)
    out = MixMinus().mix(frames)
    assert np.array_equal(out[0], frames[1]) and np.array_equal(out[1], frames[0])


def test_nobody_hears_itself() -> None:
    # Only participant k talks: everybody but k hears exactly its audio, k hears nothing.
    mixer = MixMinus()
    for k in range(5):
        frames = np.zeros((5, 160), dtype=np.int16)
        frames[k] = _random(1, 160, scale=32767, seed=k)[0]
        out = mixer.mix(frames)
        assert not out[k].any()
        for i in range(5):
            if i != k:
                assert np.array_equal(out[i], frames[k])


def test_saturation() -> None:
    loud = np.full((4, 160), 30000, dtype=np.int16)
    loud[3] = -32768
    out = MixMinus().mix(loud)
    assert (out[:3] == -32768 + 60000).all()  # 30000 + 30000 - 32768 fits
    assert (out[3] == 32767).all()  # 90000 clips
    negative = np.full((3, 160), -32768, dtype=np.int16)
    assert (MixMinus().mix(negative) == -32768).all()  # -65536 clips


def test_mute_mask_silences_what_a_participant_sends_only() -> None:
    frames = _random(4, 160)
    muted = np.array([False, True, False, False])
    out = MixMinus().mix(frames, muted=muted)
    assert np.array_equal(out, _reference(frames, muted=muted))
    # The muted participant still hears the others.
    assert np.array_equal(out[1], _reference(frames)[1])
    # And nobody hears the muted one.
    assert np.array_equal(out[0], np.clip(frames[2].astype(np.int32) + frames[3], -32768, 32767))


def test_gains() -> None:
    frames = _random(5, 160)
    gains = np.array([1.0, 0.5, 2.0, 0.0, 12.0])  # 12 is clipped to 8
    muted = np.array([False, False, False, False, True])
    mixer = MixMinus()
    assert np.array_equal(mixer.mix(frames, gains), _reference(frames, gains))
    assert np.array_equal(mixer.mix(frames, gains, muted), _reference(frames, gains, muted))
    # Unity gains are the plain mix.
    assert np.array_equal(mixer.mix(frames, np.ones(5)), _reference(frames))


def test_membership_changes_resize_the_buffers() -> None:
    mixer = MixMinus()
    for rows, samples in [(3, 160), (4, 160), (2, 320), (3, 160)]:
        frames = _random(rows, samples, seed=rows)
        assert np.array_equal(mixer.mix(frames), _reference(frames))
    assert mixer.mix(np.zeros((0, 160), dtype=np.int16)).shape == (0, 160)


def test_steady_state_allocates_nothing() -> None:
    mixer = MixMinus()
    frames = _random(10, 160)
    gains, muted = np.full(10, 0.8), np.zeros(10, dtype=bool)
    first = mixer.mix(frames, gains, muted)
    assert mixer.mix(frames, gains, muted) is first  # the output buffer is reused
    tracemalloc.start()
    try:
        mixer.mix(frames)
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(100):
            mixer.mix(frames)
            mixer.mix(frames, gains, muted)
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start < 256
    assert peak - start < 2048  # no temporary anywhere near a frame block (3200 bytes)


def test_rejects_other_shapes_and_types() -> None:
    with pytest.raises(ValueError, match="int16"):
        MixMinus().mix(np.zeros((2, 160), dtype=np.int32))
    with pytest.raises(ValueError, match="1-D"):
        MixMinus().mix(np.zeros(160, dtype=np.int16))
