"""A real softphone (baresip) and headless Chromium in one room, through ``sipmeet serve``.

The phone plays a known speech recording and records what it sends and hears
(see :mod:`.baresip`). Chromium joins through the meeting page with a fake
microphone that plays another speech recording. In the page, a ScriptProcessor
records two tracks to PCM: the local microphone (what the browser sends) and the
phone caller's remote track (what the browser receives). How the recordings share
one clock, and how delay, correlation and PESQ are measured: :mod:`.meeting_page`.
The keypad test also listens, in what the phone hears, for the confirmation beeps of
its *6 and of the moderator's unmute (:func:`check_mute_confirmations`).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipmeet.rooms.keypad import BEEP_HZ, BEEP_MS, GAP_MS

from .baresip import Baresip
from .harness import Server, running_server
from .meeting_page import (
    ARTIFACTS,
    INBOUND_JS,
    MAX_DELAY_S,
    MIC_JS,
    MIN_PESQ,
    OneWay,
    Recording,
    Room,
    beeps,
    between,
    chromium_launcher,
    events,
    one_way,
    open_page,
    page_recording,
    phone_id,
    phone_recording,
    self_similarity,
    speech_48k,
    wait_for,
)

# bench/delay.py imports these two (and measure) from here
from .meeting_page import CHROMIUM as CHROMIUM
from .meeting_page import chromium_args as chromium_args
from .store_view import StoreView

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("browser-phone-server")) as srv:
        yield srv


@pytest.fixture
def chromium_factory() -> Iterator[Callable[[Path], Any]]:
    """Launch headless Chromium with a given fake microphone; all are closed at the end."""
    with chromium_launcher() as launch:
        yield launch


def measure(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    workdir: Path,
    launch: Any,
    *,
    talk_s: float = 9.0,
) -> tuple[OneWay, OneWay, dict[str, Any]]:
    """One phone and one browser talk; (phone->browser, browser->phone, details)."""
    room = Room(server, account)
    browser = launch(wavs["speech_b_48k"])
    page = open_page(browser, room.url("Alice"))
    page.evaluate("() => window.sipmeetRecorder.autoRecordPhones()")
    page.evaluate(
        "() => window.sipmeetRecorder.record('mic', window.meeting.localStream.getAudioTracks()[0])"
    )
    phone = Baresip(
        workdir / "phone",
        account["username"],
        account["password"],
        server.sip_port,
        wavs["speech_a_long"],
    )
    try:
        phone.start()
        phone.dial(room.room_id)
        wait_for(lambda: phone_id(page) is not None, 15, "the phone in the page")
        time.sleep(talk_s)
        pid = phone_id(page)
        stats = page.evaluate(INBOUND_JS)
        phone.hangup()
        time.sleep(0.5)
    finally:
        phone.stop()
    assert pid is not None
    from_phone = page_recording(page, f"phone:{pid}")
    mic = page_recording(page, "mic")
    sent, heard = phone_recording(phone, "enc"), phone_recording(phone, "dec")
    details = {
        "page": page,
        "phone": phone,
        "stats": stats,
        "self_phone": self_similarity(sent, heard),
        "self_browser": self_similarity(mic, from_phone),
    }
    return one_way(sent, from_phone), one_way(mic, heard), details


def test_phone_and_browser_hear_each_other(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    tmp_path: Path,
    chromium_factory: Any,
) -> None:
    to_browser, to_phone, details = measure(server, account, wavs, tmp_path, chromium_factory)
    results = {
        "phone->browser": (round(to_browser.delay_s * 1000), round(to_browser.correlation, 3)),
        "browser->phone": (round(to_phone.delay_s * 1000), round(to_phone.correlation, 3)),
        "pesq": (round(to_browser.pesq, 2), round(to_phone.pesq, 2)),
    }
    print("phone <-> browser (delay ms, correlation), PESQ NB:", results)
    context = f"{results}\n--- phone ---\n{details['phone'].log_tail()}\n--- server ---\n{server.log_tail()}"
    for name, leg in (("phone->browser", to_browser), ("browser->phone", to_phone)):
        assert leg.correlation > 0.6, f"{name}: the speech did not arrive\n{context}"
        assert 0 <= leg.delay_s < MAX_DELAY_S, f"{name}: delay {leg.delay_s:.3f} s\n{context}"
        assert leg.pesq >= MIN_PESQ, f"{name}: PESQ {leg.pesq:.2f}\n{context}"
    assert details["self_phone"] < 0.3, "the phone hears itself"
    assert details["self_browser"] < 0.3, "the browser hears itself in the phone's track"


def test_two_browsers_and_a_phone_with_keypad_and_moderation(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    tmp_path: Path,
    chromium_factory: Any,
) -> None:
    room = Room(server, account)
    bob_wav = speech_48k(
        tmp_path,
        "speech_c",
        "Numbers one two three four five. The library closes early on Fridays in winter.",
        "en-us+m3",
    )
    alice = open_page(
        chromium_factory(wavs["speech_b_48k"]), room.url("Alice", moderator=True, video=True)
    )
    bob = open_page(chromium_factory(bob_wav), room.url("Bob", video=True))
    for page in (alice, bob):
        page.evaluate("() => window.sipmeetRecorder.autoRecordPhones()")
        page.evaluate(
            "() => window.sipmeetRecorder.record('mic', window.meeting.localStream.getAudioTracks()[0])"
        )
    alice_id = str(alice.evaluate("window.meeting.participantId"))
    bob_id = str(bob.evaluate("window.meeting.participantId"))
    looped = tmp_path / "speech_a_loop.wav"  # the phone talks all through the test
    subprocess.run(["sox", str(wavs["speech_a"]), str(looped), "repeat", "7"], check=True)
    phone = Baresip(
        tmp_path / "phone",
        account["username"],
        account["password"],
        server.sip_port,
        looped,
    )
    try:
        phone.start()
        phone.dial(room.room_id)
        wait_for(lambda: phone_id(alice) and phone_id(bob), 15, "the phone in both pages")
        pid = phone_id(alice)
        assert pid is not None and phone_id(bob) == pid
        # the phone badge, in both pages; moderator buttons only for the moderator
        for page in (alice, bob):
            badge = page.locator(f"li[data-participant-id='{pid}'] .phone")
            badge.wait_for(timeout=5000)
        assert alice.locator("li[data-kind=sip] .mod-mute").count() == 1
        assert bob.locator(".mod-mute, .mod-remove").count() == 0
        time.sleep(7.0)  # everybody talks
        ARTIFACTS.mkdir(exist_ok=True)
        alice.screenshot(path=str(ARTIFACTS / "meeting-with-phone.png"), full_page=True)

        # each browser receives the other's audio and video, and the phone's track
        def inbound_ok() -> bool:
            a, b = alice.evaluate(INBOUND_JS), bob.evaluate(INBOUND_JS)
            return bool(
                a.get(bob_id, {}).get("framesDecoded", 0) > 0
                and b.get(alice_id, {}).get("framesDecoded", 0) > 0
                and a.get(bob_id, {}).get("audioPackets", 0) > 50
                and b.get(alice_id, {}).get("audioPackets", 0) > 50
                and a.get(pid, {}).get("audioPackets", 0) > 50
                and b.get(pid, {}).get("audioPackets", 0) > 50
            )

        # Two Chromiums, baresip and the server share two cores: give the first keyframe time.
        wait_for(inbound_ok, 30, "audio and video between the browsers")
        for page, me in ((alice, alice_id), (bob, bob_id)):
            mids = page.evaluate("[...window.meeting._mids.values()]")
            assert me not in mids, "a browser is sent its own track"
        # The phone hears the two browsers mixed: to judge each on its own, each talks
        # alone for a while (the other's microphone track disabled in its page).
        alone: dict[str, tuple[float, float]] = {}
        for name, other in (("alice", bob), ("bob", alice)):
            other.evaluate(MIC_JS, False)
            started = time.time()
            time.sleep(5.0)
            alone[name] = (started, time.time())
            other.evaluate(MIC_JS, True)
        heard = {
            "alice": page_recording(alice, f"phone:{pid}"),
            "bob": page_recording(bob, f"phone:{pid}"),
        }
        mics = {"alice": page_recording(alice, "mic"), "bob": page_recording(bob, "mic")}

        # The confirmation tones are judged in what the phone hears: nobody else talks.
        for page in (alice, bob):
            page.evaluate(MIC_JS, False)
        quiet_from = time.time()
        time.sleep(1.0)
        # *6 on the phone's keypad: muted; the browsers are told and its audio stops
        phone.send_digits("*")
        six_at = time.time()
        phone.send_digits("6")
        wait_for(lambda: bool(events(bob, "muted")), 5, "the muted event")
        assert events(alice, "muted")[-1]["participantId"] == pid
        time.sleep(0.5)
        before = alice.evaluate(INBOUND_JS)[pid]["audioPackets"]
        time.sleep(1.5)
        after = alice.evaluate(INBOUND_JS)[pid]["audioPackets"]
        assert after - before <= 2, f"a muted phone still reaches the browsers ({after - before})"
        assert alice.locator(f"li[data-participant-id='{pid}'].muted").count() == 1
        # *9: the phone raises its hand, and the pages show it
        nine_at = time.time()
        phone.send_digits("*9")
        wait_for(lambda: bool(events(bob, "hand")), 5, "the hand event")
        assert events(bob, "hand")[-1] == {"type": "hand", "participantId": pid, "raised": True}
        alice.locator(f"li[data-participant-id='{pid}'] .hand").wait_for(timeout=5000)

        # the moderator unmutes it from the page, then removes it (BYE with a Reason)
        unmute_at = time.time()
        alice.locator(f"li[data-participant-id='{pid}'] .mod-mute").click()
        wait_for(lambda: bool(events(bob, "unmuted")), 5, "the unmuted event")
        wait_for(
            lambda: alice.evaluate(INBOUND_JS)[pid]["audioPackets"] > after + 20,
            5,
            "the phone's audio after unmuting",
        )
        time.sleep(1.0)  # the one-beep confirmation plays
        remove_at = time.time()
        alice.locator(f"li[data-participant-id='{pid}'] .mod-remove").click()
        wait_for(lambda: bool(events(bob, "participant-left")), 5, "the phone leaving")
        left = events(bob, "participant-left")[-1]
        assert left["participantId"] == pid and left["reason"] == "removed-by-moderator"
        assert bob.locator("li[data-kind=sip]").count() == 0
        time.sleep(0.5)
        # and the moderator mutes Bob's browser, then removes him
        alice.locator(f"li[data-participant-id='{bob_id}'] .mod-mute").click()
        wait_for(
            lambda: bool(events(bob, "muted")) and bob.evaluate("window.meeting.muted"),
            5,
            "Bob muted",
        )
        alice.locator(f"li[data-participant-id='{bob_id}'] .mod-remove").click()
        bob.wait_for_function(
            "document.getElementById('status').textContent.includes('removed-by-moderator')",
            timeout=5000,
        )
        wait_for(
            lambda: any(e["participantId"] == bob_id for e in events(alice, "participant-left")),
            5,
            "Bob leaving",
        )
    finally:
        phone.stop()
    sent, phone_heard = phone_recording(phone, "enc"), phone_recording(phone, "dec")
    context = f"\n--- phone ---\n{phone.log_tail()}\n--- server ---\n{server.log_tail()}"
    for name in ("alice", "bob"):
        leg = one_way(sent, heard[name], talk_s=5.0)
        assert leg.correlation > 0.6, f"{name} did not hear the phone: {leg}{context}"
        started, ended = alone[name]
        back = one_way(between(mics[name], started + 0.5, ended - 0.3), phone_heard, talk_s=4.0)
        assert back.correlation > 0.6, f"the phone did not hear {name}: {back}{context}"
        assert self_similarity(mics[name], heard[name]) < 0.3, f"{name} hears itself"
    assert self_similarity(sent, phone_heard) < 0.3, "the phone hears itself"
    check_mute_confirmations(phone_heard, quiet_from, six_at, nine_at, unmute_at, remove_at)
    # the phone's call and both browsers' presences are recorded; Alice is still there
    deadline = time.monotonic() + 10
    while True:
        with StoreView(server.data_dir) as view:
            records = view.calls(room.room_id)
        phones = [c for c in records if c["transport"] != "webrtc"]
        browsers = {c["caller_name"]: c for c in records if c["transport"] == "webrtc"}
        settled = all(c["ended_at"] for c in phones) and browsers.get("Bob", {}).get("ended_at")
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [c["reason"] for c in phones] == ["removed-by-moderator"], records
    assert sorted(browsers) == ["Alice", "Bob"], records
    assert browsers["Bob"]["reason"] == "removed-by-moderator" and browsers["Bob"]["answered_at"]
    assert browsers["Alice"]["ended_at"] is None and browsers["Alice"]["codec"] == "opus"
    joined = [e for e in events(alice, "participant-joined")]
    assert {e["participant"]["kind"] for e in joined} == {"sip", "webrtc"}
    assert "DtmfPressed" in server.log_text() and json.dumps(pid)[1:-1] in server.log_text()


def check_mute_confirmations(
    heard: Recording,
    quiet_from: float,
    six_at: float,
    nine_at: float,
    unmute_at: float,
    remove_at: float,
) -> None:
    """What the phone heard (browsers silent from ``quiet_from``): nothing at 1 kHz before
    its *6; after it, two beeps (keypad.mute_tone: 120 ms, 100 ms apart); after the
    moderator's unmute, one."""
    beep_s, gap_s = BEEP_MS / 1000, GAP_MS / 1000
    before = beeps(between(heard, quiet_from, six_at), BEEP_HZ)
    muted = beeps(between(heard, six_at, nine_at), BEEP_HZ)
    unmuted = beeps(between(heard, unmute_at, remove_at), BEEP_HZ)
    print(
        "mute confirmations (start after the digit or click ms, duration ms):",
        [(round((b.start - six_at) * 1000), round(b.duration_s * 1000)) for b in muted],
        [(round((b.start - unmute_at) * 1000), round(b.duration_s * 1000)) for b in unmuted],
    )
    assert before == [], f"1 kHz bursts before any mute: {before}"
    assert len(muted) == 2, f"muting: expected two beeps, heard {muted}"
    first, second = muted
    assert first.start - six_at < 1.5, f"the mute confirmation came late: {muted}"
    for beep in muted:
        assert abs(beep.duration_s - beep_s) <= 0.045, f"beep length: {muted}"
    spacing = second.start - first.start
    assert abs(spacing - (beep_s + gap_s)) <= 0.03, f"beeps {spacing:.3f} s apart: {muted}"
    assert len(unmuted) == 1, f"unmuting: expected one beep, heard {unmuted}"
    assert unmuted[0].start - unmute_at < 1.0, f"the unmute confirmation came late: {unmuted}"
    assert abs(unmuted[0].duration_s - beep_s) <= 0.045, f"beep length: {unmuted}"
