"""SIP traffic shaped like a trunk provider's, and lost ACKs (RFC 3261 §13.3.1.4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Server, dial, running_server, sipp_workdir
from .store_view import StoreView

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # RTP inactivity (here 60 s) must not end the un-ACKed call before 64*T1 (32 s) does.
    env = {"SIPMEET_RTP_TIMEOUT_S": "60"}
    with running_server(tmp_path_factory.mktemp("provider-server"), env) as srv:
        yield srv


def ended_calls(server: Server, room: str, timeout_s: float = 10.0) -> list[dict[str, object]]:
    with StoreView(server.data_dir) as view:
        return view.ended_calls(room, timeout_s)


def test_twilio_shaped_invite_is_bridged_with_its_call_sid(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "twilio_invite.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        extra=["-d", "1500"],
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    (call,) = ended_calls(server, room)
    assert call["codec"] == "PCMU"  # the caller's first choice
    assert call["caller_number"] == "+15551234567"
    metadata = call["provider_metadata"]
    assert isinstance(metadata, dict)
    assert metadata["X-Twilio-CallSid"] == "CA0123456789abcdef0123456789abcdef"
    assert metadata["X-Twilio-AccountSid"] == "AC0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("scenario", "header", "value"),
    [
        ("plivo_invite.xml", "X-PH-Plivo-Call-UUID", "6a8a2b36-9b0b-4e4a-8a0b-2f2f6f0f9d11"),
        ("telnyx_invite.xml", "X-Telnyx-Session-Id", "2f1c3a2e-1e0b-11ef-9d3e-02420a0d7f6b"),
    ],
)
def test_plivo_and_telnyx_shaped_invites_keep_their_call_ids(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    tmp_path: Path,
    scenario: str,
    header: str,
    value: str,
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        scenario,
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        extra=["-d", "1000"],
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    (call,) = ended_calls(server, room)
    metadata = call["provider_metadata"]
    assert isinstance(metadata, dict) and metadata[header] == value
    assert call["codec"] == "PCMU"


def test_late_ack_is_survived(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "late_ack.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        extra=["-d", "1000"],
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    (call,) = ended_calls(server, room)
    assert (call["result"], call["reason"]) == ("success", "caller-hangup")


@pytest.mark.timeout(120)
def test_call_never_acked_ends_with_bye_after_64_t1(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "no_ack.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        timeout_s=60,
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    (call,) = ended_calls(server, room)
    assert (call["result"], call["reason"]) == ("upstream_error", "ack-timeout")
