"""RTP packets (RFC 3550 §5.1): parse, serialise, and tell RTP from RTCP (RFC 5761 §4).

Parsing runs once per received packet, so the common case (version 2, no padding,
no extension, no CSRC) is one ``struct.unpack_from`` and one slice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import RtpParseError

__all__ = ["RTP_HEADER_SIZE", "RtpPacket", "build_rtp", "is_rtcp", "parse_rtp"]

RTP_HEADER_SIZE = 12
_HEADER = struct.Struct("!BBHII")
_unpack_header = _HEADER.unpack_from
_pack_header = _HEADER.pack
_EXTENSION_HEADER = struct.Struct("!HH")


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet; ``payload`` excludes any padding."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    payload: bytes = b""
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile-defined 16 bits, data)

    def serialize(self, padding: int = 0) -> bytes:
        """The packet as wire bytes, with ``padding`` bytes of RFC 3550 §5.1 padding."""
        if len(self.csrc) > 15:
            raise ValueError(f"at most 15 CSRCs fit in an RTP header, got {len(self.csrc)}")
        if not 0 <= padding <= 255:
            raise ValueError(f"padding must be 0-255 bytes, got {padding}")
        first = 0x80 | len(self.csrc)
        if padding:
            first |= 0x20
        parts = [
            _pack_header(
                first | (0x10 if self.extension is not None else 0),
                (self.payload_type & 0x7F) | (0x80 if self.marker else 0),
                self.sequence & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise ValueError(
                    f"extension data must be whole 32-bit words, got {len(data)} bytes"
                )
            parts.append(_EXTENSION_HEADER.pack(profile, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if padding:
            parts.append(bytes(padding - 1) + bytes((padding,)))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raise :class:`RtpParseError` saying what is wrong."""
    try:
        first, second, sequence, timestamp, ssrc = _unpack_header(data)
    except struct.error:
        raise RtpParseError(
            f"RTP packet of {len(data)} bytes is shorter than the 12-byte header"
        ) from None
    if first == 0x80:  # version 2, no padding, no extension, no CSRC
        return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, second > 0x7F, data[12:])
    version = first >> 6
    if version != 2:
        raise RtpParseError(f"RTP version is {version}, expected 2")
    count = first & 0x0F
    offset = RTP_HEADER_SIZE + 4 * count
    if len(data) < offset:
        raise RtpParseError(
            f"RTP header lists {count} CSRCs ({offset} bytes) but the packet has {len(data)} bytes"
        )
    csrc = struct.unpack_from(f"!{count}I", data, RTP_HEADER_SIZE) if count else ()
    extension = None
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpParseError(
                f"RTP header extension flag set but only {len(data) - offset} bytes follow the header"
            )
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        start = offset + 4
        offset = start + 4 * words
        if len(data) < offset:
            raise RtpParseError(
                f"RTP header extension of {words} words needs {4 * words} bytes"
                f" but {len(data) - start} remain"
            )
        extension = (profile, bytes(data[start:offset]))
    end = len(data)
    if first & 0x20:
        padding = data[-1] if end > offset else 0
        if padding == 0 or padding > end - offset:
            raise RtpParseError(
                f"RTP padding length {padding} is invalid with {end - offset} bytes after the header"
            )
        end -= padding
    return RtpPacket(
        second & 0x7F,
        sequence,
        timestamp,
        ssrc,
        second > 0x7F,
        bytes(data[offset:end]),
        tuple(csrc),
        extension,
    )


def build_rtp(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
) -> bytes:
    """A plain RTP packet (no CSRC, extension or padding) as wire bytes."""
    return (
        _pack_header(
            0x80,
            payload_type | 0x80 if marker else payload_type,
            sequence & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc,
        )
        + payload
    )


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: on a multiplexed port, a second byte of 192-223 marks RTCP."""
    return len(data) >= 2 and 192 <= data[1] <= 223
