"""Structured values of the SIP headers the core reads (RFC 3261 §20, grammar in §25.1).

Each ``parse_*`` function takes one header value as text (folding already
undone by the parser, so the only white space left is SP and HTAB) and returns
a value object, or raises :class:`~sipmeet.sip.errors.SipParseError` with a
precise message. White space is allowed where the grammar has ``LWS``/``SWS``
(around ``/``, ``;``, ``=``, ``:`` ...) and nowhere else.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .errors import SipParseError
from .uri import Params, is_absolute_uri, parse_host, parse_hostport

__all__ = [
    "CSeq",
    "NameAddr",
    "Params",
    "Via",
    "format_params",
    "is_token",
    "parse_content_length",
    "parse_cseq",
    "parse_max_forwards",
    "parse_media_type",
    "parse_name_addr",
    "parse_option_tags",
    "parse_params",
    "parse_via",
    "quote",
    "split_comma_list",
    "unquote",
]

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]+"
# quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE
_QUOTED = '"(?:[^"\\\\\\x00-\\x08\\x0a-\\x1f\\x7f]|\\\\[\\x00-\\x09\\x0b\\x0c\\x0e-\\x7f])*"'
# gen-value = token / host / quoted-string; IPv6 addresses appear bare in "received".
_VALUE = "[A-Za-z0-9\\-.!%*_+`'~:\\[\\]]+"
_TOKEN_RE = re.compile(_TOKEN)
_QUOTED_RE = re.compile(_QUOTED)
_PARAM_RE = re.compile(f"[ \\t]*;[ \\t]*({_TOKEN})(?:[ \\t]*=[ \\t]*({_QUOTED}|{_VALUE}))?")
_TRAILING_WS_RE = re.compile("[ \\t]*")
_DIGITS_RE = re.compile("[ \\t]*([0-9]+)[ \\t]*")
_CSEQ_RE = re.compile(f"[ \\t]*([0-9]+)[ \\t]+({_TOKEN})[ \\t]*")
_VIA_RE = re.compile(
    f"[ \\t]*({_TOKEN})[ \\t]*/[ \\t]*({_TOKEN})[ \\t]*/[ \\t]*({_TOKEN})[ \\t]+"
    "(\\[[0-9A-Fa-f:.]*\\]|[A-Za-z0-9\\-.]+)(?:[ \\t]*:[ \\t]*([0-9]+))?"
)
_DISPLAY_TOKENS_RE = re.compile(f"({_TOKEN}(?:[ \\t]+{_TOKEN})*)?[ \\t]*<")
_MEDIA_TYPE_RE = re.compile(f"[ \\t]*({_TOKEN})[ \\t]*/[ \\t]*({_TOKEN})")


def is_token(text: str) -> bool:
    """RFC 3261 §25.1 ``token``."""
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def unquote(text: str) -> str:
    """Undo a ``quoted-string`` (RFC 3261 §25.1), or return ``text`` unchanged if unquoted."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    """Write ``text`` as a ``quoted-string`` (RFC 3261 §25.1).

    ``"``, ``\\`` and control characters become quoted-pairs; CR and LF, which no
    quoted-string can hold, become spaces.
    """
    escaped = _QUOTE_ESCAPE_RE.sub(_quote_pair, text)
    return f'"{escaped}"'


_QUOTE_ESCAPE_RE = re.compile('["\\\\\\x00-\\x08\\x0a-\\x1f\\x7f]')


def _quote_pair(m: re.Match[str]) -> str:
    c = m.group()
    return " " if c in "\r\n" else "\\" + c


def _split_outside_quotes(value: str, sep: str) -> list[str]:
    """Split at ``sep`` outside quoted strings and ``<...>``."""
    if '"' not in value and "<" not in value:
        return value.split(sep)
    parts: list[str] = []
    depth = 0
    in_quote = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {value!r}")
    parts.append(value[start:])
    return parts


def split_comma_list(value: str, *, strict: bool = False) -> list[str]:
    """Split a header value at commas outside quoted strings and ``<...>``.

    Empty elements are dropped, or refused with ``strict=True`` (the RFC 3261
    grammar writes lists as ``x *(COMMA x)``, which has no empty elements).
    """
    parts = [p.strip(" \t") for p in _split_outside_quotes(value, ",")]
    if strict:
        if not all(parts):
            raise SipParseError(f"empty element in list {value!r}")
        return parts
    return [p for p in parts if p]


def _parse_param_list(text: str, pos: int) -> Params:
    """Parse ``*( SEMI generic-param )`` from ``text[pos:]`` up to the end of ``text``."""
    params: Params = {}
    n = len(text)
    match = _PARAM_RE.match
    while True:
        m = match(text, pos)
        if m is None:
            break
        name = m.group(1).lower()
        if name in params:
            raise SipParseError(f"parameter {name!r} repeated in {text!r}")
        val = m.group(2)
        params[name] = val if val is None or val[0] != '"' else unquote(val)
        pos = m.end()
    end = _TRAILING_WS_RE.match(text, pos)
    if end is None or end.end() != n:
        raise SipParseError(f"invalid parameters {text[pos:]!r}")
    return params


def parse_params(text: str) -> Params:
    """Parse ``name=value;flag`` pairs (the text after the first ``;``).

    Names are lower-cased; quoted values are unquoted; ``None`` marks a flag.
    Empty parameters (``;;``) and repeated names are errors.
    """
    if not text.strip(" \t"):
        return {}
    return _parse_param_list(";" + text, 0)


def format_params(params: Params) -> str:
    """Serialise parameters as ``;name=value`` (quoting values that are not tokens)."""
    out: list[str] = []
    for name, val in params.items():
        if val is None:
            out.append(f";{name}")
        elif is_token(val) or _is_host_like(val):
            out.append(f";{name}={val}")
        else:
            out.append(f";{name}={quote(val)}")
    return "".join(out)


def _is_host_like(val: str) -> bool:
    return bool(val) and all(c in _TOKEN_CHARS or c in ":[]" for c in val)


def _digits(text: str, what: str, limit: int) -> int:
    m = _DIGITS_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"invalid {what} {text!r}")
    digits = m.group(1).lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise SipParseError(f"{what} {m.group(1)} out of range (0-{limit})")
    return int(digits)


def parse_content_length(value: str) -> int:
    """RFC 3261 §20.14: ``1*DIGIT`` (at most 2**32 - 1 here)."""
    return _digits(value, "Content-Length", 2**32 - 1)


def parse_max_forwards(value: str) -> int:
    """RFC 3261 §20.22: ``1*DIGIT`` in the range 0-255."""
    return _digits(value, "Max-Forwards", 255)


def parse_option_tags(value: str) -> list[str]:
    """Option tags of Require, Proxy-Require, Supported or Unsupported (RFC 3261 §20.32)."""
    if not value.strip(" \t"):
        return []
    tags = split_comma_list(value, strict=True)
    for tag in tags:
        if not is_token(tag):
            raise SipParseError(f"invalid option tag {tag!r}")
    return tags


def parse_media_type(value: str) -> tuple[str, Params]:
    """RFC 3261 §20.15 ``media-type``: the lower-cased ``type/subtype`` and its parameters."""
    m = _MEDIA_TYPE_RE.match(value)
    if m is None:
        raise SipParseError(f"invalid media type {value!r}")
    params = _parse_param_list(value, m.end())
    return f"{m.group(1)}/{m.group(2)}".lower(), params


@dataclass(frozen=True, slots=True)
class CSeq:
    """RFC 3261 §20.16: sequence number and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    """Parse ``1*DIGIT LWS Method``; the number must fit 32 bits (RFC 3261 §8.1.1.5)."""
    m = _CSEQ_RE.fullmatch(value)
    if m is None:
        raise SipParseError(f"invalid CSeq {value!r}")
    num = m.group(1).lstrip("0") or "0"
    if len(num) > 10 or int(num) > 2**32 - 1:
        raise SipParseError(f"CSeq number {m.group(1)} out of range")
    return CSeq(int(num), m.group(2))


@dataclass(frozen=True, slots=True)
class Via:
    """RFC 3261 §20.42: one via-parm."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict, hash=False)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (RFC 3261 §18.2.1), brackets removed."""
        value = self.params.get("received")
        return value.strip("[]") if value else None

    @property
    def rport(self) -> int | None:
        """The port of an ``rport=N`` parameter (RFC 3581); ``None`` when absent or empty."""
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def sent_by(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


def _is_number(text: str, limit: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= limit


def _check_via_params(params: Params, value: str) -> None:
    branch = params.get("branch", "")
    if branch is None or (branch and not is_token(branch)):
        raise SipParseError(f"invalid Via branch in {value!r}")
    received = params.get("received")
    if "received" in params:
        try:
            ipaddress.ip_address((received or "").strip("[]"))
        except ValueError:
            raise SipParseError(f"invalid Via received address in {value!r}") from None
    rport = params.get("rport")
    if rport is not None and not _is_number(rport, 65535):
        raise SipParseError(f"invalid Via rport in {value!r}")
    ttl = params.get("ttl", "0")
    if ttl is None or not _is_number(ttl, 255):
        raise SipParseError(f"invalid Via ttl in {value!r}")
    if "maddr" in params:
        parse_host(params["maddr"] or "")


def parse_via(value: str) -> Via:
    """Parse one via-parm (a single comma-separated element of a Via header).

    ``sent-protocol LWS sent-by *( SEMI via-params )``; white space may surround
    the slashes and the colon (RFC 3261 §25.1 ``SLASH``, ``COLON``).
    """
    m = _VIA_RE.match(value)
    if m is None:
        raise SipParseError(f"invalid Via {value!r}")
    name, version, transport, host_text, port_text = m.groups()
    hostport = host_text if port_text is None else f"{host_text}:{port_text}"
    host, port = parse_hostport(hostport)
    params = _parse_param_list(value, m.end())
    if params:
        _check_via_params(params, value)
    return Via(
        transport=transport.upper(),
        host=host,
        port=port,
        params=params,
        protocol=f"{name.upper()}/{version}",
    )


@dataclass(frozen=True, slots=True)
class NameAddr:
    """RFC 3261 §20.10/20.20/20.39: ``[display-name] <uri>;params`` (From, To, Contact ...)."""

    uri: str
    display: str | None = None
    params: Params = field(default_factory=dict, hash=False)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return NameAddr(self.uri, self.display, params)

    def __str__(self) -> str:
        display = f"{quote(self.display)} " if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse ``name-addr`` or ``addr-spec`` followed by header parameters.

    The URI may have any scheme (``absoluteURI``); it is kept as text. In the
    ``addr-spec`` form (no angle brackets) parameters after the URI belong to the
    header, and a URI holding ``,`` or ``?`` is refused (RFC 3261 §20.10).
    """
    text = value.strip(" \t")
    if not text:
        raise SipParseError("empty address")
    display: str | None = None
    if text[0] == '"':
        q = _QUOTED_RE.match(text)
        if q is None:
            raise SipParseError(f"unterminated or invalid display name in {value!r}")
        display = unquote(q.group())
        lt = q.end()
        while lt < len(text) and text[lt] in " \t":
            lt += 1
        if lt >= len(text) or text[lt] != "<":
            raise SipParseError(f"display name without <uri> in {value!r}")
    else:
        d = _DISPLAY_TOKENS_RE.match(text)
        lt = -1
        if d is not None:
            display = d.group(1)
            lt = d.end() - 1
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated <uri> in {value!r}")
        uri = text[lt + 1 : gt]
        if not is_absolute_uri(uri):
            raise SipParseError(f"invalid URI in address {value!r}")
        params = _parse_param_list(text, gt + 1)
    else:
        uri, semi, _ = text.partition(";")
        uri = uri.rstrip(" \t")
        if not is_absolute_uri(uri) or "," in uri or "?" in uri:
            raise SipParseError(f"invalid address {value!r}")
        params = _parse_param_list(text, len(uri)) if semi else {}
    return NameAddr(uri=uri, display=display, params=params)
