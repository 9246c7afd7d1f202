"""SDP parsing and serialising (RFC 8866) against published examples and sloppy real input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipmeet.sdp import (
    Connection,
    MediaDescription,
    Origin,
    SdpParseError,
    SessionDescription,
    Timing,
    parse_sdp,
)

VECTORS = Path(__file__).resolve().parent / "vectors"
ALL_VECTORS = sorted(p.name for p in VECTORS.glob("*.sdp"))


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def test_rfc8866_example_fields() -> None:
    sdp = parse_sdp(vector("rfc8866_s5_example.sdp"))
    assert sdp.version == 0
    assert sdp.origin == Origin("jdoe", 3724394400, 3724394405, "IN", "IP4", "198.51.100.1")
    assert sdp.session_name == "Call to John Smith"
    assert sdp.information == "SDP Offer #1"
    assert sdp.uri == "http://www.jdoe.example.com/home.html"
    assert sdp.emails == ["Jane Doe <jane@jdoe.example.com>"]
    assert sdp.phones == ["+1 617 555-6011"]
    assert sdp.connection == Connection("198.51.100.1", "IN", "IP4")
    assert sdp.timings == [Timing(0, 0)]
    assert [(m.kind, m.port, m.proto, m.formats) for m in sdp.media] == [
        ("audio", 49170, "RTP/AVP", ["0"]),
        ("audio", 49180, "RTP/AVP", ["0"]),
        ("video", 51372, "RTP/AVP", ["99"]),
    ]
    video = sdp.media[2]
    assert video.connection == Connection("2001:db8::2", "IN", "IP6")
    assert video.rtpmap(99) == ("h263-1998", 90000, 1)
    assert sdp.media_connection(sdp.media[0]) == sdp.connection
    assert sdp.media_connection(video) == video.connection
    assert sdp.media[0].rtpmap(0) == ("PCMU", 8000, 1)  # RFC 3551 static type


@pytest.mark.parametrize("name", ALL_VECTORS)
def test_vectors_serialise_back_to_the_same_bytes(name: str) -> None:
    data = vector(name)
    assert parse_sdp(data).serialize() == data


@pytest.mark.parametrize("name", ALL_VECTORS)
def test_lf_only_line_ends_parse_the_same(name: str) -> None:
    data = vector(name)
    assert parse_sdp(data.replace(b"\r\n", b"\n")) == parse_sdp(data)
    assert parse_sdp(data.decode()) == parse_sdp(data)


def test_rfc4317_single_space_session_name_is_kept() -> None:
    sdp = parse_sdp(vector("rfc4317_2.1_offer.sdp"))
    assert sdp.session_name == " "
    assert b"\r\ns= \r\n" in sdp.serialize()


def test_rfc4317_description_without_media() -> None:
    sdp = parse_sdp(vector("rfc4317_5.1_offer.sdp"))
    assert sdp.media == []
    assert sdp.connection is not None and sdp.connection.host == "host.atlanta.example.com"


def test_twilio_shaped_offer_helpers() -> None:
    sdp = parse_sdp(vector("shape_twilio_g711.sdp"))
    (audio,) = sdp.media
    assert audio.formats == ["0", "8", "101"]
    assert audio.rtpmap("101") == ("telephone-event", 8000, 1)
    assert audio.fmtp(101) == "0-16"
    assert audio.fmtp(0) is None
    assert audio.ptime_ms == 20
    assert audio.maxptime_ms == 150
    assert audio.direction() == "sendrecv"
    assert not audio.rtcp_mux
    assert audio.rtcp_port is None and audio.rtcp_address is None


def test_linphone_shaped_offer_helpers() -> None:
    sdp = parse_sdp(vector("shape_linphone_opus_video.sdp"))
    audio, video = sdp.media
    assert audio.rtpmap(96) == ("opus", 48000, 2)
    assert audio.rtpmap(9) == ("G722", 8000, 1)  # static, no rtpmap line
    assert audio.rtpmap(97) == ("telephone-event", 8000, 1)
    assert audio.fmtp(96) == "useinbandfec=1"
    assert audio.attribute_values("rtcp-fb") == ["* trr-int 1000", "* ccm tmmbr"]
    assert video.rtpmap(96) == ("VP8", 90000, 1)  # the same number means another codec here
    assert sdp.attribute_values("record") == ["off"]
    assert sdp.has_attribute("rtcp-xr") and not sdp.has_attribute("rtcp-mux")
    assert audio.ptime_ms is None


def test_baresip_shaped_offer_helpers() -> None:
    sdp = parse_sdp(vector("shape_baresip_mux.sdp"))
    audio = sdp.media[0]
    assert audio.rtcp_mux
    assert audio.bandwidths == [("AS", 128)]
    assert audio.attribute_values("label") == ["1"]


def test_rtpmap_corner_cases() -> None:
    media = MediaDescription(
        kind="audio",
        port=1,
        proto="RTP/AVP",
        formats=["0", "96", "97", "98", "99", "100"],
        attributes=[
            ("rtpmap", "0 PCMA/8000"),  # an rtpmap overrides the static table
            ("rtpmap", "96 opus/48000/2"),
            ("rtpmap", "97 broken"),
            ("rtpmap", "98 L16/x"),
            ("rtpmap", "99 L16/16000/two"),
            ("rtpmap", " 100  speex/16000"),
        ],
    )
    assert media.rtpmap(0) == ("PCMA", 8000, 1)
    assert media.rtpmap(96) == ("opus", 48000, 2)
    assert media.rtpmap(97) is None
    assert media.rtpmap(98) is None
    assert media.rtpmap(99) is None
    assert media.rtpmap(100) == ("speex", 16000, 1)
    assert media.rtpmap(101) is None  # dynamic without rtpmap
    assert media.rtpmap(2) is None  # unassigned static number
    assert media.rtpmap("x") is None


def test_direction_media_level_overrides_session_level() -> None:
    sdp = parse_sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=sendonly\n"
        "m=audio 4000 RTP/AVP 0\n"
        "m=audio 4002 RTP/AVP 0\na=inactive\n"
        "m=audio 4004 RTP/AVP 0\na=recvonly\n"
    )
    assert sdp.direction == "sendonly"
    assert [sdp.media_direction(m) for m in sdp.media] == ["sendonly", "inactive", "recvonly"]
    assert [m.direction() for m in sdp.media] == ["sendrecv", "inactive", "recvonly"]


def test_ptime_and_rtcp_attributes() -> None:
    sdp = parse_sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.1\na=ptime:30\na=rtcp:4011\n"
        "m=audio 4002 RTP/AVP 0\nc=IN IP4 192.0.2.1\na=ptime:22.5\na=rtcp:4013 IN IP4 192.0.2.9\n"
        "m=audio 4004 RTP/AVP 0\nc=IN IP4 192.0.2.1\na=ptime:soon\na=rtcp:port\n"
        "m=audio 4004 RTP/AVP 0\nc=IN IP4 192.0.2.1\na=ptime:0\na=rtcp:70000\n"
    )
    first, second, third, fourth = sdp.media
    assert (first.ptime_ms, first.rtcp_port, first.rtcp_address) == (30, 4011, None)
    assert (second.ptime_ms, second.rtcp_port, second.rtcp_address) == (22, 4013, "192.0.2.9")
    assert (third.ptime_ms, third.rtcp_port) == (None, None)
    assert (fourth.ptime_ms, fourth.rtcp_port) == (None, None)


def test_connection_helpers() -> None:
    assert Connection("224.2.17.12/127").host == "224.2.17.12"
    assert Connection("0.0.0.0").is_hold
    assert Connection("::", addrtype="IP6").is_hold
    assert not Connection("192.0.2.1").is_hold
    assert Connection.for_address("2001:db8::1") == Connection("2001:db8::1", "IN", "IP6")
    assert Connection.for_address("192.0.2.1") == Connection("192.0.2.1", "IN", "IP4")


def test_tolerates_what_phones_send() -> None:
    text = (
        "\r\nv=0\r\no=- 7 7 IN IP4 192.0.2.1\r\n"
        "c=IN IP4 192.0.2.1\r\n"  # before s=: out of the RFC order
        "s=-\r\n"
        "t=0 0\r\n"
        "y=0123456789\r\n"  # a line type RFC 8866 does not define
        "m=audio 4000 RTP/AVP 0 \r\n"  # trailing blank
        "a=flag\r\na=empty:\r\n"
        "x=media-level unknown\r\n"
        "t=0 0\r\n"  # a session-only line inside a media description
        "\r\n"
    )
    sdp = parse_sdp(text)
    assert sdp.other_lines == [("y", "0123456789")]
    (audio,) = sdp.media
    assert audio.formats == ["0"]
    assert audio.attributes == [("flag", None), ("empty", "")]
    assert audio.has_attribute("flag") and audio.attribute_values("flag") == [""]
    assert audio.other_lines == [("x", "media-level unknown"), ("t", "0 0")]
    again = parse_sdp(sdp.serialize())
    assert again == sdp


def test_missing_optional_lines_get_defaults() -> None:
    sdp = parse_sdp("v=0\no=- 1 2 IN IP4 192.0.2.1\nm=audio 4000/2 RTP/AVP 0\n")
    assert sdp.session_name == "-"
    assert sdp.timings == [Timing(0, 0)]
    assert sdp.media[0].port_count == 2
    assert sdp.serialize() == (
        b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000/2 RTP/AVP 0\r\n"
    )


def test_every_line_type_round_trips() -> None:
    text = (
        b"v=0\r\n"
        b"o=- 1 2 IN IP6 2001:db8::1\r\n"
        b"s=All lines\r\n"
        b"i=info\r\n"
        b"u=http://example.com/\r\n"
        b"e=a@example.com\r\n"
        b"e=b@example.com\r\n"
        b"p=+1 555 0100\r\n"
        b"c=IN IP6 2001:db8::1\r\n"
        b"b=CT:128\r\n"
        b"t=3034423619 3042462419\r\n"
        b"r=7d 1h 0 25h\r\n"
        b"t=0 0\r\n"
        b"z=2882844526 -1h 2898848070 0\r\n"
        b"k=prompt\r\n"
        b"a=recvonly\r\n"
        b"m=audio 4000 RTP/AVP 0\r\n"
        b"i=media info\r\n"
        b"c=IN IP6 2001:db8::2\r\n"
        b"b=AS:64\r\n"
        b"k=clear:secret\r\n"
        b"a=ptime:20\r\n"
    )
    sdp = parse_sdp(text)
    assert sdp.timings == [Timing(3034423619, 3042462419, ["7d 1h 0 25h"]), Timing(0, 0)]
    assert sdp.time_zones == "2882844526 -1h 2898848070 0"
    assert sdp.key == "prompt"
    assert sdp.media[0].key == "clear:secret"
    assert sdp.media[0].information == "media info"
    assert sdp.serialize() == text


def test_latin1_bytes_are_decoded() -> None:
    sdp = parse_sdp(b"v=0\no=- 1 1 IN IP4 192.0.2.1\ns=Caf\xe9\nt=0 0\n")
    assert sdp.session_name == "Café"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty session description: no v= line"),
        ("\r\n\r\n", "empty session description: no v= line"),
        ("v=0\r\n", "session description has no o= line"),
        (
            "o=- 1 1 IN IP4 a\r\n",
            "line 1: a description must start with v=, got 'o=- 1 1 IN IP4 a'",
        ),
        ("v=zero\r\n", "line 1: v= version is not a number: 'zero'"),
        ("v=0\r\ns=-\r\n", "line 2: expected o= after v=, got 's=-'"),
        ("v=0\r\nhello\r\n", "line 2: expected '<type>=<value>', got 'hello'"),
        ("v=0\r\n=x\r\n", "line 2: expected '<type>=<value>', got '=x'"),
        (
            "v=0\r\no=- 1 1 IN IP4\r\n",
            "line 2: o= needs 6 fields (username sess-id sess-version nettype addrtype address),"
            " got '- 1 1 IN IP4'",
        ),
        ("v=0\r\no=- one 1 IN IP4 a\r\n", "line 2: o= session id is not a number: 'one'"),
        ("v=0\r\no=- 1 v2 IN IP4 a\r\n", "line 2: o= session version is not a number: 'v2'"),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\no=- 1 1 IN IP4 a\r\n",
            "line 3: second session-level o= line: 'o=- 1 1 IN IP4 a'",
        ),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nv=0\r\n", "line 3: second session-level v= line: 'v=0'"),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\ns=x\r\n",
            "line 4: second session-level s= line: 's=x'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4\r\n",
            "line 3: c= needs 3 fields (nettype addrtype address), got 'IN IP4'",
        ),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nt=0\r\n", "line 3: t= needs 2 fields (start stop), got '0'"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nt=now 0\r\n", "line 3: t= start time is not a number: 'now'"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nt=0 -1\r\n", "line 3: t= stop time is not a number: '-1'"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nr=7d 1h\r\n", "line 3: r= line before any t= line: 'r=7d 1h'"),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nb=AS\r\n",
            "line 3: b= must be <bwtype>:<bandwidth>, got 'AS'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nb=AS:lots\r\n",
            "line 3: b= bandwidth is not a number: 'lots'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 4000\r\n",
            "line 3: m= needs <media> <port> <proto> <fmt> ..., got 'audio 4000'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
            "line 3: m= port is not a number: 'x'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n",
            "line 3: m= port 70000 is out of range 0-65535",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 4000/n RTP/AVP 0\r\n",
            "line 3: m= port count is not a number: 'n'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 a\r\nc=IN IP4 b\r\n",
            "line 5: second c= line in one media description: 'c=IN IP4 b'",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 4000 RTP/AVP 0\r\nb=AS\r\n",
            "line 4: b= must be <bwtype>:<bandwidth>, got 'AS'",
        ),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(SdpParseError) as info:
        parse_sdp(text)
    assert str(info.value) == message


# -- properties ---------------------------------------------------------------------------

_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.",
    min_size=1,
    max_size=12,
)
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r\n"),
    max_size=20,
)
_attribute = st.tuples(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10),
    st.one_of(st.none(), _text),
)
_connection = st.builds(Connection, _token, st.just("IN"), st.sampled_from(["IP4", "IP6"]))
_media = st.builds(
    MediaDescription,
    kind=st.sampled_from(["audio", "video", "application"]),
    port=st.integers(0, 65535),
    proto=st.sampled_from(["RTP/AVP", "RTP/AVPF", "UDP/TLS/RTP/SAVPF"]),
    formats=st.lists(st.integers(0, 127).map(str), min_size=1, max_size=6),
    port_count=st.one_of(st.none(), st.integers(1, 4)),
    information=st.one_of(st.none(), _text),
    connection=st.one_of(st.none(), _connection),
    bandwidths=st.lists(
        st.tuples(st.sampled_from(["AS", "CT", "TIAS"]), st.integers(0, 10**6)), max_size=2
    ),
    attributes=st.lists(_attribute, max_size=5),
)
_session = st.builds(
    SessionDescription,
    origin=st.builds(
        Origin,
        _token,
        st.integers(0, 2**64),
        st.integers(0, 2**64),
        st.just("IN"),
        st.just("IP4"),
        _token,
    ),
    session_name=_text,
    information=st.one_of(st.none(), _text),
    emails=st.lists(_token, max_size=2),
    connection=st.one_of(st.none(), _connection),
    timings=st.lists(
        st.builds(Timing, st.integers(0, 2**32), st.integers(0, 2**32)), min_size=1, max_size=2
    ),
    attributes=st.lists(_attribute, max_size=5),
    media=st.lists(_media, max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(_session)
def test_parse_serialize_round_trip(sdp: SessionDescription) -> None:
    assert parse_sdp(sdp.serialize()) == sdp


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_our_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 a\r\n" + data)
    except SdpParseError:
        return
    assert parse_sdp(sdp.serialize()) == sdp


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(vector("shape_baresip_mux.sdp").split(b"\r\n")), max_size=30))
def test_shuffled_real_lines_parse_or_raise_our_error(lines: list[bytes]) -> None:
    try:
        sdp = parse_sdp(b"\r\n".join(lines))
    except SdpParseError:
        return
    assert parse_sdp(sdp.serialize()) == sdp
