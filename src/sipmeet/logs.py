"""Logging setup for the command line and the server: text for people, JSON lines for machines.

Library modules only call ``logging.getLogger(__name__)``; `setup_logging` (called from the CLI)
installs the one handler. Per-call context (``call_id``, ``room_id``, ``api_key_id``) comes from
`log_context` (contextvars, so it follows asyncio tasks) or from ``extra=`` on a single call.

Only the message and those three context fields are written: other ``extra=`` attributes are
never copied into a line, so a secret passed along by mistake does not reach the log.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Literal

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "TextFormatter",
    "log_context",
    "setup_logging",
]

CONTEXT_FIELDS = ("call_id", "room_id", "api_key_id")

_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"sipmeet_log_{name}", default=None) for name in CONTEXT_FIELDS
}

# Libraries whose INFO lines are noise in our logs (Alembic announces its plugins and context).
_CHATTY = ("alembic", "aioice", "aiortc", "asyncio")

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@contextlib.contextmanager
def log_context(
    *, call_id: str | None = None, room_id: str | None = None, api_key_id: str | None = None
) -> Iterator[None]:
    """Attach ids to every log line written inside the block (and tasks started in it)."""
    given = {"call_id": call_id, "room_id": room_id, "api_key_id": api_key_id}
    tokens = [(_context[k], _context[k].set(v)) for k, v in given.items() if v is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    """``extra=`` values win over the ambient context."""
    found: dict[str, str] = {}
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is None:
            value = _context[name].get()
        if value is not None:
            found[name] = str(value)
    return found


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context_of(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [call_id=… room_id=…]``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        context = _context_of(record)
        if context:
            line += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class _SipmeetHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we installed, so a second setup replaces it instead of adding one."""


def setup_logging(
    level: str, fmt: Literal["text", "json"], *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send log records at ``level`` and above to ``stream`` (stderr) in the given format.

    Replaces a handler installed by an earlier call; leaves other handlers alone.
    """
    numeric = LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; use text or json")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SipmeetHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _SipmeetHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:
        # Libraries stay at WARNING: their DEBUG/INFO lines drown a call's trace.
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    return handler
