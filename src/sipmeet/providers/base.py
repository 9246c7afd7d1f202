"""What the three providers share: SIP URI transport, the XML document form, parsed params.

Provider markup is small XML: ``<Response>`` with verbs in it. Twilio's is built with the
``twilio`` package's own TwiML classes; TeXML (Telnyx) and Plivo XML are built here with
ElementTree, which escapes attribute values and text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = [
    "APOLOGY",
    "Params",
    "Transport",
    "last_value",
    "with_transport",
    "xml_document",
]

Transport = Literal["udp", "tcp", "tls"]
# Webhook parameters as sent: a name may repeat, so each maps to its values in order.
Params = Mapping[str, Sequence[str]]

APOLOGY = "Sorry, this number cannot take your call right now. Please try again later. Goodbye."

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def with_transport(sip_uri: str, transport: Transport | None) -> str:
    """``sip:room@domain;transport=tcp`` (RFC 3261 §19.1.1 URI parameter); unchanged for None."""
    if transport is None:
        return sip_uri
    if transport not in ("udp", "tcp", "tls"):
        raise ValueError(f"transport must be udp, tcp or tls, got {transport!r}")
    return f"{sip_uri};transport={transport}"


def xml_document(root: ET.Element) -> str:
    """The element as a UTF-8 XML document with its declaration, the way providers expect it."""
    return _XML_DECLARATION + ET.tostring(root, encoding="unicode")


def last_value(params: Params, name: str) -> str | None:
    """The last value of a parameter, or None when it is absent."""
    values = params.get(name)
    return values[-1] if values else None
