"""Access tokens: HS256 JWTs signed with the API key's secret."""

from __future__ import annotations

import jwt
import pytest

from sipmeet.auth_tokens import TokenError, create_token, unverified_api_key, verify_token

SECRET = "s" * 43
NOW = 1_700_000_000


def lookup(key: str) -> str | None:
    return SECRET if key == "APIabc" else None


def test_create_and_verify() -> None:
    token = create_token("APIabc", SECRET, room_id="abcd-efgh-ijkl", ttl_s=600, now=NOW)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False}) == {
        "apikey": "APIabc",
        "permissions": ["allow_join"],
        "roomId": "abcd-efgh-ijkl",
        "iat": NOW,
        "exp": NOW + 600,
    }
    claims = verify_token(token, lookup, now=NOW + 599)
    assert claims.api_key_id == "APIabc" and claims.room_id == "abcd-efgh-ijkl"
    assert claims.can_join and not claims.is_moderator
    assert claims.allows_room("abcd-efgh-ijkl") and not claims.allows_room("zzzz-zzzz-zzzz")
    assert (claims.issued_at, claims.expires_at) == (NOW, NOW + 600)
    mod = verify_token(create_token("APIabc", SECRET, moderator=True, now=NOW), lookup, now=NOW)
    assert mod.is_moderator and mod.room_id is None and mod.allows_room("anything")


def test_rejections() -> None:
    token = create_token("APIabc", SECRET, ttl_s=60, now=NOW)
    with pytest.raises(TokenError, match="token has expired"):
        verify_token(token, lookup, now=NOW + 60)
    assert verify_token(token, lookup, now=NOW + 65, leeway_s=10).api_key_id == "APIabc"
    with pytest.raises(TokenError, match="issued in the future"):
        verify_token(token, lookup, now=NOW - 3600)
    forged = create_token("APIabc", "x" * 43, now=NOW)
    with pytest.raises(TokenError, match="invalid token: Signature verification failed"):
        verify_token(forged, lookup, now=NOW)
    stranger = create_token("APIzzz", SECRET, now=NOW)
    with pytest.raises(TokenError, match="unknown API key: APIzzz"):
        verify_token(stranger, lookup, now=NOW)
    with pytest.raises(TokenError, match="malformed token"):
        verify_token("not.a.jwt", lookup)
    unsigned = jwt.encode({"apikey": "APIabc", "iat": NOW, "exp": NOW + 9}, "", algorithm="none")
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(unsigned, lookup, now=NOW)
    no_exp = jwt.encode({"apikey": "APIabc", "iat": NOW, "permissions": []}, SECRET, "HS256")
    with pytest.raises(TokenError, match='invalid token: Token is missing the "exp" claim'):
        verify_token(no_exp, lookup, now=NOW)
    bad_perms = jwt.encode(
        {"apikey": "APIabc", "iat": NOW, "exp": NOW + 9, "permissions": "allow_join"},
        SECRET,
        "HS256",
    )
    with pytest.raises(TokenError, match="permissions must be a list"):
        verify_token(bad_perms, lookup, now=NOW)
    with pytest.raises(TokenError, match="no apikey claim"):
        unverified_api_key(jwt.encode({"iat": NOW}, SECRET, "HS256"))
    with pytest.raises(ValueError, match="positive"):
        create_token("APIabc", SECRET, ttl_s=0)


def test_unknown_permissions_are_dropped() -> None:
    token = jwt.encode(
        {"apikey": "APIabc", "iat": NOW, "exp": NOW + 9, "permissions": ["allow_join", "root"]},
        SECRET,
        "HS256",
    )
    assert verify_token(token, lookup, now=NOW).permissions == ("allow_join",)
