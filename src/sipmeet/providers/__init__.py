"""Trunk-provider webhooks (Twilio, Telnyx, Plivo): a phone number's call → its room's SIP URI."""

from .base import APOLOGY, Params, Transport, with_transport
from .plivo import (
    plivo_apology_xml,
    plivo_dial_xml,
    plivo_signature_v3,
    plivo_signature_valid,
)
from .telnyx import (
    telnyx_apology_texml,
    telnyx_dial_texml,
    telnyx_public_key_valid,
    telnyx_signature_valid,
)
from .twilio import twilio_apology_twiml, twilio_dial_twiml, twilio_signature_valid
from .webhooks import ProviderContext, create_provider_router, webhook_url

__all__ = [
    "APOLOGY",
    "Params",
    "ProviderContext",
    "Transport",
    "create_provider_router",
    "plivo_apology_xml",
    "plivo_dial_xml",
    "plivo_signature_v3",
    "plivo_signature_valid",
    "telnyx_apology_texml",
    "telnyx_dial_texml",
    "telnyx_public_key_valid",
    "telnyx_signature_valid",
    "twilio_apology_twiml",
    "twilio_dial_twiml",
    "twilio_signature_valid",
    "webhook_url",
    "with_transport",
]
