"""Logging setup: JSON lines with context ids, text lines, one handler, no extras copied."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sipmeet.logs import log_context, setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_json_lines_with_context(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("info", "json", stream=stream)
    log = logging.getLogger("sipmeet.test")
    with log_context(call_id="c1", room_id="abcd-efgh-ijkl"):
        log.info("answered %s", "PCMU", extra={"api_key_id": "APIx", "password": "hunter2"})
        with log_context(room_id="other-room"):
            log.warning("inner")
    log.debug("hidden")
    log.info("no context")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert set(first) == {"time", "level", "logger", "message", "call_id", "room_id", "api_key_id"}
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert (first["level"], first["logger"], first["message"]) == (
        "info",
        "sipmeet.test",
        "answered PCMU",
    )
    assert (first["call_id"], first["room_id"], first["api_key_id"]) == (
        "c1",
        "abcd-efgh-ijkl",
        "APIx",
    )
    assert (lines[1]["room_id"], lines[1]["call_id"]) == ("other-room", "c1")
    assert set(lines[2]) == {"time", "level", "logger", "message"}
    assert "hunter2" not in stream.getvalue()


def test_text_format_and_exceptions(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", "text", stream=stream)
    log = logging.getLogger("sipmeet.text")
    with log_context(call_id="c9"):
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
    text = stream.getvalue()
    first = text.splitlines()[0]
    assert first.endswith("ERROR   sipmeet.text: failed [call_id=c9]")
    assert "ValueError: bad" in text


def test_setup_replaces_its_own_handler(restore_root: None) -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    first = io.StringIO()
    second = io.StringIO()
    setup_logging("info", "text", stream=first)
    setup_logging("warning", "json", stream=second)
    assert len(root.handlers) == before + 1
    logging.getLogger("sipmeet.x").info("dropped")
    logging.getLogger("sipmeet.x").warning("kept")
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["message"] == "kept"
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("loud", "text")
    with pytest.raises(ValueError, match="unknown log format"):
        setup_logging("info", "xml")  # type: ignore[arg-type]
