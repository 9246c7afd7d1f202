"""Prometheus metrics of one node, in a registry of its own (no global state).

Figures are read at scrape time from what the node already has: the live calls
(``describe()["quality"]``), the room registry and its 20 ms clocks, and the call records
(ends by result and reason). Room events feed the join/leave counters, and the bridge's
call events the count of INVITEs refused after the challenge (they leave no call record). RTP figures of live calls
are gauges (they leave with the call); per-call totals stay in the call records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sipmeet.bridge.results import CallEvent, CallRejected
from sipmeet.rooms.events import ParticipantJoined, ParticipantLeft, RoomEvent

from .context import ApiContext, run_sync

__all__ = ["CONTENT_TYPE", "Metrics", "Snapshot"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


@dataclass
class Snapshot:
    """The figures of one scrape, gathered on the event loop (and the store, in a thread)."""

    calls_active: int = 0
    rooms_open: int = 0
    packets_in: float = 0.0
    packets_out: float = 0.0
    packets_lost: float = 0.0
    jitter_ms: list[float] = field(default_factory=list)
    ticks: int = 0
    skipped_ticks: int = 0
    lateness_max_s: float = 0.0
    lateness_sum_s: float = 0.0
    calls_by_end: Mapping[tuple[str, str], int] = field(default_factory=dict)
    sip_auth_failures: int | None = None


class _NodeCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self.snapshot
        yield GaugeMetricFamily("sipmeet_calls_active", "Live phone calls", value=s.calls_active)
        yield GaugeMetricFamily("sipmeet_rooms_open", "Rooms with participants", value=s.rooms_open)
        ends = CounterMetricFamily(
            "sipmeet_calls_ended",
            "Recorded calls by end result and reason",
            labels=["result", "reason"],
        )
        for (result, reason), count in sorted(s.calls_by_end.items()):
            ends.add_metric([result, reason], count)
        yield ends
        if s.sip_auth_failures is not None:
            yield CounterMetricFamily(
                "sipmeet_sip_auth_failures",
                "SIP digest authentication failures",
                value=s.sip_auth_failures,
            )
        packets = GaugeMetricFamily(
            "sipmeet_rtp_packets", "RTP packets of the live calls", labels=["direction"]
        )
        packets.add_metric(["in"], s.packets_in)
        packets.add_metric(["out"], s.packets_out)
        yield packets
        yield GaugeMetricFamily(
            "sipmeet_rtp_packets_lost", "RTP packets lost on the live calls", value=s.packets_lost
        )
        jitter = GaugeMetricFamily(
            "sipmeet_rtp_jitter_ms",
            "Interarrival jitter of the live calls (RFC 3550)",
            labels=["stat"],
        )
        jitter.add_metric(["max"], max(s.jitter_ms, default=0.0))
        jitter.add_metric(["mean"], sum(s.jitter_ms) / len(s.jitter_ms) if s.jitter_ms else 0.0)
        yield jitter
        yield GaugeMetricFamily(
            "sipmeet_mixer_ticks", "Mixer ticks run by the open rooms' clocks", value=s.ticks
        )
        yield GaugeMetricFamily(
            "sipmeet_mixer_ticks_skipped",
            "Mixer ticks skipped because the loop fell behind (open rooms)",
            value=s.skipped_ticks,
        )
        lateness = GaugeMetricFamily(
            "sipmeet_mixer_tick_lateness_seconds",
            "Lateness of the open rooms' mixer ticks",
            labels=["stat"],
        )
        lateness.add_metric(["max"], s.lateness_max_s)
        lateness.add_metric(["mean"], s.lateness_sum_s / s.ticks if s.ticks else 0.0)
        yield lateness


class Metrics:
    """The app's metrics: a private registry, the scrape-time collector and event counters."""

    def __init__(self) -> None:
        # No ``*_created`` timestamp series beside each counter (a process-wide switch of
        # prometheus_client; the node's counters start with the process anyway).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=False)
        self._node = _NodeCollector()
        self.registry.register(self._node)
        self.api_auth_failures = Counter(
            "sipmeet_api_auth_failures",
            "REST API requests refused for a bad token",
            registry=self.registry,
        )
        self.participants_joined = Counter(
            "sipmeet_participants_joined",
            "Participants that joined a room",
            ["kind"],
            registry=self.registry,
        )
        self.participants_left = Counter(
            "sipmeet_participants_left",
            "Participants that left a room",
            ["kind"],
            registry=self.registry,
        )

        self.calls_rejected = Counter(
            "sipmeet_calls_rejected",
            "INVITEs refused after the digest challenge, by SIP status and reason",
            ["status", "reason"],
            registry=self.registry,
        )

    def on_call_event(self, event: CallEvent) -> None:
        if isinstance(event, CallRejected):
            self.calls_rejected.labels(str(event.status), event.reason).inc()

    def on_room_event(self, event: RoomEvent) -> None:
        if isinstance(event, ParticipantJoined):
            self.participants_joined.labels(event.kind).inc()
        elif isinstance(event, ParticipantLeft):
            self.participants_left.labels(event.kind).inc()

    async def render(self, ctx: ApiContext) -> bytes:
        """Gather a snapshot and return the Prometheus text exposition."""
        snap = Snapshot()
        calls: Sequence[object] = ctx.live.calls if ctx.live is not None else ()
        snap.calls_active = len(calls)
        if ctx.live is not None:
            for call in ctx.live.calls:
                quality = call.describe().get("quality")
                if not isinstance(quality, Mapping):
                    continue
                snap.packets_in += _number(quality.get("packets_in"))
                snap.packets_out += _number(quality.get("packets_out"))
                snap.packets_lost += max(_number(quality.get("lost")), 0.0)
                if quality.get("jitter_ms") is not None:
                    snap.jitter_ms.append(_number(quality.get("jitter_ms")))
        if ctx.rooms is not None:
            snap.rooms_open = len(ctx.rooms)
            for room in ctx.rooms:
                clock = ctx.rooms.clock(room.room_id)
                if clock is None:
                    continue
                snap.ticks += clock.ticks
                snap.skipped_ticks += clock.skipped
                snap.lateness_max_s = max(snap.lateness_max_s, clock.lateness_s_max)
                snap.lateness_sum_s += clock.lateness_s_sum
        failures: Callable[[], int] | None = ctx.auth_failures
        snap.sip_auth_failures = failures() if failures is not None else None
        snap.calls_by_end = await run_sync(ctx.store.count_calls_by_end)
        self._node.snapshot = snap
        return generate_latest(self.registry)
