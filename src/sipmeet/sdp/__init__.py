"""sipmeet.sdp: sans-IO SDP (RFC 8866) parsing and RFC 3264 offer/answer."""

from .description import (
    DIRECTIONS,
    STATIC_PAYLOAD_TYPES,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
    parse_sdp,
)
from .errors import SdpError, SdpParseError
from .negotiate import (
    SUPPORTED_AUDIO,
    Codec,
    NegotiatedAudio,
    NoCommonCodec,
    accept_answer,
    answer_offer,
    build_offer,
)

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "SUPPORTED_AUDIO",
    "Codec",
    "Connection",
    "Direction",
    "MediaDescription",
    "NegotiatedAudio",
    "NoCommonCodec",
    "Origin",
    "SdpError",
    "SdpParseError",
    "SessionDescription",
    "Timing",
    "accept_answer",
    "answer_offer",
    "build_offer",
    "parse_sdp",
]
