"""Digest authentication: published vectors (RFC 7616, RFC 2617, RFC 2069) and the server."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace

import pytest

from sipmeet.sip.digest import (
    AuthResult,
    DigestAuthenticator,
    DigestCredentials,
    build_authorization,
    digest_response,
    ha1,
    parse_auth_header,
)
from sipmeet.sip.errors import SipParseError
from sipmeet.sip.message import Headers, Request

# RFC 7616 §3.9.1: Mufasa / "Circle of Life" at http-auth@example.org, GET /dir/index.html.
RFC7616_CHALLENGE_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_MD5 = "8ca523f5e9506fed4657c9700eebdbec"
RFC7616_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


@pytest.mark.parametrize(
    ("algorithm", "expected"), [("MD5", RFC7616_MD5), ("SHA-256", RFC7616_SHA256)]
)
def test_rfc7616_example_response(algorithm: str, expected: str) -> None:
    key = ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
    response = digest_response(
        algorithm,
        key,
        RFC7616_CHALLENGE_NONCE,
        "GET",
        "/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce=RFC7616_CNONCE,
    )
    assert response == expected


@pytest.mark.parametrize(
    ("algorithm", "expected"), [("MD5", RFC7616_MD5), ("SHA-256", RFC7616_SHA256)]
)
def test_rfc7616_example_client_header(algorithm: str, expected: str) -> None:
    challenge = (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", '
        f'algorithm={algorithm}, nonce="{RFC7616_CHALLENGE_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )
    value = build_authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life", RFC7616_CNONCE, 1
    )
    scheme, params = parse_auth_header(value)
    assert scheme == "Digest"
    assert params["response"] == expected
    assert params["nc"] == "00000001"
    assert params["qop"] == "auth"
    assert params["cnonce"] == RFC7616_CNONCE
    assert params["opaque"] == RFC7616_OPAQUE
    assert params["algorithm"] == algorithm
    assert params["username"] == "Mufasa"


def test_rfc2617_example() -> None:
    # RFC 2617 §3.5 (the password there is "Circle Of Life").
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = build_authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1
    )
    _, params = parse_auth_header(value)
    assert params["response"] == "6629fae49393a05397450978507c4ef1"
    assert "algorithm" not in params  # the challenge named none: MD5 implied


def test_rfc2069_example_without_qop() -> None:
    # RFC 2069 §2.4 example (Mufasa / CircleOfLife); the value printed in the RFC is
    # wrong, this is the corrected one from its errata.
    challenge = 'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"'
    value = build_authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "CircleOfLife", "x", 1
    )
    _, params = parse_auth_header(value)
    assert params["response"] == "1949323746fe6a43ef61f9606e7febea"
    assert "qop" not in params and "nc" not in params and "cnonce" not in params


def test_sha512_256_and_sess_variants_differ() -> None:
    key = ha1("SHA-512-256", "Mufasa", "r", "pw")
    assert len(key) == 64
    plain = digest_response(
        "MD5",
        ha1("MD5", "u", "r", "p"),
        "n",
        "INVITE",
        "sip:x",
        qop="auth",
        nc="00000001",
        cnonce="c",
    )
    sess = digest_response(
        "MD5-sess",
        ha1("MD5", "u", "r", "p"),
        "n",
        "INVITE",
        "sip:x",
        qop="auth",
        nc="00000001",
        cnonce="c",
    )
    assert plain != sess


def test_parse_auth_header_quoting_and_errors() -> None:
    scheme, params = parse_auth_header('Digest  realm="a \\"b\\", c" ,nonce=xyz,qop="auth"')
    assert scheme == "Digest"
    assert params == {"realm": 'a "b", c', "nonce": "xyz", "qop": "auth"}
    for bad in ['Digest realm="open', "Digest realm", "Digest a=1, a=2", "", "Digest a=1 b=2"]:
        with pytest.raises(SipParseError):
            parse_auth_header(bad)


# --- server side ---------------------------------------------------------------------

REALM = "sip.example.com"
KEY = b"server-secret-key"
USER = "AC1234"
PASSWORD = "s3cret pass"


def _counter_bytes() -> Callable[[int], bytes]:
    state = {"n": 0}

    def token_bytes(n: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(n, "big")

    return token_bytes


def _auth(
    *,
    algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
    nonce_ttl_s: float = 300.0,
    max_tracked_nonces: int = 65536,
) -> DigestAuthenticator:
    return DigestAuthenticator(
        REALM,
        KEY,
        algorithms=algorithms,
        nonce_ttl_s=nonce_ttl_s,
        token_bytes=_counter_bytes(),
        max_tracked_nonces=max_tracked_nonces,
    )


def _stored(algorithms: tuple[str, ...] = ("MD5", "SHA-256")) -> dict[str, str]:
    return {a: ha1(a, USER, REALM, PASSWORD) for a in algorithms}


def _request(authorization: str | None, header: str = "Authorization") -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc"),
            ("From", "<sip:caller@example.net>;tag=1"),
            ("To", "<sip:room@sip.example.com>"),
            ("Call-ID", "call-1"),
            ("CSeq", "2 INVITE"),
        ]
    )
    if authorization is not None:
        headers.add(header, authorization)
    return Request(method="INVITE", uri="sip:room@sip.example.com", headers=headers)


def _answer(
    auth: DigestAuthenticator,
    now: float,
    *,
    algorithm: str = "SHA-256",
    password: str = PASSWORD,
    nc: int = 1,
    challenge: str | None = None,
) -> DigestCredentials:
    if challenge is None:
        by_algorithm = {parse_auth_header(v)[1]["algorithm"]: v for _, v in auth.challenge(now)}
        challenge = by_algorithm[algorithm]
    value = build_authorization(
        challenge, "INVITE", "sip:room@sip.example.com", USER, password, "cn0nce", nc
    )
    creds = auth.credentials(_request(value))
    assert creds is not None
    return creds


def test_challenge_fields() -> None:
    auth = _auth()
    fields = auth.challenge(100.0)
    assert [name for name, _ in fields] == ["WWW-Authenticate", "WWW-Authenticate"]
    params = [parse_auth_header(v)[1] for _, v in fields]
    assert [p["algorithm"] for p in params] == ["SHA-256", "MD5"]
    assert params[0]["nonce"] == params[1]["nonce"]
    assert all(p["realm"] == REALM and p["qop"] == "auth" and "opaque" in p for p in params)
    assert all("stale" not in p for p in params)
    stale = auth.challenge(100.0, stale=True, proxy=True)
    assert {name for name, _ in stale} == {"Proxy-Authenticate"}
    assert all(parse_auth_header(v)[1]["stale"] == "true" for _, v in stale)


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_verify_ok(algorithm: str) -> None:
    auth = _auth()
    creds = _answer(auth, 100.0, algorithm=algorithm)
    assert creds.username == USER and not creds.proxy
    assert auth.verify(creds, "INVITE", _stored(), 101.0) is AuthResult.OK


def test_wrong_password_is_invalid() -> None:
    auth = _auth()
    creds = _answer(auth, 100.0, password="guess")
    assert auth.verify(creds, "INVITE", _stored(), 101.0) is AuthResult.INVALID


def test_wrong_method_is_invalid() -> None:
    auth = _auth()
    creds = _answer(auth, 100.0)
    assert auth.verify(creds, "BYE", _stored(), 101.0) is AuthResult.INVALID


def test_stale_nonce() -> None:
    auth = _auth(nonce_ttl_s=30.0)
    creds = _answer(auth, 100.0)
    assert auth.verify(creds, "INVITE", _stored(), 131.0) is AuthResult.STALE
    # A wrong password on an expired nonce is not "stale": it is wrong.
    bad = _answer(auth, 100.0, password="guess")
    assert auth.verify(bad, "INVITE", _stored(), 131.0) is AuthResult.INVALID


def test_forged_nonce() -> None:
    auth = _auth()
    other = DigestAuthenticator(REALM, b"another key", token_bytes=_counter_bytes())
    creds = _answer(other, 100.0)  # signed with another key
    assert auth.verify(creds, "INVITE", _stored(), 101.0) is AuthResult.INVALID
    # Tampering with the expiry inside a genuine nonce breaks the signature.
    genuine = _answer(auth, 100.0)
    raw = bytearray(base64.urlsafe_b64decode(genuine.nonce + "=" * (-len(genuine.nonce) % 4)))
    raw[20] ^= 0x01
    forged_nonce = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    challenge = f'Digest realm="{REALM}", nonce="{forged_nonce}", qop="auth", algorithm=SHA-256'
    forged = _answer(auth, 100.0, challenge=challenge)
    assert auth.verify(forged, "INVITE", _stored(), 101.0) is AuthResult.INVALID
    garbage = _answer(auth, 100.0, challenge=f'Digest realm="{REALM}", nonce="%%%", qop="auth"')
    assert auth.verify(garbage, "INVITE", _stored(), 101.0) is AuthResult.INVALID


def test_nonce_count_replay() -> None:
    auth = _auth()
    fields = auth.challenge(100.0)
    challenge = fields[0][1]
    first = _answer(auth, 100.0, challenge=challenge, nc=1)
    assert auth.verify(first, "INVITE", _stored(), 101.0) is AuthResult.OK
    assert auth.verify(first, "INVITE", _stored(), 102.0) is AuthResult.INVALID  # replay
    second = _answer(auth, 100.0, challenge=challenge, nc=2)
    assert auth.verify(second, "INVITE", _stored(), 103.0) is AuthResult.OK
    assert auth.verify(first, "INVITE", _stored(), 104.0) is AuthResult.INVALID  # went back


def test_bounded_nonce_memory_never_allows_replay() -> None:
    auth = _auth(max_tracked_nonces=2)
    used = []
    for i in range(4):
        creds = _answer(auth, 100.0 + i)
        assert auth.verify(creds, "INVITE", _stored(), 100.5 + i) is AuthResult.OK
        used.append(creds)
    # The first two were forgotten: they come back stale, never OK.
    assert auth.verify(used[0], "INVITE", _stored(), 110.0) is AuthResult.STALE
    assert auth.verify(used[3], "INVITE", _stored(), 110.0) is AuthResult.INVALID


def test_rfc2069_form_accepted_once() -> None:
    auth = _auth(algorithms=("MD5",))
    nonce = parse_auth_header(auth.challenge(100.0)[0][1])[1]["nonce"]
    challenge = f'Digest realm="{REALM}", nonce="{nonce}"'
    creds = _answer(auth, 100.0, challenge=challenge, algorithm="MD5")
    assert creds.qop is None and creds.nc is None
    assert auth.verify(creds, "INVITE", _stored(), 101.0) is AuthResult.OK
    assert auth.verify(creds, "INVITE", _stored(), 102.0) is AuthResult.STALE


def test_unsupported_algorithm() -> None:
    auth = _auth(algorithms=("SHA-256",))
    nonce = parse_auth_header(auth.challenge(100.0)[0][1])[1]["nonce"]
    md5 = _answer(auth, 100.0, challenge=f'Digest realm="{REALM}", nonce="{nonce}", qop="auth"')
    assert auth.verify(md5, "INVITE", _stored(), 101.0) is AuthResult.UNSUPPORTED_ALGORITHM
    # Supported algorithm, but no stored hash for it.
    sha = _answer(auth, 100.0)
    assert auth.verify(sha, "INVITE", _stored(("MD5",)), 101.0) is AuthResult.UNSUPPORTED_ALGORITHM


def test_realm_and_opaque_mismatch() -> None:
    auth = _auth()
    creds = _answer(auth, 100.0)
    assert (
        auth.verify(replace(creds, realm="other"), "INVITE", _stored(), 101.0) is AuthResult.INVALID
    )
    assert (
        auth.verify(replace(creds, opaque="nope"), "INVITE", _stored(), 101.0) is AuthResult.INVALID
    )
    assert (
        auth.verify(replace(creds, qop="auth-int"), "INVITE", _stored(), 101.0)
        is AuthResult.INVALID
    )
    assert auth.verify(replace(creds, nc="1"), "INVITE", _stored(), 101.0) is AuthResult.INVALID


def test_credentials_selection() -> None:
    auth = _auth()
    assert auth.credentials(_request(None)) is None
    assert auth.credentials(_request("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")) is None
    other_realm = 'Digest username="u", realm="elsewhere", nonce="n", uri="sip:x", response="00"'
    assert auth.credentials(_request(other_realm)) is None
    assert auth.credentials(_request('Digest username="u", realm="' + REALM + '"')) is None
    assert auth.credentials(_request("Digest realm=")) is None
    proxy = f'Digest username="u", realm="{REALM}", nonce="n", uri="sip:x", response="00"'
    creds = auth.credentials(_request(proxy, "Proxy-Authorization"))
    assert creds is not None and creds.proxy
    utf8 = (
        f'Digest username*=UTF-8\'\'J%C3%A4s%C3%B8n, realm="{REALM}", nonce="n", '
        'uri="sip:x", response="00"'
    )
    creds = auth.credentials(_request(utf8))
    assert creds is not None and creds.username == "Jäsøn"


def test_credentials_from_multiple_headers_pick_our_realm() -> None:
    auth = _auth()
    req = _request('Digest username="u", realm="elsewhere", nonce="n", uri="sip:x", response="0"')
    req.headers.add(
        "Authorization",
        f'Digest username="me", realm="{REALM}", nonce="n", uri="sip:x", response="1"',
    )
    creds = auth.credentials(req)
    assert creds is not None and creds.username == "me"


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        DigestAuthenticator(REALM, b"")
    with pytest.raises(KeyError):
        DigestAuthenticator(REALM, KEY, algorithms=("SHA-1",))


def test_build_authorization_refuses_what_it_cannot_answer() -> None:
    with pytest.raises(ValueError):
        build_authorization('Basic realm="x"', "INVITE", "sip:x", "u", "p", "c", 1)
    with pytest.raises(ValueError):
        build_authorization(
            'Digest realm="x", nonce="n", algorithm=SHA-1', "INVITE", "sip:x", "u", "p", "c", 1
        )
    with pytest.raises(ValueError):
        build_authorization(
            'Digest realm="x", nonce="n", qop="auth-int"', "INVITE", "sip:x", "u", "p", "c", 1
        )
    with pytest.raises(SipParseError):
        build_authorization('Digest realm="x"', "INVITE", "sip:x", "u", "p", "c", 1)
