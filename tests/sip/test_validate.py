"""Request and response validation (RFC 3261 §8.2, §16.3)."""

from __future__ import annotations

import pytest

from sipmeet.sip.message import Headers, Request, Response
from sipmeet.sip.parser import parse_message
from sipmeet.sip.validate import Rejection, validate_request, validate_response

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS")


def server(req: Request) -> Rejection | None:
    """validate_request as a server that does INVITE calls with SDP bodies runs it."""
    return validate_request(
        req, methods=METHODS, supported=("timer", "replaces"), content_types=("application/sdp",)
    )


def request(
    method: str = "INVITE",
    *,
    uri: str = "sip:room-1@meet.example.com",
    version: str = "SIP/2.0",
    replace: dict[str, str | None] | None = None,
    add: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Request:
    fields: dict[str, str | None] = {
        "Via": "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK776asdhds",
        "Max-Forwards": "70",
        "To": "<sip:room-1@meet.example.com>",
        "From": '"Alice" <sip:alice@example.net>;tag=1928301774',
        "Call-ID": "a84b4c76e66710@pc33.example.net",
        "CSeq": f"1 {method}",
        "Contact": "<sip:alice@192.0.2.5>",
    }
    fields.update(replace or {})
    items = [(name, value) for name, value in fields.items() if value is not None]
    items += add or []
    if body:
        items.append(("Content-Type", "application/sdp"))
    return Request(method=method, uri=uri, version=version, headers=Headers(items), body=body)


def status(rejection: Rejection | None) -> int | None:
    return None if rejection is None else rejection.status


def test_a_good_request_passes() -> None:
    assert validate_request(request()) is None
    assert server(request(body=b"v=0\r\n")) is None


def test_version_is_checked_first() -> None:
    rejection = validate_request(request(version="SIP/7.0", replace={"Call-ID": None}))
    assert rejection == Rejection(505, "Version Not Supported", detail="version 'SIP/7.0'")
    assert status(validate_request(request(version="sip/2.0"))) is None


@pytest.mark.parametrize("name", ["Via", "To", "From", "Call-ID", "CSeq"])
def test_mandatory_headers(name: str) -> None:
    rejection = validate_request(request(replace={name: None}))
    assert rejection == Rejection(400, f"Missing {name} header", detail=f"missing {name} header")


def test_max_forwards_and_branch_may_be_missing() -> None:
    # RFC 4475 §3.4.1: RFC 2543 requests have neither.
    req = request(replace={"Max-Forwards": None, "Via": "SIP/2.0/UDP iftgw.example.com"})
    assert validate_request(req) is None


@pytest.mark.parametrize(
    "name", ["Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Type", "Expires", "Date"]
)
def test_single_valued_headers_must_not_repeat(name: str) -> None:
    req = request(body=b"x", add=[("Expires", "60"), ("Date", "Sat, 13 Nov 2010 23:29:00 GMT")])
    req.headers.add(name, req.headers.get(name) or "")
    rejection = validate_request(req)
    assert rejection is not None
    assert (rejection.status, rejection.reason) == (400, f"Multiple {name} headers")


@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [
        ("Via", "SIP/2.0/UDP 192.0.2.15;;,;,,", "empty element in list 'SIP/2.0/UDP 192.0.2.15;;,;,,'"),
        ("Via", "SIP/2.0/UDP a.example.com, junk", "invalid Via 'junk'"),
        ("From", "Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "invalid address 'Bell, Alexander <sip:a.g.bell@example.com>;tag=43'"),
        ("From", "<sip:a@example.com>;tag", "invalid tag in '<sip:a@example.com>;tag'"),
        ("From", "<sip:a@exa_mple.com>", "invalid host 'exa_mple.com'"),
        ("To", '"Watson, Thomas" < sip:t.watson@example.org >', "invalid URI in address '\"Watson, Thomas\" < sip:t.watson@example.org >'"),
        ("Call-ID", "has space", "invalid Call-ID 'has space'"),
        ("CSeq", "36893488147419103232 INVITE", "CSeq number 36893488147419103232 out of range"),
        ("Max-Forwards", "300", "Max-Forwards 300 out of range (0-255)"),
        ("Contact", "sip:user@example.com?Route=%3Csip:sip.example.com%3E", "invalid address 'sip:user@example.com?Route=%3Csip:sip.example.com%3E'"),
        ("Contact", '"Joe" <sip:joe@example.org>;;;;', "invalid parameters ';;;;'"),
        ("Contact", "<sip:a@example.com>;expires=soon", "invalid expires parameter in '<sip:a@example.com>;expires=soon'"),
        ("Contact", "<sip:a@example.com>;q=1.5", "invalid q parameter in '<sip:a@example.com>;q=1.5'"),
        ("Contact", "*", "invalid address '*'"),
    ],
)  # fmt: skip
def test_malformed_headers(name: str, value: str, detail: str) -> None:
    rejection = validate_request(request(replace={name: value}))
    assert rejection == Rejection(400, f"Malformed {name} header", detail=detail)


@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [
        ("Route", "sip:proxy.example.com;lr", "name-addr form (<uri>) required in 'sip:proxy.example.com;lr'"),
        ("Record-Route", "<sip:p1.example.com;lr>,", "empty element in list '<sip:p1.example.com;lr>,'"),
        ("Date", "Fri, 01 Jan 2010 16:00:00 EST", "invalid Date 'Fri, 01 Jan 2010 16:00:00 EST' (RFC 1123 date in GMT expected)"),
        ("Expires", "-1", "invalid delta-seconds '-1'"),
        ("Require", "a b", "invalid option tag 'a b'"),
        ("Require", "", "empty Require header"),
        ("Content-Type", "sdp", "invalid media type 'sdp'"),
        ("Content-Length", "1", "Content-Length 1 but the body has 0 octets"),
    ],
)  # fmt: skip
def test_malformed_optional_headers(name: str, value: str, detail: str) -> None:
    rejection = validate_request(request(add=[(name, value)]))
    assert rejection is not None
    assert rejection.status == 400 and rejection.detail == detail


def test_good_optional_headers() -> None:
    req = request(
        "REGISTER",
        uri="sip:example.com",
        replace={"Contact": "*"},
        add=[
            ("Expires", "0"),
            ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
            ("Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"),
            ("Record-Route", '"proxy" <sip:p3.example.com;lr>;x=1'),
            ("Contact", '<sip:a@192.0.2.5>;expires=3600;q=0.7, "B" <sip:b@192.0.2.6>;q=1'),
        ],
    )
    assert validate_request(req) is None


def test_body_needs_a_content_type() -> None:
    req = request(body=b"v=0\r\n")
    req.headers.remove("Content-Type")
    rejection = validate_request(req)
    assert rejection == Rejection(
        400, "Missing Content-Type header", detail="body without Content-Type"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("nobodyKnowsThisScheme:totallyopaquecontent", 416),  # RFC 4475 §3.3.2
        ("soap.beep://192.0.2.103:3002", 416),  # §3.3.3
        ("tel:+14155550100", 416),
        ("sip:user@example.com?Route=%3Csip:example.com%3E", 400),  # §3.1.2.11
        ("sip:user@exa_mple.com", 400),
        ("SIPS:room-1@meet.example.com", None),
    ],
)
def test_request_uri(uri: str, expected: int | None) -> None:
    assert status(validate_request(request(uri=uri))) == expected


def test_branch_of_only_the_magic_cookie() -> None:
    # RFC 4475 §3.2.1
    req = request(replace={"Via": "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK"})
    assert validate_request(req) == Rejection(
        400, "Malformed Via header", detail="branch holds only the magic cookie"
    )


def test_methods_501_and_405() -> None:
    req = request("NEWMETHOD")
    rejection = validate_request(req, methods=METHODS)
    assert rejection == Rejection(
        501,
        "Not Implemented",
        (("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),),
        detail="method 'NEWMETHOD'",
    )
    assert status(validate_request(request("REGISTER"), methods=METHODS)) == 405
    assert status(validate_request(request("NEWMETHOD"))) is None  # no methods given: not checked


def test_cseq_method_mismatch() -> None:
    # RFC 4475 §3.1.2.17 and §3.1.2.18 (501 preferred when the method is unknown).
    req = request("OPTIONS", replace={"CSeq": "8 INVITE"})
    assert validate_request(req) == Rejection(
        400, "CSeq method mismatch", detail="CSeq method 'INVITE'"
    )
    assert status(server(request("NEWMETHOD", replace={"CSeq": "8 INVITE"}))) == 501
    assert status(validate_request(request("NEWMETHOD", replace={"CSeq": "8 INVITE"}))) == 400


def test_max_forwards_zero() -> None:
    # RFC 3261 §16.3 step 3: 483, except that an OPTIONS may be answered.
    assert validate_request(request(replace={"Max-Forwards": "0"})) == Rejection(
        483, "Too Many Hops", detail="Max-Forwards is 0"
    )
    assert status(validate_request(request("OPTIONS", replace={"Max-Forwards": "0"}))) is None
    assert status(validate_request(request(replace={"Max-Forwards": "1"}))) is None


def test_require() -> None:
    req = request(add=[("Require", "timer, 100rel"), ("Require", "foo")])
    assert validate_request(req, supported=("timer",)) == Rejection(
        420, "Bad Extension", (("Unsupported", "100rel, foo"),), detail="Require"
    )
    assert status(validate_request(req, supported=("Timer", "100REL", "foo"))) is None
    assert status(validate_request(req)) is None  # option tags not given: not checked
    # RFC 3261 §8.2.2.3: ignored on CANCEL and ACK; Proxy-Require is not for a UAS.
    for method in ("CANCEL", "ACK"):
        req = request(method, add=[("Require", "foo")])
        assert status(validate_request(req, supported=())) is None
    assert status(validate_request(request(add=[("Proxy-Require", "foo")]), supported=())) is None


def test_content_checks() -> None:
    # RFC 3261 §8.2.3 and RFC 4475 §3.3.6 / §3.3.15.
    unknown = request(body=b"<audio/>")
    unknown.headers.set("Content-Type", "application/unknownformat")
    assert validate_request(unknown, content_types=("application/sdp",)) == Rejection(
        415,
        "Unsupported Media Type",
        (("Accept", "application/sdp"),),
        detail="body of type 'application/unknownformat'",
    )
    assert status(validate_request(unknown)) is None  # content types not given: not checked
    encoded = request(body=b"x", add=[("Content-Encoding", "gzip")])
    rejection = validate_request(encoded, content_types=("application/sdp",))
    assert rejection is not None and rejection.status == 415
    assert ("Accept-Encoding", "identity") in rejection.headers
    assert status(server(request(add=[("Accept", "text/nobodyKnowsThis")]))) == 406
    assert status(server(request(add=[("Accept", "text/plain, application/*")]))) is None
    assert status(server(request(add=[("Accept", "*/*")]))) is None
    assert status(server(request("OPTIONS", add=[("Accept", "text/plain")]))) is None
    assert status(server(request(add=[("Accept", "text/")]))) == 400
    assert status(server(request("ACK", body=b"<x/>", add=[("Content-Encoding", "gzip")]))) is None


def test_validating_a_parsed_torture_request() -> None:
    # RFC 4475 §3.1.1.1 in a shortened form: LWS, folding, compact forms.
    data = (
        b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
        b"TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
        b'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n'
        b"MaX-fOrWaRdS: 0068\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\ncseq: 0009\r\n  INVITE\r\n"
        b"Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\nl: 0\r\n\r\n"
    )
    req = parse_message(data)
    assert isinstance(req, Request)
    assert server(req) is None


def response(status_code: int = 200, **replace: str | None) -> Response:
    fields: dict[str, str | None] = {
        "Via": "SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
        "Call-ID": "unreason.1234ksdfak3j2erwedfsASdf",
        "CSeq": "35 INVITE",
        "From": "sip:user@example.com;tag=11141343",
        "To": "sip:user@example.edu;tag=2229",
    }
    fields.update({k.replace("_", "-"): v for k, v in replace.items()})
    items = [(name, value) for name, value in fields.items() if value is not None]
    return Response(status=status_code, reason="OK", headers=Headers(items))


def test_validate_response() -> None:
    assert validate_response(response()) is None
    assert validate_response(response(CSeq="9292394834772304023312 OPTIONS")) == (
        "Malformed CSeq header: CSeq number 9292394834772304023312 out of range"
    )
    assert validate_response(response(Via=None)) == "Missing Via header: missing Via header"
    assert validate_response(response(1000)) == "status 1000 out of range"
    bad_version = response()
    bad_version.version = "SIP/3.0"
    assert validate_response(bad_version) == "version 'SIP/3.0'"
    doubled = response()
    doubled.headers.add("To", "sip:other@example.net")
    assert validate_response(doubled) == "Multiple To headers: more than one To header"
