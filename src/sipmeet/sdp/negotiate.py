"""RFC 3264 offer/answer for one audio stream.

sipmeet's calls carry audio only: the first audio stream of an offer for which a
mutually supported codec exists is accepted, every other stream is refused with
port 0 (RFC 3264 §6), and the outcome of an exchange is a :class:`NegotiatedAudio`
that the RTP layer can run with. "No common codec" is an expected outcome, not an
error: it comes back as :class:`NoCommonCodec` carrying the text of the Warning
header (RFC 3261 §20.43) for the 488 response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .description import (
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)
from .errors import SdpParseError

__all__ = [
    "SUPPORTED_AUDIO",
    "Codec",
    "NegotiatedAudio",
    "NoCommonCodec",
    "accept_answer",
    "answer_offer",
    "build_offer",
]

SUPPORTED_AUDIO = ("PCMU", "PCMA", "G722", "opus")

# Canonical RTP format of every codec we can carry: name, RTP clock rate, channels.
# RFC 3551 §4.5.2: G.722 samples at 16 kHz but its RTP clock runs at 8000 Hz.
# RFC 7587 §7: opus is always announced as opus/48000/2.
_FORMATS: dict[str, tuple[str, int, int]] = {
    "pcmu": ("PCMU", 8000, 1),
    "pcma": ("PCMA", 8000, 1),
    "g722": ("G722", 8000, 1),
    "opus": ("opus", 48000, 2),
}
# Payload types used in our own offers: the static ones of RFC 3551 and the dynamic
# numbers most endpoints use for the others.
_OFFER_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8, "G722": 9, "opus": 111}
_OFFER_DTMF_PAYLOAD_TYPES = {8000: 101, 48000: 110}
_OPUS_FMTP = "useinbandfec=1"
_DTMF_FMTP = "0-15"  # RFC 4733 §3.2: the DTMF events we understand
_RTP_PROFILES = frozenset({"rtp/avp", "rtp/avpf"})


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format."""

    name: str  # "PCMU" | "PCMA" | "G722" | "opus" | "telephone-event"
    payload_type: int
    clock_rate_hz: int  # RTP clock (G722 is 8000 on the wire per RFC 3551 though it samples 16 kHz)
    channels: int = 1
    fmtp: str | None = None

    @property
    def rtpmap(self) -> str:
        """The value after ``a=rtpmap:<pt> ``, e.g. ``opus/48000/2``."""
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.clock_rate_hz}{suffix}"


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """What both sides agreed on for the audio stream."""

    codec: Codec  # the one codec both use, in the caller's order of preference
    dtmf: Codec | None  # telephone-event at the codec's clock rate if offered
    remote_rtp: tuple[str, int]  # connection address and port of the remote audio m-line
    remote_rtcp: tuple[str, int] | None  # None with rtcp-mux; else a=rtcp or port+1
    rtcp_mux: bool
    ptime_ms: int  # remote's a=ptime, default 20
    direction: Direction  # OUR direction after the exchange
    on_hold: bool  # remote put us on hold (sendonly, inactive, or 0.0.0.0)


@dataclass(frozen=True, slots=True)
class NoCommonCodec:
    """No audio stream both sides can use."""

    warning: str  # text for a 488 Warning header (RFC 3261 §20.43, code 304/305)

    @property
    def code(self) -> int:
        """The warn-code: 304 (media type not available) or 305 (incompatible format)."""
        return int(self.warning.split(" ", 1)[0])

    @property
    def text(self) -> str:
        """The warn-text without its quotes."""
        return self.warning.split('"')[1]


def _warning(code: int, agent: str) -> NoCommonCodec:
    text = {304: "Media type not available", 305: "Incompatible media format"}[code]
    return NoCommonCodec(warning=f'{code} {agent} "{text}"')


def _is_rtp_audio(media: MediaDescription) -> bool:
    return media.kind == "audio" and media.port != 0 and media.proto.lower() in _RTP_PROFILES


def _codec_for(media: MediaDescription, fmt: str, supported: frozenset[str]) -> Codec | None:
    """The codec behind one format of an m-line when we support it, else ``None``."""
    if not fmt.isdigit():
        return None
    mapping = media.rtpmap(fmt)
    if mapping is None:
        return None
    encoding, clock_rate_hz, channels = mapping
    key = encoding.lower()
    if key not in supported:
        return None
    name, wanted_clock, wanted_channels = _FORMATS[key]
    if clock_rate_hz != wanted_clock or channels != wanted_channels:
        return None
    return Codec(name, int(fmt), clock_rate_hz, channels, media.fmtp(fmt))


def _dtmf_for(media: MediaDescription, clock_rate_hz: int) -> Codec | None:
    """RFC 4733 §7.1.1: telephone-event at the audio codec's clock rate."""
    for fmt in media.formats:
        mapping = media.rtpmap(fmt)
        if (
            fmt.isdigit()
            and mapping is not None
            and mapping[0].lower() == "telephone-event"
            and mapping[1] == clock_rate_hz
        ):
            return Codec("telephone-event", int(fmt), clock_rate_hz, 1, media.fmtp(fmt))
    return None


def _supported_set(names: Sequence[str]) -> frozenset[str]:
    unknown = [name for name in names if name.lower() not in _FORMATS]
    if unknown:
        raise ValueError(f"unsupported codec names {unknown}; choose from {SUPPORTED_AUDIO}")
    return frozenset(name.lower() for name in names)


_SEND_RECV: dict[Direction, tuple[bool, bool]] = {
    "sendrecv": (True, True),
    "sendonly": (True, False),
    "recvonly": (False, True),
    "inactive": (False, False),
}


def _direction(send: bool, recv: bool) -> Direction:
    for direction, flags in _SEND_RECV.items():
        if flags == (send, recv):
            return direction
    raise AssertionError("unreachable")  # pragma: no cover


def _our_direction(
    remote: Direction, remote_hold_address: bool, allowed: Direction = "sendrecv"
) -> Direction:
    """RFC 3264 §6.1: mirror the remote's direction, within what we allow ourselves.

    c=0.0.0.0 (RFC 3264 §8.4, the RFC 2543 way to hold) means: do not send to me.
    """
    remote_send, remote_recv = _SEND_RECV[remote]
    allowed_send, allowed_recv = _SEND_RECV[allowed]
    send = remote_recv and allowed_send and not remote_hold_address
    recv = remote_send and allowed_recv
    return _direction(send, recv)


def _remote_rtcp(media: MediaDescription, host: str, mux: bool) -> tuple[str, int] | None:
    """RFC 5761: none with rtcp-mux; RFC 3605 a=rtcp; else RFC 3550 §11: port + 1."""
    if mux:
        return None
    port = media.rtcp_port
    if port is not None:
        return (media.rtcp_address or host, port)
    return (host, media.port + 1)


def _session(address: str, session_id: int, session_version: int) -> SessionDescription:
    connection = Connection.for_address(address)
    return SessionDescription(
        origin=Origin("-", session_id, session_version, "IN", connection.addrtype, address),
        session_name="-",
        connection=connection,
        timings=[Timing(0, 0)],
    )


def _audio_attributes(
    codecs: Sequence[Codec], ptime_ms: int, rtcp_mux: bool, direction: Direction
) -> list[tuple[str, str | None]]:
    attributes: list[tuple[str, str | None]] = []
    for codec in codecs:
        attributes.append(("rtpmap", f"{codec.payload_type} {codec.rtpmap}"))
        if codec.fmtp is not None:
            attributes.append(("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    attributes.append(("ptime", str(ptime_ms)))
    if rtcp_mux:
        attributes.append(("rtcp-mux", None))
    attributes.append((direction, None))
    return attributes


def answer_offer(
    offer: SessionDescription,
    *,
    address: str,
    rtp_port: int,
    session_id: int,
    session_version: int,
    supported: Sequence[str] = SUPPORTED_AUDIO,
    ptime_ms: int = 20,
) -> tuple[SessionDescription, NegotiatedAudio] | NoCommonCodec:
    """Answer ``offer`` (RFC 3264 §6) with one audio stream at ``address``:``rtp_port``.

    The first RTP audio m-line with a codec in ``supported`` is accepted with the
    caller's first such codec (in the offer's order) and the offer's payload type
    numbers; every other m-line is refused with port 0. Raises
    :class:`SdpParseError` when the accepted m-line has no connection address.
    """
    wanted = _supported_set(supported)
    chosen: tuple[int, MediaDescription, Codec] | None = None
    for index, media in enumerate(offer.media):
        if not _is_rtp_audio(media):
            continue
        for fmt in media.formats:
            codec = _codec_for(media, fmt, wanted)
            if codec is not None:
                chosen = (index, media, codec)
                break
        if chosen is not None:
            break
    if chosen is None:
        has_audio = any(m.kind == "audio" for m in offer.media)
        return _warning(305 if has_audio else 304, address)
    index, media, codec = chosen
    connection = offer.media_connection(media)
    if connection is None:
        raise SdpParseError(f"audio m-line {index + 1} has no c= line at media or session level")
    dtmf = _dtmf_for(media, codec.clock_rate_hz)
    remote_direction = offer.media_direction(media)
    direction = _our_direction(remote_direction, connection.is_hold)
    mux = media.rtcp_mux

    our_codec = Codec(
        codec.name,
        codec.payload_type,
        codec.clock_rate_hz,
        codec.channels,
        _OPUS_FMTP if codec.name == "opus" else None,
    )
    answered = [our_codec]
    if dtmf is not None:
        answered.append(Codec(dtmf.name, dtmf.payload_type, dtmf.clock_rate_hz, 1, _DTMF_FMTP))
    answer = _session(address, session_id, session_version)
    for i, m in enumerate(offer.media):
        if i == index:
            answer.media.append(
                MediaDescription(
                    kind="audio",
                    port=rtp_port,
                    proto=m.proto,
                    formats=[str(c.payload_type) for c in answered],
                    attributes=_audio_attributes(answered, ptime_ms, mux, direction),
                )
            )
        else:
            # RFC 3264 §6: a refused stream keeps its m-line, with port 0.
            answer.media.append(
                MediaDescription(kind=m.kind, port=0, proto=m.proto, formats=list(m.formats))
            )
    negotiated = NegotiatedAudio(
        codec=codec,
        dtmf=dtmf,
        remote_rtp=(connection.host, media.port),
        remote_rtcp=_remote_rtcp(media, connection.host, mux),
        rtcp_mux=mux,
        ptime_ms=media.ptime_ms or 20,
        direction=direction,
        on_hold=remote_direction in ("sendonly", "inactive") or connection.is_hold,
    )
    return answer, negotiated


def build_offer(
    *,
    address: str,
    rtp_port: int,
    session_id: int,
    session_version: int,
    codecs: Sequence[str] = SUPPORTED_AUDIO,
    direction: Direction = "sendrecv",
    ptime_ms: int = 20,
    rtcp_mux: bool = True,
) -> SessionDescription:
    """An audio offer listing ``codecs`` in order, plus telephone-event at their clocks.

    For an INVITE without SDP (we offer in the 200 OK) and for our re-INVITEs
    (``direction="sendonly"`` puts the other side on hold, RFC 3264 §8.4).
    """
    _supported_set(codecs)
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    offered: list[Codec] = []
    for name in codecs:
        canonical, clock_rate_hz, channels = _FORMATS[name.lower()]
        fmtp = _OPUS_FMTP if canonical == "opus" else None
        offered.append(
            Codec(canonical, _OFFER_PAYLOAD_TYPES[canonical], clock_rate_hz, channels, fmtp)
        )
    for clock_rate_hz in sorted({c.clock_rate_hz for c in offered}):
        pt = _OFFER_DTMF_PAYLOAD_TYPES[clock_rate_hz]
        offered.append(Codec("telephone-event", pt, clock_rate_hz, 1, _DTMF_FMTP))
    offer = _session(address, session_id, session_version)
    offer.media.append(
        MediaDescription(
            kind="audio",
            port=rtp_port,
            proto="RTP/AVP",
            formats=[str(c.payload_type) for c in offered],
            attributes=_audio_attributes(offered, ptime_ms, rtcp_mux, direction),
        )
    )
    return offer


def accept_answer(
    offer: SessionDescription, answer: SessionDescription
) -> NegotiatedAudio | NoCommonCodec:
    """Read the answer to our ``offer`` (RFC 3264 §7).

    The answer's audio m-line sits at the index of our offered one; its first
    format that we offered and support is the codec. Raises :class:`SdpParseError`
    when the accepted m-line has no connection address.
    """
    index = next((i for i, m in enumerate(offer.media) if _is_rtp_audio(m)), None)
    if index is None:
        raise ValueError("the offer has no audio stream")
    ours = offer.media[index]
    if index >= len(answer.media):
        return _warning(304, "sipmeet")
    theirs = answer.media[index]
    if not _is_rtp_audio(theirs):
        return _warning(305, "sipmeet")
    offered_names = frozenset(
        mapping[0].lower()
        for fmt in ours.formats
        if (mapping := ours.rtpmap(fmt)) is not None and mapping[0].lower() in _FORMATS
    )
    codec = next(
        (c for fmt in theirs.formats if (c := _codec_for(theirs, fmt, offered_names))), None
    )
    if codec is None:
        return _warning(305, "sipmeet")
    connection = answer.media_connection(theirs)
    if connection is None:
        raise SdpParseError(f"audio m-line {index + 1} has no c= line at media or session level")
    remote_direction = answer.media_direction(theirs)
    mux = ours.rtcp_mux and theirs.rtcp_mux
    return NegotiatedAudio(
        codec=codec,
        dtmf=_dtmf_for(theirs, codec.clock_rate_hz),
        remote_rtp=(connection.host, theirs.port),
        remote_rtcp=_remote_rtcp(theirs, connection.host, mux),
        rtcp_mux=mux,
        ptime_ms=theirs.ptime_ms or 20,
        direction=_our_direction(remote_direction, connection.is_hold, offer.media_direction(ours)),
        on_hold=remote_direction in ("sendonly", "inactive") or connection.is_hold,
    )
