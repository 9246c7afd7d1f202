"""Store round trips: API keys, SIP credentials (HA1s, rotation, realm change), rooms, calls."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sipmeet.config import Settings
from sipmeet.storage import (
    CallStart,
    Conflict,
    Invalid,
    NotFound,
    SipCredentials,
    Store,
    create_store_engine,
)
from sipmeet.storage import base as store_module
from sipmeet.storage import ids as storage_ids

DOMAIN = "sip.example.com"


def expected_ha1(username: str, realm: str, password: str) -> dict[str, str]:
    """RFC 7616 §3.4.2: HA1 = H(username ":" realm ":" password), computed here independently."""
    data = f"{username}:{realm}:{password}".encode()
    return {
        "MD5": hashlib.md5(data).hexdigest(),
        "SHA-256": hashlib.sha256(data).hexdigest(),
        "SHA-512-256": hashlib.new("sha512_256", data).hexdigest(),
    }


# --- API keys --------------------------------------------------------------------------------


def test_api_key_round_trip(store: Store) -> None:
    key = store.create_api_key("  demo  ")
    assert re.fullmatch(r"API[A-Za-z0-9]{12}", key.id)
    assert key.name == "demo"
    assert len(key.secret) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", key.secret)
    assert key.created_at.tzinfo is UTC
    assert key.sip is None
    assert store.get_api_key(key.id) == key
    other = store.create_api_key("other")
    assert [k.id for k in store.list_api_keys()] == [key.id, other.id]
    assert store.delete_api_key(key.id) is True
    assert store.delete_api_key(key.id) is False
    assert store.get_api_key(key.id) is None
    assert [k.id for k in store.list_api_keys()] == [other.id]


def test_api_key_name_is_checked(store: Store) -> None:
    with pytest.raises(Invalid, match="API key name must be 1-200 characters"):
        store.create_api_key("  ")
    with pytest.raises(Invalid):
        store.create_api_key("x" * 201)


def test_create_with_sip_is_one_transaction(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    key = store.create_api_key("with sip", enable_sip=True)
    assert key.sip is not None
    assert store.sip_credentials(key.id) == key.sip

    def broken(*args: object) -> SipCredentials:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "_new_credentials", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.create_api_key("half", enable_sip=True)
    # Nothing of the failed change stays: the key row was rolled back with it.
    assert [k.name for k in store.list_api_keys()] == ["with sip"]


def test_delete_api_key_removes_its_rooms_credentials_and_calls(store: Store) -> None:
    key = store.create_api_key("doomed", enable_sip=True)
    keep = store.create_api_key("kept")
    room = store.create_room(key.id)
    kept_room = store.create_room(keep.id)
    store.record_call_start(CallStart(room.room_id, "c1@x", "udp", api_key_id=key.id))
    store.record_call_start(CallStart(kept_room.room_id, "c2@x", "udp", api_key_id=keep.id))
    assert key.sip is not None
    assert store.delete_api_key(key.id)
    assert store.get_room(room.room_id) is None
    assert store.sip_account(key.sip.username) is None
    assert [c.sip_call_id for c in store.list_calls()] == ["c2@x"]
    assert store.get_room(kept_room.room_id) is not None


# --- SIP credentials -------------------------------------------------------------------------


def test_enable_sip_credentials_and_ha1(store: Store) -> None:
    key = store.create_api_key("k")
    creds = store.enable_sip(key.id)
    assert re.fullmatch(r"sm[a-z0-9]{10}", creds.username)
    assert len(creds.password) == 24 and re.fullmatch(r"[A-Za-z0-9_-]{24}", creds.password)
    account = store.sip_account(creds.username)
    assert account is not None
    assert account.api_key_id == key.id
    assert account.realm == DOMAIN
    assert dict(account.ha1) == expected_ha1(creds.username, DOMAIN, creds.password)
    # Idempotent: enabling again returns the same credentials.
    assert store.enable_sip(key.id) == creds
    assert store.sip_credentials(key.id) == creds
    api_key = store.get_api_key(key.id)
    assert api_key is not None and api_key.sip == creds


def test_rotate_changes_password_and_ha1_and_keeps_username(store: Store) -> None:
    key = store.create_api_key("k")
    before = store.enable_sip(key.id)
    old = store.sip_account(before.username)
    after = store.rotate_sip(key.id)
    assert after.username == before.username
    assert after.password != before.password
    assert after.rotated_at is not None
    account = store.sip_account(after.username)
    assert account is not None and old is not None
    assert dict(account.ha1) == expected_ha1(after.username, DOMAIN, after.password)
    assert all(account.ha1[a] != old.ha1[a] for a in old.ha1)
    assert store.sip_credentials(key.id) == after


def test_disable_and_reenable(store: Store) -> None:
    key = store.create_api_key("k")
    creds = store.enable_sip(key.id)
    store.disable_sip(key.id)
    store.disable_sip(key.id)  # idempotent
    assert store.sip_account(creds.username) is None
    assert store.sip_credentials(key.id) is None
    again = store.enable_sip(key.id)
    assert again.username == creds.username
    assert again.password != creds.password  # a disabled password does not come back
    account = store.sip_account(creds.username)
    assert account is not None
    assert dict(account.ha1) == expected_ha1(again.username, DOMAIN, again.password)


def test_sip_errors(store: Store) -> None:
    with pytest.raises(NotFound, match=r"^no such API key: APInope$"):
        store.enable_sip("APInope")
    with pytest.raises(NotFound, match=r"^no such API key: APInope$"):
        store.rotate_sip("APInope")
    with pytest.raises(NotFound, match=r"^no such API key: APInope$"):
        store.disable_sip("APInope")
    key = store.create_api_key("k")
    with pytest.raises(NotFound, match=f"^SIP is not enabled for API key {key.id}$"):
        store.rotate_sip(key.id)
    assert store.sip_credentials(key.id) is None
    assert store.sip_credentials("APInope") is None
    assert store.sip_account("smnobody") is None


def test_usernames_are_unique(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    first = store.create_api_key("a", enable_sip=True)
    assert first.sip is not None
    names = iter([first.sip.username, first.sip.username, "smfreshname1"])
    monkeypatch.setattr(storage_ids, "new_sip_username", lambda: next(names))
    second = store.create_api_key("b", enable_sip=True)
    assert second.sip is not None and second.sip.username == "smfreshname1"


def test_ha1_follows_a_changed_domain(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    data = tmp_path / "d"
    with Store.open(settings_for(data, "old.example.com")) as store:
        key = store.create_api_key("k", enable_sip=True)
    assert key.sip is not None
    username, password = key.sip.username, key.sip.password
    with Store.open(settings_for(data, "new.example.com")) as store:
        account = store.sip_account(username)
        assert account is not None
        assert account.realm == "new.example.com"
        assert dict(account.ha1) == expected_ha1(username, "new.example.com", password)
    # The recomputed hashes were written back.
    engine = create_store_engine(settings_for(data).database_url)
    try:
        with engine.connect() as conn:
            realm, md5 = conn.exec_driver_sql(
                "SELECT realm, ha1_md5 FROM sip_credentials WHERE username = ?", (username,)
            ).one()
    finally:
        engine.dispose()
    assert realm == "new.example.com"
    assert md5 == expected_ha1(username, "new.example.com", password)["MD5"]


# --- rooms -----------------------------------------------------------------------------------


def test_room_round_trip(store: Store) -> None:
    key = store.create_api_key("k")
    room = store.create_room(key.id)
    assert re.fullmatch(r"[a-z]{4}-[a-z]{4}-[a-z]{4}", room.room_id)
    assert room.api_key_id == key.id and room.active and room.deactivated_at is None
    assert store.get_room(room.room_id) == room
    assert store.get_room(room.room_id.upper()) == room
    chosen = store.create_room(key.id, "Team-Standup")
    assert chosen.room_id == "team-standup"
    other = store.create_api_key("other")
    theirs = store.create_room(other.id)
    assert [r.room_id for r in store.list_rooms(key.id)] == [room.room_id, "team-standup"]
    assert {r.room_id for r in store.list_rooms()} == {room.room_id, "team-standup", theirs.room_id}
    assert store.deactivate_room(room.room_id) is True
    gone = store.get_room(room.room_id)
    assert gone is not None and not gone.active and gone.deactivated_at is not None
    assert store.deactivate_room(room.room_id) is True  # already inactive: still there
    assert store.deactivate_room("zzzz-zzzz-zzzz") is False
    assert store.deactivate_room("not a room!") is False


def test_room_errors(store: Store) -> None:
    key = store.create_api_key("k")
    store.create_room(key.id, "standup")
    with pytest.raises(Conflict, match=r"^room standup already exists$"):
        store.create_room(key.id, "STANDUP")
    with pytest.raises(Invalid, match="invalid room id 'a b'"):
        store.create_room(key.id, "a b")
    with pytest.raises(Invalid):
        store.create_room(key.id, "-x-")
    with pytest.raises(NotFound, match=r"^no such API key: APInope$"):
        store.create_room("APInope")
    assert store.get_room("nope-nope-nope") is None
    assert store.get_room("sip:x@y") is None


def test_generated_room_ids_are_collision_checked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = store.create_api_key("k")
    store.create_room(key.id, "aaaa-bbbb-cccc")
    candidates = iter(["aaaa-bbbb-cccc", "dddd-eeee-ffff"])
    monkeypatch.setattr(storage_ids, "new_room_id", lambda: next(candidates))
    assert store.create_room(key.id).room_id == "dddd-eeee-ffff"


def test_generated_ids_look_right() -> None:
    ids = {storage_ids.new_room_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[a-z]{4}-[a-z]{4}-[a-z]{4}", i) for i in ids)
    assert storage_ids.normalize_room_id(" AbCd-efgh-ijkl ") == "abcd-efgh-ijkl"
    assert storage_ids.normalize_room_id("ab") is None
    assert storage_ids.normalize_room_id("x" * 65) is None
    assert storage_ids.normalize_room_id("abc-") is None


# --- call records ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_call_records(settings: Settings) -> None:
    clock = FakeClock()
    with Store.open(settings, clock=clock) as store:
        key = store.create_api_key("k")
        room = store.create_room(key.id)
        first = store.record_call_start(
            CallStart(
                room_id=room.room_id,
                sip_call_id="a84b4c76e66710@pc33.example.com",
                transport="UDP",
                api_key_id=key.id,
                caller_name="Alice",
                caller_number="+15551234567",
                provider_metadata={"provider": "twilio", "CallSid": "CA123"},
            )
        )
        store.record_call_answered(first, "PCMU")
        store.record_call_end(first, "success", "caller-bye", {"rx_packets": 1500, "mos": 4.2})
        second = store.record_call_start(CallStart("nope-nope-nope", "b@x", "tcp"))
        store.record_call_end(second, "client_error", "room-not-found", {})

        calls = store.list_calls()
        assert [c.id for c in calls] == [second, first]  # newest first
        call = calls[1]
        assert call.room_id == room.room_id and call.api_key_id == key.id
        assert (call.caller_name, call.caller_number) == ("Alice", "+15551234567")
        assert call.provider_metadata == {"provider": "twilio", "CallSid": "CA123"}
        assert (call.codec, call.transport) == ("PCMU", "udp")
        assert call.started_at < call.answered_at < call.ended_at  # type: ignore[operator]
        assert call.started_at.tzinfo is UTC
        assert (call.result, call.reason) == ("success", "caller-bye")
        assert call.stats == {"rx_packets": 1500, "mos": 4.2}
        unanswered = calls[0]
        assert unanswered.api_key_id is None and unanswered.answered_at is None
        assert [c.id for c in store.list_calls(room.room_id)] == [first]
        assert [c.id for c in store.list_calls(limit=1)] == [second]
        assert [c.id for c in store.list_calls(api_key_id=key.id)] == [first]


def test_call_record_errors(store: Store) -> None:
    with pytest.raises(NotFound, match=r"^no such call record: 999$"):
        store.record_call_answered(999, "PCMU")
    with pytest.raises(NotFound):
        store.record_call_end(999, "success", "x", {})
    record = store.record_call_start(CallStart("r", "c@x", "udp"))
    with pytest.raises(Invalid, match="call result must be one of"):
        store.record_call_end(record, "great", "x", {})
    with pytest.raises(Invalid):
        store.record_call_end(record, "success", "x", {"not json": object()})
    with pytest.raises(Invalid, match="naive datetime"):
        store.record_call_start(CallStart("r", "c@x", "udp", started_at=datetime(2025, 1, 1)))
    assert store.list_calls()[0].ended_at is None  # the failed ends changed nothing


def test_fresh_gives_up_eventually(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Conflict, match="could not find a free identifier"):
        store_module._fresh(lambda: "same", lambda _candidate: True)


def test_rooms_get_a_dialin_code_and_an_optional_pin(store: Store, tmp_path: Path) -> None:
    key = store.create_api_key("k")
    plain = store.create_room(key.id)
    assert plain.dialin_code is not None and re.fullmatch(r"[1-9][0-9]{5}", plain.dialin_code)
    assert not plain.has_pin and store.room_pin(plain.room_id) is None
    guarded = store.create_room(key.id, pin="4321")
    assert guarded.has_pin and store.room_pin(guarded.room_id) == "4321"
    assert guarded.dialin_code != plain.dialin_code
    assert store.room_by_dialin_code(str(plain.dialin_code)) == plain
    assert store.room_by_dialin_code("000000") is None
    assert store.room_by_dialin_code("12ab") is None
    with pytest.raises(Invalid, match=r"^invalid PIN: use 4-12 digits$"):
        store.create_room(key.id, pin="12")
