"""RFC 3261 §17 transaction machines (with RFC 6026), stepped on a virtual clock."""

from __future__ import annotations

import pytest

from sipmeet.sip.events import Outgoing, TransactionId
from sipmeet.sip.message import Request, Response
from sipmeet.sip.parser import parse_message
from sipmeet.sip.timers import Timer, TimerConfig, TimerKey, TimerQueue
from sipmeet.sip.transaction import (
    CLIENT_INVITE,
    CLIENT_NON_INVITE,
    SERVER_INVITE,
    SERVER_NON_INVITE,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Destination,
    Effect,
    PassToTU,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
    Terminated,
    TimedOut,
    Transaction,
    TransitionTable,
    build_ack_for_non2xx,
    build_response,
    client_key,
    server_key,
)

CONFIG = TimerConfig(t1_s=0.5, t2_s=4.0, t4_s=5.0)
UDP = Destination("UDP", ("192.0.2.10", 5060))
TCP = Destination("TCP", ("192.0.2.10", 40000), connection_id=7)


def request(
    method: str = "INVITE", branch: str = "z9hG4bKc1", *, to_tag: str = "", cseq: int = 1
) -> Request:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n"
        "Route: <sip:proxy.example.com;lr>\r\n"
        "Max-Forwards: 70\r\n"
        "From: Alice <sip:alice@example.com>;tag=a1\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1@192.0.2.10\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@192.0.2.10>\r\n"
        "\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def response_to(req: Request, status: int, to_tag: str | None = "b1") -> Response:
    return build_response(req, status, to_tag=to_tag if status > 100 else None)


class Clock:
    """A virtual clock driving one transaction's timers."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: TimerQueue[TimerKey] = TimerQueue()
        self.effects: list[tuple[float, Effect]] = []

    def record(self, effects: list[Effect]) -> list[Effect]:
        self.effects += [(self.now, e) for e in effects]
        return effects

    def advance(self, until: float) -> None:
        """Fire every timer due up to ``until``, in order."""
        while True:
            deadline = self.timers.next_deadline()
            if deadline is None or deadline > until:
                break
            self.now = deadline
            key = self.timers.pop_due(self.now)
            assert key is not None
            owner, timer = key
            assert isinstance(owner, Transaction) and isinstance(timer, Timer)
            self.record(owner.timer_fired(timer, self.now))
        self.now = until

    def sent_at(self) -> list[float]:
        return [t for t, e in self.effects if isinstance(e, Outgoing)]

    def of_type(self, kind: type) -> list[Effect]:
        return [e for _, e in self.effects if isinstance(e, kind)]


def state(tx: Transaction) -> State:
    """The state now (a call, so that type narrowing does not carry across steps)."""
    return tx.state


def tid(name: str = "t1") -> TransactionId:
    return TransactionId(name)


# --- transition tables ---------------------------------------------------------------


@pytest.mark.parametrize(
    "table", [SERVER_INVITE, SERVER_NON_INVITE, CLIENT_INVITE, CLIENT_NON_INVITE]
)
def test_tables_never_leave_terminated(table: TransitionTable) -> None:
    assert all(state is not State.TERMINATED for state, _ in table)
    # Every state that is entered can be left again (no dead ends but Terminated).
    entered = {target for target, _ in table.values()}
    sources = {state for state, _ in table}
    assert entered - sources <= {State.TERMINATED}


# --- client non-INVITE ---------------------------------------------------------------


def test_client_non_invite_timer_e_backs_off_to_t2_then_f_times_out() -> None:
    clock = Clock()
    tx = ClientNonInviteTransaction(tid(), request("BYE"), UDP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    clock.advance(40.0)
    # E: 0.5, 1, 2, 4, 4, ... after each send; F at 64*T1 = 32 s.
    expected = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert clock.sent_at() == expected
    assert clock.of_type(TimedOut) == [TimedOut(Timer.F)]
    assert state(tx) is State.TERMINATED
    assert clock.effects[-1] == (32.0, Terminated())
    assert len(clock.timers) == 0


def test_client_non_invite_provisional_then_final() -> None:
    clock = Clock()
    req = request("BYE")
    tx = ClientNonInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    clock.advance(0.2)
    assert clock.record(tx.receive_response(response_to(req, 100), 0.2)) == [
        PassToTU(response_to(req, 100))
    ]
    assert state(tx) is State.PROCEEDING
    clock.advance(10.0)
    # In Proceeding the retransmit interval is T2 (after the one already armed at 0.5).
    assert clock.sent_at() == [0.0, 0.5, 4.5, 8.5]
    ok = response_to(req, 200)
    effects = clock.record(tx.receive_response(ok, 10.0))
    assert effects == [PassToTU(ok)]
    assert state(tx) is State.COMPLETED
    assert tx.receive_response(ok, 11.0) == []  # retransmission absorbed
    clock.advance(14.9)
    assert state(tx) is State.COMPLETED
    clock.advance(15.0)  # Timer K = T4
    assert state(tx) is State.TERMINATED
    assert len(clock.timers) == 0


def test_client_non_invite_over_tcp_has_no_retransmissions() -> None:
    clock = Clock()
    req = request("INFO")
    tx = ClientNonInviteTransaction(tid(), req, TCP, CONFIG, clock.timers)
    sent = clock.record(tx.start(0.0))
    assert sent == [Outgoing("TCP", ("192.0.2.10", 40000), req.serialize(), 7)]
    clock.advance(10.0)
    assert clock.sent_at() == [0.0]
    ok = response_to(req, 200)
    # Timer K is zero on reliable transports: terminated at once.
    assert tx.receive_response(ok, 10.0) == [PassToTU(ok), Terminated()]
    assert len(clock.timers) == 0


def test_client_non_invite_timeout_over_tcp() -> None:
    clock = Clock()
    tx = ClientNonInviteTransaction(tid(), request("BYE"), TCP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    clock.advance(31.9)
    assert state(tx) is State.TRYING
    clock.advance(32.0)
    assert clock.of_type(TimedOut) == [TimedOut(Timer.F)]


# --- client INVITE -------------------------------------------------------------------


def test_client_invite_timer_a_doubles_and_b_times_out() -> None:
    clock = Clock()
    tx = ClientInviteTransaction(tid(), request(), UDP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    clock.advance(40.0)
    assert clock.sent_at() == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert clock.of_type(TimedOut) == [TimedOut(Timer.B)]
    assert state(tx) is State.TERMINATED


def test_client_invite_failure_is_acked_and_absorbed() -> None:
    clock = Clock()
    req = request()
    tx = ClientInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    ringing = response_to(req, 180)
    clock.now = 0.1
    assert clock.record(tx.receive_response(ringing, 0.1)) == [PassToTU(ringing)]
    assert state(tx) is State.PROCEEDING
    clock.advance(5.0)
    assert clock.sent_at() == [0.0]  # no retransmission once a provisional arrived
    busy = response_to(req, 486)
    effects = clock.record(tx.receive_response(busy, 5.0))
    assert effects[0] == PassToTU(busy)
    ack = effects[1]
    assert isinstance(ack, Outgoing)
    parsed = parse_message(ack.data)
    assert isinstance(parsed, Request)
    assert ack.data == build_ack_for_non2xx(req, busy).serialize()
    assert parsed.method == "ACK" and parsed.uri == req.uri
    assert parsed.cseq.seq == 1 and parsed.cseq.method == "ACK"
    assert parsed.top_via.branch == "z9hG4bKc1"
    assert parsed.to.tag == "b1"
    assert parsed.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    assert state(tx) is State.COMPLETED
    # A retransmitted 486 gets the same ACK again, not another pass to the TU.
    assert tx.receive_response(busy, 6.0) == [ack]
    clock.advance(36.9)
    assert state(tx) is State.COMPLETED
    clock.advance(37.0)  # Timer D: 32 s
    assert state(tx) is State.TERMINATED


def test_client_invite_2xx_enters_accepted_and_passes_retransmissions() -> None:
    clock = Clock()
    req = request()
    tx = ClientInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    ok = response_to(req, 200)
    assert tx.receive_response(ok, 0.2) == [PassToTU(ok)]
    assert state(tx) is State.ACCEPTED
    assert tx.receive_response(ok, 1.0) == [PassToTU(ok)]  # RFC 6026: the TU ACKs again
    assert tx.receive_response(response_to(req, 180), 1.0) == []
    clock.advance(32.1)
    assert state(tx) is State.ACCEPTED
    clock.advance(32.2)  # Timer M: 64*T1 after the 2xx
    assert state(tx) is State.TERMINATED
    assert clock.sent_at() == [0.0]  # Timer A stopped by the 2xx


def test_client_invite_over_tcp_completed_ends_at_once() -> None:
    clock = Clock()
    req = request()
    tx = ClientInviteTransaction(tid(), req, TCP, CONFIG, clock.timers)
    clock.record(tx.start(0.0))
    effects = tx.receive_response(response_to(req, 603), 1.0)
    assert [type(e) for e in effects] == [PassToTU, Outgoing, Terminated]


# --- server INVITE -------------------------------------------------------------------


def test_server_invite_retransmissions_and_ack() -> None:
    clock = Clock()
    req = request()
    tx = ServerInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    assert state(tx) is State.PROCEEDING
    assert tx.receive_request(req, 0.0) == []  # nothing sent yet, nothing to repeat
    trying = response_to(req, 100)
    sent = tx.send_response(trying, 0.0)
    assert sent == [UDP.packet(trying.serialize())]
    assert tx.receive_request(req, 0.3) == sent  # retransmitted INVITE: last provisional again
    busy = response_to(req, 486)
    clock.now = 1.0
    first = clock.record(tx.send_response(busy, 1.0))
    assert tx.final_sent and state(tx) is State.COMPLETED
    assert tx.receive_request(req, 1.2) == first
    assert tx.send_response(response_to(req, 500), 1.3) == []  # one final response only
    assert tx.last_response is busy
    clock.advance(6.0)
    # Timer G: 0.5, 1, 2, 4 (capped at T2).
    assert clock.sent_at() == [1.0, 1.5, 2.5, 4.5]
    ack = request("ACK")
    assert tx.receive_request(ack, 6.0) == []
    assert state(tx) is State.CONFIRMED
    clock.advance(10.9)
    assert clock.sent_at() == [1.0, 1.5, 2.5, 4.5]  # G stopped by the ACK
    assert tx.receive_request(req, 10.9) == []  # absorbed in Confirmed
    clock.advance(11.0)  # Timer I = T4
    assert state(tx) is State.TERMINATED
    assert len(clock.timers) == 0


def test_server_invite_timer_h_without_ack() -> None:
    clock = Clock()
    req = request()
    tx = ServerInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    clock.record(tx.send_response(response_to(req, 404), 0.0))
    clock.advance(40.0)
    assert clock.of_type(TimedOut) == [TimedOut(Timer.H)]
    assert state(tx) is State.TERMINATED
    assert clock.sent_at() == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


def test_server_invite_accepted_absorbs_and_ends_on_timer_l() -> None:
    clock = Clock()
    req = request()
    tx = ServerInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    ok = response_to(req, 200)
    assert tx.send_response(ok, 0.0) == [UDP.packet(ok.serialize())]
    assert state(tx) is State.ACCEPTED
    assert tx.receive_request(req, 1.0) == []  # RFC 6026: absorbed, the TU retransmits
    assert tx.send_response(ok, 1.0) == [UDP.packet(ok.serialize())]  # TU retransmission
    ack = request("ACK", branch="z9hG4bKc1")
    assert tx.receive_request(ack, 1.5) == [PassToTU(ack)]
    clock.advance(31.9)
    assert state(tx) is State.ACCEPTED
    clock.advance(32.0)
    assert state(tx) is State.TERMINATED


def test_server_invite_over_tcp_ack_ends_at_once() -> None:
    clock = Clock()
    req = request()
    tx = ServerInviteTransaction(tid(), req, TCP, CONFIG, clock.timers)
    clock.record(tx.send_response(response_to(req, 486), 0.0))
    clock.advance(20.0)
    assert clock.sent_at() == [0.0]  # no Timer G on TCP
    assert tx.receive_request(request("ACK"), 20.0) == [Terminated()]


# --- server non-INVITE ---------------------------------------------------------------


def test_server_non_invite() -> None:
    clock = Clock()
    req = request("BYE", to_tag="b1")
    tx = ServerNonInviteTransaction(tid(), req, UDP, CONFIG, clock.timers)
    assert state(tx) is State.TRYING
    assert tx.receive_request(req, 0.1) == []  # Trying: absorbed
    ok = response_to(req, 200)
    sent = tx.send_response(ok, 0.2)
    assert state(tx) is State.COMPLETED
    assert tx.receive_request(req, 1.0) == sent
    clock.advance(32.1)
    assert state(tx) is State.COMPLETED
    clock.advance(32.2)  # Timer J: 64*T1 after the final response
    assert state(tx) is State.TERMINATED


def test_server_non_invite_provisional_then_final_over_tcp() -> None:
    clock = Clock()
    req = request("INFO", to_tag="b1")
    tx = ServerNonInviteTransaction(tid(), req, TCP, CONFIG, clock.timers)
    trying = response_to(req, 100)
    sent = tx.send_response(trying, 0.0)
    assert state(tx) is State.PROCEEDING
    assert tx.receive_request(req, 0.1) == sent
    effects = tx.send_response(response_to(req, 200), 0.2)
    assert [type(e) for e in effects] == [Outgoing, Terminated]  # Timer J = 0 on TCP


def test_terminate_cancels_timers() -> None:
    clock = Clock()
    tx = ClientNonInviteTransaction(tid(), request("BYE"), UDP, CONFIG, clock.timers)
    tx.start(0.0)
    assert len(clock.timers) == 2
    tx.terminate()
    assert len(clock.timers) == 0 and tx.terminated


# --- matching ------------------------------------------------------------------------


def test_server_key_rfc3261() -> None:
    invite = request()
    key = server_key(invite, invite.top_via)
    assert key == server_key(request(), request().top_via)  # a retransmission
    ack = request("ACK")
    assert server_key(ack, ack.top_via) == key  # ACK for a non-2xx: same branch
    cancel = request("CANCEL")
    assert server_key(cancel, cancel.top_via) != key  # CANCEL is its own transaction
    assert server_key(cancel, cancel.top_via, method="INVITE") == key
    other = request(branch="z9hG4bKc2")
    assert server_key(other, other.top_via) != key


def test_server_key_sent_by_matters() -> None:
    a = request()
    b = parse_message(a.serialize().replace(b"192.0.2.10:5060;branch", b"192.0.2.11:5060;branch"))
    assert isinstance(b, Request)
    assert server_key(a, a.top_via) != server_key(b, b.top_via)


def test_server_key_rfc2543_fallback() -> None:
    invite = request(branch="oldstyle1")
    key = server_key(invite, invite.top_via)
    assert key[0] == "2543"
    assert server_key(request(branch="oldstyle1"), request(branch="oldstyle1").top_via) == key
    ack = request("ACK", branch="oldstyle1", to_tag="b1")
    assert server_key(ack, ack.top_via) == key  # same CSeq number, From tag, Via
    bye = request("BYE", branch="oldstyle1", cseq=2)
    assert server_key(bye, bye.top_via) != key
    later = request(branch="oldstyle1", cseq=2)
    assert server_key(later, later.top_via) != key


def test_client_key() -> None:
    assert client_key("z9hG4bKx", "INVITE") == client_key("z9hG4bKx", "ACK")
    assert client_key("z9hG4bKx", "INVITE") != client_key("z9hG4bKx", "CANCEL")


# --- responses -----------------------------------------------------------------------


def test_build_response_copies_and_tags() -> None:
    req = request()
    resp = build_response(req, 180, to_tag="xyz", headers=[("Contact", "<sip:us@198.51.100.1>")])
    assert resp.reason == "Ringing"
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.headers.get("From") == req.headers.get("From")
    assert resp.headers.get("Call-ID") == req.headers.get("Call-ID")
    assert resp.headers.get("CSeq") == req.headers.get("CSeq")
    assert resp.to.tag == "xyz"
    assert "Route" not in resp.headers and "Max-Forwards" not in resp.headers
    assert resp.headers.get("Contact") == "<sip:us@198.51.100.1>"
    tagged = request(to_tag="keep")
    assert build_response(tagged, 200, to_tag="xyz").to.tag == "keep"
    assert build_response(req, 299).reason == "OK"
    assert build_response(req, 488, "Codecs, please").reason == "Codecs, please"


# --- the deadline queue --------------------------------------------------------------


def test_timer_queue_orders_replaces_and_cancels() -> None:
    q: TimerQueue[str] = TimerQueue()
    assert q.next_deadline() is None and q.pop_due(100.0) is None
    q.set("a", 5.0)
    q.set("b", 3.0)
    q.set("c", 4.0)
    q.set("a", 1.0)  # replaces
    q.cancel("c")
    q.cancel("nothing")
    assert len(q) == 2 and "a" in q and "c" not in q
    assert q.deadline("b") == 3.0 and q.deadline("c") is None
    assert q.next_deadline() == 1.0
    assert q.pop_due(0.5) is None
    assert q.pop_due(10.0) == "a"
    assert q.pop_due(10.0) == "b"
    assert q.pop_due(10.0) is None and len(q) == 0


def test_timer_queue_stays_small_under_churn() -> None:
    q: TimerQueue[int] = TimerQueue()
    for i in range(10_000):
        q.set(i % 10, float(i))
    assert len(q) == 10
    assert len(q._heap) <= 4 * 10 + 65  # stale entries are compacted
    assert q.next_deadline() == 9990.0
