"""The dial-in menu in provider markup: ask for the meeting code (and PIN), then dial the room.

A number added with ``--ivr`` answers with a gather: Twilio's and Telnyx's ``<Gather>``
(TeXML is Twilio-compatible) or Plivo's ``<GetDigits>``. The digits come back to the same
voice webhook with ``step`` (and the room, for the PIN) in the query string, which the
provider signs with the rest of the URL. Three wrong or empty entries end the call.
"""

from __future__ import annotations

import hmac
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import urlencode

from sipmeet.storage import Store
from sipmeet.storage.records import PhoneNumber, Provider

from .base import xml_document

__all__ = ["MAX_ATTEMPTS", "PROMPTS", "menu_step"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
GATHER_TIMEOUT_S = 10
PROMPTS = {
    "code": "Welcome. Please enter your meeting code, followed by the pound key.",
    "pin": "Please enter the meeting PIN, followed by the pound key.",
    "wrong_code": "That meeting code was not recognised. Please try again.",
    "wrong_pin": "That PIN is not correct. Please try again.",
    "goodbye": "Sorry, we could not find your meeting. Goodbye.",
}


def _gather(provider: Provider, prompt: str, action: str, timeout_url: str) -> str:
    root = ET.Element("Response")
    attrs = {
        "action": action,
        "method": "POST",
        "finishOnKey": "#",
        "timeout": str(GATHER_TIMEOUT_S),
    }
    if provider == "plivo":
        gather = ET.SubElement(root, "GetDigits", attrs)
        ET.SubElement(gather, "Speak").text = prompt
    else:
        gather = ET.SubElement(root, "Gather", {"input": "dtmf", **attrs})
        ET.SubElement(gather, "Say").text = prompt
    # No digits before the timeout: the provider goes on to the next verb.
    ET.SubElement(root, "Redirect", {"method": "POST"}).text = timeout_url
    return xml_document(root)


def _goodbye(provider: Provider) -> str:
    root = ET.Element("Response")
    ET.SubElement(root, "Speak" if provider == "plivo" else "Say").text = PROMPTS["goodbye"]
    ET.SubElement(root, "Hangup")
    return xml_document(root)


def menu_step(
    store: Store,
    provider: Provider,
    number: PhoneNumber,
    base_url: str,
    query: Mapping[str, str],
    digits: str | None,
) -> tuple[str, str | None]:
    """The markup for this step of the menu, and the room to dial when the caller got there.

    Returns ``(markup, None)`` while the menu goes on, ``("", room_id)`` when the room is found
    (and its PIN right): the caller then builds the dial markup.
    """
    step = query.get("step")
    try:
        attempt = max(0, int(query.get("attempt", "0")))
    except ValueError:
        attempt = 0

    def url(**params: str | int) -> str:
        return f"{base_url}?{urlencode(params)}"

    def ask(kind: str, prompt: str, attempt: int, **extra: str) -> tuple[str, str | None]:
        action = url(step=kind, attempt=attempt, **extra)
        timeout = url(step=kind, attempt=attempt, timeout=1, **extra)
        return _gather(provider, prompt, action, timeout), None

    def retry(kind: str, **extra: str) -> tuple[str, str | None]:
        if attempt + 1 >= MAX_ATTEMPTS:
            log.info("%s dial-in to %s: too many wrong entries", provider, number.number)
            return _goodbye(provider), None
        wrong = PROMPTS["wrong_code" if kind == "code" else "wrong_pin"]
        return ask(kind, wrong, attempt + 1, **extra)

    if step not in ("code", "pin"):
        return ask("code", PROMPTS["code"], 0)
    entry = (digits or "").strip()
    if step == "code":
        room = store.room_by_dialin_code(entry) if entry else None
        if room is None or room.api_key_id != number.api_key_id or not room.active:
            return retry("code")
        if room.has_pin:
            return ask("pin", PROMPTS["pin"], 0, room=room.room_id)
        return "", room.room_id
    room_id = query.get("room", "")
    room = store.get_room(room_id) if room_id else None
    if room is None or room.api_key_id != number.api_key_id or not room.active:
        return retry("code")
    expected = store.room_pin(room.room_id)
    if expected is None or not entry or not hmac.compare_digest(expected.encode(), entry.encode()):
        return retry("pin", room=room.room_id)
    return "", room.room_id
