"""SIP URIs (RFC 3261 §19.1): escapes, user parts, hosts, IPv6 references."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipmeet.sip.errors import SipParseError
from sipmeet.sip.uri import (
    SipUri,
    is_absolute_uri,
    parse_host,
    parse_hostport,
    parse_uri,
    uri_scheme,
)


def test_plain_uri() -> None:
    uri = parse_uri("sip:room-4f2a@Meet.Example.COM:5080;transport=TCP;lr")
    assert uri == SipUri(
        host="meet.example.com",
        user="room-4f2a",
        port=5080,
        params={"transport": "TCP", "lr": None},
    )
    assert uri.transport == "TCP"
    assert uri.host_port == "meet.example.com:5080"
    assert str(uri) == "sip:room-4f2a@meet.example.com:5080;transport=TCP;lr"


def test_sips_and_scheme_case() -> None:
    uri = parse_uri("SIPS:alice@example.com")
    assert uri.scheme == "sips" and uri.transport == "UDP"


def test_escaped_user_and_parameters() -> None:
    # RFC 4475 §3.1.1.3
    assert parse_uri("sip:sips%3Auser%40example.com@example.net").user == "sips:user@example.com"
    assert parse_uri("sip:%75se%72@example.com").user == "user"
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.user == "caller"
    assert uri.params == {"lr": None, "name": "value%41"}
    assert str(uri) == "sip:caller@host5.example.net;lr;name=value%2541"
    assert parse_uri(str(uri)) == uri


def test_escaped_nul_does_not_truncate() -> None:
    # RFC 4475 §3.1.1.4
    assert parse_uri("sip:null-%00-null@example.com").user == "null-\x00-null"
    assert parse_uri("sip:%00%00@host5.example.com").user == "\x00\x00"
    assert str(parse_uri("sip:%00@host5.example.com")) == "sip:%00@host5.example.com"


def test_unusual_but_valid_user_and_password() -> None:
    # RFC 4475 §3.1.1.2
    uri = parse_uri(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    )
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com" and uri.params == {} and uri.headers == ""


def test_semicolon_in_user_part() -> None:
    # RFC 4475 §3.1.1.9
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u@example.net" and uri.params == {}


def test_headers_component() -> None:
    uri = parse_uri("sip:user@example.com?Route=%3Csip:example.com%3E")
    assert uri.headers == "Route=%3Csip:example.com%3E"
    assert str(uri) == "sip:user@example.com?Route=%3Csip:example.com%3E"


def test_non_utf8_escape_survives_a_round_trip() -> None:
    uri = parse_uri("sip:%FF%41@example.com")
    assert uri.user == "\udcffA"
    assert str(uri) == "sip:%FFA@example.com"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        # Modelled on the RFC 5118 §4.1, §4.3, §4.4 and §4.9 cases.
        ("sip:[2001:db8::10]", "2001:db8::10", None),
        ("sip:[2001:db8::10:5070]", "2001:db8::10:5070", None),
        ("sip:[2001:db8::10]:5070", "2001:db8::10", 5070),
        ("sip:user@[::ffff:192.0.2.10]", "::ffff:192.0.2.10", None),
        ("sip:caller@[2001:DB8::1];transport=tcp", "2001:db8::1", None),
    ],
)
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert (uri.host, uri.port) == (host, port)
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sip:2001:db8::10", "invalid host '2001'"),  # RFC 5118 §4.2: brackets are required
        ("tel:+14155550100", "not a SIP URI: 'tel:+14155550100'"),
        ("sip", "not a SIP URI: 'sip'"),
        ("sip:", "empty SIP URI 'sip:'"),
        ("sip:user@", "missing host in ''"),
        ("sip:us er@example.com", "invalid user part in 'sip:us er@example.com'"),
        ("sip:us#er@example.com", "invalid user part in 'sip:us#er@example.com'"),
        ("sip:user:p@ss@example.com", "invalid host 'ss@example.com'"),
        ("sip:user:p w@example.com", "invalid password in 'sip:user:p w@example.com'"),
        ("sip:user@example.com:50x", "invalid port in 'example.com:50x'"),
        ("sip:user@example.com:65536", "port 65536 out of range in 'example.com:65536'"),
        ("sip:user@exa_mple.com", "invalid host 'exa_mple.com'"),
        ("sip:user@example.123", "invalid host 'example.123'"),
        ("sip:user@[2001:db8::1", "unterminated IPv6 reference in '[2001:db8::1'"),
        ("sip:user@[2001:db8::1]x", "unexpected text after IPv6 reference in '[2001:db8::1]x'"),
        ("sip:user@[fe80::1%25eth0]", "invalid IPv6 reference '[fe80::1%25eth0]'"),
        ("sip:user@example.com;;lr", "invalid URI parameter '' in 'sip:user@example.com;;lr'"),
        ("sip:user@example.com;lr;LR", "URI parameter 'lr' repeated in 'sip:user@example.com;lr;LR'"),
        ("sip:user@example.com;a=", "invalid value of URI parameter 'a' in 'sip:user@example.com;a='"),
        ("sip:user@example.com;a=%G0", "invalid value of URI parameter 'a' in 'sip:user@example.com;a=%G0'"),
        ("sip:user@example.com?", "invalid headers component in 'sip:user@example.com?'"),
        ("sip:user@example.com?a", "invalid headers component in 'sip:user@example.com?a'"),
    ],
)  # fmt: skip
def test_parse_uri_errors(text: str, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert str(info.value) == message


def test_hosts() -> None:
    assert parse_host("Example.COM.") == "example.com."
    assert parse_host("192.0.2.1") == "192.0.2.1"
    assert parse_host("a-b--c.3com.com") == "a-b--c.3com.com"
    assert parse_host("[2001:DB8::1]") == "2001:db8::1"
    assert parse_hostport("[2001:db8::1]:5060") == ("2001:db8::1", 5060)
    assert parse_hostport("host.example.com") == ("host.example.com", None)
    for bad in ["", ".", "-a.com", "a-.com", "a..com", "1.2.3", "300.1.1.1", "[]", "a b"]:
        with pytest.raises(SipParseError):
            parse_host(bad)


def test_absolute_uri_and_scheme() -> None:
    assert is_absolute_uri("soap.beep://192.0.2.103:3002")  # RFC 4475 §3.3.3
    assert is_absolute_uri("nobodyKnowsThisScheme:totallyopaquecontent")  # §3.3.2
    assert not is_absolute_uri("<sip:user@example.com>")  # §3.1.2.7
    assert not is_absolute_uri("sip:")
    assert not is_absolute_uri("sip:a b")
    assert not is_absolute_uri("1sip:a")
    assert uri_scheme("SIP:a@b") == "sip"
    assert uri_scheme("soap.beep://x") == "soap.beep"
    assert uri_scheme("<sip:a@b>") == ""
    assert uri_scheme("no-colon") == ""
    assert uri_scheme("s p:x") == ""


_users = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_tokens = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8).filter(
    lambda t: t[0].isalnum() and t[-1].isalnum() and "--" not in t
)


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | _users,
    password=st.none() | _users,
    host=st.sampled_from(["example.com", "192.0.2.1", "2001:db8::1", "a-1.example.net."]),
    port=st.none() | st.integers(0, 65535),
    params=st.dictionaries(_tokens, st.none() | _users, max_size=3),
)
def test_str_then_parse_is_identity(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: dict[str, str | None],
) -> None:
    uri = SipUri(
        host=host,
        scheme=scheme,
        user=user,
        password=password if user is not None else None,
        port=port,
        params=params,
    )
    assert parse_uri(str(uri)) == uri
