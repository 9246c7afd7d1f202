"""The dial-in menu state machine: digits and time in, actions out."""

from __future__ import annotations

from sipmeet.bridge.ivr import CheckPin, DialInMenu, HangUpAfter, Join, LookUpCode, MenuState, Play


def keys(menu: DialInMenu, digits: str, now: float = 0.0) -> list[object]:
    out: list[object] = []
    for d in digits:
        out += menu.digit(d, now)
    return out


def test_six_digit_code_submits_itself_and_joins_a_room_without_pin() -> None:
    menu = DialInMenu()
    assert menu.start(0.0) == [Play("welcome")]
    assert keys(menu, "12345") == []
    assert keys(menu, "6") == [LookUpCode("123456")]
    assert menu.state is MenuState.LOOKING_UP
    assert menu.code_result("abcd-efgh-ijkl", False, 1.0) == [
        Play("joining"),
        Join("abcd-efgh-ijkl"),
    ]
    assert menu.state is MenuState.JOINED
    assert keys(menu, "1#") == []  # digits after joining are not the menu's


def test_pound_submits_a_shorter_code_and_star_starts_over() -> None:
    menu = DialInMenu()
    menu.start(0.0)
    assert keys(menu, "99*42#") == [LookUpCode("42")]


def test_pin_is_asked_and_checked() -> None:
    menu = DialInMenu()
    menu.start(0.0)
    keys(menu, "123456")
    assert menu.code_result("room-1", True, 1.0) == [Play("enter_pin")]
    assert keys(menu, "4321#") == [CheckPin("room-1", "4321")]
    assert menu.pin_result(False, 2.0) == [Play("wrong_pin")]
    assert keys(menu, "1234#") == [CheckPin("room-1", "1234")]
    assert menu.pin_result(True, 3.0) == [Play("joining"), Join("room-1")]


def test_three_wrong_codes_hang_up_with_goodbye() -> None:
    menu = DialInMenu()
    menu.start(0.0)
    for attempt in range(2):
        assert keys(menu, "000000") == [LookUpCode("000000")]
        assert menu.code_result(None, False, float(attempt)) == [Play("wrong_code")]
    keys(menu, "000000")
    assert menu.code_result(None, False, 5.0) == [HangUpAfter("goodbye", "ivr-failed")]
    assert menu.state is MenuState.FAILED
    assert keys(menu, "123456") == []


def test_half_entry_is_submitted_after_the_digit_timeout() -> None:
    menu = DialInMenu(digit_timeout_s=5.0)
    menu.start(0.0)
    keys(menu, "77", now=1.0)
    assert menu.next_deadline() == 6.0
    assert menu.poll(5.9) == []
    assert menu.poll(6.0) == [LookUpCode("77")]


def test_silence_repeats_the_prompt_then_gives_up() -> None:
    menu = DialInMenu(prompt_timeout_s=10.0, max_attempts=3)
    menu.start(0.0)
    assert menu.poll(10.0) == [Play("welcome")]
    assert menu.poll(20.0) == [Play("welcome")]
    assert menu.poll(30.0) == [HangUpAfter("goodbye", "ivr-failed")]


def test_runaway_entry_counts_as_a_wrong_one() -> None:
    menu = DialInMenu(code_length=6, max_entry_digits=16)
    menu.start(0.0)
    keys(menu, "123456")
    menu.code_result("room", True, 0.0)
    assert keys(menu, "1" * 17)[-1] == Play("wrong_pin")
