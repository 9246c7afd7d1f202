"""Building the responses a UAS sends, and working out where they go.

Pure functions over messages: the top Via stamped with ``received``/``rport`` (RFC 3261
§18.2.1, RFC 3581 §4), the response destination (RFC 3261 §18.2.2), the header set of a
UAS response (RFC 3261 §8.2.6, RFC 4028 §9) and stateless replies (RFC 3261 §8.2.7).
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import SipParseError
from .events import Source
from .headers import Via, split_comma_list
from .message import Request, Response, canonical_name
from .session_timer import SessionTimerOffer
from .transaction import Destination, build_response, is_reliable

__all__ = [
    "has_to_tag",
    "response_destination",
    "stamp_via",
    "stateless_response",
    "uas_response",
    "warning_headers",
]


def stamp_via(req: Request, via: Via, source: Source) -> Via:
    """RFC 3261 §18.2.1 ``received`` and RFC 3581 §4 ``rport`` on the top Via.

    Rewrites the top Via of ``req`` in place when a parameter changes; returns the
    stamped Via. Raises :class:`SipParseError` for a Via that cannot be rewritten.
    """
    ip, port = source.addr
    params = dict(via.params)
    rport = "rport" in params
    if rport and not params["rport"]:
        params["rport"] = str(port)
    if (rport or via.host.lower() != ip.lower()) and params.get("received") != ip:
        params["received"] = ip
    if params == via.params:
        return via
    stamped = Via(via.transport, via.host, via.port, params, via.protocol)
    items = req.headers.items()
    for i, (name, value) in enumerate(items):
        if name == "Via":
            rest = split_comma_list(value)[1:]
            items[i] = (name, ", ".join([str(stamped), *rest]))
            break
    req.headers = type(req.headers)(items)
    return stamped


def response_destination(via: Via, source: Source, *, symmetric: bool) -> Destination:
    """RFC 3261 §18.2.2 with RFC 3581 §4: where responses to this request go.

    ``symmetric``: answer UDP requests at their source even without ``rport``.
    """
    if source.connection_id is not None or is_reliable(source.transport):
        return Destination(source.transport, source.addr, source.connection_id)
    if via.params.get("rport") or symmetric:
        return Destination(source.transport, source.addr)
    default = 5061 if via.transport == "TLS" else 5060
    return Destination(source.transport, (source.addr[0], via.port or default))


def warning_headers(agent: str, text: str) -> list[tuple[str, str]]:
    """RFC 3261 §20.43: ``399`` (miscellaneous warning) with ``text`` made quotable."""
    clean = "".join(c if c.isprintable() and c not in '"\\' else " " for c in text)[:200]
    return [("Warning", f'399 {agent} "{clean}"')]


def stateless_response(
    req: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str,
    server: str,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    """RFC 3261 §8.2.7: a response sent without a server transaction."""
    extra = [*headers, ("Server", server)]
    return build_response(req, status, reason, to_tag=to_tag, headers=extra)


def uas_response(
    req: Request,
    status: int,
    reason: str | None,
    *,
    to_tag: str | None,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    initial_invite: bool,
    session: SessionTimerOffer | None,
    contact: str,
    allow: str,
    supported: Sequence[str],
    server: str,
) -> Response:
    """RFC 3261 §8.2.6: a response to ``req`` with the headers the UAS core adds.

    ``headers`` from the caller come last and suppress the added header of the same
    name. ``initial_invite``: copy Record-Route (RFC 3261 §12.1.1). ``session``: the
    negotiated RFC 4028 session, stated in a 2xx to INVITE or UPDATE.
    """
    method = req.method
    given = {canonical_name(name).lower() for name, _ in headers}
    success = 200 <= status < 300
    extra: list[tuple[str, str]] = []
    if method == "INVITE" and initial_invite and 100 < status < 300:
        extra += [("Record-Route", rr) for rr in req.headers.get_all("Record-Route")]
    needs_contact = (method == "INVITE" and 100 < status < 300) or (method == "UPDATE" and success)
    if needs_contact and "contact" not in given:
        extra.append(("Contact", contact))
    stated = session if success and method in ("INVITE", "UPDATE") else None
    if stated is not None and "session-expires" not in given:
        extra.append(("Session-Expires", str(stated.header)))
        if stated.uac_supports_timer:
            extra.append(("Require", "timer"))  # RFC 4028 §9
    wants_allow = (success and method in ("INVITE", "OPTIONS")) or status == 405
    if wants_allow and "allow" not in given:
        extra.append(("Allow", allow))
    wants_supported = success and method in ("INVITE", "OPTIONS", "UPDATE")
    if wants_supported and "supported" not in given and supported:
        extra.append(("Supported", ", ".join(supported)))
    if "server" not in given:
        extra.append(("Server", server))
    return build_response(req, status, reason, to_tag=to_tag, headers=[*extra, *headers], body=body)


def has_to_tag(req: Request) -> bool:
    """Whether the request's To carries a tag (an unparseable To counts as none)."""
    try:
        return req.to.tag is not None
    except SipParseError:
        return False
