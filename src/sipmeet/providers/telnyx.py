"""Telnyx: TeXML answers and the Ed25519 webhook signature check.

TeXML is Telnyx's Twilio-compatible call markup: ``<Response><Dial><Sip username=…
password=…>sip:…</Sip></Dial></Response>`` dials a SIP URI and answers its digest challenge.

Telnyx signs every webhook with its account's Ed25519 key: ``telnyx-signature-ed25519`` is the
base64 signature of ``<telnyx-timestamp>|<raw body>``, and ``telnyx-timestamp`` is Unix seconds.
The public key (base64, shown in the Telnyx portal) is what a number's "auth token" holds here.
A signature older or newer than the tolerance is refused, so a captured request cannot be
replayed later.
"""

from __future__ import annotations

import base64
import binascii
import math
import xml.etree.ElementTree as ET

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .base import APOLOGY, Transport, with_transport, xml_document

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_S",
    "telnyx_apology_texml",
    "telnyx_dial_texml",
    "telnyx_public_key_valid",
    "telnyx_signature_valid",
]

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_S = 300.0  # how far the signed timestamp may be from our clock, seconds


def telnyx_dial_texml(
    sip_uri: str, username: str, password: str, *, transport: Transport | None = None
) -> str:
    """TeXML that dials the SIP URI with digest credentials."""
    root = ET.Element("Response")
    dial = ET.SubElement(root, "Dial")
    sip = ET.SubElement(dial, "Sip", {"password": password, "username": username})
    sip.text = with_transport(sip_uri, transport)
    return xml_document(root)


def telnyx_apology_texml(message: str = APOLOGY) -> str:
    """TeXML that speaks the message and hangs up."""
    root = ET.Element("Response")
    ET.SubElement(root, "Say").text = message
    ET.SubElement(root, "Hangup")
    return xml_document(root)


def _public_key(public_key_b64: str) -> Ed25519PublicKey | None:
    try:
        raw = base64.b64decode(public_key_b64.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None


def telnyx_public_key_valid(public_key_b64: str) -> bool:
    """Whether the text is a base64 Ed25519 public key (32 bytes)."""
    return _public_key(public_key_b64) is not None


def telnyx_signature_valid(
    public_key_b64: str,
    body: bytes,
    signature_b64: str | None,
    timestamp: str | None,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """Whether the headers sign this raw body, at a time within ``tolerance_s`` of ``now``."""
    if not signature_b64 or not timestamp:
        return False
    try:
        signed_at = int(timestamp.strip())
    except ValueError:
        return False
    if not math.isfinite(now) or abs(now - signed_at) > tolerance_s:
        return False
    key = _public_key(public_key_b64)
    if key is None:
        return False
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(signature, timestamp.strip().encode("ascii") + b"|" + body)
    except InvalidSignature:
        return False
    return True
