"""Video between browsers through ``sipmeet serve``: H.264 forwarded as it was sent.

The SFU forwards encoded video and never transcodes it. Two Chromium pages publish
their (fake) cameras preferring H.264: an init script puts H.264 first in the codec
preferences of the page's video transceivers before each offer (the meeting page's
client adds its tracks with ``addTrack`` and has no codec option). Each page must then
send H.264, and decode the other's video from an inbound stream whose codec is H.264,
which it can only be if the server forwarded the frames as they came.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import Server, running_server
from .meeting_page import (
    CHROMIUM,
    INBOUND_JS,
    OUTBOUND_CODECS_JS,
    Room,
    chromium_launcher,
    open_page,
    server_trouble,
    wait_for,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]

# H.264 first (packetization-mode=1 before 0), then everything else in the browser's order.
PREFER_H264_JS = """
(() => {
  const rank = (c) => c.mimeType.toLowerCase() !== "video/h264" ? 2
    : /packetization-mode=1/.test(c.sdpFmtpLine || "") ? 0 : 1;
  const prefer = (pc) => {
    const capabilities = RTCRtpReceiver.getCapabilities("video");
    if (!capabilities) return;
    const codecs = [...capabilities.codecs].sort((a, b) => rank(a) - rank(b));
    for (const t of pc.getTransceivers()) {
      const track = t.sender.track || t.receiver.track;
      if (track && track.kind === "video" && !t.stopped) t.setCodecPreferences(codecs);
    }
  };
  const createOffer = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = function (...args) {
    prefer(this);
    return createOffer.apply(this, args);
  };
})();
"""

SENDS_H264_JS = """
(RTCRtpSender.getCapabilities("video") || { codecs: [] }).codecs
  .filter((c) => c.mimeType.toLowerCase() === "video/h264").map((c) => c.sdpFmtpLine)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("browser-video-server")) as srv:
        yield srv


@pytest.fixture
def chromium_factory() -> Iterator[Callable[[Path], Any]]:
    with chromium_launcher() as launch:
        yield launch


def test_h264_is_forwarded_between_browsers(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    chromium_factory: Callable[[Path], Any],
) -> None:
    room = Room(server, account)
    alice_browser = chromium_factory(wavs["speech_b_48k"])
    probe = alice_browser.new_page()
    h264 = probe.evaluate(SENDS_H264_JS)
    probe.close()
    if not h264:
        pytest.skip("this Chromium cannot send H.264 (no video/H264 in its sender capabilities)")
    alice = open_page(alice_browser, room.url("Alice", video=True), init_script=PREFER_H264_JS)
    bob = open_page(
        chromium_factory(wavs["speech_a_48k"]),
        room.url("Bob", video=True),
        init_script=PREFER_H264_JS,
    )
    ids = {
        "alice": str(alice.evaluate("window.meeting.participantId")),
        "bob": str(bob.evaluate("window.meeting.participantId")),
    }

    def decoded() -> bool:
        a, b = alice.evaluate(INBOUND_JS), bob.evaluate(INBOUND_JS)
        return bool(
            a.get(ids["bob"], {}).get("framesDecoded", 0) > 0
            and b.get(ids["alice"], {}).get("framesDecoded", 0) > 0
        )

    # two Chromiums and the server on two cores: give the first keyframes time
    try:
        wait_for(decoded, 30, "each browser decoding the other's video")
    except AssertionError as exc:
        details = {
            name: (page.evaluate(OUTBOUND_CODECS_JS), page.evaluate(INBOUND_JS))
            for name, page in (("alice", alice), ("bob", bob))
        }
        trouble = server_trouble(server)
        raise AssertionError(f"{exc}: {details}\n--- server trouble ---\n{trouble}") from None
    time.sleep(2.0)
    inbound = {"alice": alice.evaluate(INBOUND_JS), "bob": bob.evaluate(INBOUND_JS)}
    outbound = {
        "alice": alice.evaluate(OUTBOUND_CODECS_JS),
        "bob": bob.evaluate(OUTBOUND_CODECS_JS),
    }
    print("H.264 sender profiles:", h264)
    print("outbound codecs:", outbound)
    print("inbound:", inbound)
    for me, other in (("alice", "bob"), ("bob", "alice")):
        assert outbound[me].get("video") == "video/H264", f"{me} does not send H.264: {outbound}"
        row = inbound[me][ids[other]]
        assert row["videoCodec"] == "video/H264", f"{me} receives {other} as {row}"
        assert row["framesDecoded"] > 0, f"{me} decodes nothing of {other}: {row}"
