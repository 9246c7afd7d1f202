"""A real softphone (baresip) and headless Chromium in one room, through ``sipmeet serve``.

The phone plays a known speech recording and records what it sends and hears
(see :mod:`.baresip`). Chromium joins through the meeting page with a fake
microphone that plays another speech recording. In the page, a ScriptProcessor
records two tracks to PCM: the local microphone (what the browser sends) and the
phone caller's remote track (what the browser receives).

Time base: every recording carries the wall-clock time (epoch seconds) of its first
sample. The page stamps ``Date.now()`` when each ScriptProcessor buffer arrives and
takes the buffer's length off the first stamp; baresip's recordings are stamped (on
the monotonic clock) when their file appears and converted to wall-clock time with
one ``time.time() - time.monotonic()`` offset. Both clocks are the same machine's, so
the one-way delay of a direction is: where the sent speech sits in the received
recording (cross-correlation within a window around where the clocks expect it)
minus when it was sent. The page's stamps are late by at most one buffer (~11 ms)
plus the audio graph's own latency, which counts as delay the browser adds.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .audio import align, overlap, pesq_nb, read_wav, to_rate
from .baresip import Baresip
from .harness import HOST, Server, running_server
from .store_view import StoreView

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]

MAX_DELAY_S = 0.250
MIN_PESQ = 3.0


def chromium_args(mic_wav: Path) -> list[str]:
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic_wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--no-sandbox",
        "--disable-gpu",
        "--headless=new",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]


# Installs window.sipmeetRecorder: record(key, track) starts recording a track to
# 16-bit PCM at 48 kHz; take(key) stops it and returns {t0 (epoch ms), rate, pcm (base64)}.
# autoRecordPhones() records every phone caller's track as "phone:<participantId>".
RECORDER_JS = """
() => {
  if (window.sipmeetRecorder) return;
  const recordings = {};
  function record(key, track) {
    if (recordings[key]) return;
    const ctx = new AudioContext({ sampleRate: 48000 });
    const src = ctx.createMediaStreamSource(new MediaStream([track]));
    const proc = ctx.createScriptProcessor(512, 1, 1);
    const rec = { ctx, src, proc, chunks: [], t0: null, rate: ctx.sampleRate };
    proc.onaudioprocess = (e) => {
      const now = Date.now();
      const data = e.inputBuffer.getChannelData(0);
      if (rec.t0 === null) rec.t0 = now - (1000 * data.length) / rec.rate;
      const pcm = new Int16Array(data.length);
      for (let i = 0; i < data.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(data[i] * 32767)));
      rec.chunks.push(pcm);
    };
    src.connect(proc);
    proc.connect(ctx.destination);  // a ScriptProcessor only runs when connected
    ctx.resume();
    recordings[key] = rec;
  }
  function take(key) {
    const rec = recordings[key];
    if (!rec) return null;
    rec.proc.onaudioprocess = null;
    rec.src.disconnect();
    rec.proc.disconnect();
    rec.ctx.close();
    delete recordings[key];
    let n = 0;
    for (const c of rec.chunks) n += c.length;
    const all = new Int16Array(n);
    let at = 0;
    for (const c of rec.chunks) { all.set(c, at); at += c.length; }
    const bytes = new Uint8Array(all.buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return { t0: rec.t0, rate: rec.rate, pcm: btoa(text) };
  }
  function autoRecordPhones() {
    const m = window.meeting;
    const maybe = (participantId, track) => {
      const p = m.participants.get(participantId);
      if (p && p.kind === "sip" && track.kind === "audio") record("phone:" + participantId, track);
    };
    m.addEventListener("track", (e) => maybe(e.detail.participantId, e.detail.track));
    for (const t of m.pc.getTransceivers()) {
      const who = m._mids.get(t.mid);
      if (who && t.receiver.track) maybe(who, t.receiver.track);
    }
  }
  window.sipmeetEvents = [];
  for (const type of ["participant-joined", "participant-left", "muted", "unmuted", "hand", "removed"]) {
    window.meeting.addEventListener(type, (e) => window.sipmeetEvents.push(e.detail));
  }
  window.sipmeetRecorder = { record, take, autoRecordPhones };
}
"""

MIC_JS = """
(on) => { for (const t of window.meeting.localStream.getAudioTracks()) t.enabled = on; }
"""

INBOUND_JS = """
async () => {
  const m = window.meeting;
  const out = {};
  (await m.pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    const who = m._mids.get(s.mid) || "?";
    const row = out[who] || (out[who] = { audioPackets: 0, framesDecoded: 0, energy: 0 });
    if (s.kind === "audio") {
      row.audioPackets += s.packetsReceived;
      row.energy += s.totalAudioEnergy || 0;
      row.concealedSamples = s.concealedSamples;
      row.totalSamplesReceived = s.totalSamplesReceived;
      row.insertedForDeceleration = s.insertedSamplesForDeceleration;
      row.removedForAcceleration = s.removedSamplesForAcceleration;
      row.jitterBufferMs = s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null;
    }
    else row.framesDecoded += s.framesDecoded || 0;
  });
  return out;
}
"""


@dataclass(frozen=True)
class Recording:
    """Mono samples (-1..1) and the wall-clock time of the first one."""

    samples: np.ndarray
    rate: int
    t0: float


def page_recording(page: Any, key: str) -> Recording:
    taken = page.evaluate("(key) => window.sipmeetRecorder.take(key)", key)
    assert taken is not None, f"the page never recorded {key}"
    pcm = np.frombuffer(base64.b64decode(taken["pcm"]), dtype="<i2").astype(np.float64) / 32768
    return Recording(pcm, int(taken["rate"]), float(taken["t0"]) / 1000)


def phone_recording(phone: Baresip, kind: str) -> Recording:
    """A baresip recording (``enc`` sent, ``dec`` heard) on the wall clock."""
    path, stamp = phone.recording(kind)
    rate, samples = read_wav(path)
    return Recording(samples, rate, stamp + (time.time() - time.monotonic()))


def between(recording: Recording, start: float, end: float) -> Recording:
    """The part of a recording between two wall-clock times."""
    first = max(0, int((start - recording.t0) * recording.rate))
    last = max(first, int((end - recording.t0) * recording.rate))
    return Recording(
        recording.samples[first:last], recording.rate, recording.t0 + first / recording.rate
    )


@dataclass(frozen=True)
class OneWay:
    delay_s: float
    correlation: float
    pesq: float


def _locate(
    sent: Recording, heard: Recording, talk_s: float
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(reference at 8 kHz, received at 8 kHz, lag of the reference in it, delay seconds)."""
    rate = 8000
    sent8 = to_rate(sent.samples, sent.rate, rate)
    heard8 = to_rate(heard.samples, heard.rate, rate)
    # The reference: up to talk_s of speech sent once the receiver was recording.
    first = max(0, int((heard.t0 - sent.t0 + 0.3) * rate))
    active = np.flatnonzero(np.abs(sent8[first:]) > 0.02)
    assert active.size, "nothing was sent while the receiver recorded"
    start = first + int(active[0])
    ref = sent8[start : start + int(talk_s * rate)]
    sent_at = sent.t0 + start / rate
    # Search only near where the clocks put it (the microphone file may repeat).
    expected = int((sent_at - heard.t0) * rate)
    lo = max(0, expected - int(0.3 * rate))
    hi = min(len(heard8), expected + len(ref) + int(1.0 * rate))
    window = heard8[lo:hi]
    assert window.size > rate, "the receiver's recording ends too early"
    lag = lo + align(ref, window, rate).lag_samples
    return ref, heard8, lag, heard.t0 + lag / rate - sent_at


def one_way(sent: Recording, heard: Recording, *, talk_s: float = 6.0) -> OneWay:
    """How the speech in ``sent`` arrived in ``heard`` (see the module docstring)."""
    ref, heard8, lag, delay = _locate(sent, heard, talk_s)
    return OneWay(
        delay, windowed_correlation(ref, heard8, lag, 8000), windowed_pesq(ref, heard8, lag, 8000)
    )


def windowed_pesq(ref: np.ndarray, heard: np.ndarray, lag: int, rate: int) -> float:
    """Median PESQ NB of the reference's 2 s pieces, each aligned within 100 ms of ``lag``.

    Chromium's jitter buffer stretches time a little as it adapts, so one alignment for
    the whole recording slowly drifts; scoring pieces aligned on their own (as for the
    correlation) judges the audio, not the drift.
    """
    piece, slack = 2 * rate, rate // 10
    scores = []
    for start in range(0, len(ref) - piece + 1, piece):
        part = ref[start : start + piece]
        if np.sqrt(np.mean(np.square(part))) < 0.01:
            continue  # a pause: PESQ needs speech
        lo = max(0, lag + start - slack)
        window = heard[lo : lag + start + piece + slack]
        if window.size < piece:
            continue
        a, b = overlap(part, window, align(part, window, rate).lag_samples)
        scores.append(pesq_nb(a, b))
    assert scores, "no speech piece to score"
    return float(np.median(scores))


def windowed_correlation(ref: np.ndarray, heard: np.ndarray, lag: int, rate: int) -> float:
    """Median correlation of the reference's 1 s pieces, each aligned within 100 ms of ``lag``.

    The browser's jitter buffer adapts its delay by some tens of ms while it plays (time
    stretching); one correlation over many seconds would punish that, pieces do not.
    """
    values = []
    for start in range(0, len(ref) - rate + 1, rate):
        piece = ref[start : start + rate]
        if float(np.sqrt(np.mean(np.square(piece)))) < 0.01:
            continue  # a pause
        lo = max(0, lag + start - rate // 10)
        window = heard[lo : lag + start + rate + rate // 10]
        if window.size >= piece.size:
            values.append(abs(align(piece, window, rate).correlation))
    return float(np.median(values)) if values else 0.0


def self_similarity(sent: Recording, heard: Recording) -> float:
    """How much of its own speech a participant hears: the windowed correlation of what it
    sent with what it heard, within a second of when an echo through the server would be."""
    ref, heard8, lag, _ = _locate(sent, heard, 5.0)
    return windowed_correlation(ref, heard8, lag, 8000)


def speech_48k(directory: Path, name: str, text: str, voice: str) -> Path:
    """Another known speech recording (espeak-ng), as Chromium's fake microphone likes it."""
    raw, wav = directory / f"raw_{name}.wav", directory / f"{name}_48k.wav"
    if not wav.exists():
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav), "norm", "-3"],
            check=True,
        )
    return wav


class Room:
    """One server room with its key, and tokens for it."""

    def __init__(self, server: Server, account: dict[str, str]) -> None:
        self.server = server
        self.account = account
        self.room_id = server.new_room(account["apiKey"])
        self.base = f"http://{HOST}:{server.env['SIPMEET_HTTP_PORT']}"

    def url(self, name: str, *, moderator: bool = False, video: bool = False) -> str:
        args = ["token", "--api-key", self.account["apiKey"], "--room-id", self.room_id]
        token = str(self.server.cli(*args, *(["--mod"] if moderator else []), json_out=False))
        return f"{self.base}/meet/{self.room_id}?token={token}&name={name}" + (
            "&video=1" if video else ""
        )


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function(
        "window.meeting && window.meeting.pc && window.meeting.pc.connectionState === 'connected'",
        timeout=20000,
    )
    page.evaluate(RECORDER_JS)
    return page


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def phone_id(page: Any) -> str | None:
    found = page.evaluate(
        "[...window.meeting.participants.values()].filter((p) => p.kind === 'sip')"
        ".map((p) => p.participantId)"
    )
    return str(found[0]) if found else None


def events(page: Any, kind: str | None = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = page.evaluate("window.sipmeetEvents")
    return [e for e in got if kind is None or e.get("type") == kind]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("browser-phone-server")) as srv:
        yield srv


@pytest.fixture
def chromium_factory() -> Iterator[Any]:
    """Launch headless Chromium with a given fake microphone; all are closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browsers: list[Any] = []

        def launch(mic_wav: Path) -> Any:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(mic_wav))
            browsers.append(browser)
            return browser

        try:
            yield launch
        finally:
            for browser in browsers:
                browser.close()


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
        for name, page, other in (("alice", alice, bob), ("bob", bob, alice)):
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

        # *6 on the phone's keypad: muted; the browsers are told and its audio stops
        phone.send_digits("*6")
        wait_for(lambda: bool(events(bob, "muted")), 5, "the muted event")
        assert events(alice, "muted")[-1]["participantId"] == pid
        time.sleep(0.5)
        before = alice.evaluate(INBOUND_JS)[pid]["audioPackets"]
        time.sleep(1.5)
        after = alice.evaluate(INBOUND_JS)[pid]["audioPackets"]
        assert after - before <= 2, f"a muted phone still reaches the browsers ({after - before})"
        assert alice.locator(f"li[data-participant-id='{pid}'].muted").count() == 1
        # *9: the phone raises its hand, and the pages show it
        phone.send_digits("*9")
        wait_for(lambda: bool(events(bob, "hand")), 5, "the hand event")
        assert events(bob, "hand")[-1] == {"type": "hand", "participantId": pid, "raised": True}
        alice.locator(f"li[data-participant-id='{pid}'] .hand").wait_for(timeout=5000)

        # the moderator unmutes it from the page, then removes it (BYE with a Reason)
        alice.locator(f"li[data-participant-id='{pid}'] .mod-mute").click()
        wait_for(lambda: bool(events(bob, "unmuted")), 5, "the unmuted event")
        wait_for(
            lambda: alice.evaluate(INBOUND_JS)[pid]["audioPackets"] > after + 20,
            5,
            "the phone's audio after unmuting",
        )
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
    with StoreView(server.data_dir) as view:
        calls = view.ended_calls(room.room_id)
    assert [c["reason"] for c in calls] == ["removed-by-moderator"], calls
    joined = [e for e in events(alice, "participant-joined")]
    assert {e["participant"]["kind"] for e in joined} == {"sip", "webrtc"}
    assert "DtmfPressed" in server.log_text() and json.dumps(pid)[1:-1] in server.log_text()
