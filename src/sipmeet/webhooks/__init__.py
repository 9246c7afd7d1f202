"""Webhooks per API key: signed JSON POSTs of room and call events, delivered in the background."""

from .events import (
    WEBHOOK_EVENTS,
    EventShaper,
    WebhookEvent,
    WebhookEventName,
    build_payload,
    encode_body,
    iso_time,
    new_delivery_id,
)
from .metrics import WebhookCollector
from .retry import RetryPolicy, is_success
from .signing import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    compute_signature,
    new_secret,
    signature_header,
    verify_signature,
)
from .worker import WebhookWorker

__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "WEBHOOK_EVENTS",
    "EventShaper",
    "RetryPolicy",
    "WebhookCollector",
    "WebhookEvent",
    "WebhookEventName",
    "WebhookWorker",
    "build_payload",
    "compute_signature",
    "encode_body",
    "is_success",
    "iso_time",
    "new_delivery_id",
    "new_secret",
    "signature_header",
    "verify_signature",
]
