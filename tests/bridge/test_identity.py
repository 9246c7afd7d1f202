"""Caller identity from P-Asserted-Identity / From, and provider metadata."""

from __future__ import annotations

from sipmeet.bridge.identity import caller_identity, mask_number
from sipmeet.sip.message import Headers, Request


def invite(*headers: tuple[str, str]) -> Request:
    return Request(method="INVITE", uri="sip:abcd-efgh-ijkl@example.com", headers=Headers(headers))


def test_p_asserted_identity_wins_over_from() -> None:
    req = invite(
        ("From", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'),
        ("P-Asserted-Identity", '"Ada Lovelace" <sip:+441632960001@trunk.example>'),
    )
    ident = caller_identity(req)
    assert ident.display_name == "Ada Lovelace"
    assert ident.number == "+441632960001"
    assert ident.masked_number == "+********0001"


def test_from_when_no_pai_and_tel_uri() -> None:
    ident = caller_identity(invite(("From", "<tel:+15551234567>;tag=9")))
    assert ident.number == "+15551234567"
    assert ident.display_name == "+15551234567"


def test_provider_headers_are_kept_as_metadata() -> None:
    req = invite(
        ("From", "<sip:+15551234567@x.twilio.com>;tag=1"),
        ("X-Twilio-CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("X-PH-Room", "42"),
        ("Subject", "not kept"),
    )
    meta = caller_identity(req).metadata
    assert meta == {"X-Twilio-CallSid": "CA0123456789abcdef0123456789abcdef", "X-PH-Room": "42"}


def test_mask_number_short_and_long() -> None:
    assert mask_number("1234") == "****"
    assert mask_number("+15551234567") == "+*******4567"


def test_account_name_is_shown_but_not_taken_for_a_number() -> None:
    ident = caller_identity(invite(("From", "<sip:smaqir4u22mk@10.0.0.5>;tag=1")))
    assert ident.number is None and ident.masked_number is None
    assert ident.display_name == "smaqir4u22mk"
