"""Firefox (ESR, driven over WebDriver BiDi) in meetings, through ``sipmeet serve``.

Firefox's fake microphone is a steady tone (:data:`.firefox.FAKE_TONE_HZ`), not
speech: what others hear of it is judged by its spectrum (the tone's share of the
power, and the level left at its frequency once Firefox is muted). What Firefox
hears is recorded in the page with the same recorder as in Chromium and judged as
in :mod:`.test_browser_phone` (delay, correlation, PESQ; see :mod:`.meeting_page`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .baresip import Baresip
from .firefox import FAKE_TONE_HZ, FIREFOX, Firefox, JavaScriptError, running_firefox
from .harness import Server, running_server
from .meeting_page import (
    ARTIFACTS,
    CHROMIUM,
    CONNECTED_JS,
    INBOUND_JS,
    MAX_DELAY_S,
    MIN_PESQ,
    RECORDER_JS,
    Observer,
    Recording,
    Room,
    band_dbfs,
    between,
    chromium_launcher,
    events,
    listed,
    one_way,
    open_page,
    page_recording,
    peak_hz,
    phone_id,
    phone_recording,
    self_similarity,
    server_trouble,
    tone_share,
    wait_for,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not FIREFOX.exists(), reason="Debian firefox-esr is not installed"),
]

MIN_TONE_SHARE = 0.9  # of the power within 30 Hz of the tone, where it should be heard
MUTED_DROP_DB = 30.0  # how far the tone's level falls once Firefox is muted
RECORD_MIC_JS = (
    "() => window.sipmeetRecorder.record('mic', window.meeting.localStream.getAudioTracks()[0])"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("firefox-server")) as srv:
        yield srv


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[Firefox]:
    with running_firefox(tmp_path / "firefox") as browser:
        yield browser


@pytest.fixture
def chromium_factory() -> Iterator[Callable[[Path], Any]]:
    with chromium_launcher() as launch:
        yield launch


def join(fox: Firefox, url: str) -> str:
    """Open the meeting page in Firefox, wait until connected, install the recorder."""
    fox.goto(url)
    fox.wait_for_function(CONNECTED_JS, timeout_s=20)
    fox.evaluate(RECORDER_JS)
    return str(fox.evaluate("window.meeting.participantId"))


def heard_tone(recording: Recording) -> tuple[float, float, float]:
    """(share of the power at the fake tone, the strongest line in Hz, the tone's dBFS)."""
    samples, rate = recording.samples, recording.rate
    return (
        tone_share(samples, rate, FAKE_TONE_HZ),
        peak_hz(samples, rate),
        band_dbfs(samples, rate, FAKE_TONE_HZ),
    )


def test_bidi_values_cross_both_ways(firefox: Firefox) -> None:
    """What the client passes to the page and gets back (BiDi local and remote values)."""
    sent = {"n": [1, -2.5, None, True, "x"], "nested": {"a": {"b": []}}, "inf": -math.inf}
    assert firefox.evaluate("(x) => x", sent) == sent
    assert math.isnan(firefox.evaluate("(x) => x", math.nan))
    back = firefox.evaluate(
        "async () => ({m: new Map([[1, 'one']]), s: new Set([2]), b: 2n ** 70n, u: undefined})"
    )
    assert back == {"m": {1: "one"}, "s": [2], "b": 2**70, "u": None}
    assert firefox.evaluate("document.readyState") == "complete"
    with pytest.raises(JavaScriptError, match="boom"):
        firefox.evaluate("() => { throw new Error('boom'); }")


def test_firefox_and_a_phone(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    tmp_path: Path,
    firefox: Firefox,
) -> None:
    room = Room(server, account)
    fox_id = join(firefox, room.url("Fox"))
    firefox.evaluate("() => window.sipmeetRecorder.autoRecordPhones()")
    firefox.evaluate(RECORD_MIC_JS)
    observer = Observer(room)  # another participant: it must be told of Firefox's mute
    phone = Baresip(
        tmp_path / "phone",
        account["username"],
        account["password"],
        server.sip_port,
        wavs["speech_a_long"],  # ~8.5 s of speech, then silence
    )
    try:
        phone.start()
        phone.dial(room.room_id)
        wait_for(lambda: phone_id(firefox) is not None, 15, "the phone in Firefox's page")
        pid = phone_id(firefox)
        assert pid is not None
        firefox.wait_for_function(
            "(pid) => document.querySelector(`li[data-participant-id='${pid}'] .phone`)",
            pid,
            timeout_s=5,
        )
        time.sleep(12.0)  # the phone talks, then is silent; Firefox's tone all along
        ARTIFACTS.mkdir(exist_ok=True)
        firefox.screenshot(ARTIFACTS / "meeting-firefox-with-phone.png")
        stats = firefox.evaluate(INBOUND_JS)
        # Firefox's own mute button: the room is told, and its tone stops reaching the phone
        tone_until = time.time()
        firefox.click("#mute")
        wait_for(
            lambda: any(m["participantId"] == fox_id for m in observer.of("muted")),
            5,
            "the muted event at the other participant",
        )
        assert firefox.evaluate("window.meeting.muted") is True
        firefox.wait_for_function(
            "(id) => document.querySelector(`li[data-participant-id='${id}'].muted`)",
            fox_id,
            timeout_s=5,
        )
        muted_at = time.time()
        time.sleep(3.0)
        phone.hangup()
        wait_for(lambda: phone_id(firefox) is None, 5, "the phone leaving Firefox's page")
    finally:
        phone.stop()
        observer.close()
    from_phone = page_recording(firefox, f"phone:{pid}")
    mic = page_recording(firefox, "mic")
    sent, heard = phone_recording(phone, "enc"), phone_recording(phone, "dec")
    context = (
        f"\n--- stats ---\n{stats}\n--- phone ---\n{phone.log_tail()}"
        f"\n--- firefox ---\n{firefox.console[-20:]}\n--- server ---\n{server.log_tail()}"
    )

    # what Firefox heard: the phone's speech, soon and clean
    to_fox = one_way(sent, from_phone)
    print(
        f"phone -> firefox: delay {to_fox.delay_s * 1000:.0f} ms, correlation "
        f"{to_fox.correlation:.3f}, PESQ NB {to_fox.pesq:.2f} (page recorded at {from_phone.rate} Hz)"
    )
    assert to_fox.correlation > 0.6, f"Firefox did not hear the phone: {to_fox}{context}"
    assert 0 <= to_fox.delay_s < MAX_DELAY_S, f"phone -> firefox: {to_fox}{context}"
    assert to_fox.pesq >= MIN_PESQ, f"phone -> firefox: {to_fox}{context}"

    # what the phone heard: Firefox's tone while it was sent, nothing of it once muted
    sending = heard_tone(between(heard, heard.t0 + 1.0, tone_until - 0.3))
    after = heard_tone(between(heard, muted_at + 0.5, muted_at + 2.5))
    mic_tone = heard_tone(mic)
    print(
        "firefox -> phone (tone share, peak Hz, tone dBFS): while sending",
        tuple(round(v, 2) for v in sending),
        "muted",
        tuple(round(v, 2) for v in after),
        "firefox's microphone",
        tuple(round(v, 2) for v in mic_tone),
    )
    assert mic_tone[0] >= MIN_TONE_SHARE, f"Firefox's microphone is not the tone: {mic_tone}"
    assert sending[0] >= MIN_TONE_SHARE, f"the phone did not hear the tone: {sending}{context}"
    assert abs(sending[1] - FAKE_TONE_HZ) <= 5, f"the phone heard another tone: {sending}"
    assert after[2] <= sending[2] - MUTED_DROP_DB, f"muted Firefox still heard: {after}{context}"

    # nobody hears themselves: the phone not its speech, Firefox not its tone
    assert self_similarity(sent, heard) < 0.3, "the phone hears itself"
    silent_from = sent.t0 + (np.flatnonzero(np.abs(sent.samples) > 0.02)[-1] + 1) / sent.rate
    assert tone_until - silent_from > 1.5, "the phone never fell silent while Firefox sent"
    echo = heard_tone(between(from_phone, silent_from + 0.5, tone_until))
    assert echo[2] <= mic_tone[2] - MUTED_DROP_DB, f"Firefox hears its own tone: {echo}"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_firefox_and_chromium_with_video(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    firefox: Firefox,
    chromium_factory: Callable[[Path], Any],
) -> None:
    room = Room(server, account)
    fox_id = join(firefox, room.url("Fox", video=True))
    firefox.evaluate("() => window.sipmeetRecorder.autoRecord('peer:', 'webrtc')")
    chrome = open_page(chromium_factory(wavs["speech_b_48k"]), room.url("Chrome", video=True))
    chrome_id = str(chrome.evaluate("window.meeting.participantId"))
    chrome.evaluate("() => window.sipmeetRecorder.autoRecord('peer:', 'webrtc')")
    chrome.evaluate(RECORD_MIC_JS)

    # each lists the other; Firefox was told Chromium joined
    firefox.wait_for_function(
        "(id) => document.querySelector(`li[data-participant-id='${id}']`)", chrome_id, timeout_s=5
    )
    assert chrome.locator(f"li[data-participant-id='{fox_id}']").count() == 1
    joined = [e["participant"]["participantId"] for e in events(firefox, "participant-joined")]
    assert joined == [chrome_id]

    # each decodes the other's video and receives its audio (two browsers on two cores)
    def inbound_ok() -> bool:
        f, c = firefox.evaluate(INBOUND_JS), chrome.evaluate(INBOUND_JS)
        return bool(
            f.get(chrome_id, {}).get("framesDecoded", 0) > 0
            and c.get(fox_id, {}).get("framesDecoded", 0) > 0
            and f.get(chrome_id, {}).get("audioPackets", 0) > 50
            and c.get(fox_id, {}).get("audioPackets", 0) > 50
        )

    try:
        wait_for(inbound_ok, 30, "audio and video between Firefox and Chromium")
    except AssertionError as exc:
        seen = {"firefox": firefox.evaluate(INBOUND_JS), "chromium": chrome.evaluate(INBOUND_JS)}
        trouble = server_trouble(server)
        raise AssertionError(f"{exc}: {seen}\n--- server trouble ---\n{trouble}") from None
    firefox.wait_for_function(
        "(id) => { const v = document.querySelector(`video[data-participant-id='${id}']`);"
        " return v && v.videoWidth > 0; }",
        chrome_id,
        timeout_s=10,
    )
    time.sleep(8.0)  # both talk
    stats = {"firefox": firefox.evaluate(INBOUND_JS), "chromium": chrome.evaluate(INBOUND_JS)}
    print("inbound:", stats)
    ARTIFACTS.mkdir(exist_ok=True)
    firefox.screenshot(ARTIFACTS / "meeting-firefox-with-video.png")
    fox_heard = page_recording(firefox, f"peer:{chrome_id}")
    chrome_heard = page_recording(chrome, f"peer:{fox_id}")
    chrome_mic = page_recording(chrome, "mic")

    # Firefox mutes: Chromium is told and shows it
    firefox.click("#mute")
    wait_for(
        lambda: any(e["participantId"] == fox_id for e in events(chrome, "muted")),
        5,
        "Chromium told of Firefox's mute",
    )
    chrome.locator(f"li[data-participant-id='{fox_id}'].muted").wait_for(timeout=5000)
    # Chromium leaves: Firefox is told and its list and videos drop it
    chrome.locator("#leave").click()
    firefox.wait_for_function(
        "(id) => !document.querySelector(`li[data-participant-id='${id}']`)"
        " && !document.querySelector(`video[data-participant-id='${id}']`)",
        chrome_id,
        timeout_s=5,
    )
    left = events(firefox, "participant-left")
    assert [e["participantId"] for e in left] == [chrome_id], left
    assert listed(firefox, "#participants li") == 1

    to_fox = one_way(chrome_mic, fox_heard)
    fox_tone = heard_tone(chrome_heard)
    print(
        f"chromium -> firefox: delay {to_fox.delay_s * 1000:.0f} ms, correlation "
        f"{to_fox.correlation:.3f}, PESQ NB {to_fox.pesq:.2f};"
        f" firefox -> chromium tone (share, peak Hz, dBFS): {tuple(round(v, 2) for v in fox_tone)}"
    )
    context = f"\n--- stats ---\n{stats}\n--- server ---\n{server.log_tail()}"
    assert to_fox.correlation > 0.6, f"Firefox did not hear Chromium: {to_fox}{context}"
    # Chromium stamps what it sends late by its capture path (in test_browser_phone its
    # browser->phone delay comes out near 10 ms, less than the jitter buffers alone
    # add), so this direction may come out a little below zero: only the bound counts.
    assert -0.1 < to_fox.delay_s < MAX_DELAY_S, f"chromium -> firefox: {to_fox}{context}"
    assert fox_tone[0] >= MIN_TONE_SHARE, f"Chromium did not hear Firefox: {fox_tone}{context}"
    assert abs(fox_tone[1] - FAKE_TONE_HZ) <= 5, f"Chromium heard another tone: {fox_tone}"
