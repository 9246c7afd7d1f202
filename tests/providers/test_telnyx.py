"""Telnyx: TeXML (Twilio-compatible markup), Ed25519 signatures, the voice webhook."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.twiml.voice_response import VoiceResponse

from sipmeet.providers import (
    telnyx_apology_texml,
    telnyx_dial_texml,
    telnyx_public_key_valid,
    telnyx_signature_valid,
)
from sipmeet.storage import Store

from .conftest import NOW, ClientFactory, Room

NUMBER = "+13129457420"
PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_B64 = base64.b64encode(
    PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()


def sign(body: bytes, timestamp: str, key: Ed25519PrivateKey = PRIVATE) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()


def form(to: str = NUMBER) -> bytes:
    return urlencode(
        {
            "AccountSid": "f5586561-8ff0-4291-a51b-c7dfe4139ff9",
            "CallSid": "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ",
            "CallStatus": "ringing",
            "ConnectionId": "1234567890",
            "Direction": "inbound",
            "From": "+35319605860",
            "To": to,
        }
    ).encode()


def headers(
    body: bytes,
    *,
    at: float = NOW,
    content_type: str = "application/x-www-form-urlencoded",
    key: Ed25519PrivateKey = PRIVATE,
) -> dict[str, str]:
    timestamp = str(int(at))
    return {
        "Content-Type": content_type,
        "telnyx-timestamp": timestamp,
        "telnyx-signature-ed25519": sign(body, timestamp, key),
    }


def twilio_style_dial(uri: str, username: str, password: str) -> str:
    response = VoiceResponse()
    response.dial().sip(uri, username=username, password=password)
    return str(response)


async def post(client: httpx.AsyncClient, body: bytes, hdrs: dict[str, str]) -> httpx.Response:
    return await client.post("/providers/telnyx/voice", content=body, headers=hdrs)


@pytest.fixture
def routed(store: Store, room: Room) -> Room:
    store.add_number(
        NUMBER,
        api_key_id=room.key_id,
        provider="telnyx",
        room_id=room.room_id,
        auth_token=PUBLIC_B64,
    )
    return room


# --- markup and signatures -------------------------------------------------------------------


def test_texml_matches_twiml() -> None:
    # TeXML is Twilio-compatible markup: the same document twilio's classes produce.
    got = telnyx_dial_texml("sip:abcd-efgh-ijkl@sip.example.com", "smuser", 'p"w&<>')
    assert got == twilio_style_dial("sip:abcd-efgh-ijkl@sip.example.com", "smuser", 'p"w&<>')
    tcp = telnyx_dial_texml("sip:r@d", "u", "p", transport="tcp")
    assert tcp == twilio_style_dial("sip:r@d;transport=tcp", "u", "p")
    apology = VoiceResponse()
    apology.say("Closed.")
    apology.hangup()
    assert telnyx_apology_texml("Closed.") == str(apology)


def test_signature() -> None:
    body = form()
    ts = str(int(NOW))
    sig = sign(body, ts)
    assert telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW)
    assert telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW + 300)
    assert telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW - 300)
    # Replayed too late, or from the future.
    assert not telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW + 301)
    assert not telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW - 301)
    assert telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW + 9, tolerance_s=10)
    assert not telnyx_signature_valid(PUBLIC_B64, body, sig, ts, now=NOW + 11, tolerance_s=10)
    # A changed body or timestamp, another key, malformed inputs.
    assert not telnyx_signature_valid(PUBLIC_B64, body + b"&x=1", sig, ts, now=NOW)
    assert not telnyx_signature_valid(PUBLIC_B64, body, sig, str(int(NOW) + 1), now=NOW)
    other = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    assert not telnyx_signature_valid(other, body, sig, ts, now=NOW)
    for bad_key in ("", "not base64!", base64.b64encode(b"short").decode()):
        assert not telnyx_signature_valid(bad_key, body, sig, ts, now=NOW)
    for bad_sig in (None, "", "%%%", base64.b64encode(b"x" * 64).decode()):
        assert not telnyx_signature_valid(PUBLIC_B64, body, bad_sig, ts, now=NOW)
    for bad_ts in (None, "", "soon", "1.5e9"):
        assert not telnyx_signature_valid(PUBLIC_B64, body, sig, bad_ts, now=NOW)
    assert telnyx_public_key_valid(PUBLIC_B64)
    assert not telnyx_public_key_valid("c2hvcnQ=")


# --- the webhook -------------------------------------------------------------------------------


async def test_signed_form_call_dials_the_room(client: httpx.AsyncClient, routed: Room) -> None:
    body = form()
    response = await post(client, body, headers(body))
    assert response.status_code == 200
    assert response.text == twilio_style_dial(routed.sip_uri, routed.username, routed.password)


async def test_signed_json_call_dials_the_room(client: httpx.AsyncClient, routed: Room) -> None:
    body = json.dumps({"CallSid": "v3:abc", "From": "+35319605860", "To": NUMBER}).encode()
    response = await post(client, body, headers(body, content_type="application/json"))
    assert response.status_code == 200
    assert response.text == twilio_style_dial(routed.sip_uri, routed.username, routed.password)


async def test_tls_transport(client_for: ClientFactory, routed: Room) -> None:
    body = form()
    response = await post(client_for(transport="tls"), body, headers(body))
    assert response.text == twilio_style_dial(
        routed.sip_uri + ";transport=tls", routed.username, routed.password
    )


async def test_bad_signatures_are_403(client: httpx.AsyncClient, routed: Room) -> None:
    body = form()
    cases = [
        (body, headers(body, key=Ed25519PrivateKey.generate())),
        (body, headers(body, at=NOW - 3600)),
        (body + b"&Extra=1", headers(body)),
        (body, {"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for sent, hdrs in cases:
        response = await post(client, sent, hdrs)
        assert response.status_code == 403
        assert routed.password not in response.text


async def test_unknown_number_and_inactive_room(
    client: httpx.AsyncClient, store: Store, routed: Room
) -> None:
    body = form(to="+13129457499")
    response = await post(client, body, headers(body))
    assert (response.status_code, response.text) == (200, telnyx_apology_texml())
    store.deactivate_room(routed.room_id)
    body = form()
    response = await post(client, body, headers(body))
    assert (response.status_code, response.text) == (200, telnyx_apology_texml())
    for junk in (b"[1, 2]", b"{not json"):
        response = await post(client, junk, headers(junk, content_type="application/json"))
        assert (response.status_code, response.text) == (200, telnyx_apology_texml())
