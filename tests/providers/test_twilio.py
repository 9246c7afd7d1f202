"""Twilio: TwiML built the way twilio's own classes build it, signatures, the voice webhook."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipmeet.config import Settings
from sipmeet.providers import (
    twilio_apology_twiml,
    twilio_dial_twiml,
    twilio_signature_valid,
    webhook_url,
)
from sipmeet.providers.menu import PROMPTS
from sipmeet.storage import Store

from .conftest import DOMAIN, PUBLIC_URL, ClientFactory, Room

TOKEN = "twilio-auth-token-0123456789abcdef"
NUMBER = "+14155550100"
URL = f"{PUBLIC_URL}/providers/twilio/voice"
XML = "application/xml"


def expected_dial(uri: str, username: str, password: str) -> str:
    response = VoiceResponse()
    dial = Dial()
    dial.sip(uri, username=username, password=password)
    response.append(dial)
    return str(response)


def call_params(to: str = NUMBER) -> dict[str, str]:
    return {
        "AccountSid": "AC00000000000000000000000000000000",
        "ApiVersion": "2010-04-01",
        "CallSid": "CA11111111111111111111111111111111",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+15005550006",
        "To": to,
    }


def signed(params: dict[str, str], url: str = URL, token: str = TOKEN) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
    }


async def post(
    client: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str], query: str = ""
) -> httpx.Response:
    path = "/providers/twilio/voice" + (f"?{query}" if query else "")
    return await client.post(path, content=urlencode(params), headers=headers)


# --- markup and signatures -------------------------------------------------------------------


def test_dial_twiml_is_twilios_own() -> None:
    got = twilio_dial_twiml("sip:abcd-efgh-ijkl@sip.example.com", "smuser", "p&ss<word>")
    assert got == expected_dial("sip:abcd-efgh-ijkl@sip.example.com", "smuser", "p&ss<word>")
    assert got == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
        '<Sip password="p&amp;ss&lt;word&gt;" username="smuser">'
        "sip:abcd-efgh-ijkl@sip.example.com</Sip></Dial></Response>"
    )


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_dial_twiml_with_transport(transport: str) -> None:
    got = twilio_dial_twiml("sip:r@d", "u", "p", transport=transport)  # type: ignore[arg-type]
    assert f'<Sip password="p" username="u">sip:r@d;transport={transport}</Sip>' in got
    with pytest.raises(ValueError, match="transport"):
        twilio_dial_twiml("sip:r@d", "u", "p", transport="sctp")  # type: ignore[arg-type]


def test_apology_says_something_then_hangs_up() -> None:
    response = VoiceResponse()
    response.say("Not now.")
    response.hangup()
    assert twilio_apology_twiml("Not now.") == str(response)
    assert "<Say>Sorry" in twilio_apology_twiml()
    assert twilio_apology_twiml().endswith("</Say><Hangup /></Response>")


def test_signature_published_example() -> None:
    # The example in Twilio's webhook security documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": ["CA1234567890ABCDE"],
        "Caller": ["+14158675309"],
        "Digits": ["1234"],
        "From": ["+14158675309"],
        "To": ["+18005551212"],
    }
    assert twilio_signature_valid("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio_signature_valid("12346", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    tampered = {**params, "Digits": ["9999"]}
    assert not twilio_signature_valid("12345", url, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio_signature_valid("12345", url, params, None)
    assert not twilio_signature_valid("12345", url, params, "")


def test_signature_hmac_sha256_setting() -> None:
    params = {"To": [NUMBER]}
    sig = RequestValidator(TOKEN).compute_signature(URL, {"To": NUMBER}, "HMAC_SHA256")
    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    assert twilio_signature_valid(TOKEN, URL, params, sig, signature_settings=settings)
    assert not twilio_signature_valid(TOKEN, URL, params, sig)  # read as HMAC-SHA1


# --- the webhook -------------------------------------------------------------------------------


async def test_signed_call_dials_the_room(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="twilio", room_id=room.room_id, auth_token=TOKEN
    )
    params = call_params()
    response = await post(client, params, signed(params))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(XML)
    assert response.text == expected_dial(room.sip_uri, room.username, room.password)


async def test_called_number_in_other_spellings(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(
        "+1 (415) 555-0100",
        api_key_id=room.key_id,
        provider="twilio",
        room_id=room.room_id,
        auth_token=TOKEN,
    )
    params = call_params(to="14155550100")
    response = await post(client, params, signed(params))
    assert response.text == expected_dial(room.sip_uri, room.username, room.password)


async def test_transport_and_query_string(
    client_for: ClientFactory, store: Store, room: Room
) -> None:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="twilio", room_id=room.room_id, auth_token=TOKEN
    )
    params = call_params()
    query = "region=ie1&x=%2B1"
    headers = signed(params, url=f"{URL}?{query}")
    response = await post(client_for(transport="tcp"), params, headers, query=query)
    assert response.status_code == 200
    assert response.text == expected_dial(
        room.sip_uri + ";transport=tcp", room.username, room.password
    )


async def test_bad_or_missing_signature_is_403(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="twilio", room_id=room.room_id, auth_token=TOKEN
    )
    params = call_params()
    wrong_token = signed(params, token="not-the-token")
    wrong_url = signed(params, url="https://elsewhere.example.com/providers/twilio/voice")
    tampered = signed(params)
    for headers, sent in (
        (wrong_token, params),
        (wrong_url, params),
        (tampered, {**params, "From": "+15005550009"}),
        ({"Content-Type": "application/x-www-form-urlencoded"}, params),
    ):
        response = await post(client, sent, headers)
        assert response.status_code == 403
        assert room.password not in response.text


async def test_number_without_a_token_is_refused(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(NUMBER, api_key_id=room.key_id, provider="twilio", room_id=room.room_id)
    params = call_params()
    response = await post(client, params, signed(params))
    assert response.status_code == 403


async def test_unknown_number_gets_the_apology(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="telnyx", room_id=room.room_id, auth_token="a2V5"
    )  # the same number at another provider does not count
    for params in (call_params(to="+14155550199"), call_params(to="sip:x@y"), call_params()):
        response = await post(client, params, signed(params))
        assert response.status_code == 200
        assert response.text == twilio_apology_twiml()
    response = await client.post("/providers/twilio/voice", content=b"\xff\xfe")
    assert (response.status_code, response.text) == (200, twilio_apology_twiml())


async def test_inactive_room_and_disabled_sip_get_the_apology(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="twilio", room_id=room.room_id, auth_token=TOKEN
    )
    params = call_params()

    store.disable_sip(room.key_id)
    response = await post(client, params, signed(params))
    assert (response.status_code, response.text) == (200, twilio_apology_twiml())

    store.enable_sip(room.key_id)
    store.deactivate_room(room.room_id)
    response = await post(client, params, signed(params))
    assert (response.status_code, response.text) == (200, twilio_apology_twiml())


# --- the dial-in menu (numbers added with --ivr) -------------------------------------------

MENU = "+14155550111"


async def menu_post(
    client: httpx.AsyncClient, query: str = "", digits: str | None = None
) -> httpx.Response:
    params = call_params(to=MENU)
    if digits is not None:
        params["Digits"] = digits
    url = URL + (f"?{query}" if query else "")
    return await post(client, params, signed(params, url=url), query=query)


def expected_gather(prompt: str, query: str, timeout_query: str) -> str:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf", action=f"{URL}?{query}", method="POST", finish_on_key="#", timeout=10
    )
    gather.say(prompt)
    response.redirect(f"{URL}?{timeout_query}", method="POST")
    return str(response)


async def test_menu_asks_for_the_code_then_the_pin_then_dials_the_room(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(MENU, api_key_id=room.key_id, provider="twilio", ivr=True, auth_token=TOKEN)
    guarded = store.create_room(room.key_id, "board", pin="2468")
    first = await menu_post(client)
    assert first.status_code == 200
    assert _same_xml(
        first.text,
        expected_gather(PROMPTS["code"], "step=code&attempt=0", "step=code&attempt=0&timeout=1"),
    )
    asked_pin = await menu_post(client, "step=code&attempt=0", digits=str(guarded.dialin_code))
    assert _same_xml(
        asked_pin.text,
        expected_gather(
            PROMPTS["pin"],
            "step=pin&attempt=0&room=board",
            "step=pin&attempt=0&timeout=1&room=board",
        ),
    )
    dialled = await menu_post(client, "step=pin&attempt=0&room=board", digits="2468")
    assert dialled.text == expected_dial(f"sip:board@{DOMAIN}", room.username, room.password)


async def test_menu_room_without_pin_is_dialled_at_once_and_wrong_entries_end_it(
    client: httpx.AsyncClient, store: Store, room: Room
) -> None:
    store.add_number(MENU, api_key_id=room.key_id, provider="twilio", ivr=True, auth_token=TOKEN)
    code = store.get_room(room.room_id)
    assert code is not None and code.dialin_code is not None
    dialled = await menu_post(client, "step=code&attempt=0", digits=code.dialin_code)
    assert dialled.text == expected_dial(room.sip_uri, room.username, room.password)
    wrong = await menu_post(client, "step=code&attempt=0", digits="000000")
    assert "not recognised" in wrong.text and "attempt=1" in wrong.text
    timed_out = await menu_post(client, "step=code&attempt=1&timeout=1")
    assert "attempt=2" in timed_out.text
    last = await menu_post(client, "step=code&attempt=2", digits="111111")
    assert "<Hangup" in last.text and PROMPTS["goodbye"] in last.text
    # Another key's room is not reachable through this number.
    other = store.create_api_key("other", enable_sip=True)
    theirs = store.create_room(other.id)
    foreign = await menu_post(client, "step=code&attempt=0", digits=str(theirs.dialin_code))
    assert "not recognised" in foreign.text


def _same_xml(got: str, want: str) -> bool:
    """Same document, attribute order aside (TwiML's and ours may order them differently)."""
    import xml.etree.ElementTree as ET

    def canon(text: str) -> str:
        return ET.canonicalize(text.split("?>", 1)[1])

    return canon(got) == canon(want)


async def test_a_failure_inside_is_the_apology_not_a_500(
    client: httpx.AsyncClient, store: Store, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_number(
        NUMBER, api_key_id=room.key_id, provider="twilio", room_id=room.room_id, auth_token=TOKEN
    )

    def broken(key_id: str) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "sip_credentials", broken)
    params = call_params()
    response = await post(client, params, signed(params))
    assert (response.status_code, response.text) == (200, twilio_apology_twiml())


def test_webhook_url(settings: Settings) -> None:
    assert webhook_url(settings, "twilio") == URL
    assert webhook_url(settings, "plivo") == f"{PUBLIC_URL}/providers/plivo/voice"
