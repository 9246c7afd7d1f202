"""Dialogs (RFC 3261 §12) and session timers (RFC 4028), without the endpoint."""

from __future__ import annotations

import pytest

from sipmeet.sip.dialog import (
    DIALOG_TRANSITIONS,
    Dialog,
    DialogEvent,
    DialogRole,
    DialogState,
    contact_target,
    next_hop,
)
from sipmeet.sip.errors import SipParseError
from sipmeet.sip.events import DialogId, Source
from sipmeet.sip.message import Headers, Request, Response
from sipmeet.sip.session_timer import (
    IntervalTooSmall,
    Refresher,
    SessionExpires,
    SessionTimer,
    SessionTimerOffer,
    expiry_margin_s,
    negotiate_uas,
    parse_min_se,
    parse_session_expires,
    session_from_response,
)
from sipmeet.sip.transaction import build_response

UDP = Source("UDP", ("192.0.2.10", 5060))


def invite(
    *extra: tuple[str, str], contact: str | None = "<sip:alice@192.0.2.10:5062;transport=udp>"
) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx"),
            ("Record-Route", "<sip:p1.example.net;lr>, <sip:p2.example.net;lr>"),
            ("From", '"Alice" <sip:alice@example.net>;tag=a1'),
            ("To", "<sip:room-1@sip.example.com>"),
            ("Call-ID", "c1"),
            ("CSeq", "10 INVITE"),
            *extra,
        ]
    )
    if contact is not None:
        headers.add("Contact", contact)
    return Request(method="INVITE", uri="sip:room-1@sip.example.com", headers=headers)


def test_transition_table() -> None:
    d = Dialog.as_uas(invite(), "b1", UDP)
    assert d.state is DialogState.CONFIRMED
    assert d.transition(DialogEvent.RESPONSE_2XX) is DialogState.CONFIRMED  # not in the table
    assert d.transition(DialogEvent.BYE) is DialogState.TERMINATED
    assert d.terminated
    assert all(state is not DialogState.TERMINATED for state, _ in DIALOG_TRANSITIONS)
    assert (
        DIALOG_TRANSITIONS[(DialogState.EARLY, DialogEvent.RESPONSE_FAILURE)]
        is DialogState.TERMINATED
    )


def test_uas_dialog_from_invite() -> None:
    d = Dialog.as_uas(invite(), "b1", UDP)
    assert d.role is DialogRole.UAS
    assert d.id == DialogId("c1", "b1", "a1")
    assert d.remote_target == "sip:alice@192.0.2.10:5062;transport=udp"
    assert d.route_set == ("<sip:p1.example.net;lr>", "<sip:p2.example.net;lr>")  # request order
    assert d.remote_cseq == 10 and d.local_cseq is None
    assert d.local_uri == "sip:room-1@sip.example.com" and d.remote_uri == "sip:alice@example.net"
    assert d.local_party.tag is None and d.remote_party.tag is None
    assert not d.secure and d.source == UDP


def test_uac_dialog_from_response() -> None:
    req = invite()
    resp = build_response(
        req,
        200,
        to_tag="b9",
        headers=[
            ("Contact", "<sip:bob@198.51.100.7>"),
            ("Record-Route", "<sip:p2.example.net;lr>"),
            ("Record-Route", "<sip:p1.example.net;lr>"),
        ],
    )
    d = Dialog.as_uac(req, resp, UDP)
    assert d.role is DialogRole.UAC
    assert d.id == DialogId("c1", "a1", "b9")
    assert d.route_set == ("<sip:p1.example.net;lr>", "<sip:p2.example.net;lr>")  # reversed
    assert d.local_cseq == 10 and d.remote_cseq is None
    assert d.remote_target == "sip:bob@198.51.100.7"
    early = Dialog.as_uac(
        req,
        build_response(req, 183, to_tag="b9", headers=[("Contact", "<sip:bob@198.51.100.7>")]),
        UDP,
    )
    assert early.state is DialogState.EARLY
    with pytest.raises(SipParseError):
        Dialog.as_uac(req, build_response(req, 200, to_tag="b9"), UDP)  # no Contact
    with pytest.raises(SipParseError):
        Dialog.as_uac(req, build_response(req, 200, headers=[("Contact", "<sip:b@h>")]), UDP)


def test_rfc2543_invite_without_contact_targets_from() -> None:
    d = Dialog.as_uas(invite(contact=None), "b1", UDP)
    assert d.remote_target == "sip:alice@example.net"


def test_cseq_spaces() -> None:
    d = Dialog.as_uas(invite(), "b1", UDP)
    assert d.next_local_cseq() == 1 and d.next_local_cseq() == 2
    assert d.accept_remote_cseq(11)
    assert d.accept_remote_cseq(11)  # equal is not lower
    assert not d.accept_remote_cseq(10)
    assert d.remote_cseq == 11


def test_build_request_loose_routing() -> None:
    d = Dialog.as_uas(invite(), "b1", UDP)
    bye = d.build_request("BYE", cseq=d.next_local_cseq(), headers=[("Reason", "SIP;cause=200")])
    assert bye.uri == "sip:alice@192.0.2.10:5062;transport=udp"
    assert bye.headers.get_all("Route") == ["<sip:p1.example.net;lr>", "<sip:p2.example.net;lr>"]
    assert bye.from_.uri == "sip:room-1@sip.example.com" and bye.from_.tag == "b1"
    assert bye.to.uri == "sip:alice@example.net" and bye.to.tag == "a1"
    assert bye.to.display == "Alice"
    assert bye.call_id == "c1" and str(bye.cseq) == "1 BYE"
    assert bye.headers.get("Max-Forwards") == "70" and bye.headers.get("Reason") == "SIP;cause=200"
    assert "Via" not in bye.headers


def test_build_request_strict_routing() -> None:
    req = invite()
    req.headers.set(
        "Record-Route", "<sip:strict.example.net;maddr=192.0.2.50>, <sip:p2.example.net;lr>"
    )
    d = Dialog.as_uas(req, "b1", UDP)
    bye = d.build_request("BYE", cseq=1)
    assert bye.uri == "sip:strict.example.net;maddr=192.0.2.50"
    assert bye.headers.get_all("Route") == [
        "<sip:p2.example.net;lr>",
        "<sip:alice@192.0.2.10:5062;transport=udp>",
    ]


def test_refresh_target() -> None:
    d = Dialog.as_uas(invite(), "b1", UDP)
    ok = Response(status=200, headers=Headers([("Contact", "<sip:alice@192.0.2.77>")]))
    d.refresh_target(ok)
    assert d.remote_target == "sip:alice@192.0.2.77"
    d.refresh_target(Response(status=200))  # no Contact: unchanged
    assert d.remote_target == "sip:alice@192.0.2.77"
    with pytest.raises(SipParseError):
        d.refresh_target(Response(status=200, headers=Headers([("Contact", "<tel:+15551234>")])))
    assert d.remote_target == "sip:alice@192.0.2.77"


def test_contact_target() -> None:
    assert contact_target(invite()) == "sip:alice@192.0.2.10:5062;transport=udp"
    assert contact_target(invite(contact=None)) is None
    with pytest.raises(SipParseError):
        contact_target(invite(contact="<mailto:a@b>"))


def test_next_hop() -> None:
    d = Dialog.as_uas(invite(), "b1", UDP)
    assert next_hop(d) == ("UDP", ("p1.example.net", 5060), None)
    no_routes = invite()
    no_routes.headers.remove("Record-Route")
    d = Dialog.as_uas(no_routes, "b1", UDP)
    assert next_hop(d) == ("UDP", ("192.0.2.10", 5062), None)
    tcp = Source("TCP", ("192.0.2.10", 40000), connection_id=4)
    assert next_hop(Dialog.as_uas(invite(), "b1", tcp)) == ("TCP", ("192.0.2.10", 40000), 4)
    tls = Source("TLS", ("192.0.2.10", 40000))
    sips = invite(contact="<sips:alice@example.net>")
    sips.headers.remove("Record-Route")
    assert next_hop(Dialog.as_uas(sips, "b1", tls)) == ("TLS", ("example.net", 5061), None)


def test_next_hop_behind_nat() -> None:
    nat = Source("UDP", ("203.0.113.9", 41234))
    req = invite(contact="<sip:alice@192.168.1.20:5060>")
    req.headers.remove("Record-Route")
    assert next_hop(Dialog.as_uas(req, "b1", nat)) == ("UDP", ("203.0.113.9", 41234), None)
    same_lan = Source("UDP", ("192.168.1.20", 5060))
    assert next_hop(Dialog.as_uas(req, "b1", same_lan)) == ("UDP", ("192.168.1.20", 5060), None)
    # A route set means a proxy handles NAT: follow it.
    routed = invite(contact="<sip:alice@192.168.1.20:5060>")
    assert next_hop(Dialog.as_uas(routed, "b1", nat))[1] == ("p1.example.net", 5060)


# --- session timers (RFC 4028) ---------------------------------------------------------


def test_parse_session_expires() -> None:
    assert parse_session_expires("1800") == SessionExpires(1800, None)
    assert parse_session_expires("90;refresher=UAS") == SessionExpires(90, Refresher.UAS)
    assert parse_session_expires(" 4000 ; refresher=uac ; x=1") == SessionExpires(
        4000, Refresher.UAC
    )
    assert str(SessionExpires(1800, Refresher.UAC)) == "1800;refresher=uac"
    assert str(SessionExpires(1800)) == "1800"
    for bad in ["", "abc", "0", "-5", "90;refresher=both", "12345678901"]:
        with pytest.raises(SipParseError):
            parse_session_expires(bad)
    assert parse_min_se("120") == 120
    assert parse_min_se("90;x=y") == 90
    with pytest.raises(SipParseError):
        parse_min_se("soon")


def _req(*headers: tuple[str, str]) -> Request:
    return Request(method="INVITE", uri="sip:x@y", headers=Headers(headers))


def test_negotiate_uas() -> None:
    # No timer support: we refresh, with our preferred interval.
    assert negotiate_uas(_req(), preferred_s=1800, min_se_s=90) == SessionTimerOffer(
        1800, Refresher.UAS, False
    )
    # Support, no Session-Expires: the UAC refreshes.
    offer = negotiate_uas(_req(("Supported", "replaces, timer")), preferred_s=1800, min_se_s=90)
    assert offer == SessionTimerOffer(1800, Refresher.UAC, True)
    assert isinstance(offer, SessionTimerOffer) and str(offer.header) == "1800;refresher=uac"
    # The smaller interval wins; the UAC's refresher choice is kept.
    offer = negotiate_uas(
        _req(("Supported", "timer"), ("Session-Expires", "600;refresher=uas")),
        preferred_s=1800,
        min_se_s=90,
    )
    assert offer == SessionTimerOffer(600, Refresher.UAS, True)
    offer = negotiate_uas(
        _req(("Supported", "timer"), ("Session-Expires", "7200")), preferred_s=1800, min_se_s=90
    )
    assert offer == SessionTimerOffer(1800, Refresher.UAC, True)
    # Never below the request's Min-SE.
    offer = negotiate_uas(
        _req(("Supported", "timer"), ("Session-Expires", "7200"), ("Min-SE", "3600")),
        preferred_s=1800,
        min_se_s=90,
    )
    assert offer == SessionTimerOffer(3600, Refresher.UAC, True)
    # Too small: 422 with our Min-SE.
    assert negotiate_uas(
        _req(("Session-Expires", "60")), preferred_s=1800, min_se_s=90
    ) == IntervalTooSmall(90)
    # Require: timer counts as support.
    offer = negotiate_uas(
        _req(("Require", "timer"), ("Session-Expires", "300")), preferred_s=1800, min_se_s=90
    )
    assert offer == SessionTimerOffer(300, Refresher.UAC, True)
    with pytest.raises(SipParseError):
        negotiate_uas(_req(("Session-Expires", "x")), preferred_s=1800, min_se_s=90)


def test_session_from_response_and_deadlines() -> None:
    assert session_from_response(Response(status=200)) is None
    ok = Response(status=200, headers=Headers([("Session-Expires", "300;refresher=uac")]))
    assert session_from_response(ok) == SessionExpires(300, Refresher.UAC)
    assert expiry_margin_s(1800) == 32.0 and expiry_margin_s(90) == 30.0
    ours = SessionTimer.start(1800, True, 100.0)
    assert (ours.refresh_at, ours.expires_at) == (1000.0, 1868.0)
    theirs = SessionTimer.start(90, False, 100.0)
    assert (theirs.refresh_at, theirs.expires_at) == (None, 160.0)
