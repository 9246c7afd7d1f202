"""Phone-number routes in the store, and `sipmeet numbers add|list|remove`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sipmeet.cli import main
from sipmeet.config import Settings
from sipmeet.storage import Conflict, Invalid, NotFound, Store
from sipmeet.storage.store import normalize_e164

from .conftest import PUBLIC_URL, Room

TELNYX_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="


# --- E.164 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("14155550100", "+14155550100"),  # Plivo's spelling
        ("0044 20 7946 0958", "+442079460958"),
        (" +49.30.1234567 ", "+49301234567"),
        ("+123456789012345", "+123456789012345"),  # 15 digits: the most E.164 allows
        ("+1234567890123456", None),
        ("+0441234", None),  # country codes do not start with 0
        ("+1", None),
        ("+6834002", "+6834002"),  # Niue: the shortest numbers in use
        ("+683400", None),
        ("", None),
        ("sip:alice@example.com", None),
        ("+1415555O100", None),
        ("anonymous", None),
    ],
)
def test_normalize_e164(text: str, e164: str | None) -> None:
    assert normalize_e164(text) == e164


# --- the store -------------------------------------------------------------------------------


def test_add_list_find_remove(store: Store, room: Room) -> None:
    added = store.add_number(
        "+1 415 555 0100",
        api_key_id=room.key_id,
        provider="twilio",
        room_id=room.room_id.upper(),
        auth_token=" tok ",
    )
    assert (added.number, added.provider, added.room_id, added.ivr) == (
        "+14155550100",
        "twilio",
        room.room_id,
        False,
    )
    assert added.auth_token == "tok"
    assert "tok" not in repr(added)
    menu = store.add_number("+14155550100", api_key_id=room.key_id, provider="plivo", ivr=True)
    assert (menu.room_id, menu.ivr, menu.auth_token) == (None, True, None)

    assert store.number_for("twilio", "14155550100") == added
    assert store.number_for("plivo", "+14155550100") == menu
    assert store.number_for("telnyx", "+14155550100") is None
    assert store.number_for("twilio", "sip:x@y") is None
    assert store.number_for("skype", "+14155550100") is None
    assert [n.provider for n in store.list_numbers()] == ["plivo", "twilio"]
    assert store.list_numbers("APInobody") == []

    assert store.remove_number("+14155550100", "plivo") == 1
    assert store.remove_number("+14155550100", "plivo") == 0
    assert store.remove_number("not a number") == 0
    assert store.remove_number("1-415-555-0100") == 1
    assert store.list_numbers() == []


def test_add_errors(store: Store, room: Room) -> None:
    other = store.create_api_key("other")
    theirs = store.create_room(other.id)
    kw: dict[str, Any] = {"api_key_id": room.key_id, "provider": "twilio"}
    with pytest.raises(Invalid, match=r"E\.164"):
        store.add_number("12", room_id=room.room_id, **kw)
    with pytest.raises(Invalid, match="unknown provider 'skype'"):
        store.add_number("+14155550100", api_key_id=room.key_id, provider="skype", ivr=True)
    with pytest.raises(Invalid, match="exactly one"):
        store.add_number("+14155550100", **kw)
    with pytest.raises(Invalid, match="exactly one"):
        store.add_number("+14155550100", room_id=room.room_id, ivr=True, **kw)
    with pytest.raises(Invalid, match="must not be empty"):
        store.add_number("+14155550100", ivr=True, auth_token=" ", **kw)
    with pytest.raises(NotFound, match="no such API key"):
        store.add_number("+14155550100", api_key_id="APInobody", provider="twilio", ivr=True)
    with pytest.raises(NotFound, match="no such room"):
        store.add_number("+14155550100", room_id="no-such-room", **kw)
    with pytest.raises(Invalid, match="belongs to another API key"):
        store.add_number("+14155550100", room_id=theirs.room_id, **kw)
    store.add_number("+14155550100", room_id=room.room_id, **kw)
    with pytest.raises(Conflict, match=r"\+14155550100 is already set up for twilio"):
        store.add_number("14155550100", ivr=True, **kw)


def test_numbers_go_with_their_key(store: Store, room: Room) -> None:
    store.add_number("+14155550100", api_key_id=room.key_id, provider="twilio", ivr=True)
    assert store.delete_api_key(room.key_id)
    assert store.list_numbers() == []


def test_auth_token_is_encrypted_and_bound_to_its_row(settings: Settings, room: Room) -> None:
    secret = "plivo-auth-token-that-must-not-leak"
    with Store.open(settings) as store:
        store.add_number(
            "+14155550100",
            api_key_id=room.key_id,
            provider="plivo",
            room_id=room.room_id,
            auth_token=secret,
        )
    for path in settings.data_dir.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name
    with Store.open(settings) as store:
        found = store.number_for("plivo", "+14155550100")
        assert found is not None and found.auth_token == secret


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    for name in list(os.environ):
        if name.startswith("SIPMEET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SIPMEET_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SIPMEET_SIP_DOMAIN", settings.sip.domain)
    monkeypatch.setenv("SIPMEET_PUBLIC_URL", PUBLIC_URL)
    return settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


NUMBER_KEYS = {
    "number",
    "provider",
    "apiKey",
    "roomId",
    "ivr",
    "hasAuthToken",
    "webhookUrl",
    "createdAt",
}


def test_cli_numbers(capsys: pytest.CaptureFixture[str], cli_env: Settings, room: Room) -> None:
    added = run_json(
        capsys,
        "numbers", "add", "+1 415 555 0100",
        "--api-key", room.key_id,
        "--room", room.room_id,
        "--provider", "twilio",
        "--auth-token", "secret-token",
    )  # fmt: skip
    assert isinstance(added, dict) and set(added) == NUMBER_KEYS
    assert added["number"] == "+14155550100"
    assert (added["provider"], added["apiKey"], added["roomId"], added["ivr"]) == (
        "twilio",
        room.key_id,
        room.room_id,
        False,
    )
    assert added["hasAuthToken"] is True
    assert added["webhookUrl"] == f"{PUBLIC_URL}/providers/twilio/voice"
    menu = run_json(
        capsys,
        "numbers", "add", "+14155550101", "--api-key", room.key_id, "--ivr",
        "--provider", "telnyx", "--auth-token", TELNYX_KEY,
    )  # fmt: skip
    assert isinstance(menu, dict)
    assert (menu["roomId"], menu["ivr"]) == (None, True)

    listed = run_json(capsys, "numbers", "list")
    assert isinstance(listed, list) and [n["number"] for n in listed] == [
        "+14155550100",
        "+14155550101",
    ]
    assert all(set(n) == NUMBER_KEYS for n in listed)
    assert "secret-token" not in json.dumps(listed)
    assert run_json(capsys, "numbers", "list", "--api-key", room.key_id) == listed

    code, out, _ = run(capsys, "numbers", "list")
    assert code == 0 and "+14155550100" in out and "dial-in menu" in out

    removed = run_json(capsys, "numbers", "remove", "14155550100")
    assert removed == {"number": "+14155550100", "removed": 1}
    code, _, err = run(capsys, "numbers", "remove", "+14155550100")
    assert code == 1 and "no such phone number" in err


def test_cli_numbers_human_and_errors(
    capsys: pytest.CaptureFixture[str], cli_env: Settings, room: Room
) -> None:
    code, out, _ = run(capsys, "numbers", "list")
    assert (code, out) == (0, "no phone numbers\n")
    code, out, _ = run(
        capsys, "numbers", "add", "+14155550100", "--api-key", room.key_id,
        "--room", room.room_id, "--provider", "plivo",
    )  # fmt: skip
    assert code == 0
    assert f"Webhook URL: {PUBLIC_URL}/providers/plivo/voice" in out
    assert "no --auth-token" in out
    # Usage errors: both or neither of --room/--ivr, an unknown provider.
    for argv in (
        ["--api-key", room.key_id, "--provider", "twilio"],
        ["--api-key", room.key_id, "--room", room.room_id, "--ivr", "--provider", "twilio"],
        ["--api-key", room.key_id, "--ivr", "--provider", "skype"],
    ):
        code, _, _ = run(capsys, "numbers", "add", "+14155550199", *argv)
        assert code == 2
    # Store errors come back as messages.
    code, _, err = run(
        capsys, "numbers", "add", "+14155550100", "--api-key", room.key_id, "--ivr",
        "--provider", "plivo",
    )  # fmt: skip
    assert code == 1 and "already set up for plivo" in err
    code, _, err = run(
        capsys, "numbers", "add", "+1", "--api-key", room.key_id, "--ivr", "--provider", "plivo"
    )
    assert code == 1 and "E.164" in err
    code, _, err = run(
        capsys, "numbers", "add", "+14155550102", "--api-key", room.key_id, "--ivr",
        "--provider", "telnyx", "--auth-token", "not-a-key",
    )  # fmt: skip
    assert code == 1 and "public key" in err
    code, _, err = run(capsys, "numbers", "list", "--api-key", "APInobody")
    assert code == 1 and "no such API key" in err


def test_data_dir_is_the_fixture_one(cli_env: Settings) -> None:
    assert Path(os.environ["SIPMEET_DATA_DIR"]) == cli_env.data_dir
