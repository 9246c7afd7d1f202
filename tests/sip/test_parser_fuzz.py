"""Property tests: the parser and the header grammar never fail in an unplanned way.

Invariants: any input either parses or raises SipParseError; validation of
whatever parsed never raises; a stream fed in chunks gives what it gives whole;
serialising and parsing a message gives the message back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipmeet.sip.errors import SipParseError
from sipmeet.sip.headers import (
    parse_cseq,
    parse_media_type,
    parse_name_addr,
    parse_option_tags,
    parse_params,
    parse_via,
)
from sipmeet.sip.message import Headers, Request, Response
from sipmeet.sip.parser import StreamParser, parse_message
from sipmeet.sip.uri import parse_uri
from sipmeet.sip.validate import validate_request, validate_response

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "rfc4475"
SEEDS = [p.read_bytes() for p in sorted(VECTORS.glob("*.dat"))]

INVITE = (
    b"INVITE sip:room-1@meet.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:room-1@meet.example.com>\r\n"
    b'From: "Al \\"ice\\"" <sip:alice@example.net>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.example.net\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.5>;expires=60\r\n"
    b"Require: timer\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\n"
    b"v=0\n"
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _exercise(msg: Request | Response) -> None:
    """Everything a server reads from a parsed message: it may refuse, never crash."""
    if isinstance(msg, Request):
        validate_request(
            msg,
            methods=("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"),
            content_types=("application/sdp",),
        )
        with contextlib.suppress(SipParseError):
            parse_uri(msg.uri)
    else:
        validate_response(msg)
    accessors: list[Callable[[], object]] = [
        lambda: msg.cseq,
        lambda: msg.vias,
        lambda: msg.top_via,
        lambda: msg.from_,
        lambda: msg.to,
    ]
    for read in accessors:
        with contextlib.suppress(SipParseError):
            read()
    msg.serialize()


def _parse_or_refuse(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert 400 <= exc.status <= 599
        if exc.partial is not None:
            exc.partial.serialize()
        return
    _exercise(msg)


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_sip_parse_error(data: bytes) -> None:
    _parse_or_refuse(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([INVITE, *SEEDS])))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        chunk = draw(st.sampled_from([b"\r\n", b" ", b"\t", b",", b";", b":", b"<", b">", b'"', b"\\", b"%", b"[", b"\x00", b"\xff", b"\xc3", b"9" * 12]))  # fmt: skip
        if op == "flip" and pos < len(data):
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = chunk
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_messages_parse_or_raise_sip_parse_error(data: bytes) -> None:
    _parse_or_refuse(data)


_text = st.text(st.characters(codec="utf-8"), max_size=80)
_grammar_text = st.one_of(
    _text,
    st.text(' \t;,=:<>"\\/[]@%?.-_!~*abcAZ019', max_size=60),
    st.sampled_from(
        [
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::2",
            '"A" <sip:a@example.com;lr>;tag=1',
            "sip:user:pw@example.com:5060;transport=tcp?h=v",
            "1 INVITE",
            'text/plain;charset="utf-8"',
        ]
    ).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i] + s[i + 1 :])),
)


@FUZZ
@given(_grammar_text)
def test_header_grammar_parses_or_raises_sip_parse_error(text: str) -> None:
    for parse in (
        parse_via,
        parse_name_addr,
        parse_uri,
        parse_params,
        parse_cseq,
        parse_media_type,
        parse_option_tags,
    ):
        with contextlib.suppress(SipParseError):
            parse(text)


def _run_stream(
    chunks: list[bytes],
) -> tuple[list[Request | Response], int, tuple[str, int] | None]:
    parser = StreamParser(max_size=2048)
    out: list[Request | Response] = []
    error: tuple[str, int] | None = None
    for chunk in [*chunks, b""]:
        try:
            out.extend(parser.feed(chunk))
        except SipParseError as exc:
            error = (str(exc), exc.status)
            break
    return out, parser.pop_keepalive_pings(), error


_stream_parts = st.lists(
    st.sampled_from(
        [
            INVITE,
            SEEDS[0],
            b"\r\n\r\n",
            b"\r\n",
            b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"OPTIONS sip:a@example.com SIP/2.0\r\nl: 3\r\n\r\nabc",
        ]
    )
    | st.binary(max_size=30),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(_stream_parts, st.data())
def test_stream_in_chunks_equals_stream_whole(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert _run_stream(chunks) == _run_stream([stream])


def test_stream_byte_by_byte_equals_whole() -> None:
    badvers = (VECTORS / "badvers.dat").read_bytes()
    stream = b"\r\n\r\n" + INVITE + b"\r\n" + INVITE + b"\r\n\r\n" + badvers + b"BAD\r\n\r\n"
    whole = _run_stream([stream])
    assert len(whole[0]) == 3 and whole[1] == 2
    assert whole[2] is not None and whole[2][0].startswith("invalid request line 'BAD'")
    assert _run_stream([stream[i : i + 1] for i in range(len(stream))]) == whole


_token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12)  # fmt: skip
_value = st.text(st.characters(codec="utf-8", blacklist_characters="\r\n"), max_size=40).map(
    lambda v: v.strip(" \t")
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    names = draw(
        st.lists(_token.filter(lambda n: n.lower() not in ("content-length", "l")), max_size=8)
    )
    headers = Headers([(name, draw(_value)) for name in names])
    body = draw(st.binary(max_size=60))
    headers.add("Content-Length", str(len(body)))
    return Request(
        method=draw(_token),
        uri=draw(st.sampled_from(["sip:a@example.com", "sips:[2001:db8::1]:5061;lr", "tel:+1555"])),
        headers=headers,
        body=body,
    )


@settings(max_examples=200, deadline=None)
@given(requests())
def test_parse_of_serialize_is_identity_for_generated_requests(req: Request) -> None:
    assert parse_message(req.serialize()) == req
    stream = StreamParser()
    assert stream.feed(req.serialize() * 2) == [req, req]
