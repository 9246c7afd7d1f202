"""Plivo: Plivo XML answers and the V3 webhook signature check.

Plivo dials a SIP URI with the ``<User>`` noun of ``<Dial>``. For a SIP endpoint that
challenges (as sipmeet does: 401 with digest), ``<User>`` takes ``sipAuthUsername`` and
``sipAuthPassword`` (8-128 characters), and Plivo answers the challenge with them.
Spoken text is ``<Speak>``.

Plivo signs webhooks with ``X-Plivo-Signature-V3`` (one or more comma-separated base64
signatures) and ``X-Plivo-Signature-V3-Nonce``. A signature is base64 HMAC-SHA256, keyed with
the account's auth token, of ``<base>.<nonce>`` where, for a POST, ``<base>`` is the URL
without its query, then ``?`` and the URL's own query parameters sorted (``k=v`` joined by
``&``), then (when there was a query) ``.``, then the POST parameters sorted by name, each as
name followed by value. A POST without parameters signs the URL (with its sorted query) alone.
For a GET the parameters are part of the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .base import APOLOGY, Params, Transport, with_transport, xml_document

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "plivo_apology_xml",
    "plivo_dial_xml",
    "plivo_signature_v3",
    "plivo_signature_valid",
]

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"


def plivo_dial_xml(
    sip_uri: str, username: str, password: str, *, transport: Transport | None = None
) -> str:
    """Plivo XML that dials the SIP URI and answers its digest challenge."""
    root = ET.Element("Response")
    dial = ET.SubElement(root, "Dial")
    user = ET.SubElement(dial, "User", {"sipAuthPassword": password, "sipAuthUsername": username})
    user.text = with_transport(sip_uri, transport)
    return xml_document(root)


def plivo_apology_xml(message: str = APOLOGY) -> str:
    """Plivo XML that speaks the message and hangs up."""
    root = ET.Element("Response")
    ET.SubElement(root, "Speak").text = message
    ET.SubElement(root, "Hangup")
    return xml_document(root)


def _merged(into: dict[str, list[str]], params: Mapping[str, Sequence[str]]) -> None:
    for name, values in params.items():
        into.setdefault(name, []).extend(values)


def _query_string(params: Mapping[str, Sequence[str]]) -> str:
    return "&".join(f"{name}={value}" for name in sorted(params) for value in sorted(params[name]))


def _signed_base(method: Literal["GET", "POST"], url: str, params: Params) -> str:
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query: dict[str, list[str]] = {}
    _merged(query, _grouped(parse_qsl(parts.query, keep_blank_values=True)))
    if method == "GET":
        _merged(query, params)
        text = _query_string(query)
        return f"{bare}?{text}" if text else bare
    text = _query_string(query)
    if not params:
        return f"{bare}?{text}" if text else bare
    body = "".join(f"{name}{value}" for name in sorted(params) for value in sorted(params[name]))
    return f"{bare}?{text}.{body}" if text else f"{bare}?{body}"


def _grouped(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def plivo_signature_v3(
    auth_token: str,
    url: str,
    params: Params,
    nonce: str,
    *,
    method: Literal["GET", "POST"] = "POST",
) -> str:
    """The V3 signature Plivo sends for this request (base64)."""
    message = f"{_signed_base(method, url, params)}.{nonce}".encode()
    digest = hmac.new(auth_token.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def plivo_signature_valid(
    auth_token: str,
    url: str,
    params: Params,
    nonce: str | None,
    signature_header: str | None,
    *,
    method: Literal["GET", "POST"] = "POST",
) -> bool:
    """Whether one of the header's signatures signs this request."""
    if not auth_token or not nonce or not signature_header:
        return False
    expected = plivo_signature_v3(auth_token, url, params, nonce, method=method).encode("ascii")
    return any(
        hmac.compare_digest(expected, candidate.strip().encode("utf-8"))
        for candidate in signature_header.split(",")
    )
