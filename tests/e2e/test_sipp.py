"""SIP signalling against SIPp, a real SIP peer, over UDP and TCP.

One server serves the whole module (RTP timeout shortened so that the timeout
test stays short); each test sets up what it needs through the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Server, dial, ports_bindable, run_sipp, running_server, sipp_workdir
from .store_view import StoreView

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

TRANSPORTS = {"udp": "u1", "tcp": "t1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("sipp-server"), {"SIPMEET_RTP_TIMEOUT_S": "3"}
    ) as srv:
        yield srv


def wait_for_call_end(server: Server, room_id: str) -> list[dict[str, object]]:
    with StoreView(server.data_dir) as view:
        return view.ended_calls(room_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_authenticated_call_with_ten_seconds_of_pcmu(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path, transport: str
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "call_auth.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        transport=TRANSPORTS[transport],
        extra=["-d", "10000"],
        timeout_s=40,
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    calls = wait_for_call_end(server, room)
    assert len(calls) == 1, calls
    call = calls[0]
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
    result = dial(
        server,
        room,
        "invite_rejected.xml",
        tmp_path,
        (account["username"], account["password"] + "x"),
        transport=TRANSPORTS[transport],
        substitutions={"STATUS": "403", "CODECS": "0"},
    )
    assert result.returncode == 0, result.explain()
    with StoreView(server.data_dir) as view:
        assert view.calls(room) == []


def test_unknown_room_is_404(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    result = dial(
        server,
        "zzzz-zzzz-zzzz",
        "invite_rejected.xml",
        tmp_path,
        (account["username"], account["password"]),
        substitutions={"STATUS": "404", "CODECS": "0"},
    )
    assert result.returncode == 0, result.explain()


def test_another_keys_room_is_404(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    other = server.cli("keys", "create", "--name", "other", "--enable-sip")
    assert isinstance(other, dict)
    foreign_room = server.new_room(str(other["apiKey"]))
    result = dial(
        server,
        foreign_room,
        "invite_rejected.xml",
        tmp_path,
        (account["username"], account["password"]),
        substitutions={"STATUS": "404", "CODECS": "0"},
    )
    assert result.returncode == 0, result.explain()


def test_deactivated_room_is_480(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    room = server.new_room(account["apiKey"])
    server.cli("rooms", "deactivate", room, json_out=False)
    result = dial(
        server,
        room,
        "invite_rejected.xml",
        tmp_path,
        (account["username"], account["password"]),
        substitutions={"STATUS": "480", "CODECS": "0"},
    )
    assert result.returncode == 0, result.explain()


def test_no_common_codec_is_488(server: Server, account: dict[str, str], tmp_path: Path) -> None:
    room = server.new_room(account["apiKey"])
    result = run_sipp(
        "invite_rejected.xml",
        server.sip_port,
        tmp_path,
        inject=[("-", room, "-")],
        credentials=(account["username"], account["password"]),
        substitutions={"STATUS": "488", "CODECS": "18"},  # G.729 only
    )
    assert result.returncode == 0, result.explain()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_options_answered_200(server: Server, tmp_path: Path, transport: str) -> None:
    result = run_sipp("options.xml", server.sip_port, tmp_path, transport=TRANSPORTS[transport])
    assert result.returncode == 0, result.explain()


def test_cancel_before_answer_gets_487(
    server: Server, account: dict[str, str], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "cancel.xml",
        tmp_path,
        (account["username"], account["password"]),
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    with StoreView(server.data_dir) as view:
        live = [c for c in view.calls(room) if c["answered_at"] is not None]
        assert live == []


def test_retransmitted_invite_is_absorbed(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "retransmit.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        extra=["-d", "1000"],
    )
    assert result.returncode == 0, result.explain()
    calls = wait_for_call_end(server, room)
    assert len(calls) == 1, calls


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hold_and_resume_by_reinvite(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path, transport: str
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "hold_resume.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        transport=TRANSPORTS[transport],
    )
    assert result.returncode == 0, result.explain() + server.log_tail()


def test_session_timer_refresh_by_update(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "session_timer.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
    )
    assert result.returncode == 0, result.explain() + server.log_tail()


def test_rtp_timeout_hangs_up_and_releases_ports(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "rtp_timeout.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        timeout_s=30,
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    calls = wait_for_call_end(server, room)
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
    api_key, username, old_password = (
        str(key["apiKey"]),
        str(key["sip"]["username"]),
        str(key["sip"]["password"]),
    )
    room = server.new_room(api_key)
    before = dial(
        server,
        room,
        "call_auth.xml",
        sipp_workdir(tmp_path, wavs),
        (username, old_password),
        extra=["-d", "500"],
    )
    assert before.returncode == 0, before.explain()
    rotated = server.cli("sip", "rotate", api_key)
    assert isinstance(rotated, dict)
    assert rotated["username"] == username and rotated["password"] != old_password
    refused = dial(
        server,
        room,
        "invite_rejected.xml",
        tmp_path / "old",
        (username, old_password),
        substitutions={"STATUS": "403", "CODECS": "0"},
    )
    assert refused.returncode == 0, refused.explain()
    accepted = dial(
        server,
        room,
        "call_auth.xml",
        tmp_path / "sipp",
        (username, str(rotated["password"])),
        extra=["-d", "1000"],
    )
    assert accepted.returncode == 0, accepted.explain() + server.log_tail()


def test_dtmf_by_sip_info(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "info_dtmf.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    (call,) = wait_for_call_end(server, room)
    stats = call["stats"]
    assert isinstance(stats, dict) and stats["dtmf"] == "7#", stats


def test_offerless_invite_gets_our_offer_and_answer_in_ack(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    result = dial(
        server,
        room,
        "offerless.xml",
        sipp_workdir(tmp_path, wavs),
        (account["username"], account["password"]),
        extra=["-d", "2000"],
    )
    assert result.returncode == 0, result.explain() + server.log_tail()
    (call,) = wait_for_call_end(server, room)
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
        result = dial(
            server,
            room,
            "call_auth.xml",
            sipp_workdir(tmp_path / name, wavs),
            (account["username"], password),
            extra=["-d", "300"],
        )
        assert result.returncode == 0, f"{name} password: " + result.explain()
