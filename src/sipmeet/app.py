"""`sipmeet serve`: every service of one node in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from collections.abc import Mapping
from typing import Any, cast

from . import __version__
from .api import ApiContext, HttpServer, create_app
from .bridge.announcements import Announcer
from .bridge.call import MediaConfig
from .bridge.directory import CallStartInfo, RoomInfo, SipAccountInfo
from .bridge.manager import BridgeLimits, CallManager
from .bridge.results import CallEnd
from .config import Settings
from .dashboard import create_dashboard_router
from .logs import setup_logging
from .net.ports import PortAllocator
from .net.sip_transport import SipTransport
from .providers.base import Transport
from .providers.webhooks import ProviderContext, create_provider_router
from .rooms.events import RoomEvent
from .rooms.keypad import KeypadCommands
from .rooms.registry import RoomRegistry
from .sip.digest import DigestAuthenticator
from .sip.endpoint import EndpointConfig, SipEndpoint
from .storage import CallStart, Store
from .webhooks import WebhookCollector, WebhookWorker
from .webrtc import (
    WebRtcContext,
    allow_remote_addresses,
    announce_addresses,
    create_router,
    media_port_range,
    restrict_host_addresses,
)

__all__ = ["Node", "StoreDirectory", "run"]

log = logging.getLogger(__name__)


class StoreDirectory:
    """The bridge's :class:`CallDirectory` over the synchronous :class:`Store`.

    Each lookup runs in a worker thread and reads the database afresh, so that
    changes made with the command line apply to the next INVITE.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def sip_account(self, username: str) -> SipAccountInfo | None:
        account = await asyncio.to_thread(self._store.sip_account, username)
        if account is None:
            return None
        previous = dict(account.previous_ha1) if account.previous_ha1 else None
        return SipAccountInfo(account.api_key_id, account.username, dict(account.ha1), previous)

    async def room(self, room_id: str) -> RoomInfo | None:
        room = await asyncio.to_thread(self._store.get_room, room_id)
        if room is None:
            return None
        return RoomInfo(room.room_id, room.api_key_id, room.active, room.has_pin)

    async def room_by_dialin_code(self, code: str) -> RoomInfo | None:
        room = await asyncio.to_thread(self._store.room_by_dialin_code, code)
        if room is None:
            return None
        return RoomInfo(room.room_id, room.api_key_id, room.active, room.has_pin)

    async def room_pin(self, room_id: str) -> str | None:
        return await asyncio.to_thread(self._store.room_pin, room_id)

    async def call_moved(self, record_id: int, room_id: str) -> None:
        try:
            await asyncio.to_thread(self._store.record_call_room, record_id, room_id)
        except Exception:
            log.exception("could not record the room of a dial-in call")

    async def call_started(self, info: CallStartInfo) -> int | None:
        record = CallStart(
            room_id=info.room_id,
            sip_call_id=info.sip_call_id,
            transport=info.transport.lower(),
            api_key_id=info.api_key_id,
            caller_name=info.display_name,
            caller_number=info.number,
            provider_metadata=dict(info.metadata),
        )
        try:
            return await asyncio.to_thread(self._store.record_call_start, record)
        except Exception:
            log.exception("could not record call start")
            return None

    async def call_answered(self, record_id: int, codec: str) -> None:
        try:
            await asyncio.to_thread(self._store.record_call_answered, record_id, codec)
        except Exception:
            log.exception("could not record call answer")

    async def call_ended(self, record_id: int, end: CallEnd, stats: Mapping[str, object]) -> None:
        try:
            await asyncio.to_thread(
                self._store.record_call_end, record_id, end.result.value, end.reason, dict(stats)
            )
        except Exception:
            log.exception("could not record call end")


def _log_room_event(event: RoomEvent) -> None:
    fields = {k: getattr(event, k) for k in event.__slots__}
    log.info(
        "room event %s %s", type(event).__name__, fields, extra={"room_id": fields.get("room_id")}
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


class Node:
    """The running services: SIP transport + endpoint, the call bridge, the rooms."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.rooms = RoomRegistry()
        self.transport: SipTransport | None = None
        self.manager: CallManager | None = None
        self.http: HttpServer | None = None
        self.webrtc: WebRtcContext | None = None
        self.keypad: KeypadCommands | None = None
        self.announcer: Announcer | None = None
        self.webhooks: WebhookWorker | None = None
        self._sip_up = False

    async def start(self) -> None:
        s = self.settings
        sip = s.sip
        endpoint = SipEndpoint(
            EndpointConfig(
                host=sip.public_address,  # what Via and Contact carry
                port=sip.port,
                domain=sip.domain,
                user_agent=f"sipmeet/{__version__}",
                t1_s=sip.t1_ms / 1000.0,
                session_expires_s=sip.session_expires_s,
                min_se_s=sip.min_se_s,
                symmetric_responses=sip.symmetric_responses,
            )
        )
        # Nonces signed with a key derived from the master key stay valid across restarts.
        nonce_key = self.store.derive_key("sip-digest-nonce")
        authenticator = DigestAuthenticator(
            sip.domain, nonce_key, algorithms=sip.digest_algorithm_list, nonce_ttl_s=sip.nonce_ttl_s
        )
        first, last = s.rtp.ports.first, s.rtp.ports.last
        ports = PortAllocator(sip.host, first, last)
        media = MediaConfig(
            address=sip.public_address,  # the SDP c= address
            rtp_timeout_s=s.rtp.timeout_s,
            jitter_min_ms=s.rtp.jitter_min_ms,
            jitter_max_ms=s.rtp.jitter_max_ms,
            opus_complexity=s.media.opus_complexity,
        )
        self.rooms.subscribe(_log_room_event)
        self.keypad = KeypadCommands(self.rooms)  # *6 mute, *9 hand; confirms mutes by tone
        self.manager = CallManager(
            endpoint,
            authenticator,
            StoreDirectory(self.store),
            self.rooms,
            ports,
            media,
            limits=BridgeLimits(max_calls=sip.max_calls),
        )
        # Webhooks: the handlers only queue; delivery runs in the worker's own tasks.
        self.webhooks = WebhookWorker(self.store, self._room_api_key)
        self.rooms.subscribe(self.webhooks.on_room_event)
        self.manager.subscribe(self.webhooks.on_call_event)
        await self.webhooks.start()
        self.announcer = Announcer(
            self.rooms, self.manager.hang_up, alone_timeout_s=s.media.alone_timeout_s
        )
        self.rooms.subscribe(self.announcer.on_event)
        self.transport = SipTransport(endpoint, self.manager.on_event)
        self.manager.set_pump(self.transport.pump)
        await self.transport.start(sip.host, sip.port, tcp=sip.tcp)
        self._sip_up = True
        manager = self.manager
        api = ApiContext(
            settings=s,
            store=self.store,
            live=manager,
            rooms=self.rooms,
            sip_listening=lambda: self._sip_up,
            rtp_ports=ports,
            auth_failures=lambda: manager.auth_failures,
        )
        # Browsers reach the media on the same address as phones do.
        local = sip.media_address
        restrict_host_addresses([local])
        media_port_range(first, last)  # one firewall rule (rtp.ports) for all media
        announce_addresses({local: sip.public_address})
        if _is_loopback(local) and _is_loopback(sip.public_address):
            # a loopback-only node checks the browser's loopback candidates, nothing else
            allow_remote_addresses([local])
        self.webrtc = WebRtcContext(
            self.store, self.rooms, s, phones=self.manager, records=self.store
        )
        transport = s.sip.provider_transport.lower()  # validated: "", udp, tcp or tls
        providers = ProviderContext(s, self.store, transport=cast(Transport, transport) or None)
        routers = [create_router(self.webrtc), create_provider_router(providers)]
        routers.append(create_dashboard_router(api))  # admin account made on first start
        app = create_app(api, routers=routers)
        app.state.metrics.registry.register(WebhookCollector(self.webhooks))
        self.manager.subscribe(app.state.metrics.on_call_event)
        self.http = HttpServer(app, s.http.host, s.http.port)
        await self.http.start()

    def _room_api_key(self, room_id: str) -> str | None:
        room = self.rooms.get(room_id)
        return room.api_key_id if room is not None else None

    async def stop(self) -> None:
        self._sip_up = False
        if self.http is not None:
            await self.http.stop()
        if self.webrtc is not None:
            await self.webrtc.close()
        if self.manager is not None:
            await self.manager.close()
        if self.transport is not None:
            await self.transport.close()
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.announcer is not None:
            self.announcer.close()
        if self.keypad is not None:
            self.keypad.close()
        self.rooms.close()


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM."""
    store = Store.open(settings)
    node = Node(settings, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
        log.info(
            "sipmeet %s ready: SIP %s:%d (announced as %s) domain %s, RTP %s-%s, data %s",
            __version__,
            settings.sip.host,
            settings.sip.port,
            settings.sip.public_address,
            settings.sip.domain,
            settings.rtp.ports.first,
            settings.rtp.ports.last,
            settings.data_dir,
        )
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down")
    finally:
        await node.stop()
        store.close()


def _event_loop_runner() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run
    return uvloop.run


def run(settings: Settings) -> int:
    """Entry point of ``sipmeet serve``."""
    setup_logging(settings.log.level, settings.log.format)
    try:
        _event_loop_runner()(serve(settings))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
