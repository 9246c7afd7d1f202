"""Migrations from empty, SQLite settings, and writers in other threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from sipmeet.config import Settings
from sipmeet.storage import (
    CallStart,
    StorageError,
    Store,
    create_store_engine,
    head_revision,
    migrate,
)
from sipmeet.storage.engine import alembic_config, current_revision
from sipmeet.storage.models import Base

TABLES = {
    "alembic_version",
    "sipmeet_meta",
    "api_keys",
    "sip_credentials",
    "rooms",
    "calls",
    "phone_numbers",
    "webhooks",
    "webhook_deliveries",
    "admin_users",
}
HEAD = "0005"


def test_migrations_from_empty_match_the_models(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert current_revision(engine) is None
        assert migrate(engine) == head_revision() == HEAD
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        assert migrate(engine) == HEAD  # already current: nothing to do
        # Down to empty and back up again.
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert migrate(engine) == HEAD
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_sqlite_connection_settings(store: Store, settings: Settings) -> None:
    engine = create_store_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    finally:
        engine.dispose()


def test_in_memory_database_is_shared_across_threads(tmp_path: Path) -> None:
    engine = create_store_engine("sqlite://")
    try:
        migrate(engine)
        seen: list[set[str]] = []
        worker = threading.Thread(
            target=lambda: seen.append(set(inspect(engine).get_table_names()))
        )
        worker.start()
        worker.join()
        assert seen == [TABLES]
    finally:
        engine.dispose()


def test_simultaneous_first_opens(tmp_path: Path, settings: Settings) -> None:
    """Two openers racing on an empty data directory both succeed with one schema and one key."""
    stores: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        barrier.wait()
        try:
            stores.append(Store.open(settings))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        keys = {s.master_key_bytes() for s in stores}
        assert len(keys) == 1
        key = stores[0].create_api_key("shared")
        for s in stores:
            got = s.get_api_key(key.id)
            assert got is not None and got.secret == key.secret
    finally:
        for s in stores:
            s.close()


def test_many_threads_write_through_one_store(store: Store) -> None:
    owner = store.create_api_key("owner")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                key = store.create_api_key(f"t{n}-{i}", enable_sip=i % 2 == 0)
                room = store.create_room(owner.id)
                record = store.record_call_start(CallStart(room.room_id, f"{n}-{i}@x", "udp"))
                store.record_call_end(record, "success", "bye", {})
                if key.sip is not None:
                    store.rotate_sip(key.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_api_keys()) == 31
    assert len(store.list_rooms(owner.id)) == 30
    assert len(store.list_calls(limit=1000)) == 30


_WRITER = """
import json, sys
from sipmeet.config import load_settings
from sipmeet.storage import Store
store = Store.open(load_settings({}, {"SIPMEET_DATA_DIR": sys.argv[1]}, None))
made = []
for i in range(int(sys.argv[2])):
    key = store.create_api_key(f"from-process-{i}", enable_sip=True)
    store.create_room(key.id)
    made.append([key.id, key.sip.username, key.sip.password])
store.close()
print(json.dumps(made))
"""


def test_writer_in_another_process_while_the_server_reads_and_writes(
    store: Store, settings: Settings
) -> None:
    """The command line writes while the server holds a read transaction open and writes too."""
    server_key = store.create_api_key("server")
    reader = create_store_engine(settings.database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPMEET_")}
    try:
        with reader.connect() as conn, conn.begin():
            # A long read transaction on the server side (WAL: it does not block the writer).
            snapshot = conn.execute(text("SELECT count(*) FROM api_keys")).scalar()
            proc = subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(settings.data_dir), "8"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            written = 0
            while proc.poll() is None or written < 20:
                store.record_call_start(CallStart("r", f"server-{written}@x", "udp"))
                written += 1
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()
            # The open read transaction keeps its snapshot.
            assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar() == snapshot
    finally:
        reader.dispose()
    made = json.loads(out)
    assert len(made) == 8
    # The server's store sees the new keys and credentials at once.
    for key_id, username, password in made:
        account = store.sip_account(username)
        assert account is not None and account.api_key_id == key_id
        creds = store.sip_credentials(key_id)
        assert creds is not None and creds.password == password
    assert len(store.list_api_keys()) == 9
    assert store.get_api_key(server_key.id) is not None
    assert len(store.list_calls(room_id="r", limit=10_000)) == written


def test_unusable_databases_give_storage_errors(
    tmp_path: Path, settings: Settings, settings_for: Callable[..., Settings]
) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "sipmeet.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=r"^cannot open the database: file is not a database$"):
        Store.open(settings)
    odd = settings_for(tmp_path / "odd", database_url="nosuchdb://x/y")
    with pytest.raises(StorageError, match=r"^cannot use database nosuchdb://x/y: "):
        Store.open(odd)
