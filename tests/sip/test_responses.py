"""UAS response building and response routing on their own (RFC 3261 §8.2.6, §18.2,
RFC 3581 §4, RFC 4028 §9), as the endpoint uses them."""

from __future__ import annotations

from typing import Any

from sipmeet.sip.events import Source
from sipmeet.sip.message import Request, Response
from sipmeet.sip.parser import parse_message
from sipmeet.sip.responses import (
    has_to_tag,
    response_destination,
    stamp_via,
    uas_response,
    warning_headers,
)
from sipmeet.sip.session_timer import SessionTimerOffer, negotiate_uas


def _request(via: str, method: str = "INVITE", extra: str = "", to_tag: str = "") -> Request:
    raw = (
        f"{method} sip:room@sip.example.com SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        f"To: <sip:room@sip.example.com>{to_tag}\r\n"
        "Call-ID: c1@example.com\r\n"
        f"CSeq: 1 {method}\r\n"
        "Max-Forwards: 70\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    message = parse_message(raw)
    assert isinstance(message, Request)
    return message


def test_rfc3581_example_gets_rport_and_received() -> None:
    # RFC 3581 §4: a request from 192.0.2.1:9988 whose Via says 10.1.1.1:4540 with rport.
    req = _request("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff")
    stamped = stamp_via(req, req.top_via, Source("UDP", ("192.0.2.1", 9988)))
    assert stamped.params["rport"] == "9988" and stamped.params["received"] == "192.0.2.1"
    assert req.top_via.params == stamped.params  # written back into the request
    assert len(req.vias) == 2 and req.vias[1].host == "proxy.example.com"  # the rest kept
    dest = response_destination(stamped, Source("UDP", ("192.0.2.1", 9988)), symmetric=False)
    assert dest.addr == ("192.0.2.1", 9988)


def test_rfc3261_received_only_where_the_host_differs() -> None:
    same = _request("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds7")
    before = same.headers.items()
    assert stamp_via(same, same.top_via, Source("UDP", ("192.0.2.4", 5060))) == same.top_via
    assert same.headers.items() == before  # nothing to stamp: untouched
    other = _request("SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7")
    stamped = stamp_via(other, other.top_via, Source("UDP", ("192.0.2.4", 5060)))
    assert stamped.params == {"branch": "z9hG4bKnashds7", "received": "192.0.2.4"}


def test_response_destination_per_rfc3261_18_2_2() -> None:
    via = _request("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx").top_via
    source = Source("UDP", ("203.0.113.9", 40000))
    # without rport: the Via's port at the source address (symmetric off), or the source
    assert response_destination(via, source, symmetric=False).addr == ("203.0.113.9", 5070)
    assert response_destination(via, source, symmetric=True).addr == ("203.0.113.9", 40000)
    no_port = _request("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx").top_via
    assert response_destination(no_port, source, symmetric=False).addr[1] == 5060
    # a stream transport: back on the connection the request came on
    tcp = response_destination(via, Source("TCP", ("203.0.113.9", 40001), 7), symmetric=False)
    assert (tcp.transport, tcp.addr, tcp.connection_id) == ("TCP", ("203.0.113.9", 40001), 7)


def test_warning_text_is_made_quotable() -> None:
    ((name, value),) = warning_headers("sip.example.com", 'bad "codec" \\ list\n')
    assert name == "Warning" and value == '399 sip.example.com "bad  codec    list "'
    assert len(warning_headers("a", "x" * 500)[0][1]) < 220


def _respond(req: Request, status: int, **given: Any) -> Response:
    """``uas_response`` with the endpoint's usual arguments, ``given`` replacing some."""
    args: dict[str, Any] = {
        "to_tag": "t1",
        "headers": [],
        "body": b"",
        "initial_invite": True,
        "session": None,
        "contact": "<sip:192.0.2.10:5060>",
        "allow": "INVITE, ACK, BYE",
        "supported": ["timer"],
        "server": "sipmeet",
    }
    return uas_response(req, status, None, **{**args, **given})


def test_uas_response_adds_what_rfc3261_and_rfc4028_ask_for() -> None:
    req = _request(
        "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx",
        extra="Record-Route: <sip:p1.example.com;lr>\r\nSupported: timer\r\n",
    )
    offer = negotiate_uas(req, preferred_s=1800, min_se_s=90)
    assert isinstance(offer, SessionTimerOffer)
    ok = _respond(req, 200, session=offer, headers=[("Content-Type", "application/sdp")])
    h = ok.headers
    assert h.get("Record-Route") == "<sip:p1.example.com;lr>"
    assert h.get("Contact") == "<sip:192.0.2.10:5060>"
    assert h.get("Session-Expires") == "1800;refresher=uac" and h.get("Require") == "timer"
    assert (h.get("Allow"), h.get("Supported"), h.get("Server")) == (
        "INVITE, ACK, BYE",
        "timer",
        "sipmeet",
    )
    assert ok.to.tag == "t1"
    # a caller's own header wins over the one the core would add
    own = _respond(req, 200, headers=[("Contact", "<sip:other>")], initial_invite=False)
    assert own.headers.get_all("Contact") == ["<sip:other>"]
    assert own.headers.get("Record-Route") is None
    # an error response gets no Contact and states no session
    busy = _respond(req, 486, session=offer)
    assert busy.headers.get("Contact") is None and busy.headers.get("Session-Expires") is None
    # 405 says what is allowed
    subscribe = _request("SIP/2.0/UDP h;branch=z9hG4bKy", method="SUBSCRIBE")
    assert _respond(subscribe, 405, initial_invite=False).headers.get("Allow") == "INVITE, ACK, BYE"


def test_has_to_tag() -> None:
    assert not has_to_tag(_request("SIP/2.0/UDP h;branch=z9hG4bKy"))
    assert has_to_tag(_request("SIP/2.0/UDP h;branch=z9hG4bKy", to_tag=";tag=b2"))
