"""StreamResampler: exact frame sizes, continuity across frames, anti-aliasing, delay."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sipmeet.codecs import CodecError, StreamResampler

PAIRS = [(8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000), (8000, 16000), (16000, 8000)]


def _tone(rate: int, samples: int, hz: float, start: int = 0) -> npt.NDArray[np.float64]:
    return 10000 * np.sin(2 * np.pi * hz * np.arange(start, start + samples) / rate)


def _stream(
    resampler: StreamResampler, pcm: npt.NDArray[np.int16], frame: int
) -> list[npt.NDArray[np.int16]]:
    return [resampler.process(pcm[i : i + frame]) for i in range(0, pcm.size, frame)]


def test_equal_rates_pass_frames_through() -> None:
    resampler = StreamResampler(16000, 16000)
    pcm = np.arange(320, dtype=np.int16)
    assert resampler.identity
    assert resampler.process(pcm) is pcm


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_every_frame_has_its_exact_size(in_rate: int, out_rate: int) -> None:
    resampler = StreamResampler(in_rate, out_rate)
    assert not resampler.identity
    pcm = _tone(in_rate, in_rate, 300).astype(np.int16)
    sizes = [o.size for o in _stream(resampler, pcm, in_rate // 50)]
    assert sizes == [out_rate // 50] * 50
    odd = StreamResampler(in_rate, out_rate)
    # 7 ms pieces: the running total decides, rounded down.
    total = sum(o.size for o in _stream(odd, pcm, in_rate * 7 // 1000))
    assert total == out_rate


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_a_tone_comes_out_clean_and_continuous(in_rate: int, out_rate: int) -> None:
    hz = 440.0
    resampler = StreamResampler(in_rate, out_rate)
    pcm = np.rint(_tone(in_rate, in_rate // 2, hz)).astype(np.int16)
    out = np.concatenate(_stream(resampler, pcm, in_rate // 50)).astype(np.float64)
    # Find the delay against the ideal tone at the output rate, then measure the error.
    steady = out[out.size // 5 :]
    best_delay, best_snr = 0, -np.inf
    for delay in range(out_rate * 5 // 1000):
        ideal = _tone(out_rate, steady.size, hz, start=out.size // 5 - delay)
        snr = 10 * np.log10(np.sum(ideal**2) / np.sum((steady - ideal) ** 2))
        if snr > best_snr:
            best_delay, best_snr = delay, snr
    assert best_snr > 40  # a per-frame (stateless) resampler clicks at every frame edge
    assert best_delay <= out_rate * 3 // 1000  # at most 3 ms late


def test_downsampling_removes_what_the_output_cannot_carry() -> None:
    resampler = StreamResampler(48000, 8000)
    for hz in (5000.0, 6000.0, 10000.0):  # would alias to 3000, 2000, 2000 Hz
        out = np.concatenate(_stream(resampler, _tone(48000, 48000, hz).astype(np.int16), 960))
        rms = float(np.sqrt(np.mean(out[800:].astype(np.float64) ** 2)))
        assert rms < 10000 / np.sqrt(2) / 1000  # more than 60 dB down
    passband = np.concatenate(_stream(resampler, _tone(48000, 48000, 3000).astype(np.int16), 960))
    rms = float(np.sqrt(np.mean(passband[800:].astype(np.float64) ** 2)))
    assert abs(20 * np.log10(rms / (10000 / np.sqrt(2)))) < 0.5


def test_bad_input() -> None:
    with pytest.raises(CodecError, match="cannot resample 0 Hz"):
        StreamResampler(0, 8000)
    with pytest.raises(CodecError, match="1-D int16"):
        StreamResampler(8000, 16000).process(np.zeros(160, dtype=np.float32))
    assert StreamResampler(8000, 16000).process(np.zeros(0, dtype=np.int16)).size == 0
