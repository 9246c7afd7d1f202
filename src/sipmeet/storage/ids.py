"""Identifiers and secrets: API key ids, SIP usernames and passwords, room ids (all `secrets`)."""

from __future__ import annotations

import re
import secrets
import string

__all__ = [
    "API_KEY_ID_RE",
    "ROOM_ID_RE",
    "new_api_key_id",
    "new_api_secret",
    "new_room_id",
    "new_sip_password",
    "new_sip_username",
    "normalize_room_id",
]

_BASE62 = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits

API_KEY_ID_RE = re.compile(r"API[A-Za-z0-9]{12}")
# Generated ids look like "abcd-efgh-ijkl"; a chosen id may be any lowercase letters, digits and
# inner hyphens (it is the user part of a SIP URI: RFC 3261 §25.1 "unreserved" characters).
ROOM_ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])")


def _pick(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_api_key_id() -> str:
    """``"API"`` + 12 base62 characters (71 bits)."""
    return "API" + _pick(_BASE62, 12)


def new_api_secret() -> str:
    """43 url-safe characters (256 bits): the HS256 key of the API key's JWTs."""
    return secrets.token_urlsafe(32)


def new_sip_username() -> str:
    """``"sm"`` + 10 lowercase letters and digits."""
    return "sm" + _pick(_LOWER_ALNUM, 10)


def new_sip_password() -> str:
    """24 url-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def new_room_id() -> str:
    """Three groups of four lowercase letters: ``"abcd-efgh-ijkl"`` (56 bits)."""
    return "-".join(_pick(string.ascii_lowercase, 4) for _ in range(3))


def normalize_room_id(room_id: str) -> str | None:
    """The canonical (lowercase) form of a room id, or None when it is not a valid one."""
    candidate = room_id.strip().lower()
    return candidate if ROOM_ID_RE.fullmatch(candidate) else None


DIALIN_CODE_DIGITS = 6


def new_dialin_code() -> str:
    """Six random digits, not starting with 0 (some menus drop leading zeros)."""
    return str(secrets.choice("123456789")) + "".join(
        secrets.choice("0123456789") for _ in range(DIALIN_CODE_DIGITS - 1)
    )
