"""The asyncio edge of the SIP stack: UDP and TCP sockets around the sans-IO endpoint.

It feeds what arrives into :class:`~sipmeet.sip.endpoint.SipEndpoint`, hands the
endpoint's events to one callback, writes the endpoint's output, and keeps a
single ``loop.call_at`` armed for the endpoint's next deadline. Nothing here
knows SIP semantics beyond framing a TCP byte stream into messages.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

from ..sip.endpoint import Outgoing, SipEndpoint, Source
from ..sip.errors import SipParseError
from ..sip.events import SipEvent
from ..sip.parser import StreamParser

__all__ = ["SipTransport"]

log = logging.getLogger(__name__)

MAX_TCP_CONNECTIONS = 2048
TCP_IDLE_TIMEOUT_S = 600.0


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._owner._on_datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction timers deal with it.
        log.debug("SIP UDP error: %s", exc)


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner
        self._parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.connection_id = 0
        self.peer: tuple[str, int] = ("", 0)
        self.last_activity = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (peer[0], peer[1])
        self.connection_id = self._owner._register(self)
        self.last_activity = self._owner._loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._unregister(self.connection_id)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self._owner._loop.time()
        source = Source("TCP", self.peer, self.connection_id)
        try:
            messages = self._parser.feed(data)
        except SipParseError as exc:
            log.info("closing SIP TCP connection from %s:%d: %s", *self.peer, exc)
            self._owner._on_stream_error(exc, source)
            if self.transport is not None:
                self.transport.close()
            return
        pings = getattr(self._parser, "pop_keepalive_pings", None)
        if pings is not None and pings() and self.transport is not None:
            self.transport.write(b"\r\n")  # RFC 5626 §4.4.1 pong
        for msg in messages:
            self._owner._on_message(msg, source)


class SipTransport:
    """Owns the SIP sockets (UDP and TCP on one port) and drives a :class:`SipEndpoint`."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        on_event: Callable[[SipEvent], None],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._on_event = on_event
        self._loop = loop or asyncio.get_running_loop()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.base_events.Server | None = None
        self._connections: dict[int, _TcpProtocol] = {}
        self._ids = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self._connects: set[asyncio.Task[None]] = set()
        self.local_addr: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int, *, tcp: bool = True) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port), family=family
        )
        self._udp = transport
        sockname = transport.get_extra_info("sockname")
        self.local_addr = (sockname[0], sockname[1])
        if tcp:
            self._tcp_server = await self._loop.create_server(
                lambda: _TcpProtocol(self),
                host,
                self.local_addr[1],
                family=family,
                reuse_address=True,
            )
            self._idle_task = self._loop.create_task(self._close_idle_connections())
        log.info(
            "SIP listening on %s:%d (UDP%s)",
            self.local_addr[0],
            self.local_addr[1],
            ", TCP" if tcp else "",
        )

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._idle_task is not None:
            self._idle_task.cancel()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for conn in list(self._connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
        if self._udp is not None:
            self._udp.close()

    # -- input -----------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if data in (b"\r\n\r\n", b"\r\n"):
            # RFC 5626 keep-alive over UDP: answer a double CRLF with a single one.
            if data == b"\r\n\r\n" and self._udp is not None:
                self._udp.sendto(b"\r\n", addr)
            return
        self.endpoint.receive_datagram(data, Source("UDP", addr), self._loop.time())
        self.pump()

    def _on_message(self, msg: Any, source: Source) -> None:
        self.endpoint.receive_message(msg, source, self._loop.time())
        self.pump()

    def _on_stream_error(self, exc: SipParseError, source: Source) -> None:
        self.endpoint.reject_malformed(exc, source, self._loop.time())
        self.pump()

    def _register(self, conn: _TcpProtocol) -> int:
        if len(self._connections) >= MAX_TCP_CONNECTIONS and conn.transport is not None:
            log.warning("too many SIP TCP connections; refusing %s", conn.peer)
            conn.transport.close()
        cid = next(self._ids)
        self._connections[cid] = conn
        return cid

    def _unregister(self, cid: int) -> None:
        self._connections.pop(cid, None)

    async def _close_idle_connections(self) -> None:
        while True:
            await asyncio.sleep(30)
            now = self._loop.time()
            for conn in list(self._connections.values()):
                if now - conn.last_activity > TCP_IDLE_TIMEOUT_S and conn.transport is not None:
                    conn.transport.close()

    # -- output and timers ---------------------------------------------------------

    def pump(self) -> None:
        """Dispatch pending events, write pending output and re-arm the timer.

        Call after anything that may have given the endpoint work (the bridge calls
        it after ``respond``/``send_request``).
        """
        endpoint = self.endpoint
        while True:
            event = endpoint.next_event()
            if event is None:
                break
            try:
                self._on_event(event)
            except Exception:  # a bug in one call must not stop the SIP service
                log.exception("SIP event handler failed for %r", type(event).__name__)
        for out in endpoint.pending_output():
            self._send(out)
        self._arm_timer()

    def _send(self, out: Outgoing) -> None:
        if out.connection_id is not None:
            conn = self._connections.get(out.connection_id)
            if conn is not None and conn.transport is not None and not conn.transport.is_closing():
                conn.transport.write(out.data)
                return
            if out.transport != "UDP":
                # RFC 3261 §18.2.2: the connection is gone; a fresh one would be tried
                # here. Our peers keep their connection open for the call, so log it.
                log.info(
                    "SIP connection %s closed; dropping %d bytes to %s",
                    out.connection_id,
                    len(out.data),
                    out.addr,
                )
                return
        if out.transport == "UDP":
            if self._udp is not None:
                self._udp.sendto(out.data, out.addr)
            return
        task = self._loop.create_task(self._connect_and_send(out))
        self._connects.add(task)
        task.add_done_callback(self._connects.discard)

    async def _connect_and_send(self, out: Outgoing) -> None:
        try:
            _, proto = await asyncio.wait_for(
                self._loop.create_connection(lambda: _TcpProtocol(self), out.addr[0], out.addr[1]),
                5.0,
            )
        except (TimeoutError, OSError) as exc:
            log.info("cannot connect to %s:%d over TCP: %s", out.addr[0], out.addr[1], exc)
            return
        if proto.transport is not None:
            proto.transport.write(out.data)

    def _arm_timer(self) -> None:
        deadline = self.endpoint.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.endpoint.handle_timer(self._loop.time())
        self.pump()
