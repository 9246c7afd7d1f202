"""SIP message parser (RFC 3261 §7): datagrams and stream framing."""

from __future__ import annotations

from .errors import SipParseError
from .message import Headers, Request, Response

__all__ = ["parse_message"]


def parse_message(data: bytes) -> Request | Response:
    """Parse one whole SIP message (a datagram). Minimal first version."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no empty line after the headers")
    lines = head.decode("utf-8", "replace").split("\r\n")
    start = lines[0].split(" ", 2)
    headers = Headers()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"invalid header line {line!r}")
        headers.add(name.strip(), value.strip())
    length = headers.get("Content-Length")
    if length is not None:
        body = body[: int(length)]
    if start[0].startswith("SIP/"):
        return Response(status=int(start[1]), reason=start[2] if len(start) > 2 else "",
                        version=start[0], headers=headers, body=body)
    if len(start) != 3:
        raise SipParseError(f"invalid request line {lines[0]!r}")
    return Request(method=start[0], uri=start[1], version=start[2], headers=headers, body=body)
