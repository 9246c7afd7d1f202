"""G.711 against the tables of ITU-T G.711 (11/1988), Tables 1a and 2a."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from sipmeet.codecs import (
    CodecError,
    G711Decoder,
    G711Encoder,
    decode_alaw,
    decode_ulaw,
    encode_alaw,
    encode_ulaw,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = bytes(range(256))

# G.711 Table 1a (A-law), one half, in the table's units (full scale 4096):
# per segment, the first decision value and the step. The decoder output of step k
# is the middle of its interval: first + step * k + step / 2.
ALAW_SEGMENTS = [(0, 2), (32, 2), (64, 4), (128, 8), (256, 16), (512, 32), (1024, 64), (2048, 128)]
# G.711 Table 2a (μ-law), one half, in the table's units (full scale 8159). The first
# interval of segment 1 is [0, 1) with output 0; otherwise the same rule, from -1.
ULAW_SEGMENTS = [
    (-1, 2),
    (31, 4),
    (95, 8),
    (223, 16),
    (479, 32),
    (991, 64),
    (2015, 128),
    (4063, 256),
]


def _alaw_code(segment: int, step: int, positive: bool) -> int:
    # Character signal: polarity bit (1 = positive), 3 segment bits, 4 step bits,
    # with the even bits inverted for transmission.
    return ((0x80 if positive else 0) | segment << 4 | step) ^ 0x55


def _ulaw_code(segment: int, step: int, positive: bool) -> int:
    # Polarity bit (1 = positive), then segment and step bits all inverted.
    return (0x80 if positive else 0) | (0x7F ^ (segment << 4 | step))


def _table(
    segments: list[tuple[int, int]], code: object, scale: int
) -> tuple[dict[int, int], list[tuple[float, float, int, int]]]:
    """Decoder output per code word (16-bit), and (low, high, +code, -code) intervals."""
    outputs: dict[int, int] = {}
    intervals: list[tuple[float, float, int, int]] = []
    assert callable(code)
    for segment, (first, step) in enumerate(segments):
        for k in range(16):
            low, high = first + step * k, first + step * (k + 1)
            value = (low + high) // 2
            plus, minus = code(segment, k, True), code(segment, k, False)
            outputs[plus], outputs[minus] = value * scale, -value * scale
            intervals.append((max(low, 0), high, plus, minus))
    return outputs, intervals


ALAW_OUTPUTS, ALAW_INTERVALS = _table(ALAW_SEGMENTS, _alaw_code, 8)
ULAW_OUTPUTS, ULAW_INTERVALS = _table(ULAW_SEGMENTS, _ulaw_code, 4)


def _load_audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # removed in Python 3.13
            return None
    return audioop


audioop = _load_audioop()
needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop is gone (Python 3.13+)")


def test_published_values() -> None:
    # G.711: μ-law 0xFF is +0 (idle channel), 0x7F -0; 0x80/0x00 are ±8031 units.
    assert decode_ulaw(b"\xff\x7f\x80\x00").tolist() == [0, 0, 8031 * 4, -8031 * 4]
    # A-law 0xD5/0x55 are ±1 unit (the smallest levels); 0xAA/0x2A are ±4032 units.
    assert decode_alaw(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 4032 * 8, -4032 * 8]
    assert encode_ulaw(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xff\x80\x00"
    assert encode_alaw(np.array([0, -1, 32767, -32768], dtype=np.int16)) == b"\xd5\x55\xaa\x2a"


@pytest.mark.parametrize(
    ("decode", "outputs"), [(decode_alaw, ALAW_OUTPUTS), (decode_ulaw, ULAW_OUTPUTS)]
)
def test_every_code_word_decodes_to_the_table_value(
    decode: object, outputs: dict[int, int]
) -> None:
    assert callable(decode)
    decoded = decode(ALL_CODES).tolist()
    # μ-law has +0 and -0: 256 code words; A-law has no zero level: 256 as well.
    assert len(outputs) == 256
    assert decoded == [outputs[code] for code in range(256)]


def test_every_code_word_reencodes_to_itself() -> None:
    assert encode_alaw(decode_alaw(ALL_CODES)) == ALL_CODES
    expected = bytearray(ALL_CODES)
    expected[0x7F] = 0xFF  # μ-law -0 decodes to 0, which encodes as +0
    assert encode_ulaw(decode_ulaw(ALL_CODES)) == bytes(expected)


@pytest.mark.parametrize(
    ("encode", "intervals", "scale"),
    [(encode_alaw, ALAW_INTERVALS, 8), (encode_ulaw, ULAW_INTERVALS, 4)],
)
def test_encoder_follows_the_decision_values(
    encode: object, intervals: list[tuple[float, float, int, int]], scale: int
) -> None:
    """Every 16-bit value gets the code whose decision interval holds it."""
    assert callable(encode)
    codes = np.frombuffer(encode(ALL_INT16), dtype=np.uint8)
    x = ALL_INT16.astype(np.float64) / scale  # the analogue value in table units
    magnitude = np.abs(x)
    highs = np.array([high for _, high, _, _ in intervals])
    index = np.minimum(np.searchsorted(highs, magnitude, side="right"), len(intervals) - 1)
    plus = np.array([p for _, _, p, _ in intervals])[index]
    minus = np.array([m for _, _, _, m in intervals])[index]
    expected = np.where(x >= 0, plus, minus)
    # On a decision value itself either neighbour is right.
    on_boundary = np.isin(magnitude, highs) & (magnitude > 0)
    index_below = np.maximum(index - 1, 0)
    below = np.where(
        x >= 0,
        np.array([p for _, _, p, _ in intervals])[index_below],
        np.array([m for _, _, _, m in intervals])[index_below],
    )
    ok = (codes == expected) | (on_boundary & (codes == below))
    assert ok.all(), f"first wrong input: {int(ALL_INT16[~ok][0])}"


def test_encoder_quantisation_error_is_at_most_half_a_step() -> None:
    for encode, decode in ((encode_alaw, decode_alaw), (encode_ulaw, decode_ulaw)):
        back = decode(encode(ALL_INT16)).astype(np.int32)
        error = np.abs(back - ALL_INT16.astype(np.int32))
        inside = np.abs(ALL_INT16.astype(np.int32)) < 32124  # below the top level
        # The largest step is 128 (A-law) or 256 (μ-law) units x 8 or 4: 1024 in 16 bits.
        assert error[inside].max() <= 512


@needs_audioop
def test_decoders_match_audioop() -> None:
    assert audioop is not None
    assert decode_ulaw(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert decode_alaw(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


@needs_audioop
def test_encoders_match_audioop() -> None:
    assert audioop is not None
    pcm = ALL_INT16.tobytes()
    assert encode_alaw(ALL_INT16) == audioop.lin2alaw(pcm, 2)
    ours = np.frombuffer(encode_ulaw(ALL_INT16), dtype=np.uint8)
    theirs = np.frombuffer(audioop.lin2ulaw(pcm, 2), dtype=np.uint8)
    positive = ALL_INT16 >= 0
    assert (ours[positive] == theirs[positive]).all()
    # audioop truncates negative inputs toward -inf before quantising, which moves
    # each of the 127 inner decision values of the negative half by one unit (four
    # 16-bit values): there it is one code off, and never closer to the input.
    differ = ours != theirs
    assert differ.sum() == 127 * 4
    x = ALL_INT16.astype(np.int32)
    ours_error = np.abs(decode_ulaw(ours.tobytes()).astype(np.int32) - x)[differ]
    theirs_error = np.abs(decode_ulaw(theirs.tobytes()).astype(np.int32) - x)[differ]
    assert (ours_error <= theirs_error).all()


@pytest.mark.parametrize("name", ["PCMU", "PCMA"])
def test_encoder_and_decoder_objects(name: str) -> None:
    encoder, decoder = G711Encoder(name), G711Decoder(name)  # type: ignore[arg-type]
    assert encoder.sample_rate_hz == decoder.sample_rate_hz == 8000
    pcm = (np.sin(np.arange(160) / 5) * 12000).astype(np.int16)
    payload = encoder.encode(pcm)
    assert len(payload) == 160
    out = decoder.decode(payload)
    assert out.dtype == np.int16 and out.shape == (160,)
    assert np.abs(out.astype(np.int32) - pcm).max() <= 512


def test_encoder_rejects_non_int16() -> None:
    with pytest.raises(CodecError, match="1-D int16"):
        G711Encoder("PCMU").encode(np.zeros(160, dtype=np.float32))
    with pytest.raises(CodecError, match="no law named"):
        G711Encoder("PCMX")  # type: ignore[arg-type]


# -- packet loss concealment ---------------------------------------------------------------


def _tone(samples: int, start: int = 0, hz: float = 220.0) -> npt.NDArray[np.int16]:
    t = np.arange(start, start + samples) / 8000
    return (np.sin(2 * np.pi * hz * t) * 10000).astype(np.int16)


def _primed(name: str = "PCMU") -> tuple[G711Decoder, G711Encoder]:
    encoder, decoder = G711Encoder(name), G711Decoder(name)  # type: ignore[arg-type]
    for k in range(5):
        decoder.decode(encoder.encode(_tone(160, 160 * k)))
    return decoder, encoder


def test_concealment_continues_the_waveform() -> None:
    decoder, _ = _primed()
    hidden = decoder.conceal(80)  # the first 10 ms of a gap are not attenuated
    truth = _tone(80, 800).astype(np.float64)
    noise = np.sum((hidden - truth) ** 2)
    snr_db = 10 * np.log10(np.sum(truth**2) / noise)
    assert snr_db > 15


def test_concealment_fades_to_silence_after_60_ms() -> None:
    decoder, _ = _primed("PCMA")
    parts = [decoder.conceal(80) for _ in range(8)]  # 80 ms in 10 ms pieces
    assert [p.size for p in parts] == [80] * 8
    rms = [float(np.sqrt(np.mean(p.astype(np.float64) ** 2))) for p in parts]
    assert rms[0] > 5000
    assert rms[0] >= rms[1] > rms[2] > rms[3] > rms[4] > rms[5] > 0
    assert rms[6] == rms[7] == 0


def test_concealment_sizes_and_cold_start() -> None:
    decoder = G711Decoder("PCMU")
    assert decoder.conceal(160).tolist() == [0] * 160  # nothing heard yet: silence
    assert decoder.conceal(0).size == 0
    primed, _ = _primed()
    assert primed.conceal(1000).shape == (1000,)
    assert primed.conceal(37).shape == (37,)


def test_first_frame_after_a_gap_joins_without_a_click() -> None:
    decoder, encoder = _primed()
    gap = decoder.conceal(160)
    after = decoder.decode(encoder.encode(_tone(160, 960)))
    # The tone's largest sample-to-sample step is about 10000 * 2π * 220 / 8000 = 1730.
    joined = np.concatenate([gap, after]).astype(np.int32)
    assert np.abs(np.diff(joined)).max() < 2500
    # After the join the decoder is back to plain decoding.
    again = decoder.decode(encoder.encode(_tone(160, 1120)))
    assert np.abs(again.astype(np.int32) - _tone(160, 1120)).max() <= 512


def test_return_after_long_gap_fades_in_from_silence() -> None:
    decoder, encoder = _primed()
    decoder.conceal(800)  # 100 ms: silent at the end
    after = decoder.decode(encoder.encode(_tone(160, 1600)))
    assert abs(int(after[0])) < 1000
    assert np.abs(after[40:].astype(np.int32) - _tone(120, 1640)).max() <= 512
