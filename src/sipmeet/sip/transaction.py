"""RFC 3261 §17 transactions (with the RFC 6026 Accepted states), sans-IO.

Four machines, each a transition table ``(state, input) -> (next state, actions)``:
:data:`SERVER_INVITE`, :data:`SERVER_NON_INVITE`, :data:`CLIENT_INVITE`,
:data:`CLIENT_NON_INVITE`. Inputs missing from a table are absorbed. Timers live in the
endpoint's :class:`~sipmeet.sip.timers.TimerQueue` under ``(transaction, Timer)``; a
transaction's methods return the effects the endpoint must carry out
(:class:`~sipmeet.sip.events.Outgoing` to write, :class:`PassToTU`, :class:`TimedOut`,
:class:`Terminated`).

Matching (§17.1.3, §17.2.3) is by dictionary key: :func:`server_key` for requests
(branch + sent-by + method, ACK and CANCEL mapped as the RFC says, with the RFC 2543
fallback when the branch lacks the magic cookie) and :func:`client_key` for responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from .errors import SipParseError
from .events import Outgoing, TransactionId
from .headers import Via, parse_name_addr
from .message import Headers, Request, Response
from .timers import Timer, TimerConfig, TimerKey, TimerQueue

__all__ = [
    "CLIENT_INVITE",
    "CLIENT_NON_INVITE",
    "MAGIC_COOKIE",
    "REASON_PHRASES",
    "SERVER_INVITE",
    "SERVER_NON_INVITE",
    "Act",
    "Backoff",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Destination",
    "Effect",
    "Input",
    "PassToTU",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "Start",
    "State",
    "Stop",
    "Terminated",
    "TimedOut",
    "Transaction",
    "TransactionId",
    "TransitionTable",
    "build_ack_for_non2xx",
    "build_response",
    "client_key",
    "is_reliable",
    "server_key",
]

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def is_reliable(transport: str) -> bool:
    """Stream transports deliver reliably: no retransmission timers (RFC 3261 §17)."""
    return transport.upper() not in ("UDP", "DTLS")


# --- states, inputs, actions ---------------------------------------------------------


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Input(Enum):
    REQUEST = "request retransmission"
    ACK = "ACK"
    SEND_1XX = "TU sends 1xx"
    SEND_2XX = "TU sends 2xx"
    SEND_FINAL = "TU sends final"  # 300-699 for INVITE, any final for non-INVITE
    RECV_1XX = "1xx received"
    RECV_2XX = "2xx received"
    RECV_FINAL = "final received"  # 300-699 for INVITE, any final for non-INVITE
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"


_TIMER_INPUT = {timer: Input[f"TIMER_{timer.value}"] for timer in Timer}
_INPUT_TIMER = {inp: timer for timer, inp in _TIMER_INPUT.items()}


class Act(Enum):
    SEND = "send"  # send the message given with the input
    RESEND = "resend"  # retransmit the last message sent (nothing if none yet)
    PASS = "pass"  # pass the input message to the TU
    SEND_ACK = "send ACK"  # client INVITE: ACK the non-2xx final (§17.1.1.3)
    RESEND_ACK = "resend ACK"
    TIMEOUT = "timeout"  # tell the TU the transaction timed out


@dataclass(frozen=True, slots=True)
class Start:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Stop:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Backoff:
    """Re-arm a retransmit timer: ``double`` (A), ``capped`` (min(2x, T2): E, G) or ``t2``."""

    timer: Timer
    mode: Literal["double", "capped", "t2"]


Action = Act | Start | Stop | Backoff
TransitionTable = dict[tuple[State, Input], tuple[State, tuple[Action, ...]]]

S = State
I = Input  # noqa: E741
T = Timer

# RFC 3261 §17.2.1 Figure 7 with RFC 6026 §7.1 Figure 5 (Accepted).
SERVER_INVITE: TransitionTable = {
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (Act.RESEND,)),
    (S.PROCEEDING, I.SEND_1XX): (S.PROCEEDING, (Act.SEND,)),
    (S.PROCEEDING, I.SEND_2XX): (S.ACCEPTED, (Act.SEND, Start(T.L))),
    (S.PROCEEDING, I.SEND_FINAL): (S.COMPLETED, (Act.SEND, Start(T.G), Start(T.H))),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (Act.RESEND,)),
    (S.COMPLETED, I.TIMER_G): (S.COMPLETED, (Act.RESEND, Backoff(T.G, "capped"))),
    (S.COMPLETED, I.ACK): (S.CONFIRMED, (Stop(T.G), Stop(T.H), Start(T.I))),
    (S.COMPLETED, I.TIMER_H): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.CONFIRMED, I.TIMER_I): (S.TERMINATED, ()),
    # RFC 6026: INVITE retransmissions are absorbed (the TU retransmits the 2xx), a 2xx
    # from the TU is sent, an ACK (RFC 2543 style, same transaction key) goes to the TU.
    (S.ACCEPTED, I.SEND_2XX): (S.ACCEPTED, (Act.SEND,)),
    (S.ACCEPTED, I.ACK): (S.ACCEPTED, (Act.PASS,)),
    (S.ACCEPTED, I.TIMER_L): (S.TERMINATED, ()),
}

# RFC 3261 §17.2.2 Figure 8.
SERVER_NON_INVITE: TransitionTable = {
    (S.TRYING, I.SEND_1XX): (S.PROCEEDING, (Act.SEND,)),
    (S.TRYING, I.SEND_FINAL): (S.COMPLETED, (Act.SEND, Start(T.J))),
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (Act.RESEND,)),
    (S.PROCEEDING, I.SEND_1XX): (S.PROCEEDING, (Act.SEND,)),
    (S.PROCEEDING, I.SEND_FINAL): (S.COMPLETED, (Act.SEND, Start(T.J))),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (Act.RESEND,)),
    (S.COMPLETED, I.TIMER_J): (S.TERMINATED, ()),
}

# RFC 3261 §17.1.1 Figure 5 with RFC 6026 §7.2 Figure 4 (Accepted).
_CLIENT_INVITE_ANSWERED: TransitionTable = {
    (state, I.RECV_2XX): (S.ACCEPTED, (Stop(T.A), Stop(T.B), Act.PASS, Start(T.M)))
    for state in (S.CALLING, S.PROCEEDING)
} | {
    (state, I.RECV_FINAL): (
        S.COMPLETED,
        (Stop(T.A), Stop(T.B), Act.PASS, Act.SEND_ACK, Start(T.D)),
    )
    for state in (S.CALLING, S.PROCEEDING)
}
CLIENT_INVITE: TransitionTable = {
    (S.CALLING, I.TIMER_A): (S.CALLING, (Act.RESEND, Backoff(T.A, "double"))),
    (S.CALLING, I.TIMER_B): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.CALLING, I.RECV_1XX): (S.PROCEEDING, (Stop(T.A), Stop(T.B), Act.PASS)),
    (S.PROCEEDING, I.RECV_1XX): (S.PROCEEDING, (Act.PASS,)),
    **_CLIENT_INVITE_ANSWERED,
    (S.COMPLETED, I.RECV_FINAL): (S.COMPLETED, (Act.RESEND_ACK,)),
    (S.COMPLETED, I.TIMER_D): (S.TERMINATED, ()),
    (S.ACCEPTED, I.RECV_2XX): (S.ACCEPTED, (Act.PASS,)),
    (S.ACCEPTED, I.TIMER_M): (S.TERMINATED, ()),
}

# RFC 3261 §17.1.2 Figure 6.
CLIENT_NON_INVITE: TransitionTable = {
    (S.TRYING, I.TIMER_E): (S.TRYING, (Act.RESEND, Backoff(T.E, "capped"))),
    (S.TRYING, I.TIMER_F): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.TRYING, I.RECV_1XX): (S.PROCEEDING, (Act.PASS,)),
    (S.TRYING, I.RECV_FINAL): (S.COMPLETED, (Stop(T.E), Stop(T.F), Act.PASS, Start(T.K))),
    (S.PROCEEDING, I.TIMER_E): (S.PROCEEDING, (Act.RESEND, Backoff(T.E, "t2"))),
    (S.PROCEEDING, I.TIMER_F): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.PROCEEDING, I.RECV_1XX): (S.PROCEEDING, (Act.PASS,)),
    (S.PROCEEDING, I.RECV_FINAL): (S.COMPLETED, (Stop(T.E), Stop(T.F), Act.PASS, Start(T.K))),
    (S.COMPLETED, I.TIMER_K): (S.TERMINATED, ()),
}

del S, I, T

_RETRANSMIT_TIMERS = frozenset({Timer.A, Timer.E, Timer.G})  # unreliable transports only
_ZERO_WHEN_RELIABLE = frozenset({Timer.D, Timer.I, Timer.J, Timer.K})


# --- effects -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassToTU:
    message: Request | Response


@dataclass(frozen=True, slots=True)
class TimedOut:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Terminated:
    pass


Effect = Outgoing | PassToTU | TimedOut | Terminated


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a transaction's messages go."""

    transport: str
    addr: tuple[str, int]
    connection_id: int | None = None

    def packet(self, data: bytes) -> Outgoing:
        return Outgoing(self.transport, self.addr, data, self.connection_id)


# --- the machine ---------------------------------------------------------------------


class Transaction:
    """Common engine: runs the table, owns its timers in the shared queue."""

    TABLE: TransitionTable = {}
    INITIAL: State = State.TRYING

    __slots__ = (
        "_intervals",
        "_last_sent",
        "_timers",
        "config",
        "destination",
        "id",
        "reliable",
        "request",
        "state",
    )

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: Destination,
        config: TimerConfig,
        timers: TimerQueue[TimerKey],
    ) -> None:
        self.id = transaction_id
        self.request = request
        self.destination = destination
        self.config = config
        self.reliable = is_reliable(destination.transport)
        self.state = self.INITIAL
        self._timers = timers
        self._intervals: dict[Timer, float] = {}
        self._last_sent: bytes | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.state.value}>"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    @property
    def last_sent(self) -> bytes | None:
        """The last request or response this transaction sent (what it retransmits)."""
        return self._last_sent

    def timer_fired(self, timer: Timer, now: float) -> list[Effect]:
        return self._fire(_TIMER_INPUT[timer], now, None)

    def terminate(self) -> None:
        """Drop the transaction without further messages (cancels its timers)."""
        for timer in Timer:
            self._timers.cancel((self, timer))
        self.state = State.TERMINATED

    # -- engine --

    def _fire(self, inp: Input, now: float, message: Request | Response | None) -> list[Effect]:
        step = self.TABLE.get((self.state, inp))
        if step is None:
            return []  # absorbed
        next_state, actions = step
        self.state = next_state
        effects: list[Effect] = []
        immediate: list[Timer] = []
        for action in actions:
            if isinstance(action, Start):
                if self._start(action.timer, now):
                    immediate.append(action.timer)
            elif isinstance(action, Stop):
                self._timers.cancel((self, action.timer))
            elif isinstance(action, Backoff):
                self._backoff(action, now)
            elif action is Act.TIMEOUT:
                effects.append(TimedOut(_INPUT_TIMER[inp]))
            else:
                self._act(action, message, effects)
        if next_state is State.TERMINATED:
            self.terminate()
            effects.append(Terminated())
            return effects
        for timer in immediate:  # zero-length timers on reliable transports fire now
            effects += self.timer_fired(timer, now)
        return effects

    def _start(self, timer: Timer, now: float) -> bool:
        """Arm ``timer``; True when it is zero-length and must fire at once."""
        cfg = self.config
        if timer in _RETRANSMIT_TIMERS:
            if self.reliable:
                return False
            duration = cfg.t1_s
            self._intervals[timer] = duration
        elif timer in _ZERO_WHEN_RELIABLE and self.reliable:
            return True
        elif timer is Timer.D:
            duration = max(cfg.timer_d_s, cfg.timeout_s)
        elif timer in (Timer.I, Timer.K):
            duration = cfg.t4_s
        else:  # B, F, H, J, L, M
            duration = cfg.timeout_s
        self._timers.set((self, timer), now + duration)
        return False

    def _backoff(self, action: Backoff, now: float) -> None:
        interval = self._intervals.get(action.timer, self.config.t1_s)
        if action.mode == "double":
            interval *= 2
        elif action.mode == "capped":
            interval = min(interval * 2, self.config.t2_s)
        else:
            interval = self.config.t2_s
        self._intervals[action.timer] = interval
        self._timers.set((self, action.timer), now + interval)

    def _act(self, act: Act, message: Request | Response | None, effects: list[Effect]) -> None:
        if act is Act.SEND:
            assert message is not None
            self._last_sent = message.serialize()
            effects.append(self.destination.packet(self._last_sent))
        elif act is Act.RESEND:
            if self._last_sent is not None:
                effects.append(self.destination.packet(self._last_sent))
        elif act is Act.PASS:
            assert message is not None
            effects.append(PassToTU(message))
        else:
            self._ack(act, message, effects)

    def _ack(self, act: Act, message: Request | Response | None, effects: list[Effect]) -> None:
        raise NotImplementedError(act)


class ServerTransaction(Transaction):
    """A request we received and answer (RFC 3261 §17.2)."""

    __slots__ = ("last_response", "to_tag")

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: Destination,
        config: TimerConfig,
        timers: TimerQueue[TimerKey],
    ) -> None:
        super().__init__(transaction_id, request, destination, config, timers)
        self.last_response: Response | None = None
        self.to_tag: str | None = None  # the tag of our responses (one per transaction)

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def receive_request(self, request: Request, now: float) -> list[Effect]:
        """A retransmission of the request, or an ACK matched to this transaction."""
        inp = Input.ACK if request.method == "ACK" else Input.REQUEST
        return self._fire(inp, now, request)

    def send_response(self, response: Response, now: float) -> list[Effect]:
        """Send a response built by the TU (see :func:`build_response`)."""
        status = response.status
        if status < 200:
            inp = Input.SEND_1XX
        elif status < 300 and isinstance(self, ServerInviteTransaction):
            inp = Input.SEND_2XX
        else:
            inp = Input.SEND_FINAL
        if (self.state, inp) not in self.TABLE:
            return []  # a response after the final one: not sent
        self.last_response = response
        return self._fire(inp, now, response)


class ServerInviteTransaction(ServerTransaction):
    TABLE = SERVER_INVITE
    INITIAL = State.PROCEEDING
    __slots__ = ()


class ServerNonInviteTransaction(ServerTransaction):
    TABLE = SERVER_NON_INVITE
    INITIAL = State.TRYING
    __slots__ = ()


class ClientTransaction(Transaction):
    """A request we sent (RFC 3261 §17.1)."""

    __slots__ = ("_ack_bytes",)

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: Destination,
        config: TimerConfig,
        timers: TimerQueue[TimerKey],
    ) -> None:
        super().__init__(transaction_id, request, destination, config, timers)
        self._ack_bytes: bytes | None = None

    @property
    def branch(self) -> str:
        return self.request.top_via.branch or ""

    def start(self, now: float) -> list[Effect]:
        """Send the request and arm A+B (INVITE) or E+F (non-INVITE)."""
        self._last_sent = self.request.serialize()
        first, timeout = (
            (Timer.A, Timer.B) if isinstance(self, ClientInviteTransaction) else (Timer.E, Timer.F)
        )
        self._start(first, now)
        self._start(timeout, now)
        return [self.destination.packet(self._last_sent)]

    def receive_response(self, response: Response, now: float) -> list[Effect]:
        status = response.status
        if status < 200:
            inp = Input.RECV_1XX
        elif status < 300 and isinstance(self, ClientInviteTransaction):
            inp = Input.RECV_2XX
        else:
            inp = Input.RECV_FINAL
        return self._fire(inp, now, response)

    def _ack(self, act: Act, message: Request | Response | None, effects: list[Effect]) -> None:
        if act is Act.SEND_ACK:
            assert isinstance(message, Response)
            self._ack_bytes = build_ack_for_non2xx(self.request, message).serialize()
        if self._ack_bytes is not None:
            effects.append(self.destination.packet(self._ack_bytes))


class ClientInviteTransaction(ClientTransaction):
    TABLE = CLIENT_INVITE
    INITIAL = State.CALLING
    __slots__ = ()


class ClientNonInviteTransaction(ClientTransaction):
    TABLE = CLIENT_NON_INVITE
    INITIAL = State.TRYING
    __slots__ = ()


# --- matching keys -------------------------------------------------------------------


def server_key(request: Request, via: Via, method: str | None = None) -> tuple[str, ...]:
    """RFC 3261 §17.2.3 key of the server transaction ``request`` belongs to.

    ACK maps to its INVITE. CANCEL has its own transaction; the INVITE it cancels has the
    key computed with ``method="INVITE"`` (§9.2). Raises
    :class:`~sipmeet.sip.errors.SipParseError` when a needed header is malformed.
    """
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        # The Call-ID is not part of the RFC 3261 key, but every retransmission (and
        # the ACK and CANCEL of an INVITE) carries the same one; keying on it too keeps a
        # client that reuses a branch across calls from getting another call's response.
        return ("3261", branch, via.sent_by.lower(), method, request.call_id)
    # RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number, top Via, and the
    # method (To tag checked separately for ACK, see ServerInviteTransaction.to_tag).
    return (
        "2543",
        request.uri,
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.seq),
        str(via),
        method,
    )


def client_key(branch: str, method: str) -> tuple[str, str]:
    """RFC 3261 §17.1.3: a response matches by top-Via branch and CSeq method."""
    return (branch, "INVITE" if method == "ACK" else method)


# --- message building ----------------------------------------------------------------


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """RFC 3261 §8.2.6.2: copy Via, From, To (adding ``to_tag`` when it has none),
    Call-ID and CSeq from ``request`` (header text kept as received), then ``headers``."""
    out = Headers()
    for name, value in request.headers:
        if name in ("Via", "From", "Call-ID", "CSeq"):
            out.add(name, value)
        elif name == "To":
            out.add(name, _with_tag(value, to_tag))
    for name, value in headers:
        out.add(name, value)
    return Response(
        status=status,
        reason=reason or REASON_PHRASES.get(status, _class_reason(status)),
        headers=out,
        body=body,
    )


def _class_reason(status: int) -> str:
    return REASON_PHRASES.get(status // 100 * 100, "Unknown")


def _with_tag(value: str, tag: str | None) -> str:
    if tag is None:
        return value
    try:
        addr = parse_name_addr(value)
    except SipParseError:
        return value  # unparseable To (answering a 400): echo it as received
    if addr.tag is not None:
        return value
    return f"{value.rstrip()};tag={tag}"


def build_ack_for_non2xx(invite: Request, response: Response) -> Request:
    """RFC 3261 §17.1.1.3: the ACK a client INVITE transaction sends for a 3xx-6xx."""
    headers = Headers()
    top_via = invite.headers.get_list("Via")[0]
    headers.add("Via", top_via)
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} ACK")
    return Request(method="ACK", uri=invite.uri, headers=headers)
