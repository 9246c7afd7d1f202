"""sipmeet.codecs: G.711, G.722 and Opus to and from 16-bit PCM, and resampling.

PCM is a one-dimensional ``numpy.int16`` array, mono, at the codec's own rate.
"""

from __future__ import annotations

from .base import Decoder, Encoder, Pcm
from .errors import CodecError
from .g711 import (
    G711Decoder,
    G711Encoder,
    decode_alaw,
    decode_ulaw,
    encode_alaw,
    encode_ulaw,
)
from .g722 import G722Decoder, G722Encoder
from .opus import (
    OPUS_RATES_HZ,
    OpusDecoder,
    OpusEncoder,
    OpusToc,
    is_dtx_packet,
    opus_version,
    parse_opus_toc,
)
from .plc import Concealer
from .resample import StreamResampler

__all__ = [
    "CODEC_RATES",
    "OPUS_RATES_HZ",
    "CodecError",
    "Concealer",
    "Decoder",
    "Encoder",
    "G711Decoder",
    "G711Encoder",
    "G722Decoder",
    "G722Encoder",
    "OpusDecoder",
    "OpusEncoder",
    "OpusToc",
    "Pcm",
    "StreamResampler",
    "canonical_codec_name",
    "create_decoder",
    "create_encoder",
    "decode_alaw",
    "decode_ulaw",
    "encode_alaw",
    "encode_ulaw",
    "is_dtx_packet",
    "opus_version",
    "parse_opus_toc",
]

CODEC_RATES: dict[str, int] = {"PCMU": 8000, "PCMA": 8000, "G722": 16000, "opus": 48000}
"""Native PCM rate of each codec, by SDP encoding name."""

_CANONICAL = {name.lower(): name for name in CODEC_RATES}


def canonical_codec_name(name: str) -> str:
    """The registry's spelling of an SDP encoding name (which is case-insensitive)."""
    try:
        return _CANONICAL[name.lower()]
    except KeyError:
        raise CodecError(f"unsupported codec {name!r}") from None


def _fixed_rate(codec: str, sample_rate_hz: int | None) -> None:
    if sample_rate_hz is not None and sample_rate_hz != CODEC_RATES[codec]:
        raise CodecError(f"{codec} PCM is {CODEC_RATES[codec]} Hz, not {sample_rate_hz} Hz")


def create_encoder(name: str, sample_rate_hz: int | None = None, **options: object) -> Encoder:
    """An encoder for SDP encoding ``name`` consuming PCM at ``sample_rate_hz``.

    ``sample_rate_hz`` defaults to the codec's native rate; only Opus accepts
    another (8, 12, 16, 24 kHz). ``options`` go to :class:`OpusEncoder`
    (``bitrate_bps``, ``complexity``, ``application``, ``dtx``, ``inband_fec``,
    ``packet_loss_perc``); the other codecs take none.
    """
    codec = canonical_codec_name(name)
    if codec == "opus":
        rate = CODEC_RATES["opus"] if sample_rate_hz is None else sample_rate_hz
        try:
            return OpusEncoder(rate, **options)  # type: ignore[arg-type]
        except TypeError as exc:
            raise CodecError(f"bad Opus encoder option: {exc}") from None
    if options:
        raise CodecError(f"{codec} takes no encoder options, got {sorted(options)}")
    _fixed_rate(codec, sample_rate_hz)
    if codec == "G722":
        return G722Encoder()
    return G711Encoder("PCMU" if codec == "PCMU" else "PCMA")


def create_decoder(name: str, sample_rate_hz: int | None = None) -> Decoder:
    """A decoder for SDP encoding ``name`` producing PCM at ``sample_rate_hz``.

    Only Opus decodes to a rate other than its native one (8, 12, 16, 24 kHz).
    """
    codec = canonical_codec_name(name)
    if codec == "opus":
        return OpusDecoder(CODEC_RATES["opus"] if sample_rate_hz is None else sample_rate_hz)
    _fixed_rate(codec, sample_rate_hz)
    if codec == "G722":
        return G722Decoder()
    return G711Decoder("PCMU" if codec == "PCMU" else "PCMA")
