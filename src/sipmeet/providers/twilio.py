"""Twilio: TwiML answers built with the ``twilio`` package, and its webhook signature check.

Twilio signs each webhook with ``X-Twilio-Signature``: base64 HMAC-SHA1 (or HMAC-SHA256 when
``X-Twilio-Webhooks-Signature-Settings`` says so) of the full URL it requested followed by the
POST parameters sorted by name, keyed with the account's auth token. ``RequestValidator`` from
the ``twilio`` package does that computation; we hand it the URL under our public URL.
"""

from __future__ import annotations

from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.voice_response import VoiceResponse

from .base import APOLOGY, Params, Transport, with_transport

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "twilio_apology_twiml",
    "twilio_dial_twiml",
    "twilio_signature_valid",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


def twilio_dial_twiml(
    sip_uri: str, username: str, password: str, *, transport: Transport | None = None
) -> str:
    """``<Response><Dial><Sip username=… password=…>sip:…</Sip></Dial></Response>``: Twilio
    calls the SIP URI and answers our digest challenge with these credentials."""
    response = VoiceResponse()
    dial = response.dial()
    dial.sip(with_transport(sip_uri, transport), username=username, password=password)
    return str(response.to_xml())


def twilio_apology_twiml(message: str = APOLOGY) -> str:
    """``<Response><Say>…</Say><Hangup/></Response>``: the caller hears why, then the call ends."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response.to_xml())


class _MultiParams(dict[str, list[str]]):
    """Repeated parameters the way ``RequestValidator`` reads them (Django's ``getlist``)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def twilio_signature_valid(
    auth_token: str,
    url: str,
    params: Params,
    signature: str | None,
    *,
    signature_settings: str | None = None,
) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) signs ``url`` + ``params``."""
    if not signature or not auth_token:
        return False
    algorithm = get_signature_algorithm(signature_settings)
    validator = RequestValidator(auth_token)
    multi = _MultiParams({name: list(values) for name, values in params.items()})
    return bool(validator.validate(url, multi, signature, algorithm))
