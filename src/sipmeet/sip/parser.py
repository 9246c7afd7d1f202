"""SIP message parser (RFC 3261 §7, §18.3): whole datagrams and stream framing.

The parser reads the message *framing*: the start line, the header fields
(folded lines joined, compact names expanded, names matched without regard to
case), and the body as Content-Length says. Header values stay text; their own
grammar is checked where they are read (:mod:`headers`, :mod:`uri`) and, for a
request a server is about to process, by :mod:`validate`.

Wire bytes are UTF-8. Errors are :class:`SipParseError` with a precise message,
the status to answer with (400, or 513 for a message over the size limit) and,
where the header section could be split into lines, a best-effort ``partial``
request so that a server can still address its 400 to the sender.
"""

from __future__ import annotations

import re

from .errors import SipParseError
from .headers import is_token, parse_content_length
from .message import Headers, Request, Response, canonical_name
from .uri import is_absolute_uri

__all__ = ["DEFAULT_MAX_SIZE", "StreamParser", "parse_message"]

DEFAULT_MAX_SIZE = 65536
"""Largest message (header section and body) accepted, in bytes."""

_CRLF = b"\r\n"
_END_OF_HEADERS = b"\r\n\r\n"
_VERSION_RE = re.compile("[Ss][Ii][Pp]/[0-9]+\\.[0-9]+")
_STATUS_RE = re.compile("[1-6][0-9][0-9]")
_REASON_BAD_RE = re.compile("[\\x00-\\x08\\x0a-\\x1f\\x7f]")

# Raw header name (as on the wire, before the colon) -> (canonical name, lookup key).
_names: dict[str, tuple[str, str]] = {}

_Items = list[tuple[str, str]]


def _header_name(raw: str) -> tuple[str, str]:
    entry = _names.get(raw)
    if entry is None:
        name = raw.rstrip(" \t")  # HCOLON = *( SP / HTAB ) ":" SWS
        if not is_token(name):
            raise SipParseError(f"invalid header name {name!r}")
        cname = canonical_name(name)
        entry = (cname, cname.lower())
        if len(_names) < 4096:
            _names[raw] = entry
    return entry


def _split_lines(head: bytes) -> list[str]:
    """Decode the header section and split it into lines, checking line ends."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(
            f"invalid UTF-8 in the header section at byte {exc.start}",
            partial=_partial(head.decode("utf-8", "replace")),
        ) from None
    lines = text.split("\r\n")
    breaks = len(lines) - 1
    if text.count("\n") != breaks or text.count("\r") != breaks:
        raise SipParseError(
            "bare CR or LF in the header section (lines must end with CRLF)",
            partial=_partial(text),
        )
    return lines


def _parse_fields(lines: list[str]) -> tuple[_Items, list[str]]:
    """Header lines (after the start line) -> canonical (name, value) items and keys."""
    items: _Items = []
    keys: list[str] = []
    folds: dict[int, list[str]] = {}
    for line in lines:
        if line[:1] in (" ", "\t") and line:
            # RFC 3261 §7.3.1: a line starting with white space continues the previous
            # field; the line break and the leading white space count as one SP.
            if not items:
                raise SipParseError("folded line before the first header field")
            extra = line.strip(" \t")
            if extra:
                folds.setdefault(len(items) - 1, []).append(extra)
            continue
        raw, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without a colon: {line[:60]!r}")
        cname, key = _header_name(raw)
        items.append((cname, value.strip(" \t")))
        keys.append(key)
    _join_folds(items, folds)
    return items, keys


def _parse_start_line(
    line: str,
) -> tuple[str, str, str] | tuple[str, int, str]:
    """``(method, uri, version)`` of a request or ``(version, status, reason)`` of a response."""
    if line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        version = parts[0]
        if not _VERSION_RE.fullmatch(version):
            raise SipParseError(f"invalid SIP version in status line {line[:80]!r}")
        if len(parts) < 2 or not _STATUS_RE.fullmatch(parts[1]):
            raise SipParseError(f"invalid status code in status line {line[:80]!r}")
        reason = parts[2] if len(parts) == 3 else ""
        if _REASON_BAD_RE.search(reason):
            raise SipParseError(f"control character in reason phrase {reason[:80]!r}")
        return version, int(parts[1]), reason
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError(
            f"invalid request line {line[:80]!r}: expected Method SP Request-URI SP SIP-Version"
        )
    method, uri, version = parts
    if not is_token(method):
        raise SipParseError(f"invalid method {method[:40]!r}")
    if not is_absolute_uri(uri):
        raise SipParseError(f"invalid Request-URI {uri[:80]!r}")
    if not _VERSION_RE.fullmatch(version):
        raise SipParseError(f"invalid SIP version {version[:20]!r}")
    return method, uri, version


def _lenient_fields(lines: list[str]) -> tuple[_Items, list[str]]:
    """Header fields of the lines that can be read; the others (and their folds) skipped."""
    items: _Items = []
    keys: list[str] = []
    folds: dict[int, list[str]] = {}
    accepted = False
    for line in lines:
        if line[:1] in (" ", "\t"):
            extra = line.strip(" \t")
            if accepted and extra:
                folds.setdefault(len(items) - 1, []).append(extra)
            continue
        accepted = False
        raw, colon, value = line.partition(":")
        if not colon:
            continue
        try:
            cname, key = _header_name(raw)
        except SipParseError:
            continue
        items.append((cname, value.strip(" \t")))
        keys.append(key)
        accepted = True
    _join_folds(items, folds)
    return items, keys


def _join_folds(items: _Items, folds: dict[int, list[str]]) -> None:
    for index, parts in folds.items():
        name, value = items[index]
        items[index] = (name, " ".join([value, *parts] if value else parts))


def _partial(
    text: str, items: _Items | None = None, keys: list[str] | None = None
) -> Request | None:
    """Best-effort request from a header section that failed to parse (never raises)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = lines[0]
    if not first.strip() or first[:4].upper() == "SIP/":
        return None
    if items is None or keys is None:
        items, keys = _lenient_fields(lines[1:])
    parts = first.split()
    return Request(
        method=parts[0] if parts else "",
        uri=parts[1] if len(parts) > 1 else "",
        version=parts[-1] if len(parts) > 2 else "",
        headers=Headers._from_canonical(list(items), list(keys)),
    )


class _Head:
    """A parsed header section: start line and fields."""

    __slots__ = ("items", "keys", "lines", "start")

    def __init__(self, head: bytes) -> None:
        self.lines = _split_lines(head)
        try:
            self.items, self.keys = _parse_fields(self.lines[1:])
        except SipParseError as exc:
            raise SipParseError(str(exc), partial=_partial("\r\n".join(self.lines))) from None
        try:
            self.start = _parse_start_line(self.lines[0])
        except SipParseError as exc:
            raise SipParseError(str(exc), partial=self.partial()) from None

    def partial(self) -> Request | None:
        return _partial(self.lines[0], self.items, self.keys)

    def error(self, message: str, status: int = 400) -> SipParseError:
        return SipParseError(message, status, partial=self.partial())

    def content_length(self, *, required: bool) -> int | None:
        count = self.keys.count("content-length")
        if count == 0:
            if required:
                raise self.error("missing Content-Length (required on stream transports)")
            return None
        if count > 1:
            raise self.error("more than one Content-Length header")
        value = self.items[self.keys.index("content-length")][1]
        try:
            return parse_content_length(value)
        except SipParseError as exc:
            raise self.error(str(exc)) from None

    def message(self, body: bytes) -> Request | Response:
        headers = Headers._from_canonical(self.items, self.keys)
        first, second, third = self.start
        if isinstance(second, int):
            return Response(version=first, status=second, reason=third, headers=headers, body=body)
        return Request(method=first, uri=second, version=third, headers=headers, body=body)


def _skip_leading_crlf(data: bytes) -> int:
    start = 0
    while data.startswith(_CRLF, start):
        start += 2
    return start


def parse_message(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Request | Response:
    """Parse one whole SIP message received as a datagram (RFC 3261 §18.3).

    CRLFs before the start line are ignored (RFC 3261 §7.5). The body is what
    Content-Length says: octets beyond it are dropped, fewer octets are an error;
    without Content-Length the rest of the datagram is the body. A datagram over
    ``max_size`` bytes is refused with status 513.
    """
    start = _skip_leading_crlf(data)
    end = data.find(_END_OF_HEADERS, start)
    if len(data) > max_size:
        head_bytes = data[start:end] if end >= 0 else data[start : start + max_size]
        raise SipParseError(
            f"message of {len(data)} bytes exceeds the limit of {max_size}",
            513,
            partial=_partial(head_bytes.decode("utf-8", "replace")),
        )
    if start == len(data):
        raise SipParseError("empty message")
    if end < 0:
        raise SipParseError(
            "no empty line after the header section",
            partial=_partial(data[start:].decode("utf-8", "replace")),
        )
    head = _Head(data[start:end])
    body = data[end + 4 :]
    length = head.content_length(required=False)
    if length is not None:
        if length > len(body):
            raise head.error(f"Content-Length {length} is more than the {len(body)} octets of body")
        body = body[:length]
    return head.message(body)


class StreamParser:
    """Frames SIP messages on a stream transport (TCP, TLS) by Content-Length.

    :meth:`feed` takes bytes as they arrive and returns the messages completed by
    them. Between messages, an RFC 5626 keep-alive ``CRLF CRLF`` is counted (answer
    each with one ``CRLF``, see :meth:`pop_keepalive_pings`) and a lone CRLF is
    skipped (RFC 3261 §7.5).

    A framing error (no or bad Content-Length, a header section or message over
    ``max_size``, a malformed header section) raises :class:`SipParseError`; the
    stream cannot be resynchronised, so every later call raises it again. When
    messages were completed before the error in the same call, they are returned
    and the error is raised by the next call (``feed(b"")`` will do).
    """

    __slots__ = (
        "_body_start",
        "_buf",
        "_error",
        "_head",
        "_length",
        "_max_size",
        "_pings",
        "_scan_from",
    )

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._max_size = max_size
        self._buf = bytearray()
        self._scan_from = 0
        self._head: _Head | None = None
        self._body_start = 0
        self._length = 0
        self._pings = 0
        self._error: SipParseError | None = None

    def feed(self, data: bytes) -> list[Request | Response]:
        """Add received bytes; return every message they complete, in order."""
        if self._error is not None:
            raise self._error
        self._buf += data
        out: list[Request | Response] = []
        try:
            while (msg := self._next()) is not None:
                out.append(msg)
        except SipParseError as exc:
            self._error = exc
            self._buf.clear()
            if not out:
                raise
        return out

    def pop_keepalive_pings(self) -> int:
        """How many keep-alive pings arrived since the last call (each wants a CRLF pong)."""
        pings, self._pings = self._pings, 0
        return pings

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a returned message."""
        return len(self._buf)

    def _next(self) -> Request | Response | None:
        buf = self._buf
        if self._head is None:
            while buf.startswith(_CRLF):
                if buf.startswith(_END_OF_HEADERS):
                    self._pings += 1  # RFC 5626 §3.5.1 keep-alive ping
                    del buf[:4]
                elif len(buf) < 4 and _END_OF_HEADERS.startswith(buf):
                    return None  # maybe the start of a ping: wait for more
                else:
                    del buf[:2]
                self._scan_from = 0
            end = buf.find(_END_OF_HEADERS, self._scan_from)
            if end < 0 or end + 4 > self._max_size:
                if end >= 0 or len(buf) > self._max_size:
                    raise SipParseError(f"header section exceeds {self._max_size} octets", 513)
                self._scan_from = max(0, len(buf) - 3)
                return None
            head = _Head(bytes(buf[:end]))
            length = head.content_length(required=True)
            assert length is not None
            if end + 4 + length > self._max_size:
                raise head.error(
                    f"message of {end + 4 + length} octets exceeds the limit of {self._max_size}",
                    513,
                )
            self._head, self._body_start, self._length = head, end + 4, length
        stop = self._body_start + self._length
        if len(buf) < stop:
            return None
        msg = self._head.message(bytes(buf[self._body_start : stop]))
        del buf[:stop]
        self._head = None
        self._scan_from = 0
        return msg
