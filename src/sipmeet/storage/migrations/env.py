"""Alembic environment for sipmeet's packaged migrations.

sipmeet runs these from `sipmeet.storage.engine.migrate`, passing an open connection (inside a
transaction) through ``config.attributes["connection"]``. Developers can also run Alembic by hand
against a scratch database to write a new revision::

    alembic -c src/sipmeet/storage/alembic.ini -x url=sqlite:///scratch.db upgrade head
    alembic -c src/sipmeet/storage/alembic.ini -x url=sqlite:///scratch.db revision \\
        --autogenerate -m "what changed"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from sipmeet.storage.engine import create_store_engine
from sipmeet.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database as: alembic -x url=sqlite:///scratch.db ...")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER goes via copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
