"""Pair tests: the endpoint against a scripted phone, in memory, on a virtual clock."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipmeet.sip.digest import AuthResult, DigestAuthenticator, build_authorization, ha1
from sipmeet.sip.endpoint import EndpointConfig, Outgoing, SipEndpoint, Source
from sipmeet.sip.errors import LocalProtocolError, SipParseError
from sipmeet.sip.events import (
    AckReceived,
    AckTimedOut,
    ByeReceived,
    DialogId,
    IncomingInfo,
    IncomingInvite,
    IncomingReinvite,
    IncomingUpdate,
    InviteCancelled,
    ResponseReceived,
    SessionExpired,
    SipEvent,
    TransactionTimedOut,
)
from sipmeet.sip.message import Headers, Request, Response
from sipmeet.sip.parser import parse_message
from sipmeet.sip.transaction import build_response

CONFIG = EndpointConfig(host="198.51.100.1", port=5060, domain="sip.example.com")
PHONE = ("192.0.2.10", 5060)
UDP = Source("UDP", PHONE)
ROOM_URI = "sip:room-1@sip.example.com"
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 8\r\n"
)
SDP_ANSWER = (
    b"v=0\r\no=- 7 7 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
    b"m=audio 20000 RTP/AVP 0\r\n"
)
SDP_HOLD = SDP.replace(b"o=- 1 1", b"o=- 1 2") + b"a=sendonly\r\n"


def counter_token() -> Callable[[int], str]:
    counter = itertools.count(1)
    return lambda n: f"{next(counter):0{2 * n}x}"


def sip_request(
    method: str,
    *,
    branch: str,
    call_id: str = "call-1@192.0.2.10",
    cseq: int = 1,
    from_tag: str = "ph1",
    to_tag: str | None = None,
    uri: str = ROOM_URI,
    via: str = "SIP/2.0/UDP 192.0.2.10:5060",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    contact: bool = True,
    content_type: str = "application/sdp",
) -> bytes:
    to = f"<{ROOM_URI}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via};branch={branch}",
        "Max-Forwards: 70",
        f'From: "Alice" <sip:+15551230000@192.0.2.10>;tag={from_tag}',
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if contact:
        lines.append("Contact: <sip:alice@192.0.2.10:5060>")
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


EventT = TypeVar("EventT")


class Harness:
    """The endpoint, a fake clock, and everything it sent and emitted."""

    def __init__(self, config: EndpointConfig = CONFIG, source: Source = UDP) -> None:
        self.ep = SipEndpoint(config, token=counter_token())
        self.now = 0.0
        self.source = source
        self.log: list[tuple[float, Outgoing]] = []
        self._taken = 0
        self.events: list[SipEvent] = []

    def feed(self, data: bytes, source: Source | None = None) -> None:
        self.ep.receive_datagram(data, source or self.source, self.now)
        self._drain()

    def _drain(self) -> None:
        self.log += [(self.now, out) for out in self.ep.pending_output()]
        while (event := self.ep.next_event()) is not None:
            self.events.append(event)

    def advance(self, until: float) -> None:
        while True:
            deadline = self.ep.next_deadline()
            if deadline is None or deadline > until:
                break
            self.now = max(self.now, deadline)
            self.ep.handle_timer(self.now)
            self._drain()
        self.now = until

    def respond(self, tx: object, status: int, **kw: object) -> DialogId | None:
        result = self.ep.respond(tx, status, now=self.now, **kw)  # type: ignore[arg-type]
        self._drain()
        return result

    def send_request(self, dialog_id: DialogId, method: str, **kw: object) -> object:
        tx = self.ep.send_request(dialog_id, method, now=self.now, **kw)  # type: ignore[arg-type]
        self._drain()
        return tx

    def take(self) -> list[Outgoing]:
        out = [o for _, o in self.log[self._taken :]]
        self._taken = len(self.log)
        return out

    def take_msgs(self) -> list[Request | Response]:
        return [parse_message(o.data) for o in self.take()]

    def take_one(self) -> Request | Response:
        msgs = self.take_msgs()
        assert len(msgs) == 1, msgs
        return msgs[0]

    def pop_events(self) -> list[SipEvent]:
        events, self.events = self.events, []
        return events

    def pop_one(self, kind: type[EventT]) -> EventT:
        events = self.pop_events()
        assert len(events) == 1 and isinstance(events[0], kind), events
        return events[0]


def only(msg: Request | Response, status: int) -> Response:
    assert isinstance(msg, Response), msg
    assert msg.status == status, (msg.status, msg.reason)
    return msg


def first_sent(h: Harness, status: int) -> Response:
    """The first response with ``status`` the endpoint sent."""
    for _, out in h.log:
        msg = parse_message(out.data)
        if isinstance(msg, Response) and msg.status == status:
            return msg
    raise AssertionError(f"no {status} sent")


def answer_bytes(
    req: Request,
    status: int,
    *,
    to_tag: str = "ph-to",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    extra = [*headers]
    if body:
        extra.append(("Content-Type", "application/sdp"))
    return build_response(req, status, to_tag=to_tag, headers=extra, body=body).serialize()


def establish(h: Harness, *, headers: Sequence[tuple[str, str]] = (), ack: bool = True) -> DialogId:
    """INVITE -> 100 -> 200 -> ACK; returns the dialog id."""
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", headers=headers, body=SDP))
    only(h.take_one(), 100)
    event = h.pop_one(IncomingInvite)
    assert isinstance(event, IncomingInvite)
    dialog_id = h.respond(
        event.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    assert dialog_id is not None
    ok = only(h.take_one(), 200)
    assert ok.to.tag == dialog_id.local_tag
    if ack:
        h.feed(sip_request("ACK", branch="z9hG4bKack1", to_tag=dialog_id.local_tag, contact=False))
        assert [type(e) for e in h.pop_events()] == [AckReceived]
    return dialog_id


# --- the main call flow --------------------------------------------------------------


def test_invite_challenge_answer_and_ack() -> None:
    h = Harness()
    auth = DigestAuthenticator("sip.example.com", b"k" * 32)
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKinv1", body=SDP, via="SIP/2.0/UDP 192.0.2.10:5060;rport"
        )
    )
    (out,) = h.take()
    assert out == Outgoing("UDP", PHONE, out.data, None)
    trying = only(parse_message(out.data), 100)
    assert trying.to.tag is None  # 100 carries no tag
    assert (
        trying.top_via.params["rport"] == "5060"
        and trying.top_via.params["received"] == "192.0.2.10"
    )
    event = h.pop_one(IncomingInvite)
    assert isinstance(event, IncomingInvite) and event.source == UDP
    assert event.request.body == SDP

    # The TU challenges.
    h.now = 0.01
    assert h.respond(event.transaction_id, 401, headers=auth.challenge(h.now)) is None
    challenge = only(h.take_one(), 401)
    assert challenge.to.tag is not None
    assert challenge.headers.get("Server") == "sipmeet"
    assert len(challenge.headers.get_all("WWW-Authenticate")) == 2
    assert "Contact" not in challenge.headers
    # The phone ACKs the 401 (same branch): absorbed, nothing emitted, G retransmits stop.
    h.feed(sip_request("ACK", branch="z9hG4bKinv1", to_tag=challenge.to.tag, contact=False))
    assert h.pop_events() == [] and h.take() == []
    h.advance(3.0)
    assert h.take() == []

    # The phone answers the challenge in a new INVITE.
    www = challenge.headers.get_all("WWW-Authenticate")[1]  # MD5
    authorization = build_authorization(www, "INVITE", ROOM_URI, "user", "pw", "abc", 1)
    h.feed(
        sip_request(
            "INVITE",
            branch="z9hG4bKinv2",
            cseq=2,
            body=SDP,
            headers=[("Authorization", authorization)],
        )
    )
    only(h.take_one(), 100)
    event2 = h.pop_one(IncomingInvite)
    assert isinstance(event2, IncomingInvite)
    creds = auth.credentials(event2.request)
    assert creds is not None
    stored = {"MD5": ha1("MD5", "user", "sip.example.com", "pw")}
    assert auth.verify(creds, "INVITE", stored, h.now) is AuthResult.OK

    # 180 then 200.
    h.respond(event2.transaction_id, 180)
    ringing = only(h.take_one(), 180)
    assert ringing.headers.get("Contact") == "<sip:198.51.100.1:5060>"
    dialog_id = h.respond(
        event2.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    assert dialog_id is not None
    ok = only(h.take_one(), 200)
    assert ok.to.tag == ringing.to.tag == dialog_id.local_tag  # one tag per transaction
    assert dialog_id == DialogId("call-1@192.0.2.10", ok.to.tag, "ph1")
    assert ok.headers.get("Contact") == "<sip:198.51.100.1:5060>"
    assert ok.headers.get("Content-Type") == "application/sdp" and ok.body == SDP_ANSWER
    assert "INVITE" in (ok.headers.get("Allow") or "")
    assert ok.headers.get("Supported") == "timer"
    dialog = h.ep.dialog(dialog_id)
    assert dialog is not None
    assert dialog.remote_target == "sip:alice@192.0.2.10:5060"
    assert dialog.remote_uri == "sip:+15551230000@192.0.2.10"
    assert dialog.local_uri == ROOM_URI
    assert dialog.remote_cseq == 2 and dialog.route_set == ()

    # 2xx retransmitted at T1, 2T1, 4T1 ... until the ACK (RFC 3261 §13.3.1.4).
    start = h.now
    h.advance(start + 4.0)
    times = [round(t - start, 3) for t, _ in h.log[-3:]]
    assert times == [0.5, 1.5, 3.5]
    assert all(only(m, 200).body == SDP_ANSWER for m in h.take_msgs())
    h.feed(
        sip_request("ACK", branch="z9hG4bKack2", cseq=2, to_tag=dialog_id.local_tag, contact=False)
    )
    ack_event = h.pop_one(AckReceived)
    assert isinstance(ack_event, AckReceived) and ack_event.dialog_id == dialog_id
    h.advance(start + 60.0)
    assert h.take() == [] and h.pop_events() == []  # no more retransmits, no AckTimedOut
    # A repeated ACK is ignored.
    h.feed(
        sip_request("ACK", branch="z9hG4bKack2", cseq=2, to_tag=dialog_id.local_tag, contact=False)
    )
    assert h.pop_events() == []


def test_no_ack_times_out_at_64_t1() -> None:
    h = Harness()
    dialog_id = establish(h, ack=False)
    h.advance(31.9)
    assert [round(t, 2) for t, _ in h.log[2:]] == [
        0.5,
        1.5,
        3.5,
        7.5,
        11.5,
        15.5,
        19.5,
        23.5,
        27.5,
        31.5,
    ]
    assert h.pop_events() == []
    h.advance(32.0)
    assert h.pop_events() == [AckTimedOut(dialog_id)]
    h.advance(100.0)
    assert [round(t, 2) for t, _ in h.log][-1] == 31.5  # retransmissions stopped
    # The TU hangs up.
    h.take()
    h.send_request(dialog_id, "BYE")
    bye = h.take_one()
    assert isinstance(bye, Request) and bye.method == "BYE"


def test_retransmitted_invite_is_absorbed() -> None:
    h = Harness()
    invite = sip_request("INVITE", branch="z9hG4bKinv1", body=SDP)
    h.feed(invite)
    only(h.take_one(), 100)
    event = h.pop_one(IncomingInvite)
    h.feed(invite)
    only(h.take_one(), 100)  # last provisional again
    h.respond(event.transaction_id, 180)
    ringing = h.take()
    h.feed(invite)
    assert h.take() == ringing
    h.respond(event.transaction_id, 486)
    busy = h.take()
    h.feed(invite)
    assert h.take() == busy
    assert h.pop_events() == []  # never a second IncomingInvite
    # Timer G keeps repeating the 486 until an ACK, Timer H gives up after 64*T1.
    h.advance(40.0)
    assert len(h.take()) == 10
    (timeout,) = h.pop_events()
    assert timeout == TransactionTimedOut(event.transaction_id, None)
    assert h.ep.transaction_count == 0


def test_retransmitted_invite_after_2xx_absorbed() -> None:
    h = Harness()
    invite = sip_request("INVITE", branch="z9hG4bKinv1", body=SDP)
    h.feed(invite)
    event = h.pop_one(IncomingInvite)
    h.respond(
        event.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    h.take()
    h.now = 0.2
    h.feed(invite)  # RFC 6026: absorbed, the 2xx is retransmitted on its own schedule
    assert h.take() == [] and h.pop_events() == []


def test_cancel_before_answer() -> None:
    h = Harness()
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP))
    event = h.pop_one(IncomingInvite)
    h.respond(event.transaction_id, 180)
    h.take()
    h.now = 1.0
    h.feed(sip_request("CANCEL", branch="z9hG4bKinv1", contact=False))
    ok, terminated = h.take_msgs()
    only(ok, 200)
    assert ok.cseq.method == "CANCEL"
    only(terminated, 487)
    assert terminated.cseq.method == "INVITE"
    assert ok.to.tag == terminated.to.tag  # RFC 3261 §9.2
    assert h.pop_events() == [InviteCancelled(event.transaction_id)]
    # The TU's late answer is ignored.
    assert h.respond(event.transaction_id, 200, body=SDP_ANSWER) is None
    assert h.take() == []
    # The ACK for the 487 is absorbed; the CANCEL retransmission gets its 200 again.
    h.feed(sip_request("ACK", branch="z9hG4bKinv1", to_tag=terminated.to.tag, contact=False))
    h.feed(sip_request("CANCEL", branch="z9hG4bKinv1", contact=False))
    assert [only(m, 200).cseq.method for m in h.take_msgs()] == ["CANCEL"]
    assert h.pop_events() == []
    h.advance(60.0)
    assert h.take() == [] and h.ep.transaction_count == 0


def test_cancel_matching_nothing_gets_481() -> None:
    h = Harness()
    h.feed(sip_request("CANCEL", branch="z9hG4bKnothing", contact=False))
    only(h.take_one(), 481)


def test_cancel_after_final_has_no_effect() -> None:
    h = Harness()
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP))
    event = h.pop_one(IncomingInvite)
    h.respond(
        event.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    h.take()
    h.feed(sip_request("CANCEL", branch="z9hG4bKinv1", contact=False))
    only(h.take_one(), 200)
    assert h.pop_events() == []


def test_bye_on_early_dialog() -> None:
    h = Harness()
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP))
    only(h.take_one(), 100)
    event = h.pop_one(IncomingInvite)
    h.respond(
        event.transaction_id, 183, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    tag = only(h.take_one(), 183).to.tag
    h.feed(sip_request("BYE", branch="z9hG4bKbye1", cseq=2, to_tag=tag))
    ok, terminated = h.take_msgs()
    assert only(ok, 200).cseq.method == "BYE"
    only(terminated, 487)
    assert h.pop_events() == [InviteCancelled(event.transaction_id)]


# --- BYE -----------------------------------------------------------------------------


def test_bye_from_phone() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(sip_request("BYE", branch="z9hG4bKbye1", cseq=2, to_tag=dialog_id.local_tag))
    ok = only(h.take_one(), 200)
    assert ok.to.tag == dialog_id.local_tag
    event = h.pop_one(ByeReceived)
    assert isinstance(event, ByeReceived) and event.dialog_id == dialog_id
    assert h.ep.dialog(dialog_id) is None
    # A retransmitted BYE gets the same 200 from the transaction.
    h.feed(sip_request("BYE", branch="z9hG4bKbye1", cseq=2, to_tag=dialog_id.local_tag))
    only(h.take_one(), 200)
    assert h.pop_events() == []
    # A new request in the gone dialog: 481.
    h.feed(sip_request("INFO", branch="z9hG4bKinfo", cseq=3, to_tag=dialog_id.local_tag))
    only(h.take_one(), 481)
    with pytest.raises(LocalProtocolError):
        h.send_request(dialog_id, "BYE")


def test_bye_from_us() -> None:
    h = Harness()
    dialog_id = establish(h)
    tx = h.send_request(dialog_id, "BYE", headers=[("Reason", 'Q.850;cause=16;text="Normal"')])
    out = h.take()
    assert [(o.transport, o.addr, o.connection_id) for o in out] == [
        ("UDP", ("192.0.2.10", 5060), None)
    ]
    bye = parse_message(out[0].data)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == "sip:alice@192.0.2.10:5060"  # the remote target
    assert bye.from_.tag == dialog_id.local_tag and bye.to.tag == "ph1"
    assert bye.from_.uri == ROOM_URI
    assert bye.call_id == dialog_id.call_id
    assert bye.cseq.seq == 1 and bye.cseq.method == "BYE"
    assert bye.top_via.branch is not None and bye.top_via.branch.startswith("z9hG4bK")
    assert bye.top_via.sent_by == "198.51.100.1:5060" and "rport" in bye.top_via.params
    assert bye.headers.get("Reason") == 'Q.850;cause=16;text="Normal"'
    with pytest.raises(LocalProtocolError):
        h.send_request(dialog_id, "INFO")  # the dialog is ending
    # Timer E retransmits until the response.
    h.advance(0.6)
    assert len(h.take()) == 1
    h.feed(answer_bytes(bye, 200, to_tag="ph1"))
    event = h.pop_one(ResponseReceived)
    assert isinstance(event, ResponseReceived)
    assert (
        event.transaction_id == tx and event.dialog_id == dialog_id and event.response.status == 200
    )
    assert h.ep.dialog(dialog_id) is None
    h.advance(40.0)
    assert h.take() == [] and h.ep.transaction_count == 0 and h.ep.dialog_count == 0


def test_bye_from_us_times_out() -> None:
    h = Harness()
    dialog_id = establish(h)
    tx = h.send_request(dialog_id, "BYE")
    h.advance(32.0 + h.now)
    assert TransactionTimedOut(tx, dialog_id) in h.pop_events()  # type: ignore[arg-type]
    assert h.ep.dialog(dialog_id) is None


# --- re-INVITE, UPDATE, INFO, glare ----------------------------------------------------


def test_reinvite_hold() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    only(h.take_one(), 100)
    event = h.pop_one(IncomingReinvite)
    assert isinstance(event, IncomingReinvite) and event.dialog_id == dialog_id
    assert b"a=sendonly" in event.request.body
    assert (
        h.respond(
            event.transaction_id,
            200,
            headers=[("Content-Type", "application/sdp")],
            body=SDP_ANSWER + b"a=recvonly\r\n",
        )
        == dialog_id
    )
    ok = only(h.take_one(), 200)
    assert ok.to.tag == dialog_id.local_tag and ok.cseq.seq == 2
    h.advance(h.now + 0.5)
    only(h.take_one(), 200)  # retransmitted until ACK
    h.feed(
        sip_request("ACK", branch="z9hG4bKack2", cseq=2, to_tag=dialog_id.local_tag, contact=False)
    )
    assert [type(e) for e in h.pop_events()] == [AckReceived]


def test_offerless_reinvite() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(sip_request("INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag))
    only(h.take_one(), 100)
    event = h.pop_one(IncomingReinvite)
    assert isinstance(event, IncomingReinvite) and event.request.body == b""
    h.respond(
        event.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    only(h.take_one(), 200)
    h.feed(
        sip_request(
            "ACK", branch="z9hG4bKack2", cseq=2, to_tag=dialog_id.local_tag, body=SDP, contact=False
        )
    )
    ack = h.pop_one(AckReceived)
    assert isinstance(ack, AckReceived) and ack.request.body == SDP


def test_reinvite_target_refresh() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(
        sip_request(
            "INVITE",
            branch="z9hG4bKre1",
            cseq=2,
            to_tag=dialog_id.local_tag,
            body=SDP,
            contact=False,
            headers=[("Contact", "<sip:alice@192.0.2.99:5070>")],
        )
    )
    event = h.pop_one(IncomingReinvite)
    dialog = h.ep.dialog(dialog_id)
    assert dialog is not None and dialog.remote_target == "sip:alice@192.0.2.10:5060"
    h.respond(
        event.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    assert dialog.remote_target == "sip:alice@192.0.2.99:5070"


def test_glare_491_and_pending_500() -> None:
    h = Harness()
    dialog_id = establish(h)
    # Our re-INVITE is pending ...
    ours = h.send_request(
        dialog_id, "INVITE", headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    our_invite = h.take_one()
    assert isinstance(our_invite, Request) and our_invite.method == "INVITE"
    assert our_invite.headers.get("Contact") == "<sip:198.51.100.1:5060>"
    # ... and theirs crosses it: 491 (RFC 3261 §14.2).
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    glare = only(h.take_one(), 491)
    assert glare.cseq.seq == 2
    assert h.pop_events() == []
    with pytest.raises(LocalProtocolError):
        h.send_request(dialog_id, "UPDATE", body=SDP_ANSWER)
    # Our re-INVITE succeeds; the endpoint ACKs it.
    h.feed(
        answer_bytes(
            our_invite,
            200,
            to_tag="ph1",
            body=SDP,
            headers=[("Contact", "<sip:alice@192.0.2.10:5060>")],
        )
    )
    event = h.pop_one(ResponseReceived)
    assert isinstance(event, ResponseReceived) and event.transaction_id == ours
    ack = h.take_one()
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.cseq.seq == our_invite.cseq.seq
    # Now theirs (after a pause) is fine, and a second one while it is pending gets 500.
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre2", cseq=3, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    only(h.take_one(), 100)
    reinvite = h.pop_one(IncomingReinvite)
    assert isinstance(reinvite, IncomingReinvite)
    h.feed(sip_request("INVITE", branch="z9hG4bKre3", cseq=4, to_tag=dialog_id.local_tag, body=SDP))
    busy = only(h.take_one(), 500)
    retry_after = busy.headers.get("Retry-After")
    assert retry_after is not None and 0 <= int(retry_after) <= 10
    assert h.pop_events() == []


def test_our_reinvite_2xx_retransmission_is_acked_again() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.send_request(
        dialog_id, "INVITE", headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    invite = h.take_one()
    assert isinstance(invite, Request)
    ok = answer_bytes(invite, 200, to_tag="ph1", body=SDP)
    h.feed(ok)
    assert len(h.pop_events()) == 1
    (ack,) = h.take()
    h.feed(ok)  # retransmitted 2xx: same ACK, no second event
    assert h.take() == [ack] and h.pop_events() == []
    h.advance(h.now + 40.0)  # Timer M over: the 2xx no longer matches a transaction
    h.take()
    h.feed(ok)
    assert h.take() == [ack] and h.pop_events() == []


def test_our_offerless_reinvite_needs_send_ack() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.send_request(dialog_id, "INVITE")
    invite = h.take_one()
    assert isinstance(invite, Request)
    h.feed(answer_bytes(invite, 200, to_tag="ph1", body=SDP))
    assert len(h.pop_events()) == 1 and h.take() == []  # the TU answers in the ACK
    h.ep.send_ack(
        dialog_id, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER, now=h.now
    )
    h._drain()
    ack = h.take_one()
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.body == SDP_ANSWER
    with pytest.raises(LocalProtocolError):
        h.ep.send_ack(dialog_id, now=h.now)


def test_our_reinvite_rejected_is_acked_by_the_transaction() -> None:
    h = Harness()
    dialog_id = establish(h)
    tx = h.send_request(
        dialog_id, "INVITE", headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    invite = h.take_one()
    assert isinstance(invite, Request)
    h.feed(answer_bytes(invite, 488, to_tag="ph1"))
    event = h.pop_one(ResponseReceived)
    assert isinstance(event, ResponseReceived) and event.transaction_id == tx
    ack = h.take_one()
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via.branch == invite.top_via.branch  # hop-by-hop ACK, same transaction
    # The dialog is free for a new offer.
    h.send_request(
        dialog_id, "UPDATE", headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )


def test_update_and_info() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Supported", "timer")])
    h.feed(
        sip_request(
            "UPDATE",
            branch="z9hG4bKup1",
            cseq=2,
            to_tag=dialog_id.local_tag,
            body=SDP_HOLD,
            headers=[("Supported", "timer")],
        )
    )
    update = h.pop_one(IncomingUpdate)
    assert isinstance(update, IncomingUpdate) and update.dialog_id == dialog_id
    assert h.take() == []  # no 100 for non-INVITE
    h.respond(
        update.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    ok = only(h.take_one(), 200)
    assert ok.headers.get("Contact") == "<sip:198.51.100.1:5060>"
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    h.feed(
        sip_request(
            "INFO",
            branch="z9hG4bKinfo1",
            cseq=3,
            to_tag=dialog_id.local_tag,
            content_type="application/dtmf-relay",
            body=b"Signal=5\r\nDuration=160\r\n",
        )
    )
    info = h.pop_one(IncomingInfo)
    assert isinstance(info, IncomingInfo) and info.request.body == b"Signal=5\r\nDuration=160\r\n"
    h.respond(info.transaction_id, 200)
    only(h.take_one(), 200)


def test_lower_cseq_is_refused_with_500() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(sip_request("INFO", branch="z9hG4bKinfo1", cseq=5, to_tag=dialog_id.local_tag))
    h.pop_events()
    h.feed(sip_request("INFO", branch="z9hG4bKinfo2", cseq=4, to_tag=dialog_id.local_tag))
    only(h.take_one(), 500)
    assert h.pop_events() == []


def test_record_route_makes_the_route_set() -> None:
    h = Harness()
    rr = [
        ("Record-Route", "<sip:edge2.example.net;lr>"),
        ("Record-Route", "<sip:edge1.example.net:5070;lr>"),
    ]
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", headers=rr, body=SDP))
    event = h.pop_one(IncomingInvite)
    dialog_id = h.respond(
        event.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    assert dialog_id is not None
    ok = only(h.take_msgs()[-1], 200)
    assert ok.headers.get_all("Record-Route") == [
        "<sip:edge2.example.net;lr>",
        "<sip:edge1.example.net:5070;lr>",
    ]
    dialog = h.ep.dialog(dialog_id)
    assert dialog is not None
    assert dialog.route_set == ("<sip:edge2.example.net;lr>", "<sip:edge1.example.net:5070;lr>")
    h.send_request(dialog_id, "BYE")
    (out,) = h.take()
    assert out.addr == ("edge2.example.net", 5060)  # first route, the I/O layer resolves it
    bye = parse_message(out.data)
    assert isinstance(bye, Request)
    assert bye.uri == "sip:alice@192.0.2.10:5060"
    assert bye.headers.get_all("Route") == [
        "<sip:edge2.example.net;lr>",
        "<sip:edge1.example.net:5070;lr>",
    ]


def test_strict_route() -> None:
    h = Harness()
    h.feed(
        sip_request(
            "INVITE",
            branch="z9hG4bKinv1",
            headers=[("Record-Route", "<sip:old.example.net>")],
            body=SDP,
        )
    )
    event = h.pop_one(IncomingInvite)
    dialog_id = h.respond(
        event.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    assert dialog_id is not None
    h.take()
    h.send_request(dialog_id, "BYE")
    (out,) = h.take()
    bye = parse_message(out.data)
    assert isinstance(bye, Request)
    assert bye.uri == "sip:old.example.net"
    assert bye.headers.get_all("Route") == ["<sip:alice@192.0.2.10:5060>"]
    assert out.addr == ("old.example.net", 5060)


# --- what the endpoint answers itself ---------------------------------------------------


def test_in_dialog_request_for_unknown_dialog_gets_481() -> None:
    h = Harness()
    h.feed(sip_request("BYE", branch="z9hG4bKbye1", cseq=2, to_tag="nosuch"))
    only(h.take_one(), 481)
    h.feed(sip_request("BYE", branch="z9hG4bKbye2", cseq=2))  # no To tag at all
    only(h.take_one(), 481)
    assert h.pop_events() == []


def test_unsupported_methods() -> None:
    h = Harness()
    h.feed(sip_request("REGISTER", branch="z9hG4bKreg1"))
    rejected = only(h.take_one(), 405)
    assert rejected.headers.get("Allow") == "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"
    h.feed(sip_request("FROBNICATE", branch="z9hG4bKfrob"))
    unknown = only(h.take_one(), 501)  # RFC 3261 §8.2.1: a method we do not know
    assert unknown.headers.get("Allow") is not None
    restricted = Harness(
        EndpointConfig(
            host="198.51.100.1", port=5060, domain="d", allow=("INVITE", "ACK", "BYE", "CANCEL")
        )
    )
    restricted.feed(sip_request("OPTIONS", branch="z9hG4bKopt"))
    assert only(restricted.take_one(), 405).headers.get("Allow") == "INVITE, ACK, BYE, CANCEL"


def test_require_unknown_extension_gets_420() -> None:
    h = Harness()
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKinv1", body=SDP, headers=[("Require", "100rel, timer")]
        )
    )
    bad = only(h.take_one(), 420)
    assert bad.headers.get("Unsupported") == "100rel"
    assert h.pop_events() == []


def test_unknown_body_type_gets_415() -> None:
    h = Harness()
    data = sip_request(
        "INVITE", branch="z9hG4bKinv1", body=b"<xml/>", content_type="application/x-foo"
    )
    h.feed(data)
    bad = only(h.take_one(), 415)
    assert bad.headers.get("Accept") == "application/sdp, application/dtmf-relay, application/dtmf"


def test_merged_request_gets_482() -> None:
    h = Harness()
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP))
    h.take()
    h.feed(
        sip_request("INVITE", branch="z9hG4bKforked", body=SDP, via="SIP/2.0/UDP 192.0.2.11:5060")
    )
    only(h.take_one(), 482)
    assert len(h.pop_events()) == 1


def test_options() -> None:
    h = Harness()
    h.feed(sip_request("OPTIONS", branch="z9hG4bKopt1", uri="sip:sip.example.com"))
    ok = only(h.take_one(), 200)
    assert ok.headers.get("Allow") == "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"
    assert ok.headers.get("Accept") == "application/sdp, application/dtmf-relay, application/dtmf"
    assert ok.headers.get("Supported") == "timer"
    assert ok.to.tag is not None and ok.body == b""
    assert h.pop_events() == []


def test_validation_failure_is_answered() -> None:
    h = Harness()
    data = sip_request("INVITE", branch="z9hG4bKinv1", body=SDP).replace(
        b"CSeq: 1 INVITE", b"CSeq: 1 BYE"
    )
    h.feed(data)
    only(h.take_one(), 400)
    assert h.pop_events() == []


def test_invite_without_contact_targets_from() -> None:
    # RFC 2543 peers may omit Contact: in-dialog requests go to the From address.
    h = Harness()
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP, contact=False))
    event = h.pop_one(IncomingInvite)
    dialog_id = h.respond(
        event.transaction_id, 200, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    assert dialog_id is not None
    dialog = h.ep.dialog(dialog_id)
    assert dialog is not None and dialog.remote_target == "sip:+15551230000@192.0.2.10"


def test_stray_ack_and_response_are_ignored() -> None:
    h = Harness()
    h.feed(sip_request("ACK", branch="z9hG4bKstray", to_tag="x", contact=False))
    h.feed(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKnotours\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert h.take() == [] and h.pop_events() == []


def test_malformed_datagrams() -> None:
    h = Harness()
    h.feed(b"\r\n\r\n")  # keep-alive
    h.feed(b"\x00\xffgarbage")
    h.feed(b"SIP/2.0 999 Nope\r\n\r\n")
    assert h.take() == []
    # A request whose CSeq is unreadable: 400 addressed from what could be read.
    bad = sip_request("OPTIONS", branch="z9hG4bKopt1").replace(
        b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS"
    )
    h.feed(bad)
    reply = only(h.take_one(), 400)
    assert reply.headers.get("Call-ID") == "call-1@192.0.2.10"
    assert h.pop_events() == []


def test_reject_malformed_uses_partial_request() -> None:
    h = Harness(source=Source("TCP", ("192.0.2.10", 40001), connection_id=3))
    partial = Request(
        method="INVITE",
        uri=ROOM_URI,
        headers=Headers(
            [
                ("Via", "SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKbad"),
                ("From", "<sip:a@192.0.2.10>;tag=1"),
                ("To", f"<{ROOM_URI}>"),
                ("Call-ID", "bad-1"),
                ("CSeq", "1 INVITE"),
            ]
        ),
    )
    exc = SipParseError("Content-Length larger than the body")
    exc.partial = partial
    h.ep.reject_malformed(exc, h.source, 0.0)
    h._drain()
    (out,) = h.take()
    assert out.connection_id == 3 and out.transport == "TCP"
    reply = only(parse_message(out.data), 400)
    warning = reply.headers.get("Warning")
    assert warning is not None and "Content-Length larger than the body" in warning
    assert reply.to.tag is not None
    # Nothing can be addressed without a partial request, or for an ACK.
    h.ep.reject_malformed(SipParseError("junk"), h.source, 0.0)
    partial.method = "ACK"
    h.ep.reject_malformed(exc, h.source, 0.0)
    assert h.ep.pending_output() == []


# --- session timers (RFC 4028) -----------------------------------------------------------


def test_session_interval_too_small_gets_422() -> None:
    h = Harness()
    h.feed(
        sip_request(
            "INVITE",
            branch="z9hG4bKinv1",
            body=SDP,
            headers=[("Supported", "timer"), ("Session-Expires", "60")],
        )
    )
    bad = only(h.take_one(), 422)
    assert bad.headers.get("Min-SE") == "90"
    assert h.pop_events() == []


def test_session_expires_without_refresh() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Supported", "timer"), ("Session-Expires", "120")])
    ok = first_sent(h, 200)
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    assert ok.headers.get("Require") == "timer"
    dialog = h.ep.dialog(dialog_id)
    assert dialog is not None and dialog.session is not None
    assert dialog.session.interval_s == 120 and not dialog.session.local_refresher
    h.advance(87.9)  # 120 - min(32, 120/3)
    assert h.pop_events() == []
    h.advance(88.0)
    assert h.pop_events() == [SessionExpired(dialog_id)]


def test_session_refresh_rearms() -> None:
    h = Harness()
    dialog_id = establish(
        h, headers=[("Supported", "timer"), ("Session-Expires", "120;refresher=uac")]
    )
    h.advance(60.0)
    h.feed(
        sip_request(
            "UPDATE",
            branch="z9hG4bKup1",
            cseq=2,
            to_tag=dialog_id.local_tag,
            headers=[("Supported", "timer"), ("Session-Expires", "120;refresher=uac")],
        )
    )
    update = h.pop_one(IncomingUpdate)
    assert isinstance(update, IncomingUpdate)
    h.respond(update.transaction_id, 200)
    h.advance(100.0)
    assert h.pop_events() == []  # re-armed at 60: expires at 148
    h.advance(148.0)
    assert h.pop_events() == [SessionExpired(dialog_id)]


def test_we_refresh_when_the_phone_has_no_timer_support() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")])
    ok = first_sent(h, 200)
    assert ok.headers.get("Session-Expires") == "1800;refresher=uas"
    assert "Require" not in ok.headers
    h.take()
    h.advance(899.0)
    assert h.take() == []
    h.advance(900.0)  # half the interval
    update = h.take_one()
    assert isinstance(update, Request) and update.method == "UPDATE" and update.body == b""
    assert update.headers.get("Session-Expires") == "1800;refresher=uac"
    h.feed(answer_bytes(update, 200, to_tag="ph1"))
    assert h.pop_events() == []  # our own refresh: no event for the TU
    dialog = h.ep.dialog(dialog_id)
    assert dialog is not None and dialog.session is not None
    assert dialog.session.refreshed_at == 900.0 and dialog.session.local_refresher
    h.advance(1800.0)
    update2 = h.take_one()
    assert isinstance(update2, Request) and update2.method == "UPDATE"
    assert update2.cseq.seq == update.cseq.seq + 1


def test_refresh_by_reinvite_repeats_our_sdp() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Allow", "INVITE, ACK, BYE")])
    h.take()
    h.advance(900.0)
    invite = h.take_one()
    assert isinstance(invite, Request) and invite.method == "INVITE" and invite.body == SDP_ANSWER
    h.feed(
        answer_bytes(
            invite,
            200,
            to_tag="ph1",
            body=SDP,
            headers=[("Contact", "<sip:alice@192.0.2.10:5060>")],
        )
    )
    ack = h.take_one()
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert h.pop_events() == []
    # A refresh that finds the dialog gone ends the session at once.
    h.advance(1800.0)
    again = h.take_one()
    assert isinstance(again, Request)
    h.feed(answer_bytes(again, 481, to_tag="ph1"))
    assert h.pop_events() == [SessionExpired(dialog_id)]


# --- transports and addressing ---------------------------------------------------------


def test_tcp_responses_and_requests_use_the_connection() -> None:
    source = Source("TCP", ("192.0.2.10", 40001), connection_id=9)
    h = Harness(source=source)
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP, via="SIP/2.0/TCP 192.0.2.10:5060"))
    (trying,) = h.take()
    assert (trying.transport, trying.addr, trying.connection_id) == (
        "TCP",
        ("192.0.2.10", 40001),
        9,
    )
    event = h.pop_one(IncomingInvite)
    dialog_id = h.respond(
        event.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    assert dialog_id is not None
    (ok_out,) = h.take()
    assert ok_out.connection_id == 9
    assert (
        only(parse_message(ok_out.data), 200).headers.get("Contact")
        == "<sip:198.51.100.1:5060;transport=tcp>"
    )
    h.feed(
        sip_request(
            "ACK",
            branch="z9hG4bKack1",
            to_tag=dialog_id.local_tag,
            via="SIP/2.0/TCP 192.0.2.10:5060",
            contact=False,
        )
    )
    h.pop_events()
    h.send_request(dialog_id, "BYE")
    (bye_out,) = h.take()
    assert (bye_out.transport, bye_out.addr, bye_out.connection_id) == (
        "TCP",
        ("192.0.2.10", 40001),
        9,
    )
    bye = parse_message(bye_out.data)
    assert isinstance(bye, Request) and bye.top_via.transport == "TCP"
    h.advance(h.now + 10.0)
    assert h.take() == []  # no Timer E over TCP


def test_rport_and_received() -> None:
    strict = dataclasses.replace(CONFIG, symmetric_responses=False)
    h = Harness(strict, source=Source("UDP", ("203.0.113.7", 61000)))
    h.feed(sip_request("OPTIONS", branch="z9hG4bKopt1", via="SIP/2.0/UDP 10.0.0.5:5060;rport"))
    (out,) = h.take()
    assert out.addr == ("203.0.113.7", 61000)  # rport: back to where it came from
    via = only(parse_message(out.data), 200).top_via
    assert via.params["rport"] == "61000" and via.params["received"] == "203.0.113.7"
    # Without rport: received= added, sent to the source IP and the Via port.
    h.feed(sip_request("OPTIONS", branch="z9hG4bKopt2", cseq=2, via="SIP/2.0/UDP 10.0.0.5:5080"))
    (out,) = h.take()
    assert out.addr == ("203.0.113.7", 5080)
    via = only(parse_message(out.data), 200).top_via
    assert via.params["received"] == "203.0.113.7" and "rport" not in via.params
    # Via host equal to the source and no rport: nothing added, default port 5060.
    h2 = Harness(strict)
    h2.feed(sip_request("OPTIONS", branch="z9hG4bKopt3", via="SIP/2.0/UDP 192.0.2.10"))
    (out,) = h2.take()
    assert out.addr == ("192.0.2.10", 5060)
    assert only(parse_message(out.data), 200).top_via.params == {"branch": "z9hG4bKopt3"}


def test_symmetric_responses_go_to_the_source_without_rport() -> None:
    h = Harness(source=Source("UDP", ("203.0.113.7", 61000)))
    h.feed(sip_request("OPTIONS", branch="z9hG4bKopt4", via="SIP/2.0/UDP 10.0.0.5:5080"))
    (out,) = h.take()
    assert out.addr == ("203.0.113.7", 61000)
    assert only(parse_message(out.data), 200).top_via.params["received"] == "203.0.113.7"


def test_phone_behind_nat_gets_requests_at_its_public_address() -> None:
    h = Harness(source=Source("UDP", ("203.0.113.7", 61000)))
    h.feed(
        sip_request(
            "INVITE",
            branch="z9hG4bKinv1",
            body=SDP,
            contact=False,
            via="SIP/2.0/UDP 10.0.0.5:5060;rport",
            headers=[("Contact", "<sip:alice@10.0.0.5:5060>")],
        )
    )
    event = h.pop_one(IncomingInvite)
    dialog_id = h.respond(
        event.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    assert dialog_id is not None
    h.take()
    h.send_request(dialog_id, "BYE")
    (out,) = h.take()
    assert out.addr == ("203.0.113.7", 61000)
    bye = parse_message(out.data)
    assert isinstance(bye, Request) and bye.uri == "sip:alice@10.0.0.5:5060"


def test_rfc2543_peer_without_magic_cookie() -> None:
    h = Harness()
    invite = sip_request("INVITE", branch="1", body=SDP)
    h.feed(invite)
    only(h.take_one(), 100)
    event = h.pop_one(IncomingInvite)
    h.feed(invite)  # matched by the RFC 2543 rules: a retransmission
    only(h.take_one(), 100)
    h.respond(event.transaction_id, 486)
    busy = only(h.take_one(), 486)
    h.feed(sip_request("ACK", branch="1", to_tag=busy.to.tag, contact=False))
    assert h.pop_events() == []
    h.advance(10.0)
    assert h.take() == []  # the ACK matched: no more 486 retransmissions


# --- housekeeping and scale ------------------------------------------------------------


def test_terminate_forgets_a_dialog() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Supported", "timer")])
    h.ep.terminate(dialog_id)
    assert h.ep.dialog(dialog_id) is None and h.ep.dialog_count == 0
    h.advance(4000.0)
    assert h.pop_events() == []  # its session timer went with it
    h.ep.terminate(dialog_id)  # twice is harmless


def test_respond_misuse() -> None:
    h = Harness()
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP))
    event = h.pop_one(IncomingInvite)
    with pytest.raises(LocalProtocolError):
        h.respond(event.transaction_id, 99)
    assert h.respond("nosuch", 200) is None
    dialog_id = h.respond(
        event.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    assert dialog_id is not None
    tx = h.send_request(dialog_id, "INFO")
    with pytest.raises(LocalProtocolError):
        h.respond(tx, 200)
    with pytest.raises(LocalProtocolError):
        h.send_request(dialog_id, "ACK")


def test_many_calls_leave_nothing_behind() -> None:
    h = Harness()
    for n in range(300):
        call_id = f"call-{n}"
        h.feed(sip_request("INVITE", branch=f"z9hG4bKi{n}", call_id=call_id, body=SDP))
        event = h.pop_one(IncomingInvite)
        assert isinstance(event, IncomingInvite)
        dialog_id = h.respond(
            event.transaction_id,
            200,
            body=SDP_ANSWER,
            headers=[("Content-Type", "application/sdp")],
        )
        assert dialog_id is not None
        h.feed(
            sip_request(
                "ACK",
                branch=f"z9hG4bKa{n}",
                call_id=call_id,
                to_tag=dialog_id.local_tag,
                contact=False,
            )
        )
        h.feed(
            sip_request(
                "BYE", branch=f"z9hG4bKb{n}", call_id=call_id, cseq=2, to_tag=dialog_id.local_tag
            )
        )
        assert [type(e) for e in h.pop_events()] == [AckReceived, ByeReceived]
    assert h.ep.dialog_count == 0
    h.advance(100.0)
    assert h.ep.transaction_count == 0 and h.ep.next_deadline() is None


# --- RFC 4475 torture messages through the whole endpoint --------------------------------

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "rfc4475"
TORTURE: list[dict[str, Any]] = (
    json.loads((VECTORS / "manifest.json").read_text())["tests"] if VECTORS.is_dir() else []
)


def _outcome_allowed(finals: list[int], processed: bool, tokens: list[str], method: str) -> bool:
    """The manifest's grading: final statuses sent ('drop' when none)."""
    for token in tokens:
        if token == "any":
            return True
        if not finals:
            if processed and (token == "not-400" or (token == "200" and method == "OPTIONS")):
                return True  # handed to the TU, which answers (challenge, 404 ...)
            if not processed and token in ("drop", "any-non-2xx"):
                return True
            continue
        (status,) = finals
        if token == "not-400" and status != 400:
            return True
        if token == "any-non-2xx" and not 200 <= status < 300:
            return True
        if token.endswith("xx") and token[0].isdigit() and status // 100 == int(token[0]):
            return True
        if token.isdigit() and status == int(token):
            return True
    return False


@pytest.mark.skipif(not TORTURE, reason="shared RFC 4475 vectors not present")
@pytest.mark.parametrize("case", TORTURE, ids=[t["file"] for t in TORTURE])
def test_rfc4475_torture_outcome(case: dict[str, Any]) -> None:
    h = Harness()
    data = (VECTORS / case["file"]).read_bytes()
    h.feed(data)
    finals = [m.status for m in h.take_msgs() if isinstance(m, Response) and m.status >= 200]
    processed = bool(h.pop_events())
    method = data.split(b" ", 1)[0].decode("utf-8", "replace")
    assert len(finals) <= 1
    assert _outcome_allowed(finals, processed, case["pass"], method), (finals, processed)
    # Whatever it was, the endpoint still answers OPTIONS afterwards.
    h.feed(sip_request("OPTIONS", branch="z9hG4bKafter", call_id="after-torture"))
    only(h.take_msgs()[-1], 200)


# --- fuzzing: peer input never breaks the endpoint ---------------------------------------

_SEEDS = [
    sip_request("INVITE", branch="z9hG4bKf1", body=SDP, headers=[("Session-Expires", "120")]),
    sip_request("ACK", branch="z9hG4bKf2", to_tag="0000000000000001", contact=False),
    sip_request("BYE", branch="z9hG4bKf3", cseq=2, to_tag="0000000000000001"),
    sip_request("CANCEL", branch="z9hG4bKf1", contact=False),
    sip_request("UPDATE", branch="z9hG4bKf4", cseq=3, to_tag="0000000000000001", body=SDP),
    sip_request("OPTIONS", branch="z9hG4bKf5", via="SIP/2.0/UDP 10.0.0.1;rport"),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK0000000000000000000002\r\n"
    b"From: <sip:room-1@sip.example.com>;tag=0000000000000001\r\nTo: <sip:a@b>;tag=ph1\r\n"
    b"Call-ID: call-1@192.0.2.10\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 40))]
        else:
            data[pos:pos] = draw(
                st.sampled_from(
                    [b";", b",", b"\r\n", b" ", b"<", b"\x00", b"9" * 12, b"tag=", b'"', b"z9hG4bK"]
                )
            )
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_mutated(), st.floats(0, 40)), min_size=1, max_size=8))
def test_fuzzed_input_never_raises(steps: list[tuple[bytes, float]]) -> None:
    h = Harness()
    for data, delay in steps:
        h.feed(data)
        for event in h.pop_events():
            if isinstance(event, IncomingInvite):
                h.respond(
                    event.transaction_id,
                    200,
                    body=SDP_ANSWER,
                    headers=[("Content-Type", "application/sdp")],
                )
        h.advance(h.now + delay)
    for out in h.take():
        if out.data.startswith(b"SIP/2.0 400 "):
            continue  # a 400 echoes the broken header fields it is about
        parse_message(out.data)  # everything else we send is well formed


# --- races ---------------------------------------------------------------------------------


def test_bye_while_reinvite_pending_gets_487() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    reinvite = h.pop_one(IncomingReinvite)
    h.take()
    h.feed(sip_request("BYE", branch="z9hG4bKbye1", cseq=3, to_tag=dialog_id.local_tag))
    ok, terminated = h.take_msgs()
    assert only(ok, 200).cseq.method == "BYE"
    assert only(terminated, 487).cseq.method == "INVITE"
    assert [type(e) for e in h.pop_events()] == [ByeReceived]
    assert h.respond(reinvite.transaction_id, 200, body=SDP_ANSWER) is None  # too late
    assert h.take() == []


def test_cancel_of_a_reinvite_keeps_the_dialog() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    reinvite = h.pop_one(IncomingReinvite)
    h.take()
    h.feed(
        sip_request(
            "CANCEL", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, contact=False
        )
    )
    ok, terminated = h.take_msgs()
    only(ok, 200)
    assert only(terminated, 487).to.tag == dialog_id.local_tag
    assert h.pop_events() == [InviteCancelled(reinvite.transaction_id)]
    assert h.ep.dialog(dialog_id) is not None
    # The exchange is over: a new re-INVITE is welcome.
    h.feed(sip_request("INVITE", branch="z9hG4bKre2", cseq=3, to_tag=dialog_id.local_tag, body=SDP))
    h.pop_one(IncomingReinvite)


def test_update_glare_gets_491() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.send_request(
        dialog_id, "UPDATE", headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
    )
    h.take()
    h.feed(
        sip_request(
            "UPDATE", branch="z9hG4bKup1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    only(h.take_one(), 491)
    # An UPDATE without an offer (a session refresh) is no glare.
    h.feed(sip_request("UPDATE", branch="z9hG4bKup2", cseq=3, to_tag=dialog_id.local_tag))
    h.pop_one(IncomingUpdate)


def test_crossing_byes() -> None:
    h = Harness()
    dialog_id = establish(h)
    tx = h.send_request(dialog_id, "BYE")
    ours = h.take_one()
    assert isinstance(ours, Request)
    h.feed(sip_request("BYE", branch="z9hG4bKbye1", cseq=2, to_tag=dialog_id.local_tag))
    only(h.take_one(), 200)
    assert [type(e) for e in h.pop_events()] == [ByeReceived]
    h.feed(answer_bytes(ours, 481, to_tag="ph1"))
    (event,) = h.pop_events()
    assert isinstance(event, ResponseReceived) and event.transaction_id == tx
    assert event.response.status == 481
    assert h.ep.dialog_count == 0


def test_reinvite_rejection_without_ack_times_out_with_dialog_id() -> None:
    h = Harness()
    dialog_id = establish(h)
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    reinvite = h.pop_one(IncomingReinvite)
    h.respond(reinvite.transaction_id, 488)
    h.advance(h.now + 33.0)
    assert h.pop_events() == [TransactionTimedOut(reinvite.transaction_id, dialog_id)]
    assert h.ep.dialog(dialog_id) is not None


def test_2xx_is_retransmitted_over_tcp_too() -> None:
    # RFC 3261 §13.3.1.4 makes no exception for reliable transports (a proxy may be
    # forwarding over UDP behind the connection).
    source = Source("TCP", ("192.0.2.10", 40001), connection_id=9)
    h = Harness(source=source)
    h.feed(sip_request("INVITE", branch="z9hG4bKinv1", body=SDP, via="SIP/2.0/TCP 192.0.2.10:5060"))
    event = h.pop_one(IncomingInvite)
    h.respond(
        event.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    h.take()
    h.advance(0.5)
    (again,) = h.take()
    assert again.connection_id == 9 and only(parse_message(again.data), 200)


def test_refresh_waits_for_a_pending_exchange() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Allow", "INVITE, ACK, BYE, UPDATE")])
    h.advance(899.0)
    h.feed(
        sip_request(
            "INVITE", branch="z9hG4bKre1", cseq=2, to_tag=dialog_id.local_tag, body=SDP_HOLD
        )
    )
    reinvite = h.pop_one(IncomingReinvite)
    h.take()
    h.advance(900.0)
    assert h.take() == []  # an exchange is pending: the refresh waits
    h.respond(
        reinvite.transaction_id, 200, body=SDP_ANSWER, headers=[("Content-Type", "application/sdp")]
    )
    h.feed(
        sip_request("ACK", branch="z9hG4bKack2", cseq=2, to_tag=dialog_id.local_tag, contact=False)
    )
    h.take()
    h.pop_events()
    # The peer's re-INVITE (without timer support) refreshed the session: next refresh
    # is half an interval after it.
    h.advance(900.0 + 899.0)
    assert h.take() == []
    h.advance(900.0 + 900.0)
    update = h.take_one()
    assert isinstance(update, Request) and update.method == "UPDATE"


def test_refresh_rejected_is_retried_then_expires() -> None:
    h = Harness()
    dialog_id = establish(h, headers=[("Allow", "INVITE, ACK, BYE, UPDATE")])
    h.take()
    h.advance(900.0)
    update = h.take_one()
    assert isinstance(update, Request)
    h.feed(answer_bytes(update, 500, to_tag="ph1", headers=[("Retry-After", "5")]))
    assert h.pop_events() == []
    # Retried half-way to the expiry (1768): at 1334.
    h.advance(1333.9)
    assert h.take() == []
    h.advance(1334.0)
    retry = h.take_one()
    assert isinstance(retry, Request) and retry.method == "UPDATE"
    h.advance(1768.0)  # nobody answers: Timer F first, then the session ends
    assert SessionExpired(dialog_id) in h.pop_events()


def test_branch_reused_by_another_call_is_not_a_retransmission() -> None:
    h = Harness()
    h.feed(sip_request("OPTIONS", branch="z9hG4bKsame", call_id="first@192.0.2.10"))
    h.feed(sip_request("OPTIONS", branch="z9hG4bKsame", call_id="second@192.0.2.10"))
    call_ids = [parse_message(out.data).call_id for out in h.take()]
    assert call_ids == ["first@192.0.2.10", "second@192.0.2.10"]
