"""Who is calling: display name, number and provider metadata from the INVITE."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..sip.errors import SipParseError
from ..sip.headers import parse_name_addr
from ..sip.message import Request
from ..sip.uri import parse_uri

__all__ = ["CallerIdentity", "caller_identity", "mask_number"]

_PHONE_NUMBER = re.compile(r"\+?[0-9]{3,20}")
PROVIDER_HEADER_PREFIXES = ("x-twilio-", "x-ph-", "x-telnyx-", "x-plivo-")


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    display_name: str
    number: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def masked_number(self) -> str | None:
        return mask_number(self.number) if self.number else None


def mask_number(number: str) -> str:
    """Keep a leading ``+`` and the last four digits: ``+15551234567`` -> ``+*******4567``."""
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    if len(digits) <= 4:
        return plus + "*" * len(digits)
    return plus + "*" * (len(digits) - 4) + digits[-4:]


def caller_identity(request: Request) -> CallerIdentity:
    """P-Asserted-Identity first (a trunk's verified identity), else From."""
    candidates = request.headers.get_list("P-Asserted-Identity") + request.headers.get_all("From")
    display = ""
    fallback = ""
    number: str | None = None
    for value in candidates:
        try:
            addr = parse_name_addr(value)
        except SipParseError:
            continue
        user: str | None = None
        if addr.uri.lower().startswith(("sip:", "sips:")):
            try:
                user = parse_uri(addr.uri).user
            except SipParseError:
                user = None
        elif addr.uri.lower().startswith("tel:"):
            user = addr.uri[4:].split(";", 1)[0]
        if not display and addr.display:
            display = addr.display
        if user and _PHONE_NUMBER.fullmatch(user):
            if number is None:
                number = user
        elif user and not fallback:
            fallback = user  # a softphone's account name: shown, never masked as a number
        if display and number:
            break
    metadata = {
        name: value
        for name, value in request.headers
        if name.lower().startswith(PROVIDER_HEADER_PREFIXES)
    }
    return CallerIdentity(display or number or fallback or "Phone", number, metadata)
