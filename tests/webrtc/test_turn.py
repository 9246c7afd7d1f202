"""ICE servers for the browsers, with TURN REST-API credentials (coturn checks them for
real in test_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from sipmeet.config import ConfigError, load_settings
from sipmeet.webrtc import ice_servers, turn_credentials


def test_turn_credentials_expire_and_are_signed_with_the_shared_secret() -> None:
    username, password = turn_credentials("s3cret", "web-1", 1_700_000_000.7, 3600)
    assert username == "1700003600:web-1"
    expected = hmac.new(b"s3cret", b"1700003600:web-1", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected
    assert turn_credentials("other", "web-1", 1_700_000_000, 3600)[1] != password


def test_ice_servers_group_stun_and_turn() -> None:
    urls = [
        "stun:stun.example.com:3478",
        "turn:turn.example.com:3478",
        "turns:turn.example.com:443",
    ]
    servers = ice_servers(urls, "s", "web-1", 100.0, 60)
    assert servers[0] == {"urls": ["stun:stun.example.com:3478"]}
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.example.com:3478", "turns:turn.example.com:443"]
    assert turn["username"] == "160:web-1" and isinstance(turn["credential"], str)
    assert ice_servers(["turn:t:3478"], None, "w", 0, 60) == [{"urls": ["turn:t:3478"]}]
    assert ice_servers([], "s", "w", 0, 60) == []


def test_ice_server_settings() -> None:
    env = {"SIPMEET_WEBRTC_ICE_SERVERS": " stun:a:1 , turn:b:2?transport=tcp ,"}
    assert load_settings({}, env, None).webrtc.ice_server_urls == (
        "stun:a:1",
        "turn:b:2?transport=tcp",
    )
    with pytest.raises(ConfigError, match=r"webrtc\.ice_servers: must be stun:"):
        load_settings({}, {"SIPMEET_WEBRTC_ICE_SERVERS": "http://x"}, None)
    secret = load_settings({}, {"SIPMEET_WEBRTC_TURN_SECRET": "hush-hush"}, None)
    assert secret.webrtc.turn_secret == "hush-hush" and "hush-hush" not in repr(secret)
    with pytest.raises(ConfigError, match=r"webrtc\.turn_secret: secret settings come from"):
        load_settings({"webrtc.turn_secret": "x"}, {}, None)
