"""The message model: header multi-map, accessors, serialisation and round trips."""

from __future__ import annotations

import pytest

from sipmeet.sip.errors import LocalProtocolError, SipParseError
from sipmeet.sip.headers import CSeq
from sipmeet.sip.message import Headers, Request, Response, canonical_name
from sipmeet.sip.parser import parse_message


def test_canonical_name() -> None:
    assert canonical_name("v") == "Via"
    assert canonical_name("I") == "Call-ID"
    assert canonical_name("call-id") == "Call-ID"
    assert canonical_name("CSEQ") == "CSeq"
    assert canonical_name("www-authenticate") == "WWW-Authenticate"
    assert canonical_name("content-LENGTH") == "Content-Length"
    assert canonical_name("X-Twilio-CallSid") == "X-Twilio-CallSid"


def test_headers_lookup_is_case_and_compact_form_insensitive() -> None:
    h = Headers([("v", "a"), ("Via", "b, c"), ("cseq", "1 INVITE"), ("X-Foo", "x")])
    assert h.get("VIA") == "a"
    assert h.get_all("V") == ["a", "b, c"]
    assert h.get_list("via") == ["a", "b", "c"]
    assert h.get("missing") is None and h.get("missing", "d") == "d"
    assert h.get_all("missing") == []
    assert "CSeq" in h and "x-foo" in h and "Route" not in h and 3 not in h
    assert h.count("Via") == 2 and h.count("Route") == 0
    assert len(h) == 4
    assert next(iter(h)) == ("Via", "a")
    assert repr(Headers([("i", "x")])) == "Headers([('Call-ID', 'x')])"


def test_headers_mutation() -> None:
    h = Headers([("Via", "a"), ("To", "t"), ("Via", "b")])
    h.insert(0, "v", "z")
    assert h.get_all("Via") == ["z", "a", "b"]
    h.set("via", "only")
    assert h.items() == [("Via", "only"), ("To", "t")]
    h.set("Route", "<sip:r>")
    assert h.items()[-1] == ("Route", "<sip:r>")
    h.add("i", "cid")
    assert h.get("Call-ID") == "cid"
    copy = h.copy()
    h.remove("VIA")
    h.remove("Not-There")
    assert "Via" not in h and h.get("To") == "t" and len(h) == 3
    assert copy.get("Via") == "only" and len(copy) == 4
    assert copy != h
    copy.remove("Via")
    assert copy == h


def _request() -> Request:
    return Request(
        method="INVITE",
        uri="sip:room-1@meet.example.com",
        headers=Headers(
            [
                (
                    "Via",
                    "SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1, SIP/2.0/TCP p.example.com;branch=z9hG4bK2",
                ),
                ("To", "<sip:room-1@meet.example.com>"),
                ("From", '"Bob" <sip:bob@example.com>;tag=99'),
                ("Call-ID", "cid-1"),
                ("CSeq", "7 INVITE"),
                ("Content-Type", "Application/SDP; charset=utf-8"),
                ("Content-Length", "0"),
            ]
        ),
        body=b"v=0\r\n",
    )


def test_accessors() -> None:
    req = _request()
    assert req.call_id == "cid-1"
    assert req.cseq == CSeq(7, "INVITE")
    assert [v.host for v in req.vias] == ["192.0.2.5", "p.example.com"]
    assert req.top_via.branch == "z9hG4bK1"
    assert req.from_.display == "Bob" and req.from_.tag == "99"
    assert req.to.tag is None
    assert req.content_type == "application/sdp"
    with pytest.raises(SipParseError, match=r"^missing Via header$"):
        _ = Request(method="BYE", uri="sip:a@b.example").top_via


def test_serialize_writes_content_length_in_place() -> None:
    req = _request()
    wire = req.serialize()
    assert wire == (
        b"INVITE sip:room-1@meet.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1, SIP/2.0/TCP p.example.com;branch=z9hG4bK2\r\n"
        b"To: <sip:room-1@meet.example.com>\r\n"
        b'From: "Bob" <sip:bob@example.com>;tag=99\r\n'
        b"Call-ID: cid-1\r\n"
        b"CSeq: 7 INVITE\r\n"
        b"Content-Type: Application/SDP; charset=utf-8\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"v=0\r\n"
    )
    assert bytes(req) == wire


def test_serialize_appends_content_length_when_absent() -> None:
    resp = Response(status=100, reason="Trying", headers=Headers([("Call-ID", "x")]))
    assert resp.serialize() == b"SIP/2.0 100 Trying\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"


def test_serialize_refuses_line_breaks() -> None:
    req = _request()
    req.headers.add("Subject", "hi\r\nInjected: yes")
    with pytest.raises(LocalProtocolError):
        req.serialize()
    with pytest.raises(LocalProtocolError):
        Response(status=200, reason="OK\n").serialize()


def test_parse_of_serialize_is_identity() -> None:
    req = _request()
    assert parse_message(req.serialize()) == Request(
        method=req.method,
        uri=req.uri,
        headers=Headers([*req.headers.items()[:-1], ("Content-Length", "5")]),
        body=req.body,
    )
    resp = Response(
        status=486,
        reason="Busy Here",
        headers=Headers([("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("Content-Length", "0")]),
    )
    assert parse_message(resp.serialize()) == resp
    assert parse_message(bytes(resp)).serialize() == resp.serialize()
