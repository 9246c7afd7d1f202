"""SDP session descriptions (RFC 8866, which obsoletes RFC 4566): parse and serialise.

The text is decoded once, here; every field is ``str`` or ``int`` afterwards.
Parsing is tolerant where real phones are sloppy (LF-only line ends, blank lines,
fields out of the RFC order, line types we do not know) and strict where a value
we rely on is malformed (``o=``, ``c=``, ``t=``, ``m=``, ``b=``): those raise
:class:`SdpParseError` naming the line. Unknown line types are kept so that a
description serialises back to what was received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .errors import SdpParseError

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Connection",
    "Direction",
    "MediaDescription",
    "Origin",
    "SessionDescription",
    "Timing",
    "parse_sdp",
]

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3551 §6, tables 4 and 5: payload types whose meaning needs no a=rtpmap.
# Value: (encoding name, clock rate in Hz, channels).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}

Attribute = tuple[str, str | None]


@dataclass(slots=True)
class Origin:
    """The ``o=`` line (RFC 8866 §5.2)."""

    username: str
    session_id: int
    session_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"


@dataclass(slots=True)
class Connection:
    """A ``c=`` line (RFC 8866 §5.7). ``address`` keeps any ``/ttl/count`` suffix."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl`` or ``/count`` suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_hold(self) -> bool:
        """RFC 3264 §8.4: the old way to put a stream on hold is c=0.0.0.0."""
        return self.host in ("0.0.0.0", "::")

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """``IN IP4`` or ``IN IP6`` depending on the address text."""
        return cls(address=address, addrtype="IP6" if ":" in address else "IP4")


@dataclass(slots=True)
class Timing:
    """A ``t=`` line and the ``r=`` lines under it (kept verbatim)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


def _attribute_values(attributes: list[Attribute], name: str) -> list[str]:
    return [value if value is not None else "" for n, value in attributes if n == name]


def _has_flag(attributes: list[Attribute], name: str) -> bool:
    return any(n == name for n, _ in attributes)


def _direction_of(attributes: list[Attribute]) -> Direction | None:
    for name, value in attributes:
        if value is None:
            for direction in DIRECTIONS:
                if name == direction:
                    return direction
    return None


@dataclass(slots=True)
class MediaDescription:
    """One media description: the ``m=`` line and the lines under it."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    information: str | None = None
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other_lines: list[tuple[str, str]] = field(default_factory=list)

    # -- attribute access -------------------------------------------------------------

    def attribute_values(self, name: str) -> list[str]:
        """Values of every ``a=name:value`` line (a flag gives ``""``), in order."""
        return _attribute_values(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        return _has_flag(self.attributes, name)

    def rtpmap(self, payload_type: int | str) -> tuple[str, int, int] | None:
        """``(encoding, clock_rate_hz, channels)`` of a payload type.

        From ``a=rtpmap`` (RFC 8866 §6.6), else the RFC 3551 static table; ``None``
        when neither knows it or the rtpmap is malformed (the format is then simply
        one we cannot use).
        """
        pt = str(payload_type)
        for value in self.attribute_values("rtpmap"):
            number, _, rest = value.strip().partition(" ")
            if number != pt:
                continue
            parts = rest.strip().split("/")
            if len(parts) < 2 or not parts[0] or not parts[1].isdigit():
                return None
            channels = 1
            if len(parts) > 2:
                if not parts[2].isdigit():
                    return None
                channels = int(parts[2])
            return parts[0], int(parts[1]), channels
        if pt.isdigit():
            return STATIC_PAYLOAD_TYPES.get(int(pt))
        return None

    def fmtp(self, payload_type: int | str) -> str | None:
        """The parameters of ``a=fmtp:<pt> <params>`` (RFC 8866 §6.15), or ``None``."""
        pt = str(payload_type)
        for value in self.attribute_values("fmtp"):
            number, _, params = value.strip().partition(" ")
            if number == pt:
                return params.strip()
        return None

    def direction(self, default: Direction = "sendrecv") -> Direction:
        """This stream's direction attribute (RFC 8866 §6.7), else ``default``.

        Pass the session-level direction as ``default`` so that the media level
        overrides the session level; :meth:`SessionDescription.media_direction`
        does that.
        """
        return _direction_of(self.attributes) or default

    @property
    def ptime_ms(self) -> int | None:
        """``a=ptime`` (RFC 8866 §6.4) in whole milliseconds, or ``None``."""
        return _milliseconds(self.attribute_values("ptime"))

    @property
    def maxptime_ms(self) -> int | None:
        """``a=maxptime`` (RFC 8866 §6.5) in whole milliseconds, or ``None``."""
        return _milliseconds(self.attribute_values("maxptime"))

    @property
    def rtcp_mux(self) -> bool:
        """RFC 5761 §5.1.1: ``a=rtcp-mux`` present."""
        return self.has_attribute("rtcp-mux")

    @property
    def rtcp_port(self) -> int | None:
        """The port of ``a=rtcp`` (RFC 3605), or ``None`` when absent or malformed."""
        rtcp = self._rtcp()
        return rtcp[0] if rtcp else None

    @property
    def rtcp_address(self) -> str | None:
        """The address of ``a=rtcp:<port> IN IP4 <address>`` when given."""
        rtcp = self._rtcp()
        return rtcp[1] if rtcp else None

    def _rtcp(self) -> tuple[int, str | None] | None:
        for value in self.attribute_values("rtcp"):
            parts = value.split()
            if not parts or not parts[0].isdigit() or int(parts[0]) > 65535:
                return None
            address = parts[3] if len(parts) >= 4 else None
            return int(parts[0]), address
        return None


def _milliseconds(values: list[str]) -> int | None:
    for value in values:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        if number <= 0 or number != number or number > 1e6:
            return None
        return round(number)
    return None


@dataclass(slots=True)
class SessionDescription:
    """A whole session description (RFC 8866 §5)."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    time_zones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other_lines: list[tuple[str, str]] = field(default_factory=list)

    def attribute_values(self, name: str) -> list[str]:
        """Values of every session-level ``a=name:value`` line, in order."""
        return _attribute_values(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        return _has_flag(self.attributes, name)

    @property
    def direction(self) -> Direction:
        """The session-level direction attribute, default ``sendrecv``."""
        return _direction_of(self.attributes) or "sendrecv"

    def media_direction(self, media: MediaDescription) -> Direction:
        """A stream's direction: media level overrides session level."""
        return media.direction(self.direction)

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """A stream's connection: media level overrides session level."""
        return media.connection or self.connection

    def serialize(self) -> bytes:
        """The description as wire text: RFC 8866 line order, CRLF line ends."""
        lines = [f"v={self.version}"]
        o = self.origin
        lines.append(
            f"o={o.username} {o.session_id} {o.session_version} {o.nettype} {o.addrtype} {o.address}"
        )
        lines.append(f"s={self.session_name}")
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines.extend(f"e={email}" for email in self.emails)
        lines.extend(f"p={phone}" for phone in self.phones)
        if self.connection is not None:
            lines.append(_connection_line(self.connection))
        lines.extend(f"b={kind}:{value}" for kind, value in self.bandwidths)
        for timing in self.timings or [Timing()]:
            lines.append(f"t={timing.start} {timing.stop}")
            lines.extend(f"r={repeat}" for repeat in timing.repeats)
        if self.time_zones is not None:
            lines.append(f"z={self.time_zones}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(_attribute_line(a) for a in self.attributes)
        lines.extend(f"{kind}={value}" for kind, value in self.other_lines)
        for m in self.media:
            port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
            lines.append(" ".join([f"m={m.kind}", port, m.proto, *m.formats]))
            if m.information is not None:
                lines.append(f"i={m.information}")
            if m.connection is not None:
                lines.append(_connection_line(m.connection))
            lines.extend(f"b={kind}:{value}" for kind, value in m.bandwidths)
            if m.key is not None:
                lines.append(f"k={m.key}")
            lines.extend(_attribute_line(a) for a in m.attributes)
            lines.extend(f"{kind}={value}" for kind, value in m.other_lines)
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _connection_line(c: Connection) -> str:
    return f"c={c.nettype} {c.addrtype} {c.address}"


def _attribute_line(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


# -- parsing ------------------------------------------------------------------------------

_SESSION_ONLY = frozenset("vosueptrz")  # letters that a media section cannot carry


def parse_sdp(text: str | bytes) -> SessionDescription:
    """Parse a session description; raise :class:`SdpParseError` naming the bad line."""
    if isinstance(text, bytes):
        text = _decode(text)
    session: SessionDescription | None = None
    media: MediaDescription | None = None
    seen = {"v", "o"}
    version: int | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpParseError(f"line {number}: expected '<type>=<value>', got {line!r}")
        kind, value = line[0], line[2:]
        if version is None:
            if kind != "v":
                raise SdpParseError(
                    f"line {number}: a description must start with v=, got {line!r}"
                )
            version = _integer(value, number, "v= version")
            continue
        if session is None:
            # Everything before o= is tolerated only as far as o= comes next.
            if kind != "o":
                raise SdpParseError(f"line {number}: expected o= after v=, got {line!r}")
            session = SessionDescription(origin=_parse_origin(value, number), version=version)
            session.timings = []
            continue
        if kind == "m":
            media = _parse_media_line(value, number)
            session.media.append(media)
            continue
        if media is not None and kind not in _SESSION_ONLY:
            _media_line(media, kind, value, number, line)
        elif media is not None:
            media.other_lines.append((kind, value))
        else:
            _session_line(session, seen, kind, value, number, line)
    if version is None:
        raise SdpParseError("empty session description: no v= line")
    if session is None:
        raise SdpParseError("session description has no o= line")
    if not session.timings:
        session.timings = [Timing()]
    return session


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # RFC 8866 §6.10: a=charset may declare another character set.
        return data.decode("latin-1")


def _session_line(
    session: SessionDescription, seen: set[str], kind: str, value: str, number: int, line: str
) -> None:
    if kind in "vosiuczk":
        if kind in seen:
            raise SdpParseError(f"line {number}: second session-level {kind}= line: {line!r}")
        seen.add(kind)
    if kind == "s":
        session.session_name = value
    elif kind == "i":
        session.information = value
    elif kind == "u":
        session.uri = value
    elif kind == "e":
        session.emails.append(value)
    elif kind == "p":
        session.phones.append(value)
    elif kind == "c":
        session.connection = _parse_connection(value, number)
    elif kind == "b":
        session.bandwidths.append(_parse_bandwidth(value, number))
    elif kind == "t":
        session.timings.append(_parse_timing(value, number))
    elif kind == "r":
        if not session.timings:
            raise SdpParseError(f"line {number}: r= line before any t= line: {line!r}")
        session.timings[-1].repeats.append(value)
    elif kind == "z":
        session.time_zones = value
    elif kind == "k":
        session.key = value
    elif kind == "a":
        session.attributes.append(_parse_attribute(value))
    else:
        session.other_lines.append((kind, value))


def _media_line(media: MediaDescription, kind: str, value: str, number: int, line: str) -> None:
    if kind == "i":
        media.information = value
    elif kind == "c":
        if media.connection is not None:
            raise SdpParseError(f"line {number}: second c= line in one media description: {line!r}")
        media.connection = _parse_connection(value, number)
    elif kind == "b":
        media.bandwidths.append(_parse_bandwidth(value, number))
    elif kind == "k":
        media.key = value
    elif kind == "a":
        media.attributes.append(_parse_attribute(value))
    else:
        media.other_lines.append((kind, value))


def _integer(value: str, number: int, what: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise SdpParseError(f"line {number}: {what} is not a number: {value!r}")
    return int(text)


def _parse_origin(value: str, number: int) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpParseError(
            f"line {number}: o= needs 6 fields "
            f"(username sess-id sess-version nettype addrtype address), got {value!r}"
        )
    return Origin(
        username=parts[0],
        session_id=_integer(parts[1], number, "o= session id"),
        session_version=_integer(parts[2], number, "o= session version"),
        nettype=parts[3],
        addrtype=parts[4],
        address=parts[5],
    )


def _parse_connection(value: str, number: int) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpParseError(
            f"line {number}: c= needs 3 fields (nettype addrtype address), got {value!r}"
        )
    return Connection(nettype=parts[0], addrtype=parts[1], address=parts[2])


def _parse_bandwidth(value: str, number: int) -> tuple[str, int]:
    kind, colon, amount = value.partition(":")
    if not colon or not kind.strip():
        raise SdpParseError(f"line {number}: b= must be <bwtype>:<bandwidth>, got {value!r}")
    return kind.strip(), _integer(amount, number, "b= bandwidth")


def _parse_timing(value: str, number: int) -> Timing:
    parts = value.split()
    if len(parts) != 2:
        raise SdpParseError(f"line {number}: t= needs 2 fields (start stop), got {value!r}")
    return Timing(
        start=_integer(parts[0], number, "t= start time"),
        stop=_integer(parts[1], number, "t= stop time"),
    )


def _parse_media_line(value: str, number: int) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpParseError(
            f"line {number}: m= needs <media> <port> <proto> <fmt> ..., got {value!r}"
        )
    port_text, slash, count_text = parts[1].partition("/")
    port = _integer(port_text, number, "m= port")
    if port > 65535:
        raise SdpParseError(f"line {number}: m= port {port} is out of range 0-65535")
    count = _integer(count_text, number, "m= port count") if slash else None
    return MediaDescription(
        kind=parts[0], port=port, port_count=count, proto=parts[2], formats=parts[3:]
    )


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    return (name, rest) if colon else (name, None)
