"""Plivo: Plivo XML with SIP digest credentials, V3 signatures, the voice webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import httpx
import pytest

from sipmeet.providers import (
    plivo_apology_xml,
    plivo_dial_xml,
    plivo_signature_v3,
    plivo_signature_valid,
)
from sipmeet.storage import Store

from .conftest import PUBLIC_URL, ClientFactory, Room

TOKEN = "MzZhYjU0NTMyN2E5ZWE4ZGQ0NDVhMDcwZGUyYWY4"
NUMBER = "+14155550123"
URL = f"{PUBLIC_URL}/providers/plivo/voice"
NONCE = "05429567804466091622"


def hmac_b64(message: str, token: str = TOKEN) -> str:
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def call_params(to: str = "14155550123") -> dict[str, str]:
    # Plivo sends numbers as digits without the plus.
    return {
        "CallStatus": "ringing",
        "CallUUID": "4f1d8a2e-0000-4000-8000-000000000001",
        "Direction": "inbound",
        "Event": "StartApp",
        "From": "14155550111",
        "To": to,
    }


def signed(params: dict[str, str], url: str = URL, token: str = TOKEN) -> dict[str, str]:
    grouped = {k: [v] for k, v in params.items()}
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Plivo-Signature-V3": plivo_signature_v3(token, url, grouped, NONCE),
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }


async def post(
    client: httpx.AsyncClient, params: dict[str, str], hdrs: dict[str, str], query: str = ""
) -> httpx.Response:
    path = "/providers/plivo/voice" + (f"?{query}" if query else "")
    return await client.post(path, content=urlencode(params), headers=hdrs)


def expected_dial(uri: str, username: str, password: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
        f'<User sipAuthPassword="{password}" sipAuthUsername="{username}">{uri}</User>'
        "</Dial></Response>"
    )


@pytest.fixture
def routed(store: Store, room: Room) -> Room:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="plivo", room_id=room.room_id, auth_token=TOKEN
    )
    return room


# --- markup and signatures -------------------------------------------------------------------


def test_dial_xml() -> None:
    got = plivo_dial_xml("sip:abcd-efgh-ijkl@sip.example.com", "smuser", "pw&1")
    root = ET.fromstring(got.split("?>", 1)[1])
    user = root.find("./Dial/User")
    assert user is not None
    assert user.text == "sip:abcd-efgh-ijkl@sip.example.com"
    assert user.attrib == {"sipAuthUsername": "smuser", "sipAuthPassword": "pw&1"}
    assert got.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Dial><User ')
    assert "sip:r@d;transport=tcp</User>" in plivo_dial_xml("sip:r@d", "u", "p", transport="tcp")
    assert plivo_apology_xml("Closed.") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Speak>Closed.</Speak>'
        "<Hangup /></Response>"
    )


def test_signature_v3_strings() -> None:
    # POST with parameters: "<url>?" + sorted name+value pairs, then "." + nonce.
    params = {"To": ["14155550123"], "From": ["14155550111"], "CallUUID": ["u-1"]}
    assert plivo_signature_v3(TOKEN, URL, params, NONCE) == hmac_b64(
        f"{URL}?CallUUIDu-1From14155550111To14155550123.{NONCE}"
    )
    # With a query on the URL: its sorted k=v pairs, ".", then the POST pairs.
    assert plivo_signature_v3(TOKEN, URL + "?b=2&a=1", params, NONCE) == hmac_b64(
        f"{URL}?a=1&b=2.CallUUIDu-1From14155550111To14155550123.{NONCE}"
    )
    # POST without parameters: the URL (with its sorted query) alone.
    assert plivo_signature_v3(TOKEN, URL, {}, NONCE) == hmac_b64(f"{URL}.{NONCE}")
    assert plivo_signature_v3(TOKEN, URL + "?b=2&a=1", {}, NONCE) == hmac_b64(
        f"{URL}?a=1&b=2.{NONCE}"
    )
    # GET: the parameters join the query.
    assert plivo_signature_v3(TOKEN, URL + "?b=2", {"a": ["1"]}, NONCE, method="GET") == (
        hmac_b64(f"{URL}?a=1&b=2.{NONCE}")
    )
    # Repeated names: each value, sorted.
    assert plivo_signature_v3(TOKEN, URL, {"x": ["2", "1"]}, NONCE) == hmac_b64(
        f"{URL}?x1x2.{NONCE}"
    )


def test_signature_valid() -> None:
    params = {"To": ["14155550123"]}
    good = plivo_signature_v3(TOKEN, URL, params, NONCE)
    assert plivo_signature_valid(TOKEN, URL, params, NONCE, good)
    # Plivo lists one signature per active auth token, comma-separated.
    assert plivo_signature_valid(TOKEN, URL, params, NONCE, f"c29tZXRoaW5nIGVsc2U=, {good}")
    assert not plivo_signature_valid(TOKEN, URL, params, "1" + NONCE, good)
    assert not plivo_signature_valid("other", URL, params, NONCE, good)
    assert not plivo_signature_valid(TOKEN, URL, {"To": ["14155550124"]}, NONCE, good)
    assert not plivo_signature_valid(TOKEN, URL, params, None, good)
    assert not plivo_signature_valid(TOKEN, URL, params, NONCE, None)
    assert not plivo_signature_valid(TOKEN, URL, params, NONCE, "ünïcode")


# --- the webhook -------------------------------------------------------------------------------


async def test_signed_call_dials_the_room(client: httpx.AsyncClient, routed: Room) -> None:
    params = call_params()
    response = await post(client, params, signed(params))
    assert response.status_code == 200
    assert response.text == expected_dial(routed.sip_uri, routed.username, routed.password)


async def test_query_and_transport(client_for: ClientFactory, routed: Room) -> None:
    params = call_params()
    hdrs = signed(params, url=f"{URL}?app=sipmeet")
    response = await post(client_for(transport="tcp"), params, hdrs, query="app=sipmeet")
    assert response.text == expected_dial(
        routed.sip_uri + ";transport=tcp", routed.username, routed.password
    )


async def test_bad_signature_is_403(client: httpx.AsyncClient, routed: Room) -> None:
    params = call_params()
    for sent, hdrs in (
        (params, signed(params, token="wrong")),
        ({**params, "From": "14155550999"}, signed(params)),
        (params, {"Content-Type": "application/x-www-form-urlencoded"}),
    ):
        response = await post(client, sent, hdrs)
        assert response.status_code == 403
        assert routed.password not in response.text


async def test_unknown_number_and_disabled_sip(
    client: httpx.AsyncClient, store: Store, routed: Room
) -> None:
    params = call_params(to="14155550999")
    response = await post(client, params, signed(params))
    assert (response.status_code, response.text) == (200, plivo_apology_xml())
    store.disable_sip(routed.key_id)
    params = call_params()
    response = await post(client, params, signed(params))
    assert (response.status_code, response.text) == (200, plivo_apology_xml())
