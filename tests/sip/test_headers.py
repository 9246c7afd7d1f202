"""Header value grammar (RFC 3261 §20, §25.1); values mostly from RFC 4475 messages."""

from __future__ import annotations

import pytest

from sipmeet.sip.errors import SipParseError
from sipmeet.sip.headers import (
    CSeq,
    NameAddr,
    Via,
    format_params,
    is_token,
    parse_content_length,
    parse_cseq,
    parse_max_forwards,
    parse_media_type,
    parse_name_addr,
    parse_option_tags,
    parse_params,
    parse_via,
    quote,
    split_comma_list,
    unquote,
)

# --- tokens, quoting, lists -----------------------------------------------------------


def test_is_token() -> None:
    assert is_token("!interesting-Method0123456789_*+`.%indeed'~")  # RFC 4475 §3.1.1.2
    assert not is_token("")
    assert not is_token("a b")
    assert not is_token("a,b")
    assert not is_token("naïve")


def test_unquote_and_quote() -> None:
    assert unquote('"J Rosenberg \\\\\\""') == 'J Rosenberg \\"'  # RFC 4475 §3.1.1.1
    assert unquote("plain") == "plain"
    assert quote('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert quote("BEL:\x07 tab:\t") == '"BEL:\\\x07 tab:\t"'
    assert quote("line\r\nbreak") == '"line  break"'
    for text in ['a"b', "c\\d", "x\x00y", "é"]:
        assert unquote(quote(text)) == text


def test_split_comma_list_respects_quotes_and_brackets() -> None:
    value = '"Bell, Alexander" <sip:a@example.com;x=1,2>;p="a,b" , <sip:c@example.com>'
    assert split_comma_list(value) == [
        '"Bell, Alexander" <sip:a@example.com;x=1,2>;p="a,b"',
        "<sip:c@example.com>",
    ]
    assert split_comma_list("a,,b, ") == ["a", "b"]
    with pytest.raises(SipParseError, match=r"^empty element in list 'a,,b'$"):
        split_comma_list("a,,b", strict=True)
    with pytest.raises(SipParseError, match=r"^unterminated quoted string"):
        split_comma_list('"open, b')


# --- parameters -----------------------------------------------------------------------


def test_parse_params() -> None:
    assert parse_params("tag = 1918181833n") == {"tag": "1918181833n"}
    assert parse_params('Lr;maddr=[2001:db8::1];x="a;b"') == {
        "lr": None,
        "maddr": "[2001:db8::1]",
        "x": "a;b",
    }
    assert parse_params("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (";;", "invalid parameters ';;;'"),
        ("a=1;;b", "invalid parameters ';;b'"),
        ("a=", "invalid parameters '='"),
        ("a=1;a=2", "parameter 'a' repeated in ';a=1;a=2'"),
        ('a="open', "invalid parameters '=\"open'"),
        ("a b", "invalid parameters ' b'"),
    ],
)
def test_parse_params_errors(text: str, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_params(text)
    assert str(info.value) == message


def test_format_params_quotes_what_is_not_a_token() -> None:
    params: dict[str, str | None] = {"lr": None, "received": "2001:db8::9:255", "x": "a b"}
    assert format_params(params) == ';lr;received=2001:db8::9:255;x="a b"'
    assert parse_params(format_params(params)[1:]) == params


# --- CSeq, Max-Forwards, Content-Length, media types, option tags ----------------------


def test_parse_cseq() -> None:
    assert parse_cseq("0009 INVITE") == CSeq(9, "INVITE")  # RFC 4475 §3.1.1.1 (unfolded)
    assert parse_cseq("4294967295 OPTIONS").seq == 2**32 - 1
    assert str(CSeq(1, "BYE")) == "1 BYE"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("36893488147419103232 REGISTER", "CSeq number 36893488147419103232 out of range"),
        ("4294967296 INVITE", "CSeq number 4294967296 out of range"),
        ("1", "invalid CSeq '1'"),
        ("-1 INVITE", "invalid CSeq '-1 INVITE'"),
        ("1 INVITE x", "invalid CSeq '1 INVITE x'"),
        ("\u0661 INVITE", "invalid CSeq '\u0661 INVITE'"),
        ("1 INV@ITE", "invalid CSeq '1 INV@ITE'"),
    ],
)
def test_parse_cseq_errors(value: str, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_cseq(value)
    assert str(info.value) == message


def test_max_forwards_and_content_length() -> None:
    assert parse_max_forwards("0068") == 68
    assert parse_max_forwards("255") == 255
    with pytest.raises(SipParseError, match=r"^Max-Forwards 300 out of range \(0-255\)$"):
        parse_max_forwards("300")
    with pytest.raises(SipParseError, match=r"^invalid Max-Forwards ''$"):
        parse_max_forwards("")
    assert parse_content_length(" 0150 ") == 150
    with pytest.raises(SipParseError, match=r"^invalid Content-Length '1.5'$"):
        parse_content_length("1.5")
    with pytest.raises(SipParseError, match=r"^Content-Length 1\d{40} out of range"):
        parse_content_length("1" + "0" * 40)


def test_parse_media_type() -> None:
    assert parse_media_type("application/sdp") == ("application/sdp", {})
    assert parse_media_type("Multipart/Mixed;boundary=7a9cbec02ceef655") == (
        "multipart/mixed",
        {"boundary": "7a9cbec02ceef655"},
    )
    assert parse_media_type('text/plain ; charset="utf-8"')[1] == {"charset": "utf-8"}
    for bad in ["application", "application/", "a/b c", "/sdp"]:
        with pytest.raises(SipParseError):
            parse_media_type(bad)


def test_parse_option_tags() -> None:
    assert parse_option_tags("nothingSupportsThis, nothingSupportsThisEither") == [
        "nothingSupportsThis",
        "nothingSupportsThisEither",
    ]
    assert parse_option_tags("  ") == []
    with pytest.raises(SipParseError, match=r"^invalid option tag 'a b'$"):
        parse_option_tags("a b")
    with pytest.raises(SipParseError, match=r"^empty element"):
        parse_option_tags("timer,,100rel")


# --- Via --------------------------------------------------------------------------------


def test_parse_via_with_lws_everywhere_the_grammar_allows() -> None:
    # RFC 4475 §3.1.1.1, after unfolding.
    via = parse_via("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ")
    assert via == Via("TCP", "spindle.example.com", None, {"branch": "z9hG4bK9ikj8"})
    assert parse_via("SIP/2.0/UDP 192.0.2.1 : 5060").port == 5060


def test_parse_via_fields() -> None:
    via = parse_via(
        "sip/2.0/udp Host.Example.COM:5070;branch=z9hG4bK1;received=192.0.2.9;rport=4000"
    )
    assert via.protocol == "SIP/2.0" and via.transport == "UDP"
    assert via.host == "host.example.com" and via.port == 5070
    assert via.branch == "z9hG4bK1" and via.received == "192.0.2.9" and via.rport == 4000
    assert via.sent_by == "host.example.com:5070"
    assert (
        str(via)
        == "SIP/2.0/UDP host.example.com:5070;branch=z9hG4bK1;received=192.0.2.9;rport=4000"
    )
    assert parse_via(str(via)) == via
    assert parse_via("SIP/2.0/TCP a.example.com;rport").rport is None
    assert "rport" in parse_via("SIP/2.0/TCP a.example.com;rport").params


def test_parse_via_ipv6() -> None:
    # RFC 5118 §4.5: received may be written with or without brackets.
    via = parse_via(
        "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=[2001:db8::9:255]"
    )
    assert via.host == "2001:db8::9:1" and via.port == 6050
    assert via.sent_by == "[2001:db8::9:1]:6050"
    assert via.received == "2001:db8::9:255"
    via = parse_via("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
    assert via.received == "2001:db8::9:255" and via.port is None
    assert parse_via(str(via)) == via


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("SIP/2.0/UDP 192.0.2.15;;", "invalid parameters ';;'"),  # RFC 4475 §3.1.2.1
        ("SIP/2.0 192.0.2.15", "invalid Via 'SIP/2.0 192.0.2.15'"),
        ("SIP/2.0/UDP", "invalid Via 'SIP/2.0/UDP'"),
        ("SIP/2.0/UDP host_1.example.com", "invalid parameters '_1.example.com'"),
        ("SIP/2.0/UDP 192.0.2.1:99999", "port 99999 out of range in '192.0.2.1:99999'"),
        ("SIP/2.0/UDP [2001:db8::1", "invalid Via 'SIP/2.0/UDP [2001:db8::1'"),
        ("SIP/2.0/UDP [2001:db8:::1]", "invalid IPv6 reference '[2001:db8:::1]'"),
        ("SIP/2.0/UDP 2001:db8::1", "invalid host '2001'"),
        ("SIP/2.0/UDP 192.0.2.256", "invalid IPv4 address '192.0.2.256'"),
        ("SIP/2.0/UDP a.example.com;branch", "invalid Via branch in 'SIP/2.0/UDP a.example.com;branch'"),
        ("SIP/2.0/UDP a.example.com;received=host", "invalid Via received address in 'SIP/2.0/UDP a.example.com;received=host'"),
        ("SIP/2.0/UDP a.example.com;rport=70000", "invalid Via rport in 'SIP/2.0/UDP a.example.com;rport=70000'"),
        ("SIP/2.0/UDP a.example.com;ttl=256", "invalid Via ttl in 'SIP/2.0/UDP a.example.com;ttl=256'"),
        ("SIP/2.0/UDP a.example.com;maddr=-x", "invalid host '-x'"),
    ],
)  # fmt: skip
def test_parse_via_errors(value: str, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_via(value)
    assert str(info.value) == message


# --- name-addr / addr-spec ---------------------------------------------------------------


def test_parse_name_addr_forms() -> None:
    # RFC 4475 §3.1.1.1 (unfolded), §3.1.1.2 and §3.1.1.6.
    assert parse_name_addr(
        '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8'
    ) == (NameAddr("sip:jdrosen@example.com", 'J Rosenberg \\"', {"tag": "98asjd8"}))
    addr = parse_name_addr(
        "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=_token~1'+`*%!-."
    )
    assert addr.display == "token1~` token2'+_ token3*%!.-" and addr.tag == "_token~1'+`*%!-."
    assert parse_name_addr("caller<sip:caller@example.com>;tag=323").display == "caller"
    # addr-spec: parameters after the URI belong to the header.
    addr = parse_name_addr("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert addr == NameAddr("sip:vivekg@chair-dnrc.example.com", None, {"tag": "1918181833n"})
    # Any URI scheme (RFC 4475 §3.3.4).
    assert parse_name_addr("isbn:2983792873").uri == "isbn:2983792873"
    assert parse_name_addr("<http://www.example.com>;tag=3234233").uri == "http://www.example.com"
    # Commas and '?' are fine inside angle brackets.
    addr = parse_name_addr("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>")
    assert addr.uri == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated or invalid display name in '\"Mr. J. User <sip:j.user@example.com>'"),  # RFC 4475 §3.1.2.6
        ('"Watson, Thomas" < sip:t.watson@example.org >', "invalid URI in address '\"Watson, Thomas\" < sip:t.watson@example.org >'"),  # §3.1.2.14
        ("Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "invalid address 'Bell, Alexander <sip:a.g.bell@example.com>;tag=43'"),  # §3.1.2.15
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "invalid address 'sip:user@example.com?Route=%3Csip:sip.example.com%3E'"),  # §3.1.2.13
        ('"Joe" <sip:joe@example.org>;;;;', "invalid parameters ';;;;'"),  # §3.1.2.1
        ('"Joe" sip:joe@example.org', "display name without <uri> in '\"Joe\" sip:joe@example.org'"),
        ("<sip:joe@example.org", "unterminated <uri> in '<sip:joe@example.org'"),
        ("<sip:joe@example.org> x", "invalid parameters ' x'"),
        ("joe@example.org", "invalid address 'joe@example.org'"),
        ("", "empty address"),
    ],
)  # fmt: skip
def test_parse_name_addr_errors(value: str, message: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_name_addr(value)
    assert str(info.value) == message


def test_name_addr_str_round_trip() -> None:
    addr = NameAddr(
        "sip:a@example.com;lr", 'A "quoted" \\ name\x07', {"tag": "x", "q": "0.5", "e": None}
    )
    text = str(addr)
    assert text == '"A \\"quoted\\" \\\\ name\\\x07" <sip:a@example.com;lr>;tag=x;q=0.5;e'
    assert parse_name_addr(text) == addr
    assert addr.with_tag("y").tag == "y" and addr.tag == "x"
