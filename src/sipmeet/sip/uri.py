"""SIP and SIPS URIs (RFC 3261 §19.1), with ``%`` escapes undone in the user part."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote as _pct_unquote

from .errors import SipParseError
from .headers import Params, _parse_hostport, format_params, parse_params

__all__ = ["SipUri", "parse_uri"]


@dataclass(frozen=True, slots=True)
class SipUri:
    """A parsed ``sip:`` / ``sips:`` URI. ``user`` has its escapes undone."""

    host: str
    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = field(default_factory=dict, hash=False)
    headers: str = ""

    @property
    def transport(self) -> str:
        """The ``transport`` parameter, upper-cased (``UDP`` when absent)."""
        value = self.params.get("transport")
        return (value or "udp").upper()

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = _escape_user(self.user)
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{host}{port}{format_params(self.params)}{headers}"


_USER_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$,;?/"
)


def _escape_user(user: str) -> str:
    return "".join(c if c in _USER_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in user)


def parse_uri(text: str) -> SipUri:
    """Parse a SIP or SIPS URI; raise :class:`SipParseError` for anything else."""
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise SipParseError(f"not a SIP URI: {text!r}")
    if any(c.isspace() for c in rest) or not rest:
        raise SipParseError(f"invalid SIP URI {text!r}")
    headers = ""
    if "?" in rest:
        rest, _, headers = rest.partition("?")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user_raw, psep, pw = userinfo.partition(":")
        try:
            user = _pct_unquote(user_raw, errors="strict")
        except UnicodeDecodeError as exc:
            raise SipParseError(f"invalid escape in user part of {text!r}") from exc
        if "\x00" in user:
            raise SipParseError(f"NUL in user part of {text!r}")
        password = pw if psep else None
    hostport, _, params_text = rest.partition(";")
    host, port = _parse_hostport(hostport)
    params = parse_params(params_text) if params_text else {}
    return SipUri(
        host=host.lower(),
        scheme=scheme,
        user=user,
        password=password,
        port=port,
        params=params,
        headers=headers,
    )
