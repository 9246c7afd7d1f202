"""The ICE servers a browser is given, with time-limited TURN credentials.

TURN servers such as coturn (``use-auth-secret``) accept credentials derived from a
secret they share with the application ("A REST API for access to TURN services",
draft-uberti-behave-turn-rest): the username is ``<expiry unix time>:<user>`` and the
password ``base64(HMAC-SHA1(secret, username))``. The browser never sees the secret,
and what it gets stops working at the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["ice_servers", "turn_credentials"]


def turn_credentials(secret: str, user: str, now_s: float, ttl_s: int) -> tuple[str, str]:
    """(username, password) valid until ``now_s + ttl_s`` for ``user``."""
    username = f"{int(now_s) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(
    urls: Sequence[str], secret: str | None, user: str, now_s: float, ttl_s: int
) -> list[dict[str, object]]:
    """RTCIceServer dictionaries for ``urls``: TURN ones carry credentials when a
    ``secret`` is configured; STUN ones never need any."""
    stun = [u for u in urls if u.startswith(("stun:", "stuns:"))]
    turn = [u for u in urls if u.startswith(("turn:", "turns:"))]
    servers: list[dict[str, object]] = []
    if stun:
        servers.append({"urls": stun})
    if turn:
        server: dict[str, object] = {"urls": turn}
        if secret is not None:
            server["username"], server["credential"] = turn_credentials(secret, user, now_s, ttl_s)
        servers.append(server)
    return servers
