"""Checks made on a parsed message before it is processed (RFC 3261 §8.2, §16.3, §18).

:func:`validate_request` is what a UAS does with a request the parser accepted,
before any transaction or dialog logic: the SIP version (505), the mandatory
header fields and the grammar of the ones the core reads (400), the Request-URI
scheme (416), and, when the caller says what it implements, the method (501),
``Require`` option tags (420) and body types (415/406). The checks run in that
order, so a message with several faults gets the answer RFC 4475 expects.

:func:`validate_response` checks a received response the same way; a response
that fails is dropped (RFC 3261 §18.1.2), never answered.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from .errors import SipParseError
from .headers import (
    CSeq,
    Via,
    is_token,
    parse_content_length,
    parse_cseq,
    parse_max_forwards,
    parse_media_type,
    parse_name_addr,
    parse_option_tags,
    parse_via,
    split_comma_list,
)
from .message import Request, Response
from .uri import parse_uri, uri_scheme

__all__ = ["Rejection", "validate_request", "validate_response"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request the UAS refuses, with the response to answer it with.

    ``reason`` is the reason phrase (fixed text, nothing copied from the peer);
    ``headers`` are fields the response must carry (``Unsupported`` for 420,
    ``Allow`` for 501, ``Accept`` for 415 ...); ``detail`` says precisely what
    was wrong, for logs. An ACK is never answered: a rejected ACK is dropped.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    detail: str = ""


_MAGIC_COOKIE = "z9hG4bK"

_KNOWN_METHODS = frozenset(
    # RFC 3261, 3262 (PRACK), 3265/6665 (SUBSCRIBE, NOTIFY), 3311 (UPDATE), 3428 (MESSAGE),
    # 3515 (REFER), 3903 (PUBLISH), 6086 (INFO)
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "UPDATE",
        "MESSAGE",
        "REFER",
        "PUBLISH",
        "INFO",
    ]
)
"""Methods registered with IANA that a UAS may refuse with 405 rather than 501."""

# Header fields the grammar allows once per message (RFC 3261 §20, no list form).
_SINGLE_REQUEST = (
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Content-Disposition",
    "Date",
    "Expires",
    "Min-Expires",
    "MIME-Version",
    "Priority",
    "Subject",
    "Timestamp",
    "User-Agent",
)
_SINGLE_RESPONSE = ("Call-ID", "CSeq", "From", "To", "Content-Length", "Content-Type")
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")

# RFC 3261 §20.17: rfc1123-date, always in GMT.
_DATE_RE = re.compile(
    "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
_DELTA_SECONDS_RE = re.compile("[0-9]+")
_CALL_ID_RE = re.compile("[!-~]+")
_QVALUE_RE = re.compile("0(?:\\.[0-9]{0,3})?|1(?:\\.0{0,3})?")


_T = TypeVar("_T")
_R = TypeVar("_R")


class _Bad(Exception):
    """One failed check: the header it concerns and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _check(name: str, func: Callable[[_T], _R], value: _T) -> _R:
    try:
        return func(value)
    except SipParseError as exc:
        raise _Bad(f"Malformed {name} header", str(exc)) from None


def _check_address(value: str, *, brackets: bool = False) -> None:
    """From, To, Route, Record-Route: the address, a token tag, a valid SIP URI."""
    addr = parse_name_addr(value)
    if brackets and "<" not in value:
        raise SipParseError(f"name-addr form (<uri>) required in {value!r}")
    if "tag" in addr.params and not is_token(addr.tag or ""):
        raise SipParseError(f"invalid tag in {value!r}")
    if uri_scheme(addr.uri) in ("sip", "sips"):
        parse_uri(addr.uri)


def _check_contact(value: str) -> None:
    for element in split_comma_list(value, strict=True):
        addr = parse_name_addr(element)
        if uri_scheme(addr.uri) in ("sip", "sips"):
            parse_uri(addr.uri)
        expires = addr.params.get("expires", "0")
        if expires is None or not _DELTA_SECONDS_RE.fullmatch(expires):
            raise SipParseError(f"invalid expires parameter in {element!r}")
        q = addr.params.get("q", "1")
        if q is None or not _QVALUE_RE.fullmatch(q):
            raise SipParseError(f"invalid q parameter in {element!r}")


def _check_route(value: str) -> None:
    for element in split_comma_list(value, strict=True):
        _check_address(element, brackets=True)


def _check_vias(values: list[str]) -> Via:
    """Check every via-parm of every Via line; return the topmost."""
    vias = [
        parse_via(element) for value in values for element in split_comma_list(value, strict=True)
    ]
    return vias[0]


def _check_call_id(value: str) -> None:
    # RFC 3261 §25.1 callid = word [ "@" word ]; words are visible ASCII.
    if not _CALL_ID_RE.fullmatch(value):
        raise SipParseError(f"invalid Call-ID {value!r}")


def _check_date(value: str) -> None:
    if not _DATE_RE.fullmatch(value):
        raise SipParseError(f"invalid Date {value!r} (RFC 1123 date in GMT expected)")


def _check_delta_seconds(value: str) -> None:
    if not _DELTA_SECONDS_RE.fullmatch(value):
        raise SipParseError(f"invalid delta-seconds {value!r}")


def _check_common(msg: Request | Response, single: tuple[str, ...]) -> tuple[Via, CSeq]:
    """Checks shared by requests and responses; raises :class:`_Bad`."""
    headers = msg.headers
    counts = Counter(name for name, _ in headers)
    for name in single:
        if counts[name] > 1:
            raise _Bad(f"Multiple {name} headers", f"more than one {name} header")
    for name in _MANDATORY:
        if not counts[name]:
            raise _Bad(f"Missing {name} header", f"missing {name} header")
    top_via = _check("Via", _check_vias, headers.get_all("Via"))
    _check("From", _check_address, headers.get("From") or "")
    _check("To", _check_address, headers.get("To") or "")
    _check("Call-ID", _check_call_id, headers.get("Call-ID") or "")
    cseq = _check("CSeq", parse_cseq, headers.get("CSeq") or "")
    length = headers.get("Content-Length")
    if length is not None and _check("Content-Length", parse_content_length, length) != len(
        msg.body
    ):
        raise _Bad(
            "Content-Length mismatch",
            f"Content-Length {length} but the body has {len(msg.body)} octets",
        )
    content_type = headers.get("Content-Type")
    if content_type is not None:
        _check("Content-Type", parse_media_type, content_type)
    elif msg.body:
        # RFC 3261 §7.4.1: a non-empty body MUST have a Content-Type.
        raise _Bad("Missing Content-Type header", "body without Content-Type")
    return top_via, cseq


def _check_request(req: Request) -> tuple[Via, CSeq, int | None]:
    """Grammar of the request's header fields; top Via, CSeq, Max-Forwards. Raises :class:`_Bad`."""
    headers = req.headers
    top_via, cseq = _check_common(req, _SINGLE_REQUEST)
    for value in headers.get_all("Contact"):
        if value.strip(" \t") != "*" or req.method != "REGISTER":
            _check("Contact", _check_contact, value)
    for name in ("Route", "Record-Route"):
        for value in headers.get_all(name):
            _check(name, _check_route, value)
    max_forwards_text = headers.get("Max-Forwards")
    max_forwards = None
    if max_forwards_text is not None:
        max_forwards = _check("Max-Forwards", parse_max_forwards, max_forwards_text)
    date = headers.get("Date")
    if date is not None:
        _check("Date", _check_date, date)
    expires = headers.get("Expires")
    if expires is not None:
        _check("Expires", _check_delta_seconds, expires)
    for value in headers.get_all("Require"):
        if not _check("Require", parse_option_tags, value):
            raise _Bad("Malformed Require header", "empty Require header")
    return top_via, cseq, max_forwards


def _request_uri(req: Request) -> Rejection | None:
    scheme = uri_scheme(req.uri)
    if scheme not in ("sip", "sips"):
        # RFC 3261 §8.2.2.1
        return Rejection(416, "Unsupported URI Scheme", detail=f"Request-URI scheme {scheme!r}")
    try:
        uri = parse_uri(req.uri)
    except SipParseError as exc:
        return Rejection(400, "Malformed Request-URI", detail=str(exc))
    if uri.headers:
        # RFC 3261 §19.1.1 table 1: headers are not allowed in a Request-URI.
        return Rejection(
            400, "Headers not allowed in Request-URI", detail="Request-URI has ?headers"
        )
    return None


def _media_range_matches(media_range: str, media_type: str) -> bool:
    if media_range in ("*/*", media_type):
        return True
    return media_range.endswith("/*") and media_type.startswith(media_range[:-1])


def _content(req: Request, content_types: Collection[str]) -> Rejection | None:
    """RFC 3261 §8.2.3 (415) and §21.4.7 (406 for an INVITE whose answer we could not send)."""
    known = [t.lower() for t in content_types]
    accept = ("Accept", ", ".join(known))
    encodings = [
        e.lower() for v in req.headers.get_all("Content-Encoding") for e in split_comma_list(v)
    ]
    if any(e != "identity" for e in encodings):
        return Rejection(
            415,
            "Unsupported Media Type",
            (accept, ("Accept-Encoding", "identity")),
            detail=f"Content-Encoding {', '.join(encodings)}",
        )
    if req.body and req.content_type not in known:
        return Rejection(
            415, "Unsupported Media Type", (accept,), detail=f"body of type {req.content_type!r}"
        )
    if req.method == "INVITE" and "Accept" in req.headers:
        ranges: list[str] = []
        for value in req.headers.get_all("Accept"):
            for element in split_comma_list(value):
                try:
                    ranges.append(parse_media_type(element)[0])
                except SipParseError:
                    return Rejection(
                        400, "Malformed Accept header", detail=f"invalid media range {element!r}"
                    )
        if not any(_media_range_matches(r, t) for r in ranges for t in known):
            return Rejection(
                406, "Not Acceptable", (accept,), detail="Accept excludes every type we answer with"
            )
    return None


def validate_request(
    req: Request,
    *,
    methods: Collection[str] | None = None,
    supported: Collection[str] | None = None,
    content_types: Collection[str] | None = None,
) -> Rejection | None:
    """Check a received request before processing it; ``None`` when it may be processed.

    The grammar checks always run. The others run when the caller says what it
    implements (``None`` skips them):

    - ``methods``: methods the UAS implements; others get 405, or 501 when the
      method is not a registered SIP method, with ``Allow``.
    - ``supported``: option tags it understands; any other tag in ``Require``
      gets 420 with ``Unsupported``.
    - ``content_types``: body types it reads and answers with; others get 415
      with ``Accept``, and an INVITE whose ``Accept`` excludes them all gets 406.

    Missing Max-Forwards or Via branch is tolerated (RFC 2543 peers, RFC 4475
    §3.4.1); Max-Forwards 0 gets 483 except on OPTIONS (RFC 3261 §16.3).
    """
    # RFC 3261 §8.2 (a version we do not speak cannot be read further): 505.
    if req.version.upper() != "SIP/2.0":
        return Rejection(505, "Version Not Supported", detail=f"version {req.version!r}")
    try:
        top_via, cseq, max_forwards = _check_request(req)
    except _Bad as bad:
        return Rejection(400, bad.reason, detail=bad.detail)
    rejection = _request_uri(req)
    if rejection is not None:
        return rejection
    if top_via.branch == _MAGIC_COOKIE:
        # RFC 4475 §3.2.1: a branch that is only the magic cookie cannot identify a transaction.
        return Rejection(400, "Malformed Via header", detail="branch holds only the magic cookie")
    if methods is not None and req.method not in methods:
        # RFC 3261 §8.2.1: 405 for a method we know of but do not do, 501 for one we do not know.
        allow = (("Allow", ", ".join(methods)),)
        if req.method in _KNOWN_METHODS:
            return Rejection(405, "Method Not Allowed", allow, detail=f"method {req.method!r}")
        return Rejection(501, "Not Implemented", allow, detail=f"method {req.method!r}")
    if cseq.method != req.method:
        return Rejection(400, "CSeq method mismatch", detail=f"CSeq method {cseq.method!r}")
    if max_forwards == 0 and req.method != "OPTIONS":
        return Rejection(483, "Too Many Hops", detail="Max-Forwards is 0")
    if req.method in ("ACK", "CANCEL"):
        return None  # RFC 3261 §8.2.2.3: Require is ignored on these; they carry no offer to refuse
    if supported is not None:
        # RFC 3261 §7.3.1: tokens compare case-insensitively.
        known = {tag.lower() for tag in supported}
        unsupported = [
            tag
            for value in req.headers.get_all("Require")
            for tag in parse_option_tags(value)
            if tag.lower() not in known
        ]
        if unsupported:
            # RFC 3261 §8.2.2.3
            return Rejection(
                420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),), detail="Require"
            )
    if content_types is not None:
        return _content(req, content_types)
    return None


def validate_response(resp: Response) -> str | None:
    """Check a received response; the reason to drop it, or ``None`` when it is well formed."""
    if resp.version.upper() != "SIP/2.0":
        return f"version {resp.version!r}"
    if not 100 <= resp.status <= 699:
        return f"status {resp.status} out of range"
    try:
        _check_common(resp, _SINGLE_RESPONSE)
    except _Bad as bad:
        return f"{bad.reason}: {bad.detail}"
    return None
