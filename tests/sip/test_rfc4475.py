"""RFC 4475 SIP torture test messages, read in place from the shared vectors folder.

Each message goes down the path a server takes: ``parse_message`` (a parse error
is answered with its status when a partial request could be read, else dropped),
then for a request ``validate_request`` configured as this server is (INVITE calls
with SDP bodies, no option tags required), and for a response ``validate_response``
(responses are never answered). The outcome must be one the manifest's ``pass``
tokens allow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest

from sipmeet.sip.errors import SipParseError
from sipmeet.sip.message import Request, Response
from sipmeet.sip.parser import parse_message
from sipmeet.sip.validate import Rejection, validate_request, validate_response

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "rfc4475"
MANIFEST: list[dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())["tests"]
METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS")

Outcome = int | Literal["drop"] | None
"""A final status, "drop" (no response), or None (the request goes on to be processed)."""


def server_validate(req: Request) -> Rejection | None:
    return validate_request(req, methods=METHODS, supported=(), content_types=("application/sdp",))


def outcome(data: bytes) -> Outcome:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        return "drop" if exc.partial is None else exc.status
    if isinstance(msg, Response):
        return "drop"
    rejection = server_validate(msg)
    return None if rejection is None else rejection.status


def allowed(result: Outcome, tokens: list[str], method: str | None) -> bool:
    for token in tokens:
        if token == "any":
            return True
        if result is None:
            # Processing goes on: the endpoint answers a valid request; it answers
            # OPTIONS itself with 200 and challenges or refuses anything else first.
            if token == "not-400" or (token == "200" and method == "OPTIONS"):
                return True
            continue
        if result == "drop":
            if token in ("drop", "any-non-2xx"):
                return True
            continue
        if token == "not-400" and result != 400:
            return True
        if token == "any-non-2xx" and not 200 <= result < 300:
            return True
        if token.endswith("xx") and token[0].isdigit() and result // 100 == int(token[0]):
            return True
        if token.isdigit() and result == int(token):
            return True
    return False


VALID = [t for t in MANIFEST if t["valid"]]


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [f"{t['section']}-{t['file'].removesuffix('.dat')}" for t in cases]


def test_manifest_lists_the_49_messages() -> None:
    assert len(MANIFEST) == 49
    assert sorted(t["file"] for t in MANIFEST) == sorted(p.name for p in VECTORS.glob("*.dat"))


@pytest.mark.parametrize("case", MANIFEST, ids=_ids(MANIFEST))
def test_server_outcome_is_allowed(case: dict[str, Any]) -> None:
    data = (VECTORS / case["file"]).read_bytes()
    result = outcome(data)
    method = data.split(b" ", 1)[0].decode("utf-8", "replace")
    assert allowed(result, case["pass"], method), (
        f"{case['file']}: {result!r} not in {case['pass']}"
    )


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_messages_parse_and_pass_the_grammar_checks(case: dict[str, Any]) -> None:
    msg = parse_message((VECTORS / case["file"]).read_bytes())
    if case["kind"] == "response":
        assert isinstance(msg, Response)
        assert validate_response(msg) is None
        return
    assert isinstance(msg, Request)
    rejection = validate_request(msg)  # grammar only: no method, option tag or body checks
    assert rejection is None or rejection.status != 400, rejection


@pytest.mark.parametrize("case", MANIFEST, ids=_ids(MANIFEST))
def test_parsed_messages_survive_a_round_trip(case: dict[str, Any]) -> None:
    try:
        first = parse_message((VECTORS / case["file"]).read_bytes())
    except SipParseError:
        return
    wire = first.serialize()
    second = parse_message(wire)
    assert second.serialize() == wire
    if "Content-Length" in first.headers:
        assert second == first


def _load(name: str) -> Request:
    msg = parse_message((VECTORS / name).read_bytes())
    assert isinstance(msg, Request)
    return msg


def test_wsinv_values() -> None:
    # RFC 4475 §3.1.1.1: what the tortuous INVITE means once parsed.
    req = _load("wsinv.dat")
    assert req.to.tag == "1918181833n"
    assert req.from_.display == 'J Rosenberg \\"' and req.from_.tag == "98asjd8"
    assert req.headers.get("Max-Forwards") == "0068"
    assert req.cseq.seq == 9 and req.cseq.method == "INVITE"
    assert [(v.transport, v.host, v.branch) for v in req.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert req.headers.get("Subject") == ""
    assert req.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert req.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert len(req.body) == 150


def test_dblreq_keeps_only_the_first_request() -> None:
    # RFC 4475 §3.1.1.8: the INVITE after the REGISTER is ignored.
    req = _load("dblreq.dat")
    assert req.method == "REGISTER" and req.body == b""


def test_longreq_has_all_its_vias() -> None:
    # RFC 4475 §3.1.1.7: 34 Via header lines in every spelling of the name.
    req = _load("longreq.dat")
    vias = req.vias
    assert len(vias) == 34
    assert vias[0].host == "sip33.example.com" and vias[-1].host == "host.example.com"
    assert vias[-1].branch is not None and vias[-1].branch.endswith("branchvalue")


def test_mpart01_binary_body_is_intact() -> None:
    # RFC 4475 §3.1.1.11
    data = (VECTORS / "mpart01.dat").read_bytes()
    req = _load("mpart01.dat")
    assert req.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert len(req.body) == 553


def test_lwsstart_partial_lets_the_server_answer() -> None:
    # RFC 4475 §3.1.2.9: the server can still reply 400 to a malformed request line.
    with pytest.raises(SipParseError) as info:
        parse_message((VECTORS / "lwsstart.dat").read_bytes())
    partial = info.value.partial
    assert partial is not None
    assert partial.headers.get("Via") == "SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923"
    assert partial.headers.get("Call-ID") == "lwsstart.dfknq234oi243099adsdfnawe3@example.com"
    assert partial.headers.get("CSeq") == "1893884 INVITE"
    assert partial.headers.get("From") == "sip:caller@example.net;tag=8814"
    assert partial.headers.get("To") == "sip:user@example.com"
