"""Read the server's database from a test, through the project's own Store."""

from __future__ import annotations

import dataclasses
import time
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

    def ended_calls(self, room_id: str, timeout_s: float = 10.0) -> list[dict[str, object]]:
        """The room's call records once every one of them has ended (or at the timeout)."""
        deadline = time.monotonic() + timeout_s
        calls = self.calls(room_id)
        while time.monotonic() < deadline and not (calls and all(c["ended_at"] for c in calls)):
            time.sleep(0.2)
            calls = self.calls(room_id)
        return calls


def ended_calls(data_dir: Path, room_id: str, timeout_s: float = 10.0) -> list[dict[str, object]]:
    """A server's call records of ``room_id`` once all have ended (see StoreView.ended_calls)."""
    with StoreView(data_dir) as view:
        return view.ended_calls(room_id, timeout_s)


def room_calls(data_dir: Path, room_id: str) -> list[dict[str, object]]:
    """A server's call records of ``room_id`` as they are now."""
    with StoreView(data_dir) as view:
        return view.calls(room_id)
