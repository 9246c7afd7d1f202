"""The ``sipmeet`` command line, run in-process through ``main([...])``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import jwt
import pytest

from sipmeet.auth_tokens import verify_token
from sipmeet.cli import main
from sipmeet.config import Settings, load_settings, reference_markdown
from sipmeet.storage import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SIPMEET_* settings leak in from outside; the data directory is temporary."""
    import os

    for name in list(os.environ):
        if name.startswith("SIPMEET_"):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    monkeypatch.setenv("SIPMEET_DATA_DIR", str(data))
    monkeypatch.setenv("SIPMEET_SIP_DOMAIN", "sip.example.com")
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def create_key(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    result = run_json(capsys, "keys", "create", "--name", "demo", *extra)
    assert isinstance(result, dict)
    return result


# --- keys ------------------------------------------------------------------------------------


def test_keys_create_json_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    plain = create_key(capsys)
    assert set(plain) == {"apiKey", "secret"}
    with_sip = create_key(capsys, "--enable-sip")
    assert set(with_sip) == {"apiKey", "secret", "sip"}
    sip = with_sip["sip"]
    assert isinstance(sip, dict) and set(sip) == {"username", "password"}
    assert str(with_sip["apiKey"]).startswith("API")


def test_keys_create_human(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "create", "--name", "people", "--enable-sip")
    assert code == 0
    assert out.startswith("API key:  API")
    assert "Secret:" in out and "SIP username: sm" in out and "SIP password:" in out
    assert "sip:<room-id>@sip.example.com" in out


def test_keys_list_and_delete(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and out.startswith("no API keys")
    a = create_key(capsys, "--enable-sip")
    b = create_key(capsys)
    listed = run_json(capsys, "keys", "list")
    assert isinstance(listed, list)
    assert [k["apiKey"] for k in listed] == [a["apiKey"], b["apiKey"]]
    assert listed[0]["sip"] == {"username": a["sip"]["username"]}  # type: ignore[index]
    assert listed[1]["sip"] is None
    assert all("secret" not in k for k in listed)
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and str(a["apiKey"]) in out and str(b["apiKey"]) in out
    code, out, _ = run(capsys, "keys", "delete", str(a["apiKey"]))
    assert code == 0 and out == f"deleted API key {a['apiKey']}\n"
    code, out, err = run(capsys, "keys", "delete", str(a["apiKey"]))
    assert (code, out, err) == (1, "", f"sipmeet: error: no such API key: {a['apiKey']}\n")


# --- sip -------------------------------------------------------------------------------------


def test_sip_enable_rotate_show_disable(capsys: pytest.CaptureFixture[str]) -> None:
    key = str(create_key(capsys)["apiKey"])
    enabled = run_json(capsys, "sip", "enable", key)
    assert isinstance(enabled, dict) and set(enabled) == {"username", "password"}
    assert run_json(capsys, "sip", "enable", key) == enabled  # idempotent
    assert run_json(capsys, "sip", "show", key) == enabled
    rotated = run_json(capsys, "sip", "rotate", key)
    assert isinstance(rotated, dict) and set(rotated) == {"username", "password"}
    assert rotated["username"] == enabled["username"]
    assert rotated["password"] != enabled["password"]
    code, out, _ = run(capsys, "sip", "show", key)
    assert code == 0 and f"SIP password: {rotated['password']}" in out
    code, out, _ = run(capsys, "sip", "disable", key)
    assert code == 0 and out == f"SIP disabled for API key {key}\n"
    code, out, err = run(capsys, "sip", "show", key)
    assert (code, err) == (1, f"sipmeet: error: SIP is not enabled for API key {key}\n")
    code, _, err = run(capsys, "sip", "rotate", key)
    assert (code, err) == (1, f"sipmeet: error: SIP is not enabled for API key {key}\n")


@pytest.mark.parametrize("action", ["enable", "rotate", "disable", "show"])
def test_sip_unknown_key(capsys: pytest.CaptureFixture[str], action: str) -> None:
    code, out, err = run(capsys, "sip", action, "APIdoesnotexist")
    assert (code, out, err) == (1, "", "sipmeet: error: no such API key: APIdoesnotexist\n")


# --- rooms -----------------------------------------------------------------------------------


def test_rooms_create_list_deactivate(capsys: pytest.CaptureFixture[str]) -> None:
    key = str(create_key(capsys)["apiKey"])
    room = run_json(capsys, "rooms", "create", "--api-key", key)
    assert isinstance(room, dict) and set(room) == {"roomId", "sipUri", "dialinCode"}
    assert room["sipUri"] == f"sip:{room['roomId']}@sip.example.com"
    chosen = run_json(capsys, "rooms", "create", "--api-key", key, "--room-id", "standup")
    assert isinstance(chosen, dict)
    assert (chosen["roomId"], chosen["sipUri"]) == ("standup", "sip:standup@sip.example.com")
    assert str(chosen["dialinCode"]).isdigit() and chosen["dialinCode"] != room["dialinCode"]
    code, out, _ = run(capsys, "rooms", "create", "--api-key", key, "--pin", "2468")
    assert code == 0 and out.startswith("Room:    ") and "Dial-in code: " in out
    listed = run_json(capsys, "rooms", "list", "--api-key", key)
    assert isinstance(listed, list) and len(listed) == 3
    assert listed[0]["roomId"] == room["roomId"] and listed[0]["active"] is True
    code, out, _ = run(capsys, "rooms", "deactivate", "standup")
    assert code == 0 and out == "deactivated room standup\n"
    listed = run_json(capsys, "rooms", "list")
    assert isinstance(listed, list)
    assert [r["active"] for r in listed if r["roomId"] == "standup"] == [False]
    code, out, _ = run(capsys, "rooms", "list")
    assert code == 0 and "inactive" in out and "sip:standup@sip.example.com" in out


def test_rooms_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "rooms", "create", "--api-key", "APInope", "--json")
    assert (code, err) == (1, "sipmeet: error: no such API key: APInope\n")
    key = str(create_key(capsys)["apiKey"])
    run_json(capsys, "rooms", "create", "--api-key", key, "--room-id", "standup")
    code, _, err = run(capsys, "rooms", "create", "--api-key", key, "--room-id", "standup")
    assert (code, err) == (1, "sipmeet: error: room standup already exists\n")
    code, _, err = run(capsys, "rooms", "create", "--api-key", key, "--room-id", "a b")
    assert code == 1 and err.startswith("sipmeet: error: invalid room id 'a b'")
    code, _, err = run(capsys, "rooms", "deactivate", "nope-nope-nope")
    assert (code, err) == (1, "sipmeet: error: no such room: nope-nope-nope\n")
    code, _, err = run(capsys, "rooms", "list", "--api-key", "APInope")
    assert (code, err) == (1, "sipmeet: error: no such API key: APInope\n")


def test_sip_domain_flag_and_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = str(create_key(capsys)["apiKey"])
    room = run_json(capsys, "rooms", "create", "--api-key", key, "--sip-domain", "flag.example.com")
    assert isinstance(room, dict) and room["sipUri"].endswith("@flag.example.com")
    config = tmp_path / "sipmeet.toml"
    config.write_text('[sip]\ndomain = "file.example.com"\n', encoding="utf-8")
    # The variable set by the fixture beats the file; a flag beats both.
    room = run_json(capsys, "--config", str(config), "rooms", "create", "--api-key", key)
    assert isinstance(room, dict) and room["sipUri"].endswith("@sip.example.com")


def test_settings_flags_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    before = run_json(capsys, "--data-dir", str(other), "keys", "create", "--name", "x")
    after = run_json(capsys, "keys", "list", "--data-dir", str(other))
    assert isinstance(before, dict) and isinstance(after, list)
    assert [k["apiKey"] for k in after] == [before["apiKey"]]
    assert (other / "sipmeet.db").exists()
    assert run_json(capsys, "keys", "list") == []  # the default data dir is untouched


# --- token -----------------------------------------------------------------------------------


def test_token(capsys: pytest.CaptureFixture[str]) -> None:
    created = create_key(capsys)
    key, secret = str(created["apiKey"]), str(created["secret"])
    room = run_json(capsys, "rooms", "create", "--api-key", key)
    assert isinstance(room, dict)
    code, out, _ = run(capsys, "token", "--api-key", key)
    assert code == 0
    claims = jwt.decode(out.strip(), secret, algorithms=["HS256"])
    assert set(claims) == {"apikey", "permissions", "iat", "exp"}
    assert claims["apikey"] == key and claims["permissions"] == ["allow_join"]
    assert claims["exp"] - claims["iat"] == 3600
    code, out, _ = run(
        capsys, "token", "--api-key", key, "--room-id", str(room["roomId"]), "--ttl", "60", "--mod"
    )
    assert code == 0
    claims = jwt.decode(out.strip(), secret, algorithms=["HS256"])
    assert claims["roomId"] == room["roomId"]
    assert claims["permissions"] == ["allow_join", "allow_mod"]
    assert claims["exp"] - claims["iat"] == 60
    verified = verify_token(out.strip(), lambda k: secret if k == key else None)
    assert verified.is_moderator and verified.allows_room(str(room["roomId"]))


def test_token_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "token", "--api-key", "APInope")
    assert (code, err) == (1, "sipmeet: error: no such API key: APInope\n")
    mine = str(create_key(capsys)["apiKey"])
    theirs = str(create_key(capsys)["apiKey"])
    room = run_json(capsys, "rooms", "create", "--api-key", theirs)
    assert isinstance(room, dict)
    code, _, err = run(capsys, "token", "--api-key", mine, "--room-id", str(room["roomId"]))
    assert (code, err) == (1, f"sipmeet: error: room {room['roomId']} belongs to another API key\n")
    code, _, err = run(capsys, "token", "--api-key", mine, "--room-id", "nope-nope-nope")
    assert (code, err) == (1, "sipmeet: error: no such room: nope-nope-nope\n")
    code, _, err = run(capsys, "token", "--api-key", mine, "--ttl", "0")
    assert code == 2 and "must be a positive integer" in err


# --- config, usage errors, serve --------------------------------------------------------------


def test_config_reference_prints_the_doc(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "reference")
    assert code == 0
    assert out == reference_markdown()
    assert out == (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_config_show_hides_the_master_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    master = "q" * 43 + "="
    monkeypatch.setenv("SIPMEET_MASTER_KEY", master)
    shown = run_json_plain(capsys, "config", "show", "--sip-port", "5070")
    assert shown["sip.port"] == 5070 and shown["sip.domain"] == "sip.example.com"
    assert shown["master_key"] == "(set)"
    assert shown["rtp.ports"] == "20000-29999"


def run_json_plain(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    value = json.loads(out)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["keys"],
        ["keys", "create"],  # --name is required
        ["rooms", "create", "--json"],  # --api-key is required
        ["keys", "list", "--no-such-flag"],
        ["token", "--api-key", "K", "--ttl", "soon"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: sipmeet" in err


def test_bad_settings_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "keys", "list", "--sip-port", "70000")
    assert (code, err) == (2, "sipmeet: error: sip.port: must be 1-65535, got 70000\n")
    monkeypatch.setenv("SIPMEET_RTP_PORTS", "7-9")
    code, _, err = run(capsys, "keys", "list")
    assert (code, err) == (2, "sipmeet: error: rtp.ports: must start at an even port, got 7-9\n")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "serve" in capsys.readouterr().out


def test_storage_failure_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    code, _, err = run(capsys, "keys", "list", "--data-dir", str(blocker / "data"))
    assert code == 1 and err.startswith("sipmeet: error: cannot create data directory")


def test_serve_calls_the_app_with_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []

    def fake_run(settings: Settings) -> int:
        seen.append(settings)
        return 7

    fake_app = types.ModuleType("sipmeet.app")
    fake_app.run = fake_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sipmeet.app", fake_app)
    code, _, _ = run(
        capsys, "serve", "--sip-port", "5070", "--rtp-ports", "40000-40099", "--no-sip-tcp"
    )
    assert code == 7
    [settings] = seen
    assert settings.sip.port == 5070
    assert (settings.rtp.ports.first, settings.rtp.ports.last) == (40000, 40099)
    assert settings.sip.tcp is False
    assert settings.sip.domain == "sip.example.com"


def test_serve_unexpected_error_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(settings: Settings) -> int:
        raise RuntimeError("boom")

    fake_app = types.ModuleType("sipmeet.app")
    fake_app.run = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sipmeet.app", fake_app)
    code = main(["serve", "--log-level", "error"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.rstrip().endswith("sipmeet: error: RuntimeError: boom")


def test_changes_reach_an_open_server_store(
    capsys: pytest.CaptureFixture[str], clean_environment: Path
) -> None:
    """The server keeps its store open; the command line's changes apply to its next lookup."""
    settings = load_settings(
        {},
        {"SIPMEET_DATA_DIR": str(clean_environment), "SIPMEET_SIP_DOMAIN": "sip.example.com"},
        None,
    )
    with Store.open(settings) as server:
        created = create_key(capsys, "--enable-sip")
        sip = created["sip"]
        assert isinstance(sip, dict)
        before = server.sip_account(sip["username"])
        assert before is not None
        rotated = run_json(capsys, "sip", "rotate", str(created["apiKey"]))
        assert isinstance(rotated, dict)
        after = server.sip_account(sip["username"])
        assert after is not None and after.ha1 != before.ha1
        run_json(capsys, "sip", "disable", str(created["apiKey"]))
        assert server.sip_account(sip["username"]) is None
