"""Read the server's database from a test, through the project's own Store."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import TracebackType

from sipmeet.config import load_settings
from sipmeet.storage import Store


class StoreView:
    """Opens the data directory a test server uses; read-only use by convention."""

    def __init__(self, data_dir: Path) -> None:
        self._store = Store.open(load_settings({}, {"SIPMEET_DATA_DIR": str(data_dir)}, None))

    def __enter__(self) -> StoreView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.close()

    def calls(self, room_id: str) -> list[dict[str, object]]:
        """The room's call records, oldest first, as plain dicts."""
        records = self._store.list_calls(room_id)
        return [dataclasses.asdict(r) for r in reversed(records)]
