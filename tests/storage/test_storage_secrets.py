"""Secrets at rest: encryption, the master key (variable or 0600 file), wrong or missing keys."""

from __future__ import annotations

import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sipmeet.config import Settings
from sipmeet.storage import (
    MasterKeyError,
    SecretBox,
    Store,
    create_store_engine,
    generate_master_key,
)
from sipmeet.storage.crypto import decode_master_key, read_master_key


def _database_bytes(data_dir: Path) -> bytes:
    """The database as it sits on disk, including a write-ahead log not yet checkpointed."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("sipmeet.db*")))


def test_secrets_do_not_appear_in_the_database_files(settings: Settings) -> None:
    with Store.open(settings) as store:
        key = store.create_api_key("at-rest", enable_sip=True)
        assert key.sip is not None
        rotated = store.rotate_sip(key.id)
        while_open = _database_bytes(settings.data_dir)
    after_close = _database_bytes(settings.data_dir)
    for blob in (while_open, after_close):
        # The scan does see the data: the username is stored in clear.
        assert key.sip.username.encode() in blob
        for secret in (key.secret, key.sip.password, rotated.password):
            assert secret.encode() not in blob
    # ...and the store still reads them back.
    with Store.open(settings) as store:
        again = store.get_api_key(key.id)
        assert again is not None and again.secret == key.secret
        assert store.sip_credentials(key.id) == rotated


def test_master_key_file_is_created_private_once(settings: Settings) -> None:
    path = settings.data_dir / "master.key"
    with Store.open(settings):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((settings.data_dir / "sipmeet.db").stat().st_mode) == 0o600
    first = path.read_bytes()
    with Store.open(settings):
        pass
    assert path.read_bytes() == first
    assert len(decode_master_key(first.decode(), "test")) == 32


def test_master_key_from_the_environment(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    data = tmp_path / "d"
    master = generate_master_key()
    with Store.open(settings_for(data, master_key=master)) as store:
        key = store.create_api_key("k")
        assert store.master_key_bytes() == decode_master_key(master, "test")
    assert not (data / "master.key").exists()
    with Store.open(settings_for(data, master_key=master)) as store:
        got = store.get_api_key(key.id)
        assert got is not None and got.secret == key.secret
    # Without the key: the store refuses to open instead of making up a new one.
    with pytest.raises(
        MasterKeyError, match="no master key: this database's secrets are encrypted"
    ):
        Store.open(settings_for(data))
    assert not (data / "master.key").exists()
    with pytest.raises(MasterKeyError, match="is not the one this database was written with"):
        Store.open(settings_for(data, master_key=generate_master_key()))


def test_malformed_key_file(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "master.key").write_text("short\n", encoding="ascii")
    with pytest.raises(MasterKeyError, match=r"master\.key: the master key must be 32 bytes"):
        Store.open(settings)


def test_ciphertext_is_bound_to_its_row(settings: Settings) -> None:
    with Store.open(settings) as store:
        a = store.create_api_key("a")
        b = store.create_api_key("b")
    engine = create_store_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            (secret_b,) = conn.exec_driver_sql(
                "SELECT secret_encrypted FROM api_keys WHERE id = ?", (b.id,)
            ).one()
            conn.exec_driver_sql(
                "UPDATE api_keys SET secret_encrypted = ? WHERE id = ?", (secret_b, a.id)
            )
    finally:
        engine.dispose()
    with Store.open(settings) as store, pytest.raises(MasterKeyError, match="cannot decrypt"):
        store.get_api_key(a.id)


def test_secret_box() -> None:
    box = SecretBox(decode_master_key(generate_master_key(), "test"))
    token = box.encrypt("hunter2", "ctx:1")
    assert token.startswith("v1:") and "hunter2" not in token
    assert box.encrypt("hunter2", "ctx:1") != token  # fresh nonce each time
    assert box.decrypt(token, "ctx:1") == "hunter2"
    with pytest.raises(MasterKeyError):
        box.decrypt(token, "ctx:2")
    middle = len(token) // 2  # a character that carries 6 full bits of ciphertext
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    with pytest.raises(MasterKeyError):
        box.decrypt(tampered, "ctx:1")
    other = SecretBox(decode_master_key(generate_master_key(), "test"))
    with pytest.raises(MasterKeyError):
        other.decrypt(token, "ctx:1")
    assert other.key_check != box.key_check
    assert box.derive("a") != box.derive("b") and len(box.derive("a")) == 32


def test_decode_master_key_never_echoes_the_value() -> None:
    with pytest.raises(MasterKeyError) as info:
        decode_master_key("sekrit-value", "SIPMEET_MASTER_KEY")
    assert "sekrit" not in str(info.value)
    assert str(info.value).startswith("SIPMEET_MASTER_KEY:")


def test_concurrent_key_file_creation_agrees(tmp_path: Path) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        key = read_master_key(tmp_path, create=True)
        assert key is not None
        results.append(key)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and len(set(results)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary files left
    assert read_master_key(tmp_path / "missing", create=False) is None
