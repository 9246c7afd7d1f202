"""Datagram parsing and stream framing (RFC 3261 §7, §18.3; RFC 5626 keep-alives)."""

from __future__ import annotations

import pytest

from sipmeet.sip.errors import SipParseError
from sipmeet.sip.message import Request, Response
from sipmeet.sip.parser import StreamParser, parse_message

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
)


def invite(body: bytes = SDP, *, length: int | None = None, extra: bytes = b"") -> bytes:
    cl = len(body) if length is None else length
    return (
        b"INVITE sip:room-1@meet.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK776asdhds\r\n"
        b"Max-Forwards: 70\r\n"
        b"To: <sip:room-1@meet.example.com>\r\n"
        b'From: "Alice" <sip:alice@example.net>;tag=1928301774\r\n'
        b"Call-ID: a84b4c76e66710@pc33.example.net\r\n"
        b"CSeq: 314159 INVITE\r\n"
        b"Contact: <sip:alice@192.0.2.5>\r\n" + extra + b"Content-Type: application/sdp\r\n"
        b"Content-Length: " + str(cl).encode() + b"\r\n\r\n" + body
    )


RESPONSE = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK776asdhds\r\n"
    b"To: <sip:bob@example.com>;tag=a6c85cf\r\n"
    b"From: <sip:alice@example.net>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


# --- datagrams ------------------------------------------------------------------------


def test_request_fields() -> None:
    msg = parse_message(invite())
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri, msg.version) == (
        "INVITE",
        "sip:room-1@meet.example.com",
        "SIP/2.0",
    )
    assert msg.call_id == "a84b4c76e66710@pc33.example.net"
    assert msg.cseq.seq == 314159 and msg.cseq.method == "INVITE"
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.from_.display == "Alice" and msg.from_.tag == "1928301774"
    assert msg.to.uri == "sip:room-1@meet.example.com"
    assert msg.content_type == "application/sdp"
    assert msg.body == SDP


def test_response_fields() -> None:
    msg = parse_message(RESPONSE)
    assert isinstance(msg, Response)
    assert (msg.version, msg.status, msg.reason) == ("SIP/2.0", 180, "Ringing")
    assert msg.to.tag == "a6c85cf"
    assert msg.body == b""


def test_reason_phrase_may_be_empty_or_utf8() -> None:
    msg = parse_message(RESPONSE.replace(b"180 Ringing", b"100 "))
    assert isinstance(msg, Response) and msg.reason == ""
    msg = parse_message(RESPONSE.replace(b"180 Ringing", "180 Звонок идёт".encode()))
    assert isinstance(msg, Response) and msg.reason == "Звонок идёт"


def test_folded_header_lines_are_joined_with_one_space() -> None:
    data = invite().replace(b"CSeq: 314159 INVITE", b"CSeq: 314159\r\n \t  INVITE")
    data = data.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nSubject: one  \r\n\ttwo\r\n")
    msg = parse_message(data)
    assert msg.headers.get("CSeq") == "314159 INVITE"
    assert msg.headers.get("Subject") == "one two"


def test_folding_after_an_empty_value() -> None:
    data = invite().replace(
        b"To: <sip:room-1@meet.example.com>", b"To :\r\n <sip:room-1@meet.example.com>"
    )
    assert parse_message(data).headers.get("To") == "<sip:room-1@meet.example.com>"


def test_compact_forms_and_case_insensitive_names() -> None:
    data = (
        b"OPTIONS sip:x@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
        b"VIA: SIP/2.0/UDP b.example.com;branch=z9hG4bK2\r\n"
        b"t: <sip:x@example.com>\r\nf: <sip:y@example.com>;tag=1\r\n"
        b"i: abc\r\ncseq: 1 OPTIONS\r\nmax-FORWARDS: 70\r\nl: 0\r\n\r\n"
    )
    msg = parse_message(data)
    assert [name for name, _ in msg.headers] == [
        "Via", "Via", "To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length",
    ]  # fmt: skip
    assert [v.host for v in msg.vias] == ["a.example.com", "b.example.com"]
    assert msg.headers.get("call-id") == "abc" == msg.headers.get("I")


def test_white_space_before_the_colon() -> None:
    msg = parse_message(invite().replace(b"Max-Forwards: 70", b"Max-Forwards \t : 70"))
    assert msg.headers.get("Max-Forwards") == "70"


def test_leading_crlfs_are_ignored() -> None:
    assert parse_message(b"\r\n\r\n\r\n" + invite()) == parse_message(invite())


def test_longer_body_is_truncated_to_content_length() -> None:
    msg = parse_message(invite(length=10))
    assert msg.body == SDP[:10]


def test_shorter_body_is_an_error() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(invite(length=len(SDP) + 1))
    assert (
        str(info.value)
        == f"Content-Length {len(SDP) + 1} is more than the {len(SDP)} octets of body"
    )
    assert info.value.status == 400
    assert info.value.partial is not None
    assert info.value.partial.call_id == "a84b4c76e66710@pc33.example.net"


def test_missing_content_length_takes_the_rest_of_the_datagram() -> None:
    data = invite().replace(b"Content-Length: %d\r\n" % len(SDP), b"")
    msg = parse_message(data)
    assert msg.body == SDP
    assert "Content-Length" not in msg.headers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"-1", "invalid Content-Length '-1'"),
        (b"1 2", "invalid Content-Length '1 2'"),
        (b"\xd9\xa3", "invalid Content-Length '\u0663'"),  # ARABIC-INDIC DIGIT THREE
        (b"99999999999", "Content-Length 99999999999 out of range (0-4294967295)"),
    ],
)
def test_bad_content_length(value: bytes, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(
            invite().replace(b"Content-Length: %d" % len(SDP), b"Content-Length: " + value)
        )
    assert str(info.value) == message
    assert info.value.partial is not None


def test_two_content_lengths() -> None:
    with pytest.raises(SipParseError, match=r"^more than one Content-Length header$"):
        parse_message(invite(extra=b"l: 5\r\n"))


def test_message_over_max_size_gets_513_with_a_partial_request() -> None:
    data = invite()
    with pytest.raises(SipParseError) as info:
        parse_message(data, max_size=len(data) - 1)
    assert info.value.status == 513
    assert str(info.value) == f"message of {len(data)} bytes exceeds the limit of {len(data) - 1}"
    assert info.value.partial is not None and info.value.partial.method == "INVITE"
    assert parse_message(data, max_size=len(data)).body == SDP


def test_no_blank_line() -> None:
    data = invite(b"").removesuffix(b"\r\n")
    with pytest.raises(SipParseError, match=r"^no empty line after the header section$") as info:
        parse_message(data)
    assert info.value.partial is not None
    assert (
        info.value.partial.headers.get("Via")
        == "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK776asdhds"
    )


def test_empty_datagram() -> None:
    with pytest.raises(SipParseError, match=r"^empty message$"):
        parse_message(b"\r\n\r\n")


def test_invalid_utf8_in_headers_is_a_400_not_a_crash() -> None:
    data = invite().replace(b'"Alice"', b'"Al\xffice"')
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    at = data.index(b"\xff")
    assert str(info.value) == f"invalid UTF-8 in the header section at byte {at}"
    assert info.value.status == 400
    assert info.value.partial is not None
    assert (
        info.value.partial.headers.get("From")
        == '"Al\ufffdice" <sip:alice@example.net>;tag=1928301774'
    )


def test_body_is_bytes_and_not_decoded() -> None:
    body = bytes(range(256))
    data = invite(body).replace(b"application/sdp", b"application/octet-stream")
    assert parse_message(data).body == body


def test_bare_lf_is_refused() -> None:
    with pytest.raises(SipParseError, match=r"^bare CR or LF in the header section"):
        parse_message(invite().replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n"))


@pytest.mark.parametrize(
    ("start_line", "message"),
    [
        (b"INVITE  sip:a@b.example SIP/2.0", "invalid request line 'INVITE  sip:a@b.example SIP/2.0': expected Method SP Request-URI SP SIP-Version"),
        (b"INVITE sip:a@b.example SIP/2.0 ", "invalid request line 'INVITE sip:a@b.example SIP/2.0 ': expected Method SP Request-URI SP SIP-Version"),
        (b"INVITE sip:a@b.example", "invalid request line 'INVITE sip:a@b.example': expected Method SP Request-URI SP SIP-Version"),
        (b"INV(TE sip:a@b.example SIP/2.0", "invalid method 'INV(TE'"),
        (b"INVITE <sip:a@b.example> SIP/2.0", "invalid Request-URI '<sip:a@b.example>'"),
        (b"INVITE a@b.example SIP/2.0", "invalid Request-URI 'a@b.example'"),
        (b"INVITE sip:a@b.example HTTP/1.1", "invalid SIP version 'HTTP/1.1'"),
        (b"INVITE sip:a@b.example SIP/2", "invalid SIP version 'SIP/2'"),
    ],
)  # fmt: skip
def test_bad_request_line(start_line: bytes, message: str) -> None:
    data = invite().replace(b"INVITE sip:room-1@meet.example.com SIP/2.0", start_line, 1)
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert str(info.value) == message
    partial = info.value.partial
    assert partial is not None
    assert partial.method == start_line.split()[0].decode()
    assert partial.headers.get("CSeq") == "314159 INVITE"
    assert partial.headers.get("Call-ID") == "a84b4c76e66710@pc33.example.net"


def test_other_sip_versions_parse_and_the_version_is_kept() -> None:
    data = invite().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    assert parse_message(data).version == "SIP/7.0"


@pytest.mark.parametrize(
    ("status_line", "message"),
    [
        (b"SIP/2.0 4294967301 Big", "invalid status code in status line 'SIP/2.0 4294967301 Big'"),
        (b"SIP/2.0 99 Low", "invalid status code in status line 'SIP/2.0 99 Low'"),
        (b"SIP/2.0 700 High", "invalid status code in status line 'SIP/2.0 700 High'"),
        (b"SIP/2.0", "invalid status code in status line 'SIP/2.0'"),
        (b"SIP/2.x 200 OK", "invalid SIP version in status line 'SIP/2.x 200 OK'"),
        (b"SIP/2.0 200 O\x01K", "control character in reason phrase 'O\\x01K'"),
    ],
)
def test_bad_status_line(status_line: bytes, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(RESPONSE.replace(b"SIP/2.0 180 Ringing", status_line))
    assert str(info.value) == message
    assert info.value.partial is None  # responses are never answered


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"No colon here", "header line without a colon: 'No colon here'"),
        (b"Bad Name: x", "invalid header name 'Bad Name'"),
        (b": empty name", "invalid header name ''"),
        (b"Na\xc3\xafve: x", "invalid header name 'Na\u00efve'"),
    ],
)
def test_bad_header_line(line: bytes, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(invite(extra=line + b"\r\n"))
    assert str(info.value) == message
    assert info.value.partial is not None
    assert info.value.partial.headers.get("CSeq") == "314159 INVITE"


def test_folded_line_before_any_header() -> None:
    data = b"OPTIONS sip:a@b.example SIP/2.0\r\n continued\r\nCSeq: 1 OPTIONS\r\n\r\n"
    with pytest.raises(SipParseError, match=r"^folded line before the first header field$"):
        parse_message(data)


def test_header_values_keep_nul_inside_quoted_strings() -> None:
    data = invite().replace(b'"Alice"', b'"A\\\x00B"')
    assert parse_message(data).from_.display == "A\x00B"


def test_unknown_headers_and_empty_values_are_kept_in_order() -> None:
    data = invite(extra=b"X-Custom-Thing: 1\r\nSubject:\r\nNewFangled: a, b\r\n")
    msg = parse_message(data)
    names = [name for name, _ in msg.headers]
    assert names[-5:] == [
        "X-Custom-Thing",
        "Subject",
        "Newfangled",
        "Content-Type",
        "Content-Length",
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get_list("newfangled") == ["a", "b"]


# --- streams --------------------------------------------------------------------------


def test_stream_frames_back_to_back_messages() -> None:
    parser = StreamParser()
    a, b = invite(), RESPONSE
    msgs = parser.feed(a + b + a[:10])
    assert msgs == [parse_message(a), parse_message(b)]
    assert parser.buffered == 10
    assert parser.feed(a[10:]) == [parse_message(a)]
    assert parser.buffered == 0


def test_stream_waits_for_the_body() -> None:
    parser = StreamParser()
    data = invite()
    assert parser.feed(data[:-1]) == []
    assert parser.feed(data[-1:]) == [parse_message(data)]


def test_stream_keepalive_pings_and_stray_crlf() -> None:
    parser = StreamParser()
    assert parser.feed(b"\r\n\r\n\r\n\r\n") == []
    assert parser.pop_keepalive_pings() == 2
    assert parser.pop_keepalive_pings() == 0
    assert parser.feed(b"\r\n") == []  # a lone CRLF might be half a ping: wait
    assert parser.pop_keepalive_pings() == 0
    assert parser.feed(RESPONSE) == [parse_message(RESPONSE)]  # it was a stray CRLF
    assert parser.pop_keepalive_pings() == 0
    assert parser.feed(b"\r\n") == []
    assert parser.feed(b"\r\n") == []
    assert parser.pop_keepalive_pings() == 1


def test_stream_requires_content_length() -> None:
    data = RESPONSE.replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(SipParseError) as info:
        StreamParser().feed(data)
    assert str(info.value) == "missing Content-Length (required on stream transports)"
    assert info.value.status == 400


def test_stream_header_section_over_limit() -> None:
    parser = StreamParser(max_size=100)
    with pytest.raises(SipParseError) as info:
        parser.feed(b"INVITE sip:a@b.example SIP/2.0\r\n" + b"X: y\r\n" * 20)
    assert info.value.status == 513
    assert str(info.value) == "header section exceeds 100 octets"


def test_stream_message_over_limit() -> None:
    data = invite()
    head_size = data.index(b"\r\n\r\n") + 4
    with pytest.raises(SipParseError) as info:
        StreamParser(max_size=head_size + 10).feed(data[:head_size])
    assert info.value.status == 513
    assert str(info.value) == f"message of {len(data)} octets exceeds the limit of {head_size + 10}"
    assert info.value.partial is not None and info.value.partial.method == "INVITE"


def test_stream_error_after_good_messages_is_raised_on_the_next_call() -> None:
    parser = StreamParser()
    bad = b"GARBAGE\r\n\r\n"
    assert parser.feed(RESPONSE + bad) == [parse_message(RESPONSE)]
    with pytest.raises(SipParseError, match=r"^invalid request line 'GARBAGE'"):
        parser.feed(b"")
    with pytest.raises(SipParseError):  # the stream stays broken
        parser.feed(RESPONSE)


def test_stream_matches_datagram_parse_for_each_message() -> None:
    stream = StreamParser()
    data = [invite(), RESPONSE, invite(b"")]
    assert stream.feed(b"".join(data)) == [parse_message(d) for d in data]


def test_partial_skips_lines_it_cannot_read() -> None:
    data = invite(extra=b"Bad Name: 1\r\nno colon\r\n folded\r\nSubject: caf\xe9\r\n more\r\n")
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    partial = info.value.partial
    assert partial is not None
    assert partial.headers.get("Subject") == "caf\ufffd more"
    assert "Bad Name" not in partial.headers
    assert partial.headers.get("Contact") == "<sip:alice@192.0.2.5>"


def test_serialize_writes_one_content_length_for_several() -> None:
    msg = parse_message(invite())
    msg.headers.add("Content-Length", "999")
    assert msg.serialize().count(b"Content-Length") == 1
    assert parse_message(msg.serialize()).body == SDP
