"""RTP port allocation: one even/odd port pair per call from the configured range."""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass

__all__ = ["PortAllocator", "PortPair", "PortsExhausted"]

log = logging.getLogger(__name__)


class PortsExhausted(Exception):
    """No free port pair is left in the range."""


@dataclass(frozen=True, slots=True)
class PortPair:
    """A bound RTP socket (even port) and its RTCP neighbour (port + 1)."""

    rtp_port: int
    rtp_sock: socket.socket
    rtcp_sock: socket.socket

    @property
    def rtcp_port(self) -> int:
        return self.rtp_port + 1

    def close(self) -> None:
        for sock in (self.rtp_sock, self.rtcp_sock):
            with contextlib.suppress(OSError):
                sock.close()


class PortAllocator:
    """Hands out bound UDP socket pairs from ``first``..``last`` (inclusive).

    Ports are taken round-robin so that a port freed by one call is not reused at
    once: late packets of the old call must not reach the next one. A port that
    another program holds is skipped.
    """

    def __init__(self, host: str, first: int, last: int) -> None:
        if first % 2:
            first += 1
        if last < first + 1:
            raise ValueError(f"RTP port range {first}-{last} holds no even/odd pair")
        self._host = host
        self._first = first
        self._count = (last - first + 1) // 2
        self._next = 0
        self._in_use: set[int] = set()

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def capacity(self) -> int:
        return self._count

    def allocate(self) -> PortPair:
        for _ in range(self._count):
            port = self._first + 2 * self._next
            self._next = (self._next + 1) % self._count
            if port in self._in_use:
                continue
            pair = self._bind_pair(port)
            if pair is not None:
                self._in_use.add(port)
                return pair
        raise PortsExhausted(
            f"no free RTP port pair in {self._first}-{self._first + 2 * self._count - 1}"
        )

    def release(self, pair: PortPair) -> None:
        pair.close()
        self._in_use.discard(pair.rtp_port)

    def _bind_pair(self, port: int) -> PortPair | None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        socks: list[socket.socket] = []
        try:
            for p in (port, port + 1):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.setblocking(False)
                sock.bind((self._host, p))
        except OSError as exc:
            log.debug("RTP port %d unavailable: %s", port, exc)
            for sock in socks:
                sock.close()
            return None
        return PortPair(port, socks[0], socks[1])
