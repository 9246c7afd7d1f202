"""G.722 through PyAV: round trips, state across frames, concealment."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sipmeet.codecs import CodecError, G722Decoder, G722Encoder

RATE = 16000
FRAME = 320
QMF_DELAY = 22  # the transmit and receive QMF filters of G.722 delay by 22 samples


def _chirp(samples: int) -> npt.NDArray[np.int16]:
    t = np.arange(samples) / RATE
    sweep = 100 * t + (7000 - 100) / (2 * t[-1]) * t**2  # 100 Hz to 7 kHz
    chirp: npt.NDArray[np.int16] = (8000 * np.sin(2 * np.pi * sweep)).astype(np.int16)
    return chirp


def _sine(samples: int, hz: float = 1000.0) -> npt.NDArray[np.int16]:
    return (8000 * np.sin(2 * np.pi * hz * np.arange(samples) / RATE)).astype(np.int16)


def _round_trip(pcm: npt.NDArray[np.int16], frame: int = FRAME) -> npt.NDArray[np.int16]:
    encoder, decoder = G722Encoder(), G722Decoder()
    parts = [decoder.decode(encoder.encode(pcm[i : i + frame])) for i in range(0, pcm.size, frame)]
    return np.concatenate(parts)


def _snr_db(reference: npt.NDArray[np.int16], decoded: npt.NDArray[np.int16], delay: int) -> float:
    a = reference[2000:-200].astype(np.float64)
    b = decoded[2000 + delay : decoded.size - 200 + delay].astype(np.float64)
    return float(10 * np.log10(np.sum(a**2) / np.sum((a - b) ** 2)))


def test_frame_sizes() -> None:
    encoder, decoder = G722Encoder(), G722Decoder()
    payload = encoder.encode(_sine(FRAME))
    assert len(payload) == 160  # 64 kbit/s: 8 bits per two samples
    pcm = decoder.decode(payload)
    assert pcm.dtype == np.int16 and pcm.shape == (FRAME,)
    assert decoder.decode(b"").size == 0


def test_chirp_round_trip() -> None:
    chirp = _chirp(FRAME * 50)
    decoded = _round_trip(chirp)
    snrs = {delay: _snr_db(chirp, decoded, delay) for delay in range(40)}
    assert max(snrs, key=lambda d: snrs[d]) == QMF_DELAY
    assert snrs[QMF_DELAY] > 20


def test_sine_round_trip() -> None:
    sine = _sine(FRAME * 25)
    assert _snr_db(sine, _round_trip(sine), QMF_DELAY) > 35


def test_state_is_kept_across_frames() -> None:
    chirp = _chirp(FRAME * 10)
    encoder = G722Encoder()
    in_frames = b"".join(encoder.encode(chirp[i : i + FRAME]) for i in range(0, chirp.size, FRAME))
    whole = G722Encoder().encode(chirp)  # one call: the reference for a stateful coder
    assert in_frames == whole
    decoder = G722Decoder()
    frames = [in_frames[i : i + 160] for i in range(0, len(in_frames), 160)]
    by_frame = np.concatenate([decoder.decode(f) for f in frames])
    assert by_frame.tolist() == G722Decoder().decode(whole).tolist()
    # A decoder that forgets its state between frames gives something else.
    forgetful = np.concatenate([G722Decoder().decode(f) for f in frames])
    assert forgetful.tolist() != by_frame.tolist()


def test_other_frame_sizes() -> None:
    sine = _sine(160 * 40)
    assert _snr_db(sine, _round_trip(sine, frame=160), QMF_DELAY) > 35


def test_bad_frames_are_rejected() -> None:
    encoder = G722Encoder()
    with pytest.raises(CodecError, match="even number of samples"):
        encoder.encode(np.zeros(321, dtype=np.int16))
    encoder.encode(np.zeros(FRAME, dtype=np.int16))
    with pytest.raises(CodecError, match="frame of 160 samples after frames of 320"):
        encoder.encode(np.zeros(160, dtype=np.int16))
    with pytest.raises(CodecError, match="1-D int16"):
        encoder.encode(np.zeros((2, FRAME), dtype=np.int16))


def test_concealment() -> None:
    encoder, decoder = G722Encoder(), G722Decoder()
    sine = _sine(FRAME * 6, hz=300)
    for i in range(0, FRAME * 5, FRAME):
        decoder.decode(encoder.encode(sine[i : i + FRAME]))
    hidden = decoder.conceal(FRAME)
    assert hidden.shape == (FRAME,) and hidden.dtype == np.int16
    # The gap carries on the tone: strongly correlated with the (delayed) original.
    truth = sine[FRAME * 5 - QMF_DELAY : FRAME * 6 - QMF_DELAY].astype(np.float64)
    corr = np.dot(hidden[:160], truth[:160]) / np.sqrt(
        np.dot(hidden[:160].astype(np.float64), hidden[:160]) * np.dot(truth[:160], truth[:160])
    )
    assert corr > 0.9
    assert decoder.conceal(FRAME * 3)[-FRAME:].tolist() == [0] * FRAME  # silent beyond 60 ms
