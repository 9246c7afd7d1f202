"""create_encoder / create_decoder: names, rates, options, and the Encoder/Decoder protocols."""

from __future__ import annotations

import numpy as np
import pytest

from sipmeet.codecs import (
    CODEC_RATES,
    CodecError,
    Decoder,
    Encoder,
    G711Decoder,
    G711Encoder,
    G722Decoder,
    G722Encoder,
    OpusDecoder,
    OpusEncoder,
    canonical_codec_name,
    create_decoder,
    create_encoder,
)


def test_native_rates() -> None:
    assert CODEC_RATES == {"PCMU": 8000, "PCMA": 8000, "G722": 16000, "opus": 48000}


@pytest.mark.parametrize("name", ["PCMU", "pcmu", "PCMA", "G722", "g722", "opus", "OPUS"])
def test_every_codec_round_trips_a_frame_at_its_native_rate(name: str) -> None:
    encoder: Encoder = create_encoder(name)
    decoder: Decoder = create_decoder(name)
    canonical = canonical_codec_name(name)
    assert encoder.name == decoder.name == canonical
    rate = CODEC_RATES[canonical]
    assert encoder.sample_rate_hz == decoder.sample_rate_hz == rate
    pcm = (np.sin(np.arange(rate // 50) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
    payload = encoder.encode(pcm)
    assert isinstance(payload, bytes) and payload
    out = decoder.decode(payload)
    assert out.dtype == np.int16 and out.shape == (rate // 50,)
    assert decoder.conceal(rate // 100).shape == (rate // 100,)


def test_concrete_classes() -> None:
    assert isinstance(create_encoder("PCMA"), G711Encoder)
    assert isinstance(create_decoder("PCMU"), G711Decoder)
    assert isinstance(create_encoder("G722"), G722Encoder)
    assert isinstance(create_decoder("G722", 16000), G722Decoder)
    assert isinstance(create_encoder("opus"), OpusEncoder)
    assert isinstance(create_decoder("opus"), OpusDecoder)


def test_opus_at_the_legs_rate_with_options() -> None:
    encoder = create_encoder("opus", 8000, complexity=3, bitrate_bps=12000, dtx=True)
    decoder = create_decoder("opus", 16000)
    assert (encoder.sample_rate_hz, decoder.sample_rate_hz) == (8000, 16000)
    assert decoder.decode(encoder.encode(np.zeros(160, dtype=np.int16))).shape == (320,)


def test_errors() -> None:
    with pytest.raises(CodecError, match="unsupported codec 'iLBC'"):
        create_encoder("iLBC")
    with pytest.raises(CodecError, match="unsupported codec 'GSM'"):
        create_decoder("GSM")
    with pytest.raises(CodecError, match="PCMU PCM is 8000 Hz, not 16000 Hz"):
        create_encoder("PCMU", 16000)
    with pytest.raises(CodecError, match="G722 PCM is 16000 Hz, not 8000 Hz"):
        create_decoder("G722", 8000)
    with pytest.raises(CodecError, match=r"PCMA takes no encoder options, got \['complexity'\]"):
        create_encoder("PCMA", complexity=5)
    with pytest.raises(CodecError, match="bad Opus encoder option"):
        create_encoder("opus", 8000, bitrate=12000)
