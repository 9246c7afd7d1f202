"""The dial-in menu over SIP: a caller keys in a room's code and PIN and joins it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .audio import align, read_wav, to_rate
from .baresip import Baresip
from .harness import Server, running_server
from .store_view import StoreView

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("dialin-server")) as srv:
        yield srv


def phone(tmp_path: Path, name: str, server: Server, account: dict[str, str], wav: Path) -> Baresip:
    return Baresip(tmp_path / name, account["username"], account["password"], server.sip_port, wav)


def test_caller_keys_in_code_and_pin_and_hears_the_room(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.cli("rooms", "create", "--api-key", account["apiKey"], "--pin", "2468")
    assert isinstance(room, dict)
    room_id, code = str(room["roomId"]), str(room["dialinCode"])
    caller = phone(tmp_path, "caller", server, account, wavs["speech_a_long"])
    member = phone(tmp_path, "member", server, account, wavs["speech_b"])
    try:
        caller.start()
        member.start()
        caller.dial("dialin")
        time.sleep(2.0)  # the welcome prompt starts; keys cut it short
        caller.send_digits(code, gap_s=0.3)  # six digits submit themselves
        time.sleep(1.5)  # "enter the PIN"
        caller.send_digits("2468#", gap_s=0.3)
        time.sleep(3.0)  # "joining" and the move into the room
        member.dial(room_id)
        time.sleep(6.0)
        caller.hangup()
        member.hangup()
        time.sleep(0.5)
    finally:
        caller.stop()
        member.stop()
    with StoreView(server.data_dir) as view:
        calls = view.ended_calls(room_id)
    assert len(calls) == 2, (calls, server.log_tail())
    assert all(c["reason"] == "caller-hangup" for c in calls), calls
    # The caller hears the member: the member's speech is in the caller's recording.
    sent_rate, sent = read_wav(member.recording("enc")[0])
    heard_rate, heard = read_wav(caller.recording("dec")[0])
    sent8, heard8 = to_rate(sent, sent_rate, 8000), to_rate(heard, heard_rate, 8000)
    speech = sent8[int(0.5 * 8000) : int(4.5 * 8000)]
    assert align(speech, heard8, 8000).correlation > 0.6, server.log_tail()
    # Menu entries are never logged or recorded as room DTMF.
    log = server.log_text()
    assert "2468" not in log and code not in log.replace(room_id, "")
    for c in calls:
        stats = c["stats"]
        assert stats is None or (isinstance(stats, dict) and stats.get("dtmf", "") == "")


def test_three_wrong_codes_are_hung_up(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    caller = phone(tmp_path, "lost", server, account, wavs["speech_a_long"])
    try:
        caller.start()
        caller.dial("dialin")
        time.sleep(1.5)
        for _ in range(3):
            caller.send_digits("000000", gap_s=0.2)
            time.sleep(1.0)
        time.sleep(6.0)  # the goodbye prompt, then BYE
        log = caller.log_tail(200)
    finally:
        caller.stop()
    with StoreView(server.data_dir) as view:
        calls = view.ended_calls("dialin")
    assert [(c["result"], c["reason"]) for c in calls] == [("client_error", "ivr-failed")], (
        calls,
        server.log_tail(),
    )
    assert "session closed" in log or "terminated" in log.lower(), log


def test_first_caller_hears_the_first_participant_prompt(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    from sipmeet.media.prompts import load_prompt

    room_id = server.new_room(account["apiKey"])
    caller = phone(tmp_path, "alone", server, account, wavs["speech_a_long"])
    try:
        caller.start()
        caller.dial(room_id)
        time.sleep(6.0)
        caller.hangup()
        time.sleep(0.3)
    finally:
        caller.stop()
    prompt, rate = load_prompt("first_participant")
    heard_rate, heard = read_wav(caller.recording("dec")[0])
    reference = to_rate(prompt.astype(float) / 32768, rate, 8000)[: 3 * 8000]
    assert align(reference, to_rate(heard, heard_rate, 8000), 8000).correlation > 0.6
