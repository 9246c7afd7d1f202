"""SIP messages (RFC 3261 §7): requests, responses and their header multi-map.

Wire text is decoded once, in the parser; here header names and values are ``str``
and bodies are ``bytes``. Header names are kept in their canonical long form
(compact forms such as ``v`` or ``i`` are expanded on the way in), so lookups are
by one name only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import LocalProtocolError, SipParseError
from .headers import CSeq, NameAddr, Via, parse_cseq, parse_name_addr, parse_via, split_comma_list

__all__ = [
    "COMPACT_FORMS",
    "Headers",
    "Request",
    "Response",
    "SipMessage",
    "canonical_name",
]

# RFC 3261 §7.3.3 and later extensions: compact form -> canonical name.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Names whose usual capitalisation is not plain Title-Case of the dash-separated words.
_SPECIAL_NAMES = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "min-se": "Min-SE",
    "rack": "RAck",
    "rseq": "RSeq",
    "mime-version": "MIME-Version",
    "p-asserted-identity": "P-Asserted-Identity",
    "p-preferred-identity": "P-Preferred-Identity",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

_name_cache: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """Return the canonical spelling of a header name (compact forms expanded)."""
    cached = _name_cache.get(name)
    if cached is not None:
        return cached
    lower = name.lower()
    if len(lower) == 1 and lower in COMPACT_FORMS:
        result = COMPACT_FORMS[lower]
    elif lower in _SPECIAL_NAMES:
        result = _SPECIAL_NAMES[lower]
    elif lower.startswith("x-"):
        result = name  # provider headers keep their spelling (X-Twilio-CallSid)
    else:
        result = "-".join(part[:1].upper() + part[1:] for part in lower.split("-"))
    if len(_name_cache) < 4096:
        _name_cache[name] = result
    return result


def _key(name: str) -> str:
    """The lookup key of a header name: its canonical spelling, lower-cased."""
    key = _key_cache.get(name)
    if key is None:
        key = canonical_name(name).lower()
        if len(_key_cache) < 4096:
            _key_cache[name] = key
    return key


_key_cache: dict[str, str] = {}


class Headers:
    """An ordered multi-map of header fields.

    Each entry is one header field line as received (``name``, ``value``); a line
    holding several comma-separated values stays one entry, and
    :meth:`get_list` splits them when the header's grammar allows it. Names are
    matched case-insensitively, compact forms included (``v`` is ``Via``).
    """

    __slots__ = ("_items", "_keys")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]
        self._keys: list[str] = [n.lower() for n, _ in self._items]

    @classmethod
    def _from_canonical(cls, items: list[tuple[str, str]], keys: list[str]) -> Headers:
        """Adopt lists the parser built (names already canonical, ``keys`` lower-cased)."""
        new = cls.__new__(cls)
        new._items = items
        new._keys = keys
        return new

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return _key(name) in self._keys

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        return Headers._from_canonical(list(self._items), list(self._keys))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first field called ``name``, or ``default``."""
        try:
            return self._items[self._keys.index(_key(name))][1]
        except ValueError:
            return default

    def get_all(self, name: str) -> list[str]:
        """The values of every field called ``name``, one per header line."""
        key = _key(name)
        if key not in self._keys:
            return []
        return [item[1] for k, item in zip(self._keys, self._items, strict=True) if k == key]

    def count(self, name: str) -> int:
        """How many header lines are called ``name``."""
        return self._keys.count(_key(name))

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated value of ``name`` across all its lines (RFC 3261 §7.3.1)."""
        out: list[str] = []
        for v in self.get_all(name):
            out.extend(split_comma_list(v))
        return out

    def add(self, name: str, value: str) -> None:
        """Append a field at the end."""
        cname = canonical_name(name)
        self._items.append((cname, value))
        self._keys.append(cname.lower())

    def insert(self, index: int, name: str, value: str) -> None:
        """Insert a field at ``index`` (0 puts it first, as a proxy adds a Via)."""
        cname = canonical_name(name)
        self._items.insert(index, (cname, value))
        self._keys.insert(index, cname.lower())

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` by one (kept in the first one's place)."""
        cname = canonical_name(name)
        key = cname.lower()
        items: list[tuple[str, str]] = []
        keys: list[str] = []
        placed = False
        for k, item in zip(self._keys, self._items, strict=True):
            if k == key:
                if placed:
                    continue
                item = (cname, value)
                placed = True
            items.append(item)
            keys.append(k)
        if not placed:
            items.append((cname, value))
            keys.append(key)
        self._items = items
        self._keys = keys

    def remove(self, name: str) -> None:
        """Remove every field called ``name``."""
        key = _key(name)
        if key not in self._keys:
            return
        pairs = [(k, item) for k, item in zip(self._keys, self._items, strict=True) if k != key]
        self._keys = [k for k, _ in pairs]
        self._items = [item for _, item in pairs]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


@dataclass(slots=True, eq=True, kw_only=True)
class _Common:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # Convenience accessors for the headers every transaction and dialog reads.
    # They raise ``SipParseError`` (via the header parsers) when the value is malformed.

    @property
    def call_id(self) -> str:
        return (self.headers.get("Call-ID") or "").strip()

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.get_list("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.get_list("Via")
        if not values:
            raise SipParseError("missing Via header")
        return parse_via(values[0])

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.headers.get("From") or "")

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self.headers.get("To") or "")

    @property
    def content_type(self) -> str:
        value = self.headers.get("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()

    def _serialize(self, start_line: str) -> bytes:
        # Content-Length is written from the body: in the place of the first
        # Content-Length field (others dropped), or last when there is none.
        lines = [start_line]
        length_written = False
        for name, value in self.headers:
            if name == "Content-Length":
                if not length_written:
                    lines.append(f"Content-Length: {len(self.body)}")
                    length_written = True
                continue
            lines.append(f"{name}: {value}")
        if not length_written:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        if head.count("\n") != len(lines) + 1 or head.count("\r") != len(lines) + 1:
            raise LocalProtocolError("a start line or header value holds a line break")
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass(slots=True, eq=True, kw_only=True)
class Request(_Common):
    """A SIP request. ``uri`` is the Request-URI exactly as text (see :mod:`uri`)."""

    method: str = ""
    uri: str = ""
    version: str = "SIP/2.0"

    def serialize(self) -> bytes:
        """The wire form; Content-Length is always written from the body."""
        return self._serialize(f"{self.method} {self.uri} {self.version}")

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True, eq=True, kw_only=True)
class Response(_Common):
    """A SIP response."""

    status: int = 0
    reason: str = ""
    version: str = "SIP/2.0"

    def serialize(self) -> bytes:
        return self._serialize(f"{self.version} {self.status} {self.reason}")

    def __bytes__(self) -> bytes:
        return self.serialize()


SipMessage = Request | Response
