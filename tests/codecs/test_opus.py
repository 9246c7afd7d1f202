"""Opus through libopus (ctypes): rates, TOC, concealment, FEC, DTX, errors."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sipmeet.codecs import (
    CodecError,
    OpusDecoder,
    OpusEncoder,
    OpusToc,
    is_dtx_packet,
    opus_version,
    parse_opus_toc,
)
from sipmeet.codecs import opus as opus_module


def _chirp(rate: int, samples: int, top_hz: float) -> npt.NDArray[np.int16]:
    t = np.arange(samples) / rate
    sweep = 200 * t + (top_hz - 200) / (2 * t[-1]) * t**2
    chirp: npt.NDArray[np.int16] = (8000 * np.sin(2 * np.pi * sweep)).astype(np.int16)
    return chirp


def _tone(rate: int, samples: int, hz: float = 440.0) -> npt.NDArray[np.int16]:
    return (8000 * np.sin(2 * np.pi * hz * np.arange(samples) / rate)).astype(np.int16)


def _frames(pcm: npt.NDArray[np.int16], size: int) -> list[npt.NDArray[np.int16]]:
    return [pcm[i : i + size] for i in range(0, pcm.size, size)]


def _best_snr_db(
    reference: npt.NDArray[np.int16], decoded: npt.NDArray[np.int16], max_delay: int
) -> float:
    """SNR at the best alignment (Opus delays by its look-ahead, 6.5 ms)."""
    a = reference[reference.size // 4 : reference.size * 3 // 4].astype(np.float64)
    start = reference.size // 4
    best = -np.inf
    for delay in range(max_delay):
        b = decoded[start + delay : start + delay + a.size].astype(np.float64)
        best = max(best, float(10 * np.log10(np.sum(a**2) / np.sum((a - b) ** 2))))
    return best


def _peak_hz(pcm: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    return float(np.argmax(spectrum) * rate / pcm.size)


def test_version() -> None:
    assert opus_version().startswith("libopus 1.")


@pytest.mark.parametrize(("rate", "min_snr_db"), [(8000, 20.0), (16000, 20.0), (48000, 14.0)])
def test_round_trip(rate: int, min_snr_db: float) -> None:
    frame = rate // 50
    chirp = _chirp(rate, frame * 40, top_hz=min(3400, rate * 0.4))
    encoder = OpusEncoder(rate, bitrate_bps=32000)
    decoder = OpusDecoder(rate)
    decoded = np.concatenate([decoder.decode(encoder.encode(f)) for f in _frames(chirp, frame)])
    assert decoded.dtype == np.int16 and decoded.size == chirp.size
    assert _best_snr_db(chirp, decoded, max_delay=frame) > min_snr_db


@pytest.mark.parametrize("decode_rate", [8000, 16000, 48000])
def test_decode_straight_to_the_consumers_rate(decode_rate: int) -> None:
    encoder = OpusEncoder(16000)
    decoder = OpusDecoder(decode_rate)
    tone = _tone(16000, 320 * 20)
    out = [decoder.decode(encoder.encode(f)) for f in _frames(tone, 320)]
    assert all(o.shape == (decode_rate // 50,) for o in out)
    steady = np.concatenate(out[5:])
    assert abs(_peak_hz(steady, decode_rate) - 440) < 10


@pytest.mark.parametrize(
    ("rate", "config", "bandwidth"), [(8000, 1, "NB"), (12000, 5, "MB"), (16000, 9, "WB")]
)
def test_toc_says_what_we_asked_for(rate: int, config: int, bandwidth: str) -> None:
    encoder = OpusEncoder(rate, complexity=5)  # VOIP at these rates: SILK, 20 ms, mono
    toc = parse_opus_toc(encoder.encode(_tone(rate, rate // 50)))
    assert toc == OpusToc(config, "SILK", bandwidth, 20.0, False, 0)  # type: ignore[arg-type]
    ten_ms = parse_opus_toc(encoder.encode(_tone(rate, rate // 100)))
    assert ten_ms.frame_ms == 10.0 and ten_ms.frame_count_code == 0


def test_toc_of_other_modes() -> None:
    low_delay = OpusEncoder(48000, application="restricted_lowdelay")
    toc = parse_opus_toc(low_delay.encode(_tone(48000, 480)))
    assert (toc.mode, toc.bandwidth, toc.frame_ms, toc.stereo) == ("CELT", "FB", 10.0, False)
    stereo = OpusEncoder(48000, channels=2, application="audio")
    pcm = np.stack([_tone(48000, 960), _tone(48000, 960, 1000)], axis=1).reshape(-1)
    assert parse_opus_toc(stereo.encode(pcm)).stereo
    forty = OpusEncoder(8000).encode(_tone(8000, 320))
    assert parse_opus_toc(forty).frame_ms in (40.0, 20.0)  # one 40 ms frame or two of 20
    assert opus_module.OPUS_RATES_HZ == (8000, 12000, 16000, 24000, 48000)


@pytest.mark.parametrize(
    ("toc", "expected"),
    [
        # RFC 6716 §3.1, Table 2: config -> mode, bandwidth, frame size.
        (0 << 3, OpusToc(0, "SILK", "NB", 10.0, False, 0)),
        (7 << 3 | 1, OpusToc(7, "SILK", "MB", 60.0, False, 1)),
        (11 << 3 | 4, OpusToc(11, "SILK", "WB", 60.0, True, 0)),
        (12 << 3 | 2, OpusToc(12, "hybrid", "SWB", 10.0, False, 2)),
        (15 << 3, OpusToc(15, "hybrid", "FB", 20.0, False, 0)),
        (16 << 3, OpusToc(16, "CELT", "NB", 2.5, False, 0)),
        (21 << 3, OpusToc(21, "CELT", "WB", 5.0, False, 0)),
        (26 << 3, OpusToc(26, "CELT", "SWB", 10.0, False, 0)),
        (0xFF, OpusToc(31, "CELT", "FB", 20.0, True, 3)),
    ],
)
def test_parse_toc_table(toc: int, expected: OpusToc) -> None:
    assert parse_opus_toc(bytes([toc, 0])) == expected


def test_stereo_packets_decode_to_mono() -> None:
    encoder = OpusEncoder(48000, channels=2, application="audio", bitrate_bps=64000)
    left, right = _tone(48000, 960 * 10, 440), _tone(48000, 960 * 10, 440)
    stereo = np.stack([left, right], axis=1).reshape(-1)
    decoder = OpusDecoder(16000)
    out = [decoder.decode(encoder.encode(f)) for f in _frames(stereo, 1920)]
    assert all(o.shape == (320,) for o in out)
    assert abs(_peak_hz(np.concatenate(out[3:]), 16000) - 440) < 10


def test_concealment_lengths() -> None:
    encoder, decoder = OpusEncoder(8000), OpusDecoder(8000)
    for f in _frames(_tone(8000, 1600), 160):
        decoder.decode(encoder.encode(f))
    assert decoder.conceal(160).shape == (160,)
    assert decoder.conceal(50).shape == (50,)  # not a multiple of 2.5 ms: rounded, then cut
    assert decoder.conceal(0).shape == (0,)
    wide = OpusDecoder(48000)
    assert wide.conceal(48000 * 130 // 1000).shape == (6240,)  # longer than one 120 ms call


def test_bad_packets_raise_codec_error() -> None:
    decoder = OpusDecoder(8000)
    with pytest.raises(CodecError, match=r"^empty Opus packet$"):
        decoder.decode(b"")
    with pytest.raises(CodecError, match=r"^invalid Opus packet: corrupted stream$"):
        decoder.decode(b"\x03")  # code 3 without its frame-count byte
    with pytest.raises(CodecError, match=r"^invalid Opus packet: "):
        decoder.decode(b"\x0b\x00")  # code 3 announcing zero frames
    with pytest.raises(CodecError, match="empty Opus packet has no TOC byte"):
        parse_opus_toc(b"")
    # The decoder keeps working after a bad packet.
    assert decoder.decode(OpusEncoder(8000).encode(_tone(8000, 160))).shape == (160,)


def test_bad_arguments_raise_codec_error() -> None:
    with pytest.raises(CodecError, match="not 44100 Hz"):
        OpusEncoder(44100)
    with pytest.raises(CodecError, match="not 11025 Hz"):
        OpusDecoder(11025)
    with pytest.raises(CodecError, match="1 or 2 channels"):
        OpusEncoder(48000, channels=3)
    with pytest.raises(CodecError, match="unknown Opus application"):
        OpusEncoder(48000, application="music")  # type: ignore[arg-type]
    with pytest.raises(CodecError, match=r"opus_encoder_ctl\(4010, 11\): invalid argument"):
        OpusEncoder(8000, complexity=11)
    encoder = OpusEncoder(8000)
    with pytest.raises(CodecError, match="opus_encode of 100 samples at 8000 Hz: invalid argument"):
        encoder.encode(np.zeros(100, dtype=np.int16))
    with pytest.raises(CodecError, match="1-D int16"):
        encoder.encode(np.zeros(160, dtype=np.float64))
    with pytest.raises(CodecError, match=r"multiple of 2\.5 ms"):
        OpusDecoder(8000).decode_fec(b"\x08", 150)


def test_in_band_fec_recovers_a_lost_frame() -> None:
    rate, frame = 16000, 320
    pcm = _tone(rate, frame * 30, 300) // 2 + _tone(rate, frame * 30, 700) // 2
    encoder = OpusEncoder(rate, bitrate_bps=32000, inband_fec=True, packet_loss_perc=20)
    packets = [encoder.encode(f) for f in _frames(pcm, frame)]
    reference = OpusDecoder(rate)
    truth = [reference.decode(p) for p in packets[:21]][20].astype(np.float64)
    with_fec, without = OpusDecoder(rate), OpusDecoder(rate)
    for p in packets[:20]:
        with_fec.decode(p)
        without.decode(p)
    recovered = with_fec.decode_fec(packets[21], frame)  # packet 20 was lost
    concealed = without.conceal(frame)
    assert recovered.shape == concealed.shape == (frame,)

    def error(x: npt.NDArray[np.int16]) -> float:
        return float(np.sqrt(np.mean((x.astype(np.float64) - truth) ** 2)))

    assert error(recovered) < 0.5 * error(concealed)
    assert with_fec.decode(packets[21]).shape == (frame,)


def test_dtx_sends_tiny_packets_for_silence() -> None:
    encoder = OpusEncoder(8000, dtx=True)
    sizes = [len(encoder.encode(np.zeros(160, dtype=np.int16))) for _ in range(30)]
    assert sizes[-1] <= 2 and is_dtx_packet(b"\x08")
    assert not is_dtx_packet(OpusEncoder(8000).encode(_tone(8000, 160)))


def test_close_frees_the_state() -> None:
    encoder, decoder = OpusEncoder(8000), OpusDecoder(8000)
    encoder.close()
    encoder.close()
    decoder.close()
    with pytest.raises(CodecError, match="closed"):
        encoder.encode(np.zeros(160, dtype=np.int16))
    with pytest.raises(CodecError, match="closed"):
        decoder.decode(b"\x08")
    with pytest.raises(CodecError, match="closed"):
        decoder.conceal(160)


def test_non_contiguous_input_is_accepted() -> None:
    encoder = OpusEncoder(8000)
    assert len(encoder.encode(_tone(8000, 320)[::2])) > 2


def test_bundled_library_is_found_without_a_system_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    path = opus_module._library_path()
    assert Path(path).parent.name == "av.libs" and Path(path).name.startswith("libopus-")
    lib = ctypes.CDLL(path)
    lib.opus_get_version_string.restype = ctypes.c_char_p
    assert lib.opus_get_version_string().startswith(b"libopus")
