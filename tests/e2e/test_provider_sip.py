"""SIP traffic shaped like a trunk provider's, and lost ACKs (RFC 3261 §13.3.1.4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Server, call_room, running_server, sipp_workdir
from .store_view import ended_calls

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # RTP inactivity (here 60 s) must not end the un-ACKed call before 64*T1 (32 s) does.
    env = {"SIPMEET_RTP_TIMEOUT_S": "60"}
    with running_server(tmp_path_factory.mktemp("provider-server"), env) as srv:
        yield srv


def test_twilio_shaped_invite_is_bridged_with_its_call_sid(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = call_room(
        server,
        account,
        "twilio_invite.xml",
        sipp_workdir(tmp_path, wavs),
        extra=["-d", "1500"],
    )
    (call,) = ended_calls(server.data_dir, room)
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
    room = call_room(
        server,
        account,
        scenario,
        sipp_workdir(tmp_path, wavs),
        extra=["-d", "1000"],
    )
    (call,) = ended_calls(server.data_dir, room)
    metadata = call["provider_metadata"]
    assert isinstance(metadata, dict) and metadata[header] == value
    assert call["codec"] == "PCMU"


def test_late_ack_is_survived(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = call_room(
        server,
        account,
        "late_ack.xml",
        sipp_workdir(tmp_path, wavs),
        extra=["-d", "1000"],
    )
    (call,) = ended_calls(server.data_dir, room)
    assert (call["result"], call["reason"]) == ("success", "caller-hangup")


@pytest.mark.timeout(120)
def test_call_never_acked_ends_with_bye_after_64_t1(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = call_room(
        server,
        account,
        "no_ack.xml",
        sipp_workdir(tmp_path, wavs),
        timeout_s=60,
    )
    (call,) = ended_calls(server.data_dir, room)
    assert (call["result"], call["reason"]) == ("upstream_error", "ack-timeout")
