"""SIP signalling against SIPp, a real SIP peer, over UDP and TCP.

One server serves the whole module (RTP timeout shortened so that the timeout
test stays short); each test sets up what it needs through the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    Server,
    call_room,
    ports_bindable,
    refused,
    run_sipp,
    running_server,
    sipp_workdir,
)
from .store_view import ended_calls, room_calls

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

TRANSPORTS = {"udp": "u1", "tcp": "t1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("sipp-server"), {"SIPMEET_RTP_TIMEOUT_S": "3"}
    ) as srv:
        yield srv


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_authenticated_call_with_ten_seconds_of_pcmu(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path, transport: str
) -> None:
    room = call_room(
        server,
        account,
        "call_auth.xml",
        sipp_workdir(tmp_path, wavs),
        transport=TRANSPORTS[transport],
        extra=["-d", "10000"],
        timeout_s=40,
    )
    (call,) = ended_calls(server.data_dir, room)
    assert (call["result"], call["reason"]) == ("success", "caller-hangup")
    assert call["codec"] == "PCMU"
    assert call["transport"] == transport
    assert call["caller_number"] == "+15551234567"
    stats = call["stats"]
    assert isinstance(stats, dict)
    # 10 s of 20 ms packets is 500; allow for the start and end of the stream.
    assert int(stats["packets_in"]) >= 400, stats


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_password_is_refused_with_403(
    server: Server, account: dict[str, str], tmp_path: Path, transport: str
) -> None:
    room = server.new_room(account["apiKey"])
    wrong = account["password"] + "x"
    refused(server, account, room, 403, tmp_path, password=wrong, transport=TRANSPORTS[transport])
    assert room_calls(server.data_dir, room) == []


def test_unknown_room_is_404(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    refused(server, account, "zzzz-zzzz-zzzz", 404, tmp_path)


def test_another_keys_room_is_404(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    other = server.cli("keys", "create", "--name", "other", "--enable-sip")
    assert isinstance(other, dict)
    refused(server, account, server.new_room(str(other["apiKey"])), 404, tmp_path)


def test_deactivated_room_is_480(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    room = server.new_room(account["apiKey"])
    server.cli("rooms", "deactivate", room, json_out=False)
    refused(server, account, room, 480, tmp_path)


def test_no_common_codec_is_488(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    room = server.new_room(account["apiKey"])
    refused(server, account, room, 488, tmp_path, codecs="18")  # G.729 only


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_options_answered_200(server: Server, tmp_path: Path, transport: str) -> None:
    result = run_sipp("options.xml", server.sip_port, tmp_path, transport=TRANSPORTS[transport])
    assert result.returncode == 0, result.explain()


def test_cancel_before_answer_gets_487(
    server: Server, account: dict[str, str], tmp_path: Path
) -> None:
    room = call_room(server, account, "cancel.xml", tmp_path)
    assert [c for c in room_calls(server.data_dir, room) if c["answered_at"] is not None] == []


def test_retransmitted_invite_is_absorbed(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    workdir = sipp_workdir(tmp_path, wavs)
    room = call_room(server, account, "retransmit.xml", workdir, extra=["-d", "1000"])
    calls = ended_calls(server.data_dir, room)
    assert len(calls) == 1, calls


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hold_and_resume_by_reinvite(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path, transport: str
) -> None:
    workdir = sipp_workdir(tmp_path, wavs)
    call_room(server, account, "hold_resume.xml", workdir, transport=TRANSPORTS[transport])


def test_session_timer_refresh_by_update(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    call_room(server, account, "session_timer.xml", sipp_workdir(tmp_path, wavs))


def test_rtp_timeout_hangs_up_and_releases_ports(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    workdir = sipp_workdir(tmp_path, wavs)
    room = call_room(server, account, "rtp_timeout.xml", workdir, timeout_s=30)
    calls = ended_calls(server.data_dir, room)
    assert [(c["result"], c["reason"]) for c in calls] == [("upstream_error", "rtp-timeout")]
    # Every RTP port of the server's range can be bound again: nothing leaked.
    deadline = time.monotonic() + 5
    busy = ports_bindable(*server.rtp_ports)
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = ports_bindable(*server.rtp_ports)
    assert busy == []


def test_rotation_while_running_applies_to_the_next_invite(
    server: Server, wavs: dict[str, Path], tmp_path: Path
) -> None:
    key = server.cli("keys", "create", "--name", "rotating", "--enable-sip")
    assert isinstance(key, dict) and isinstance(key["sip"], dict)
    account = {
        "apiKey": str(key["apiKey"]),
        "username": str(key["sip"]["username"]),
        "password": str(key["sip"]["password"]),
    }
    room = call_room(
        server, account, "call_auth.xml", sipp_workdir(tmp_path, wavs), extra=["-d", "500"]
    )
    rotated = server.cli("sip", "rotate", account["apiKey"])
    assert isinstance(rotated, dict)
    assert rotated["username"] == account["username"]
    assert rotated["password"] != account["password"]
    refused(server, account, room, 403, tmp_path / "old")  # the old password, at once
    new = str(rotated["password"])
    workdir = sipp_workdir(tmp_path / "new", wavs)
    call_room(
        server, account, "call_auth.xml", workdir, room=room, password=new, extra=["-d", "1000"]
    )


def test_dtmf_by_sip_info(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = call_room(server, account, "info_dtmf.xml", sipp_workdir(tmp_path, wavs))
    (call,) = ended_calls(server.data_dir, room)
    stats = call["stats"]
    assert isinstance(stats, dict) and stats["dtmf"] == "7#", stats


def test_offerless_invite_gets_our_offer_and_answer_in_ack(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    workdir = sipp_workdir(tmp_path, wavs)
    room = call_room(server, account, "offerless.xml", workdir, extra=["-d", "2000"])
    (call,) = ended_calls(server.data_dir, room)
    assert call["codec"] == "PCMU" and call["reason"] == "caller-hangup"
    stats = call["stats"]
    assert isinstance(stats, dict) and int(stats["packets_in"]) >= 50, stats


def test_old_password_works_during_the_rotation_grace_window(
    server: Server, wavs: dict[str, Path], tmp_path: Path
) -> None:
    account = server.new_account("grace")
    room = server.new_room(account["apiKey"])
    rotated = server.cli("sip", "rotate", account["apiKey"], "--grace-seconds", "300")
    assert isinstance(rotated, dict) and rotated["password"] != account["password"]
    for name, password in (("old", account["password"]), ("new", str(rotated["password"]))):
        workdir = sipp_workdir(tmp_path / name, wavs)
        call_room(
            server,
            account,
            "call_auth.xml",
            workdir,
            room=room,
            password=password,
            extra=["-d", "300"],
        )
