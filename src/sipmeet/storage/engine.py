"""Engines and migrations.

SQLite runs in WAL mode (readers never wait for the writer), with foreign keys on and a busy
timeout, so the command line can write while the server reads. pysqlite's own transaction
handling is switched off and sipmeet emits BEGIN itself: plain (deferred) BEGIN for reads and
BEGIN IMMEDIATE for writes, which takes the write lock up front and waits for it under the busy
timeout instead of failing half-way through a read-then-write transaction.

Migrations are Alembic scripts inside this package, run programmatically (no alembic.ini on the
user's disk) in one write transaction: a second process opening the store at the same moment
waits and then finds the schema current.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

__all__ = [
    "BUSY_TIMEOUT_MS",
    "WRITE",
    "alembic_config",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "migrate",
]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).parent / "migrations"
# Execution options of a write transaction (see `create_store_engine`).
WRITE: dict[str, Any] = {"sipmeet_write": True}
# Any fixed number: the PostgreSQL advisory lock that serialises concurrent migrations.
_PG_MIGRATION_LOCK = 0x5175_6D65


def _is_memory(database: str | None) -> bool:
    return database in (None, "", ":memory:")


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 (it holds digest hashes); SQLite's -wal and -shm files
    copy its mode. An existing file keeps the mode it has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and explicit BEGIN."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        return create_engine(sa_url, pool_pre_ping=True)

    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    }
    if _is_memory(sa_url.database):
        kwargs["poolclass"] = StaticPool  # one shared in-memory database
    else:
        _create_private_file(Path(str(sa_url.database)).expanduser())
    engine = create_engine(sa_url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not _is_memory(sa_url.database):
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("sipmeet_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged scripts (no file on disk needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # our own invariant: the package ships at least one revision
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> str:
    """Upgrade the schema to the newest revision in one transaction; returns that revision."""
    with engine.connect() as conn:
        conn = conn.execution_options(**WRITE)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(alembic_config(conn), "head")
            after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    if after is None:
        raise RuntimeError("migration left no revision")  # our own invariant
    return after
