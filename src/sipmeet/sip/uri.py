"""SIP and SIPS URIs (RFC 3261 §19.1, grammar in §25.1), hosts and ports.

:func:`parse_uri` checks every component against the RFC 3261 grammar and undoes
``%`` escapes in the user, password and parameters (RFC 3261 §19.1.4 compares
URIs after unescaping); ``str()`` escapes them again, so
``parse_uri(str(uri)) == uri``. IPv6 references are written ``[2001:db8::1]``
and stored without the brackets (RFC 5118).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote as _pct_unquote

from .errors import SipParseError

__all__ = [
    "Params",
    "SipUri",
    "format_uri_params",
    "is_absolute_uri",
    "parse_host",
    "parse_hostport",
    "parse_uri",
    "uri_scheme",
]

Params = dict[str, str | None]
"""Parameters by lower-cased name; ``None`` is a parameter without a value."""

_UNRESERVED = "A-Za-z0-9\\-_.!~*'()"
_ESCAPED = "%[0-9A-Fa-f]{2}"
# RFC 3261 §25.1: user, password, paramchar, hname/hvalue.
_USER_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
_PASSWORD_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
_PARAMCHARS_RE = re.compile(f"(?:[{_UNRESERVED}\\[\\]/:&+$]|{_ESCAPED})+")
_HNV = f"(?:[{_UNRESERVED}\\[\\]/?:+$]|{_ESCAPED})"
_HEADERS_RE = re.compile(f"{_HNV}+={_HNV}*(?:&{_HNV}+={_HNV}*)*")
_PORT_RE = re.compile("[0-9]{1,5}")
_LABEL_RE = re.compile("[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*")
_IPV4_RE = re.compile("[0-9]{1,3}(?:\\.[0-9]{1,3}){3}")
_IPV6_CHARS_RE = re.compile("[0-9A-Fa-f:.]+")
# RFC 3261 §25.1 absoluteURI (RFC 2396): scheme ":" followed by uric characters;
# brackets are allowed for IPv6 references.
_ABSOLUTE_URI_RE = re.compile("[A-Za-z][A-Za-z0-9+\\-.]*:[A-Za-z0-9\\-_.!~*'();/?:@&=+$,%\\[\\]]+")

_USER_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$,;?/"
)
_PASSWORD_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$,"
)
_PARAM_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()[]/:&+$"
)

_host_cache: dict[str, str] = {}


def is_absolute_uri(text: str) -> bool:
    """True when ``text`` has the shape of an RFC 3261 ``absoluteURI`` (any scheme)."""
    return _ABSOLUTE_URI_RE.fullmatch(text) is not None


def uri_scheme(text: str) -> str:
    """The lower-cased scheme of a URI (``"sip"``, ``"tel"`` ...), or ``""`` when it has none."""
    scheme, sep, _ = text.partition(":")
    if not sep or not scheme or not scheme[0].isascii() or not scheme[0].isalpha():
        return ""
    if not all(c.isascii() and (c.isalnum() or c in "+-.") for c in scheme):
        return ""
    return scheme.lower()


def parse_host(text: str) -> str:
    """Check an RFC 3261 ``host`` (hostname, IPv4 address or ``[IPv6]`` reference).

    Returns it lower-cased, without the brackets of an IPv6 reference.
    """
    cached = _host_cache.get(text)
    if cached is not None:
        return cached
    if text.startswith("["):
        inner = text[1:-1]
        if not text.endswith("]") or not _IPV6_CHARS_RE.fullmatch(inner):
            raise SipParseError(f"invalid IPv6 reference {text!r}")
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise SipParseError(f"invalid IPv6 reference {text!r}") from None
        host = inner.lower()
    elif _IPV4_RE.fullmatch(text):
        if any(int(part) > 255 for part in text.split(".")):
            raise SipParseError(f"invalid IPv4 address {text!r}")
        host = text
    else:
        labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
        # RFC 3261 §25.1: hostname = *( domainlabel "." ) toplabel [ "." ]
        if not all(_LABEL_RE.fullmatch(label) for label in labels) or not labels[-1][0].isalpha():
            raise SipParseError(f"invalid host {text!r}")
        host = text.lower()
    if len(_host_cache) < 4096:
        _host_cache[text] = host
    return host


def parse_hostport(text: str) -> tuple[str, int | None]:
    """Split and check ``host [":" port]``; the host as :func:`parse_host` returns it."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference in {text!r}")
        host_text, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"unexpected text after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host_text, sep, port_text_ = text.partition(":")
        port_text = port_text_ if sep else None
    if not host_text:
        raise SipParseError(f"missing host in {text!r}")
    host = parse_host(host_text)
    port: int | None = None
    if port_text is not None:
        if not _PORT_RE.fullmatch(port_text):
            raise SipParseError(f"invalid port in {text!r}")
        port = int(port_text)
        if port > 65535:
            raise SipParseError(f"port {port} out of range in {text!r}")
    return host, port


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    return _pct_unquote(text, errors="surrogateescape")


def _escape(text: str, safe: frozenset[str]) -> str:
    if all(c in safe for c in text):
        return text
    out: list[str] = []
    for c in text:
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
    return "".join(out)


def format_uri_params(params: Params) -> str:
    """Serialise URI parameters as ``;name=value``, escaping what ``paramchar`` excludes."""
    out: list[str] = []
    for name, val in params.items():
        if val is None:
            out.append(f";{_escape(name, _PARAM_SAFE)}")
        else:
            out.append(f";{_escape(name, _PARAM_SAFE)}={_escape(val, _PARAM_SAFE)}")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class SipUri:
    """A parsed ``sip:`` / ``sips:`` URI.

    ``user``, ``password`` and ``params`` have their escapes undone (an escaped
    octet that is not UTF-8 comes back as a lone surrogate, so nothing is lost);
    ``host`` is lower-cased and has no brackets; ``headers`` is the raw text after
    ``?`` (escapes kept).
    """

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

    @property
    def host_port(self) -> str:
        """``host[:port]`` with brackets around an IPv6 address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = _escape(self.user, _USER_SAFE)
            if self.password is not None:
                userinfo += ":" + _escape(self.password, _PASSWORD_SAFE)
            userinfo += "@"
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host_port}{format_uri_params(self.params)}{headers}"


def _parse_uri_params(text: str, uri: str) -> Params:
    params: Params = {}
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        if not _PARAMCHARS_RE.fullmatch(name):
            raise SipParseError(f"invalid URI parameter {item!r} in {uri!r}")
        if sep and not _PARAMCHARS_RE.fullmatch(value):
            raise SipParseError(f"invalid value of URI parameter {name!r} in {uri!r}")
        key = _unescape(name).lower()
        if key in params:
            # RFC 3261 §19.1.1: any given parameter-name MUST NOT appear more than once.
            raise SipParseError(f"URI parameter {key!r} repeated in {uri!r}")
        params[key] = _unescape(value) if sep else None
    return params


def parse_uri(text: str) -> SipUri:
    """Parse a SIP or SIPS URI; raise :class:`SipParseError` for anything else."""
    uri = text.strip()
    scheme, sep, rest = uri.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise SipParseError(f"not a SIP URI: {uri!r}")
    if not rest:
        raise SipParseError(f"empty SIP URI {uri!r}")
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        # '@' appears in no other component of a SIP URI, so the first one ends userinfo.
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_raw, psep, password_raw = userinfo.partition(":")
        if not _USER_RE.fullmatch(user_raw):
            raise SipParseError(f"invalid user part in {uri!r}")
        if psep and not _PASSWORD_RE.fullmatch(password_raw):
            raise SipParseError(f"invalid password in {uri!r}")
        user = _unescape(user_raw)
        password = _unescape(password_raw) if psep else None
    rest, qsep, headers = rest.partition("?")
    if qsep and not _HEADERS_RE.fullmatch(headers):
        raise SipParseError(f"invalid headers component in {uri!r}")
    hostport, psep2, params_text = rest.partition(";")
    host, port = parse_hostport(hostport)
    params = _parse_uri_params(params_text, uri) if psep2 else {}
    return SipUri(
        host=host,
        scheme=scheme,
        user=user,
        password=password,
        port=port,
        params=params,
        headers=headers,
    )
