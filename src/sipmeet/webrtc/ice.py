"""ICE for the server's peer connections: host candidates on the configured addresses only.

aioice gathers a host candidate on every interface address of the machine (and never
on loopback). A server must offer only the addresses it is meant to be reached at, so
gathering goes through :func:`restrict_host_addresses`; this module is the one place
that touches aioice. No STUN or TURN servers are configured: the server is reachable
directly. Optionally (:func:`allow_remote_addresses`) the browser's candidates are
limited too, so that connectivity checks never go anywhere else (nor to mDNS names).

Host candidates bind ports of the media range (:func:`media_port_range`, the same
``rtp.ports`` phones use, so that one firewall rule covers all media): aioice binds port
0 (any), so the loop it sees is wrapped to bind the next free port of the range instead.

Behind a 1:1 NAT the address the server binds to is not the one browsers can reach:
:func:`announce_addresses` maps each local address to its public one, and
:func:`announce_sdp` rewrites the server's descriptions with it before they are sent
(candidates and ``c=`` lines). The NAT forwards the browser's checks to the local socket,
and ICE pairs by username, not by the address the check was sent to.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aioice.ice
import aioice.stun
from aiortc import RTCConfiguration, RTCPeerConnection

from .tap import harden_header_parsing

__all__ = [
    "allow_remote_addresses",
    "announce_addresses",
    "announce_sdp",
    "filter_remote_sdp",
    "host_addresses",
    "media_port_range",
    "new_peer_connection",
    "remote_candidate_allowed",
    "restrict_host_addresses",
]

_addresses: tuple[str, ...] = ("127.0.0.1",)
_remote: frozenset[str] | None = None
_installed = False
_checks_filtered = False
_announced: dict[str, str] = {}
log = logging.getLogger(__name__)
_media_ports: range | None = None
_next_port = 0
_ports_installed = False


def _gather(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [a for a in _addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Gather host candidates on ``addresses`` only (default ``127.0.0.1``), process-wide."""
    global _addresses, _installed
    if not addresses:
        raise ValueError("at least one ICE host address is needed")
    _addresses = tuple(addresses)
    if not _installed:
        aioice.ice.get_host_addresses = _gather
        _installed = True


def media_port_range(first: int | None, last: int | None = None) -> None:
    """Bind host candidates on ports ``first``..``last`` (None: any free port), process-wide."""
    global _media_ports, _ports_installed
    _media_ports = None if first is None else range(first, (last or first) + 1)
    if _media_ports is not None and not _ports_installed:
        aioice.ice.asyncio = _AsyncioSeenByAioice()  # type: ignore[attr-defined,assignment]
        _ports_installed = True


class _LoopSeenByAioice:
    """The running loop, except that binding port 0 binds a free port of the media range."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(
        self, factory: Callable[[], Any], local_addr: tuple[str, int] | None = None, **kwargs: Any
    ) -> Any:
        global _next_port
        ports = _media_ports
        if ports is None or local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(
                factory, local_addr=local_addr, **kwargs
            )
        for _ in range(len(ports)):
            port = ports[_next_port % len(ports)]
            _next_port += 1
            try:
                return await self._loop.create_datagram_endpoint(
                    factory, local_addr=(local_addr[0], port), **kwargs
                )
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        log.warning("no free UDP port in %d-%d for a WebRTC candidate", ports[0], ports[-1])
        raise OSError(errno.EADDRINUSE, f"no free UDP port in {ports[0]}-{ports[-1]}")


class _AsyncioSeenByAioice:
    """``asyncio`` as aioice's ICE module sees it: only the running loop is wrapped."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    def get_running_loop() -> _LoopSeenByAioice:
        return _LoopSeenByAioice(asyncio.get_running_loop())


def announce_addresses(mapping: Mapping[str, str]) -> None:
    """Announce each local address (key) as its public one (value), process-wide."""
    _announced.clear()
    _announced.update({k: v for k, v in mapping.items() if k != v})


def announce_sdp(sdp: str) -> str:
    """``sdp`` (the server's own) with its candidate and ``c=`` addresses announced."""
    if not _announced:
        return sdp
    lines = sdp.split("\r\n")
    for i, line in enumerate(lines):
        if line.startswith("a=candidate:"):
            fields = line.split(" ")
            if len(fields) >= 8 and fields[4] in _announced:
                fields[4] = _announced[fields[4]]
                lines[i] = " ".join(fields)
        elif line.startswith("c=IN IP"):
            fields = line.split(" ")
            if len(fields) == 3 and fields[2] in _announced:
                public = _announced[fields[2]]
                fields[1] = "IP6" if ":" in public else "IP4"
                fields[2] = public
                lines[i] = " ".join(fields)
    return "\r\n".join(lines)


def host_addresses() -> tuple[str, ...]:
    return _addresses


def new_peer_connection() -> RTCPeerConnection:
    """A peer connection without STUN/TURN servers whose candidates are the configured hosts."""
    harden_header_parsing()
    if not _installed:
        restrict_host_addresses(_addresses)
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def allow_remote_addresses(addresses: Sequence[str] | None) -> None:
    """Accept remote candidates on ``addresses`` only (None: any address, the default).

    Connectivity checks arriving from other addresses go unanswered, so that no
    peer-reflexive pair forms with them (a browser checks from every interface it has).
    """
    global _remote, _checks_filtered
    _remote = None if addresses is None else frozenset(addresses)
    if not _checks_filtered:
        original = aioice.ice.Connection.request_received

        def request_received(
            self: aioice.ice.Connection,
            message: aioice.stun.Message,
            addr: tuple[str, int],
            protocol: aioice.ice.StunProtocol,
        ) -> None:
            if not remote_candidate_allowed(addr[0]):
                return  # RFC 8445 §7.3: an unanswered check never becomes a valid pair
            original(self, message, addr, protocol)

        aioice.ice.Connection.request_received = request_received  # type: ignore[method-assign]
        _checks_filtered = True


def remote_candidate_allowed(address: str) -> bool:
    return _remote is None or address in _remote


def filter_remote_sdp(sdp: str) -> str:
    """``sdp`` without the ``a=candidate`` lines :func:`allow_remote_addresses` excludes."""
    if _remote is None:
        return sdp
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 8 or fields[4] not in _remote:
                continue
        lines.append(line)
    return "\r\n".join(lines)
