"""Browser audio in the room's mix, and phone audio encoded once per tick for the browsers."""

from __future__ import annotations

import random
import socket

import numpy as np
import pytest
from aiortc import RTCPeerConnection

from sipmeet.codecs.opus import OpusDecoder, OpusEncoder
from sipmeet.rooms import ParticipantKind, Room
from sipmeet.webrtc import ForwardedTrack, Publication, RoomSfu, WebRtcParticipant
from sipmeet.webrtc.extmap import ExtmapIds
from sipmeet.webrtc.ice import (
    allow_remote_addresses,
    announce_addresses,
    announce_sdp,
    filter_remote_sdp,
    media_port_range,
    new_peer_connection,
    remote_candidate_allowed,
    restrict_host_addresses,
)
from sipmeet.webrtc.tracks import ESTIMATE_TTL_S, NO_CAP_BPS


def tone(freq_hz: float, rate_hz: int, samples: int, start: int = 0) -> np.ndarray:
    t = (np.arange(samples) + start) / rate_hz
    return (8000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def peak_hz(pcm: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(pcm.size, 1 / rate_hz)[int(np.argmax(spectrum))])


class Phone:
    kind: ParticipantKind = "sip"
    masked_number: str | None = "+1555***99"
    display_name = "caller"

    def __init__(self, pid: str, freq_hz: float = 300.0, rate_hz: int = 8000) -> None:
        self.participant_id = pid
        self.muted = False
        self.rate_hz = rate_hz
        self.room_rate = rate_hz
        self.freq_hz = freq_hz
        self.heard: list[np.ndarray] = []
        self.silent = False
        self._n = 0

    def set_room_rate(self, rate_hz: int) -> None:
        self.room_rate = rate_hz

    def pull_frame(self, now: float) -> np.ndarray | None:
        if self.silent:
            return None
        size = self.room_rate // 50
        self._n += size
        return tone(self.freq_hz, self.room_rate, size, self._n - size)

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        self.heard.append(frame.copy())


class Listener:
    def __init__(self, pid: str) -> None:
        self.participant_id = pid
        self.added: list[Publication] = []
        self.removed: list[Publication] = []
        self.tracks: dict[str, ForwardedTrack] = {}

    def publication_added(self, publication: Publication) -> None:
        self.added.append(publication)
        track = ForwardedTrack(publication.kind)
        publication.attach(track)
        self.tracks[publication.publication_id] = track

    def publication_removed(self, publication: Publication) -> None:
        self.removed.append(publication)


def browser_opus(freq_hz: float, frames: int) -> list[bytes]:
    encoder = OpusEncoder(48000, complexity=5)
    return [encoder.encode(tone(freq_hz, 48000, 960, 960 * i)) for i in range(frames)]


def test_browser_audio_is_decoded_at_room_rate_into_the_phone_mix() -> None:
    room = Room("r", "k")
    phone = Phone("p")
    browser = WebRtcParticipant("w", "Web")
    room.join(phone)
    room.join(browser)
    assert room.rate_hz == 16000 and phone.room_rate == 16000
    for i, payload in enumerate(browser_opus(1000.0, 30)):
        browser.receive_opus(payload, 100 + i, 960 * i, i * 0.02, marker=i == 0)
        room.tick(i * 0.02)
    for i in range(30, 33):  # the jitter buffer's 20 ms of delay drains
        room.tick(i * 0.02)
    assert browser.frames_decoded == 30
    heard = np.concatenate(phone.heard[-20:])
    assert heard.size == 20 * 320
    assert abs(peak_hz(heard, 16000) - 1000.0) < 10


def test_browser_audio_is_played_after_the_jitter_buffer_delay_only() -> None:
    browser = WebRtcParticipant("w", "Web", jitter_min_ms=20)
    browser.set_room_rate(16000)
    assert browser.pull_frame(0.0) is None  # nothing received yet: silent
    payloads = browser_opus(500.0, 3)
    browser.receive_opus(payloads[0], 1, 0, 1.000, marker=True)
    assert browser.pull_frame(1.000) is None  # not due yet: 20 ms of delay
    frame = browser.pull_frame(1.021)
    assert frame is not None and frame.size == 320
    assert browser.jitter.delay_ms == pytest.approx(20, abs=6)


def test_reordered_browser_packets_are_played_in_order_and_a_lost_one_concealed() -> None:
    browser = WebRtcParticipant("w", "Web", jitter_min_ms=40)
    browser.set_room_rate(16000)
    payloads = browser_opus(700.0, 8)
    arrival = [0, 2, 1, 3, 5, 6, 7]  # packet 4 never arrives; 2 comes before 1
    for n, i in enumerate(arrival):
        browser.receive_opus(payloads[i], 500 + i, 960 * i, 0.02 * n, marker=i == 0)
    frames = [browser.pull_frame(0.041 + 0.02 * t) for t in range(8)]
    assert all(f is not None and f.size == 320 for f in frames)
    assert browser.frames_decoded == 7
    assert browser.jitter.lost == 1
    # the stream is continuous: the 700 Hz tone comes out of every frame, concealed one too
    pcm = np.concatenate([f for f in frames if f is not None])
    assert abs(peak_hz(pcm, 16000) - 700.0) < 10


def test_browser_that_stops_sending_goes_silent() -> None:
    browser = WebRtcParticipant("w", "Web")
    browser.set_room_rate(8000)
    for i, payload in enumerate(browser_opus(500.0, 3)):
        browser.receive_opus(payload, i, 960 * i, 0.02 * i, marker=i == 0)
    pulled = [browser.pull_frame(0.021 + 0.02 * t) for t in range(12)]
    assert all(p is not None and p.size == 160 for p in pulled[:3])
    assert pulled[-1] is None  # concealment is bounded: then silence


def test_phone_is_encoded_once_per_tick_for_all_browsers() -> None:
    room = Room("r", "k")
    phone = Phone("p", freq_hz=400.0)
    room.join(phone)
    sfu = RoomSfu(room, opus_complexity=5)
    listeners = [Listener("w1"), Listener("w2"), Listener("w3")]
    for listener in listeners:
        sfu.add_listener(listener)
    room.tick(0.0)  # the phone's stream appears on its first tick
    publication = next(iter(sfu.publications.values()))
    assert publication.publisher_id == "p" and publication.codec == "opus"
    assert all(listener.added == [publication] for listener in listeners)
    for i in range(1, 26):
        room.tick(i * 0.02)
    assert sfu.encoded_frames == 26  # once per tick (the first one included), not per browser
    queued = [listener.tracks[publication.publication_id]._queue for listener in listeners]
    assert all(len(q) == 10 for q in queued)  # bounded: old frames dropped for a stalled sender
    packets = [packet for packet, _level in queued[0]]
    assert [bytes(p) for p in packets] == [bytes(p) for p, _ in queued[1]]
    assert [p.pts for p in packets] == [960 * (17 + i) for i in range(10)]  # 48 kHz RTP clock
    decoder = OpusDecoder(8000)
    pcm = np.concatenate([decoder.decode(bytes(p)) for p in packets])
    assert abs(peak_hz(pcm[800:], 8000) - 400.0) < 10  # encoded at the room's 8 kHz
    sfu.close()


def test_silent_phone_costs_no_encode_and_leaving_unpublishes() -> None:
    room = Room("r", "k")
    phone = Phone("p")
    room.join(phone)
    sfu = RoomSfu(room)
    listener = Listener("w")
    sfu.add_listener(listener)
    phone.silent = True
    for i in range(5):
        room.tick(i * 0.02)
    assert sfu.encoded_frames == 0
    room.leave("p", "bye")
    room.join(Phone("q"))
    room.tick(1.0)
    assert [p.publisher_id for p in listener.removed] == ["p"]
    assert [p.publisher_id for p in sfu.publications.values()] == ["q"]
    assert sfu.encoded_frames == 1  # q speaks
    sfu.close()
    room.tick(1.02)
    assert sfu.encoded_frames == 1  # closed: no longer observing the room


def test_nobody_listening_means_no_encode() -> None:
    room = Room("r", "k")
    room.join(Phone("p"))
    sfu = RoomSfu(room)
    for i in range(3):
        room.tick(i * 0.02)
    assert sfu.encoded_frames == 0 and len(sfu.publications) == 1
    sfu.close()


def test_browser_publications_go_to_the_other_browsers_only() -> None:
    room = Room("r", "k")
    sfu = RoomSfu(room)
    a, b = Listener("a"), Listener("b")
    sfu.add_listener(a)
    video = Publication("a", "video", "VP8", 90000)
    sfu.publish(video)
    sfu.add_listener(b)
    assert a.added == [] and b.added == [video]
    video.forward(b"frame", 3000)
    track = b.tracks[video.publication_id]
    assert len(track._queue) == 1 and bytes(track._queue[0][0]) == b"frame"
    sfu.remove_listener("a")  # a leaves: its streams go
    assert b.removed == [video] and not sfu.publications and not video.subscribers


def test_publisher_is_capped_at_its_slowest_fresh_subscriber() -> None:
    now = [100.0]
    caps: list[int] = []
    video = Publication(
        "a", "video", "VP8", 90000, on_bitrate_cap=caps.append, clock=lambda: now[0]
    )
    fast, slow = ForwardedTrack("video"), ForwardedTrack("video")
    video.attach(fast)
    video.attach(slow)
    video.subscriber_estimate(fast, 2_000_000)
    video.subscriber_estimate(slow, 400_000)  # lower: at once
    assert caps == [2_000_000, 400_000] and video.bitrate_cap == 400_000
    now[0] += 0.3
    video.subscriber_estimate(slow, 600_000)  # higher: not within a second
    assert caps == [2_000_000, 400_000]
    now[0] += 1.0
    video.subscriber_estimate(slow, 700_000)
    assert caps[-1] == 700_000
    now[0] += ESTIMATE_TTL_S + 0.1  # the slow one's estimate went stale: the fast one's counts
    video.subscriber_estimate(fast, 1_500_000)
    assert caps[-1] == 1_500_000
    video.subscriber_estimate(slow, 300_000)
    assert caps[-1] == 300_000
    video.detach(slow)  # the slowest leaves: the cap rises to the next one
    assert caps[-1] == 1_500_000
    video.detach(fast)  # nobody limits it: the publisher is told so
    assert caps[-1] == NO_CAP_BPS and video.bitrate_cap is None
    audio = Publication("a", "audio", "opus", 48000, on_bitrate_cap=caps.append)
    track = ForwardedTrack("audio")
    audio.attach(track)
    audio.subscriber_estimate(track, 10_000)  # audio is never capped
    assert caps[-1] == NO_CAP_BPS


async def test_candidates_are_only_on_the_configured_address() -> None:
    restrict_host_addresses(["127.0.0.1"])
    pc: RTCPeerConnection = new_peer_connection()
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    lines = [x for x in pc.localDescription.sdp.splitlines() if x.startswith("a=candidate:")]
    assert lines and all(line.split()[4] == "127.0.0.1" for line in lines)
    await pc.close()
    with pytest.raises(ValueError):
        restrict_host_addresses([])


async def test_candidates_bind_ports_of_the_media_range_skipping_busy_ones() -> None:
    restrict_host_addresses(["127.0.0.1"])
    first = free_udp_block(6)
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", first + 1))  # another program holds one port of the range
    pcs: list[RTCPeerConnection] = []
    try:
        media_port_range(first, first + 5)
        ports = []
        for _ in range(3):
            pc = new_peer_connection()
            pcs.append(pc)
            pc.addTransceiver("audio")
            pc.addTransceiver("video")
            await pc.setLocalDescription(await pc.createOffer())
            sdp = pc.localDescription.sdp
            ports += [int(x.split()[5]) for x in sdp.splitlines() if x.startswith("a=candidate:")]
        assert ports and all(first <= p <= first + 5 for p in ports), ports
        assert first + 1 not in ports and len(set(ports)) == len(ports)
        with pytest.raises(OSError):  # the range is used up: said, not silently widened
            for _ in range(6):
                pc = new_peer_connection()
                pcs.append(pc)
                pc.addTransceiver("audio")
                await pc.setLocalDescription(await pc.createOffer())
                sdp = pc.localDescription.sdp
                if "a=candidate:" not in sdp:
                    raise OSError("no candidate gathered")
    finally:
        media_port_range(None)
        busy.close()
        for pc in pcs:
            await pc.close()


def free_udp_block(count: int) -> int:
    """The first of ``count`` consecutive UDP ports on 127.0.0.1 that are free now."""
    for _ in range(200):
        first = random.randrange(10000, 32000)
        socks = []
        try:
            for port in range(first, first + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return first
    raise RuntimeError("no free UDP ports")


def test_descriptions_announce_the_public_address_behind_nat() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "o=- 1 1 IN IP4 0.0.0.0",
            "c=IN IP4 10.0.0.5",
            "m=audio 40000 UDP/TLS/RTP/SAVPF 111",
            "c=IN IP4 10.0.0.5",
            "a=candidate:a1 1 udp 2130706431 10.0.0.5 40000 typ host",
            "a=candidate:a2 1 udp 2130706431 10.0.0.6 40002 typ host",
            "a=end-of-candidates",
            "",
        ]
    )
    try:
        announce_addresses({"10.0.0.5": "203.0.113.7"})
        out = announce_sdp(sdp).split("\r\n")
        assert out[2] == out[4] == "c=IN IP4 203.0.113.7"
        assert out[5] == "a=candidate:a1 1 udp 2130706431 203.0.113.7 40000 typ host"
        assert out[6] == "a=candidate:a2 1 udp 2130706431 10.0.0.6 40002 typ host"  # not mapped
        assert out[1] == "o=- 1 1 IN IP4 0.0.0.0" and out[-1] == ""
        announce_addresses({"10.0.0.5": "2001:db8::7"})
        assert announce_sdp(sdp).split("\r\n")[2] == "c=IN IP6 2001:db8::7"
    finally:
        announce_addresses({})
    assert announce_sdp(sdp) == sdp  # nothing announced: unchanged


def test_remote_candidates_can_be_limited_to_loopback() -> None:
    sdp = "\r\n".join(
        [
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host",
            "a=candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host",
            "a=candidate:3 1 udp 2122260223 3f1c.local 50002 typ host",
            "",
        ]
    )
    assert filter_remote_sdp(sdp) == sdp  # by default every candidate is kept
    allow_remote_addresses(["127.0.0.1"])
    try:
        kept = filter_remote_sdp(sdp)
        assert "127.0.0.1" in kept and "192.0.2.2" not in kept and ".local" not in kept
        assert remote_candidate_allowed("127.0.0.1") and not remote_candidate_allowed("192.0.2.2")
    finally:
        allow_remote_addresses(None)


def test_extension_ids_stay_those_the_browser_chose() -> None:
    ids = ExtmapIds()
    ids.learn(
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    )
    offer = (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    )
    assert ids.rewrite(offer) == (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:1/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    )


def test_a_phone_falling_silent_sends_one_dtx_frame_then_nothing() -> None:
    room = Room("r", "k")
    phone = Phone("p")
    room.join(phone)
    sfu = RoomSfu(room)
    sfu.add_listener(Listener("w"))
    room.tick(0.0)
    publication = next(iter(sfu.publications.values()))
    sent: list[bytes] = []
    forward = publication.forward

    def record(data: bytes, timestamp: int, audio_level: int | None = None) -> None:
        sent.append(data)
        forward(data, timestamp, audio_level)

    publication.forward = record  # type: ignore[method-assign]
    for i in range(1, 5):
        room.tick(i * 0.02)
    assert len(sent) == 4 and all(len(p) > 2 for p in sent)
    phone.silent = True
    for i in range(5, 65):
        room.tick(i * 0.02)
    encoded = sfu.encoded_frames
    # Opus goes into DTX within a few hundred ms of silence; that first DTX frame is sent
    # (the browser plays comfort noise, not loss concealment), and then nothing is encoded.
    assert len(sent[-1]) <= 2 and all(len(p) > 2 for p in sent[:-1])
    assert encoded < 60
    for i in range(65, 75):
        room.tick(i * 0.02)
    assert sfu.encoded_frames == encoded and len(sent[-1]) <= 2
    phone.silent = False
    room.tick(1.5)
    assert len(sent[-1]) > 2
    sfu.close()
