"""The asyncio edge of one call's media: its RTP and RTCP sockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .ports import PortPair

__all__ = ["RtpChannel"]

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Receiver = Callable[[bytes, Addr, float], None]


class _Protocol(asyncio.DatagramProtocol):
    __slots__ = ("_loop", "_receiver")

    def __init__(self, receiver: Receiver, loop: asyncio.AbstractEventLoop) -> None:
        self._receiver = receiver
        self._loop = loop

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._receiver(data, (addr[0], addr[1]), self._loop.time())

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable while the phone is not listening yet: harmless.
        log.debug("RTP socket error: %s", exc)


class RtpChannel:
    """Wraps a bound :class:`PortPair` in asyncio datagram transports.

    ``on_rtp`` gets every datagram of the RTP socket (RTCP too with rtcp-mux),
    ``on_rtcp`` every datagram of the RTCP socket.
    """

    def __init__(self, ports: PortPair) -> None:
        self.ports = ports
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None

    @property
    def rtp_port(self) -> int:
        return self.ports.rtp_port

    async def open(self, on_rtp: Receiver, on_rtcp: Receiver) -> None:
        loop = asyncio.get_running_loop()
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(on_rtp, loop), sock=self.ports.rtp_sock
        )
        self._rtcp, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(on_rtcp, loop), sock=self.ports.rtcp_sock
        )

    def send_rtp(self, data: bytes, addr: Addr) -> None:
        if self._rtp is not None:
            self._rtp.sendto(data, addr)

    def send_rtcp(self, data: bytes, addr: Addr, *, mux: bool) -> None:
        transport = self._rtp if mux else self._rtcp
        if transport is not None:
            transport.sendto(data, addr)

    def close(self) -> None:
        """Close both transports (the sockets with them)."""
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()
        self._rtp = self._rtcp = None
