"""RFC 4475 torture messages sent to the running server over UDP.

Each message is graded by the outcomes its manifest allows, and after all of
them the server must still answer OPTIONS.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import HOST, Server, running_server, sip_options

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "rfc4475"
MANIFEST = (
    json.loads((VECTORS / "manifest.json").read_text()) if VECTORS.exists() else {"tests": []}
)
WINDOW_S = 0.6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("torture-server")) as srv:
        yield srv


_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def call_id_of(data: bytes) -> bytes | None:
    match = _CALL_ID.search(data)
    return match.group(1) if match else None


def final_statuses(
    sock: socket.socket, window_s: float, call_id: bytes | None, earlier: set[bytes]
) -> list[int]:
    """Final statuses answering the message with ``call_id`` (retransmissions for
    earlier messages are told apart by their Call-ID)."""
    statuses: list[int] = []
    deadline = time.monotonic() + window_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return statuses
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return statuses
        got = call_id_of(data)
        if call_id is not None and got != call_id:
            continue
        if call_id is None and got in earlier:
            continue
        if data.startswith(b"SIP/2.0 "):
            status = int(data.split(b" ", 2)[1])
            if status >= 200:
                statuses.append(status)


def grade(statuses: list[int], tokens: list[str]) -> bool:
    """Whether the statuses seen match one of the manifest's outcome tokens."""
    for token in tokens:
        if token == "drop" and not statuses:
            return True
        if token == "any":
            return True
        if not statuses:
            if token == "any-non-2xx":
                return True
            continue
        status = statuses[0]
        if token == "not-400" and status != 400:
            return True
        if token == "any-non-2xx" and not 200 <= status < 300:
            return True
        if token.endswith("xx") and token[0].isdigit() and status // 100 == int(token[0]):
            return True
        if token.isdigit() and status == int(token):
            return True
    return False


def test_every_torture_message_gets_an_allowed_outcome(server: Server) -> None:
    assert MANIFEST["tests"], f"RFC 4475 vectors not found at {VECTORS}"
    failures = []
    warnings = []
    earlier: set[bytes] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        for case in MANIFEST["tests"]:
            data = (VECTORS / case["file"]).read_bytes()
            call_id = call_id_of(data)
            sock.sendto(data, (HOST, server.sip_port))
            statuses = final_statuses(sock, WINDOW_S, call_id, earlier)
            if call_id is not None:
                earlier.add(call_id)
            if grade(statuses, case["pass"]):
                continue
            if case["warn"] and grade(statuses, case["warn"]):
                warnings.append((case["file"], statuses))
                continue
            failures.append((case["file"], statuses, case["pass"]))
    # The server must survive every message.
    assert sip_options(server.sip_port, timeout_s=2.0) == 200, server.log_tail()
    assert server.proc is not None and server.proc.poll() is None
    assert not failures, f"unexpected outcomes: {failures}\n(tolerated: {warnings})"
