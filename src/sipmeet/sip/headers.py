"""Structured values of the SIP headers the core reads (RFC 3261 §20, §25.1).

Each ``parse_*`` function takes one header value as text (folding already
undone by the parser) and returns a frozen value object, or raises
:class:`~sipmeet.sip.errors.SipParseError` with a precise message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SipParseError

__all__ = [
    "CSeq",
    "NameAddr",
    "Params",
    "Via",
    "format_params",
    "parse_cseq",
    "parse_name_addr",
    "parse_params",
    "parse_via",
    "split_comma_list",
    "unquote",
]

Params = dict[str, str | None]

_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)


def is_token(text: str) -> bool:
    """RFC 3261 §25.1 ``token``."""
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def unquote(text: str) -> str:
    """Undo a ``quoted-string`` (RFC 3261 §25.1), or return ``text`` unchanged if unquoted."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
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


def split_comma_list(value: str) -> list[str]:
    """Split a header value at commas outside quoted strings and ``<...>``."""
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
        elif c == "," and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {value!r}")
    parts.append(value[start:].strip())
    return [p for p in parts if p]


def _split_semicolons(value: str) -> list[str]:
    """Split at ``;`` outside quoted strings and ``<...>``."""
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
        elif c == ";" and depth == 0:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {value!r}")
    parts.append(value[start:])
    return parts


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag`` pairs (the text after the first ``;``). Names are lower-cased."""
    params: Params = {}
    for raw in _split_semicolons(text):
        item = raw.strip()
        if not item:
            continue
        if "=" in item:
            name, _, val = item.partition("=")
            name = name.strip()
            val = val.strip()
            if not is_token(name):
                raise SipParseError(f"invalid parameter name {name!r}")
            params[name.lower()] = unquote(val) if val.startswith('"') else val
        else:
            if not is_token(item):
                raise SipParseError(f"invalid parameter {item!r}")
            params[item.lower()] = None
    return params


def format_params(params: Params) -> str:
    """Serialise parameters as ``;name=value`` (quoting values that are not tokens)."""
    out: list[str] = []
    for name, val in params.items():
        if val is None:
            out.append(f";{name}")
        elif is_token(val) or _is_host_like(val):
            out.append(f";{name}={val}")
        else:
            escaped = val.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f';{name}="{escaped}"')
    return "".join(out)


def _is_host_like(val: str) -> bool:
    return bool(val) and all(c in _TOKEN_CHARS or c in ":[]" for c in val)


@dataclass(frozen=True, slots=True)
class CSeq:
    """RFC 3261 §20.16: sequence number and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2:
        raise SipParseError(f"invalid CSeq {value!r}")
    num, method = parts
    if not num.isdigit() or len(num) > 10:
        raise SipParseError(f"invalid CSeq number {num!r}")
    seq = int(num)
    if seq >= 2**31:
        raise SipParseError(f"CSeq number {seq} out of range")
    if not is_token(method):
        raise SipParseError(f"invalid CSeq method {method!r}")
    return CSeq(seq, method)


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
    def sent_by(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


def _parse_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if not text:
        raise SipParseError("empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference {text!r}")
        host = text[1:end]
        rest = text[end + 1 :]
    else:
        host, sep, port_text = text.partition(":")
        rest = sep + port_text
    port: int | None = None
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit():
            raise SipParseError(f"invalid port in {text!r}")
        port = int(rest[1:])
        if port > 65535:
            raise SipParseError(f"port {port} out of range")
    if not host or any(c.isspace() for c in host):
        raise SipParseError(f"invalid host {text!r}")
    return host, port


def parse_via(value: str) -> Via:
    """Parse one via-parm (a single comma-separated element of a Via header)."""
    head, _, params_text = value.strip().partition(";")
    # sent-protocol LWS sent-by; LWS may appear around the slashes (RFC 3261 §25.1 SLASH).
    proto, sep, sent_by = head.strip().rpartition(" ")
    if not sep:
        raise SipParseError(f"invalid Via {value!r}")
    proto_parts = [p.strip() for p in proto.replace(" ", "").split("/")]
    if len(proto_parts) != 3 or not all(proto_parts):
        raise SipParseError(f"invalid Via protocol {proto!r}")
    name, version, transport = proto_parts
    host, port = _parse_hostport(sent_by)
    return Via(
        transport=transport.upper(),
        host=host,
        port=port,
        params=parse_params(params_text) if params_text else {},
        protocol=f"{name}/{version}",
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
        display = ""
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse ``name-addr`` or ``addr-spec`` followed by header parameters."""
    text = value.strip()
    if not text:
        raise SipParseError("empty address")
    display: str | None = None
    if text.startswith('"'):
        i = 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                break
            i += 1
        else:
            raise SipParseError(f"unterminated display name in {value!r}")
        display = unquote(text[: i + 1])
        text = text[i + 1 :].lstrip()
        if not text.startswith("<"):
            raise SipParseError(f"display name without <uri> in {value!r}")
    if "<" in text:
        lt = text.index("<")
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated <uri> in {value!r}")
        if display is None:
            name = text[:lt].strip()
            display = name or None
        uri = text[lt + 1 : gt].strip()
        rest = text[gt + 1 :].strip()
        if rest and not rest.startswith(";"):
            raise SipParseError(f"unexpected text after <uri> in {value!r}")
        params = parse_params(rest[1:]) if rest else {}
    else:
        # addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10).
        uri, _, params_text = text.partition(";")
        uri = uri.strip()
        if any(c.isspace() for c in uri):
            raise SipParseError(f"invalid address {value!r}")
        params = parse_params(params_text) if params_text else {}
    if not uri or ":" not in uri:
        raise SipParseError(f"invalid URI in address {value!r}")
    return NameAddr(uri=uri, display=display, params=params)
