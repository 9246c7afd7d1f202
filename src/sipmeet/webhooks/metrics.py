"""Prometheus series of the webhook worker, as a collector for the app's metrics registry."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .worker import WebhookWorker

__all__ = ["WebhookCollector"]


class WebhookCollector(Collector):
    """``sipmeet_webhook_failures_total`` (failed attempts and dropped events),
    ``sipmeet_webhook_attempts_total`` and ``sipmeet_webhook_deliveries{status}`` (the store's
    deliveries by status, refreshed by the worker at most once a second)."""

    def __init__(self, worker: WebhookWorker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        w = self._worker
        yield CounterMetricFamily(
            "sipmeet_webhook_failures",
            "Webhook delivery attempts that failed, and events dropped on a full queue",
            value=w.failures,
        )
        yield CounterMetricFamily(
            "sipmeet_webhook_attempts", "Webhook delivery attempts made", value=w.attempts
        )
        deliveries = GaugeMetricFamily(
            "sipmeet_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        for status, count in sorted(w.delivery_counts.items()):
            deliveries.add_metric([status], count)
        yield deliveries
