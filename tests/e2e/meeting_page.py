"""The meeting page from tests: rooms, browsers, in-page recorders, and judging what arrives.

Shared by the browser end-to-end modules (Chromium through Playwright, Firefox through
:mod:`.firefox`). A page is anything with Playwright's ``evaluate(expression, arg)``.

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
import contextlib
import io
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tests.chromium import CHROMIUM, media_args

from .audio import align, overlap, pesq_nb, read_wav, to_rate
from .baresip import Baresip
from .harness import HOST, Server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

MAX_DELAY_S = 0.250
MIN_PESQ = 3.0


class Page(Protocol):
    """What the helpers need of a page: Playwright's ``Page`` and :class:`.firefox.Firefox`."""

    def evaluate(self, expression: str, arg: Any = None, /) -> Any: ...


def chromium_args(mic_wav: Path) -> list[str]:
    return media_args(mic_wav)


@contextlib.contextmanager
def chromium_launcher() -> Iterator[Callable[[Path], Any]]:
    """``launch(mic_wav)`` starts a headless Chromium with that fake microphone; all are
    closed when the block ends."""
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


# Installs window.sipmeetRecorder: record(key, track) starts recording a track;
# take(key) stops it and returns {t0 (epoch ms of the first sample), rate, format,
# data (base64)}. Where the page's Web Audio runs (Chromium), a ScriptProcessor takes
# 16-bit PCM at 48 kHz ("pcm16"). Firefox without a sound card never starts an
# AudioContext (its media graph runs on the system clock instead, but Web Audio waits
# for an output device that never comes), so there a MediaRecorder records Ogg Opus
# ("ogg", decoded by page_recording); its t0 is stamped when it is started, within a
# graph iteration (10 ms) of its first sample.
# autoRecord(prefix, kind) records every remote participant's audio track (of that
# kind, "sip" or "webrtc"; any when null) as prefix + participantId;
# autoRecordPhones() is autoRecord("phone:", "sip"). Returns the mode it chose.
RECORDER_JS = """
async () => {
  if (window.sipmeetRecorder) return window.sipmeetRecorder.mode;
  const probe = new AudioContext();
  await Promise.race([probe.resume(), new Promise((r) => setTimeout(r, 1000))]);
  const mode = probe.state === "running" ? "webaudio" : "mediarecorder";
  probe.close();
  const recordings = {};
  function recordWebAudio(track) {
    const ctx = new AudioContext({ sampleRate: 48000 });
    const src = ctx.createMediaStreamSource(new MediaStream([track]));
    const proc = ctx.createScriptProcessor(512, 1, 1);
    const rec = { chunks: [], t0: null, rate: ctx.sampleRate, format: "pcm16" };
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
    rec.stop = async () => {
      proc.onaudioprocess = null;
      src.disconnect();
      proc.disconnect();
      ctx.close();
      let n = 0;
      for (const c of rec.chunks) n += c.length;
      const all = new Int16Array(n);
      let at = 0;
      for (const c of rec.chunks) { all.set(c, at); at += c.length; }
      return new Uint8Array(all.buffer);
    };
    return rec;
  }
  function recordMediaRecorder(track) {
    const recorder = new MediaRecorder(new MediaStream([track]), { mimeType: "audio/ogg;codecs=opus", audioBitsPerSecond: 128000 });
    const rec = { chunks: [], t0: null, rate: 48000, format: "ogg" };
    recorder.ondataavailable = (e) => rec.chunks.push(e.data);
    rec.t0 = Date.now();
    recorder.start(1000);
    rec.stop = async () => {
      const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
      recorder.stop();
      await stopped;
      return new Uint8Array(await new Blob(rec.chunks).arrayBuffer());
    };
    return rec;
  }
  function record(key, track) {
    if (recordings[key]) return;
    recordings[key] = mode === "webaudio" ? recordWebAudio(track) : recordMediaRecorder(track);
  }
  async function take(key) {
    const rec = recordings[key];
    if (!rec) return null;
    delete recordings[key];
    const bytes = await rec.stop();
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return { t0: rec.t0, rate: rec.rate, format: rec.format, data: btoa(text) };
  }
  function autoRecord(prefix, kind) {
    const m = window.meeting;
    const maybe = (participantId, track) => {
      const p = m.participants.get(participantId);
      if (p && (!kind || p.kind === kind) && track.kind === "audio") record(prefix + participantId, track);
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
  window.sipmeetRecorder = { mode, record, take, autoRecord, autoRecordPhones: () => autoRecord("phone:", "sip") };
  return mode;
}
"""

MIC_JS = """
(on) => { for (const t of window.meeting.localStream.getAudioTracks()) t.enabled = on; }
"""

# What the page receives from each participant, from each receiver's own stats:
# {participantId: {audioPackets, framesDecoded, energy, audioCodec, videoCodec, ...}}.
INBOUND_JS = """
async () => {
  const m = window.meeting;
  const out = {};
  if (!m.pc) return out;  // not joined (or rejoining after a lost connection)
  for (const t of m.pc.getTransceivers()) {
    const who = m._mids.get(t.mid);
    const track = t.receiver.track;
    if (!who || !track) continue;
    const row = out[who] || (out[who] = { audioPackets: 0, framesDecoded: 0, energy: 0 });
    const stats = await t.receiver.getStats();
    const codecs = {};
    stats.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
    stats.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (track.kind === "audio") {
        row.audioPackets += s.packetsReceived || 0;
        row.energy += s.totalAudioEnergy || 0;
        row.audioCodec = codecs[s.codecId] || row.audioCodec || null;
        row.concealedSamples = s.concealedSamples;
        row.totalSamplesReceived = s.totalSamplesReceived;
        row.insertedForDeceleration = s.insertedSamplesForDeceleration;
        row.removedForAcceleration = s.removedSamplesForAcceleration;
        row.jitterBufferMs = s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null;
      } else {
        row.framesDecoded += s.framesDecoded || 0;
        row.videoCodec = codecs[s.codecId] || row.videoCodec || null;
      }
    });
  }
  return out;
}
"""

# The codec of each of the page's own outgoing streams: {"audio": mimeType, "video": ...}.
OUTBOUND_CODECS_JS = """
async () => {
  const out = {};
  if (!window.meeting.pc) return out;
  for (const sender of window.meeting.pc.getSenders()) {
    if (!sender.track) continue;
    const stats = await sender.getStats();
    const codecs = {};
    stats.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
    stats.forEach((s) => { if (s.type === "outbound-rtp" && codecs[s.codecId]) out[sender.track.kind] = codecs[s.codecId]; });
  }
  return out;
}
"""

CONNECTED_JS = (
    "window.meeting && window.meeting.pc && window.meeting.pc.connectionState === 'connected'"
)


@dataclass(frozen=True)
class Recording:
    """Mono samples (-1..1) and the wall-clock time of the first one."""

    samples: np.ndarray
    rate: int
    t0: float


def page_recording(page: Page, key: str) -> Recording:
    taken = page.evaluate("(key) => window.sipmeetRecorder.take(key)", key)
    assert taken is not None, f"the page never recorded {key}"
    data = base64.b64decode(taken["data"])
    if taken["format"] == "ogg":
        samples, rate = decode_ogg(data)
    else:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768
        rate = int(taken["rate"])
    assert taken["t0"] is not None and samples.size, f"the page recorded nothing of {key}"
    return Recording(samples, rate, float(taken["t0"]) / 1000)


def decode_ogg(data: bytes) -> tuple[np.ndarray, int]:
    """An Ogg (Opus) recording as mono samples (-1..1) at 48 kHz."""
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    pieces: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r", format="ogg") as container:
        for frame in container.decode(audio=0):
            pieces.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    pieces.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    return pcm.astype(np.float64) / 32768, 48000


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


def locate(
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
    ref, heard8, lag, delay = locate(sent, heard, talk_s)
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
    ref, heard8, lag, _ = locate(sent, heard, 5.0)
    return windowed_correlation(ref, heard8, lag, 8000)


# -- tones ----------------------------------------------------------------------------


def tone_share(samples: np.ndarray, rate: int, freq_hz: float, width_hz: float = 30.0) -> float:
    """The share (0..1) of the signal's power within ``width_hz`` of ``freq_hz``.

    A Hann-windowed power spectrum of the whole signal (mean removed); a clean tone
    gives close to 1, speech or noise a few percent at most.
    """
    x = samples - samples.mean()
    if x.size < rate // 50 or not np.any(x):
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    band = np.abs(freqs - freq_hz) <= width_hz
    return float(spectrum[band].sum() / spectrum.sum())


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The frequency of the strongest spectral line (above 50 Hz)."""
    x = samples - samples.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    spectrum[freqs < 50] = 0
    return float(freqs[int(np.argmax(spectrum))])


def band_dbfs(samples: np.ndarray, rate: int, freq_hz: float, width_hz: float = 30.0) -> float:
    """The level (dBFS, RMS) of the signal's part within ``width_hz`` of ``freq_hz``."""
    x = samples - samples.mean()
    if not x.size:
        return -120.0
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    spectrum[np.abs(freqs - freq_hz) > width_hz] = 0
    band = np.fft.irfft(spectrum, x.size)
    rms = float(np.sqrt(np.mean(np.square(band))))
    return float(20 * np.log10(rms)) if rms > 1e-6 else -120.0


@dataclass(frozen=True)
class Beep:
    start: float  # wall-clock seconds
    duration_s: float


def beeps(
    recording: Recording,
    freq_hz: float,
    *,
    frame_ms: int = 20,
    min_share: float = 0.5,
    min_dbfs: float = -40.0,
) -> list[Beep]:
    """The tone bursts at ``freq_hz`` in a recording, found in ``frame_ms`` frames.

    A frame belongs to a burst when it is loud enough (``min_dbfs``) and most of its
    power (``min_share``) is within one frequency bin of ``freq_hz``: narrowband energy
    against broadband. Runs of such frames are the bursts, timed to the frame.
    """
    frame = recording.rate * frame_ms // 1000
    count = recording.samples.size // frame
    if count == 0:
        return []
    frames = recording.samples[: count * frame].reshape(count, frame)
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectra = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2
    freqs = np.fft.rfftfreq(frame, 1 / recording.rate)
    band = np.abs(freqs - freq_hz) <= 1000 / frame_ms  # the bin and its neighbours
    total = spectra.sum(axis=1) + 1e-20
    share = spectra[:, band].sum(axis=1) / total
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    on = (share >= min_share) & (rms >= 10 ** (min_dbfs / 20))
    found: list[Beep] = []
    n = 0
    while n < count:
        if not on[n]:
            n += 1
            continue
        first = n
        while n < count and on[n]:
            n += 1
        found.append(Beep(recording.t0 + first * frame_ms / 1000, (n - first) * frame_ms / 1000))
    return found


# -- rooms and pages -------------------------------------------------------------------


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

    def token(self, *, moderator: bool = False) -> str:
        args = ["token", "--api-key", self.account["apiKey"], "--room-id", self.room_id]
        return str(self.server.cli(*args, *(["--mod"] if moderator else []), json_out=False))

    def url(self, name: str, *, moderator: bool = False, video: bool = False) -> str:
        token = self.token(moderator=moderator)
        return f"{self.base}/meet/{self.room_id}?token={token}&name={name}" + (
            "&video=1" if video else ""
        )


def open_page(browser: Any, url: str, *, init_script: str | None = None) -> Any:
    """A Playwright page of ``browser`` in the meeting at ``url``, connected, recorder installed."""
    page = browser.new_page()
    if init_script is not None:
        page.add_init_script(init_script)
    page.goto(url)
    page.wait_for_function(CONNECTED_JS, timeout=20000)
    page.evaluate(RECORDER_JS)
    return page


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def phone_id(page: Page) -> str | None:
    found = page.evaluate(
        "[...window.meeting.participants.values()].filter((p) => p.kind === 'sip')"
        ".map((p) => p.participantId)"
    )
    return str(found[0]) if found else None


def events(page: Page, kind: str | None = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = page.evaluate("window.sipmeetEvents")
    return [e for e in got if kind is None or e.get("type") == kind]


def server_trouble(server: Server, lines: int = 60) -> str:
    """The server log's warnings and errors (with their tracebacks), the last ``lines``."""
    kept: list[str] = []
    keep = False
    for line in server.log_text().splitlines():
        stamped = line[:4].isdigit() and "Z " in line[:32]
        if stamped:
            keep = any(f"Z {level}" in line[:40] for level in ("WARNING", "ERROR", "CRITICAL"))
        if keep and "password" not in line:
            kept.append(line)
    return "\n".join(kept[-lines:])


def listed(page: Page, selector: str) -> int:
    """How many elements of the page match ``selector``."""
    return int(page.evaluate("(s) => document.querySelectorAll(s).length", selector))


class Observer:
    """A participant that only joins the signalling (no media) and keeps what it is told."""

    def __init__(self, room: Room, name: str = "Observer") -> None:
        from websockets.sync.client import connect

        http = room.base.removeprefix("http://")
        url = f"ws://{http}/ws/rooms/{room.room_id}?token={room.token()}"
        self._stack = contextlib.ExitStack()
        self._ws = self._stack.enter_context(
            connect(url, max_size=None, max_queue=None, open_timeout=10, close_timeout=2)
        )
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ws.send(json.dumps({"type": "join", "name": name}))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: bool(self.of("joined")), 10, "the observer's joined message")
        self.participant_id = str(self.of("joined")[0]["participantId"])

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # ends when the socket closes
            for text in self._ws:
                with self._lock:
                    self.messages.append(json.loads(text))

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m.get("type") == kind]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.send(json.dumps({"type": "leave"}))
        with contextlib.suppress(Exception):
            self._stack.close()
        self._reader.join(timeout=5)
