"""Two baresip softphones in one room hear each other, not themselves; DTMF arrives.

Each phone plays a known speech recording as its microphone and records what
it sends and what it hears. The test aligns what one phone sent with what the
other heard (cross-correlation on a shared clock) to get the delay, then scores
the aligned audio with PESQ.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from .audio import align, overlap, pesq_nb, read_wav, to_rate
from .baresip import Baresip
from .harness import Server, running_server
from .store_view import StoreView

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

TALK_S = 9.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("baresip-server")) as srv:
        yield srv


def phone(
    tmp_path: Path, name: str, server: Server, account: dict[str, str], wav: Path, codec: str
) -> Baresip:
    return Baresip(
        tmp_path / name,
        account["username"],
        account["password"],
        server.sip_port,
        wav,
        codec=codec,
    )


def one_way(sender: Baresip, receiver: Baresip) -> tuple[float, float, float]:
    """(delay seconds, correlation, PESQ NB) of sender's speech in receiver's ears."""
    sent_path, sent_t0 = sender.recording("enc")
    heard_path, heard_t0 = receiver.recording("dec")
    sent_rate, sent = read_wav(sent_path)
    heard_rate, heard = read_wav(heard_path)
    sent8 = to_rate(sent, sent_rate, 8000)
    heard8 = to_rate(heard, heard_rate, 8000)
    # The speech itself: skip leading silence of the sent recording.
    active = np.flatnonzero(np.abs(sent8) > 0.02)
    assert active.size, "the sender sent only silence"
    ref = sent8[active[0] : min(len(sent8), active[0] + int(6.0 * 8000))]
    alignment = align(ref, heard8, 8000)
    # The content at sent8[active[0]] is at heard8[lag]; both files' first samples are stamped.
    delay = (heard_t0 + alignment.lag_samples / 8000) - (sent_t0 + active[0] / 8000)
    a, b = overlap(ref, heard8, alignment.lag_samples)
    return delay, alignment.correlation, pesq_nb(a, b)


def self_similarity(p: Baresip) -> float:
    """How much of its own speech a phone hears (best normalised correlation)."""
    sent_rate, sent = read_wav(p.recording("enc")[0])
    heard_rate, heard = read_wav(p.recording("dec")[0])
    sent8 = to_rate(sent, sent_rate, 8000)
    heard8 = to_rate(heard, heard_rate, 8000)
    active = np.flatnonzero(np.abs(sent8) > 0.02)
    ref = sent8[active[0] : active[0] + int(4.0 * 8000)]
    return abs(align(ref, heard8, 8000).correlation)


@pytest.mark.parametrize(
    ("codec_a", "codec_b", "min_pesq"),
    [("PCMU", "PCMA", 3.5), ("PCMU", "G722", 3.0), ("PCMA", "opus", 3.0)],
)
def test_two_softphones_hear_each_other(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    tmp_path: Path,
    codec_a: str,
    codec_b: str,
    min_pesq: float,
) -> None:
    room = server.new_room(account["apiKey"])
    a = phone(tmp_path, "a", server, account, wavs["speech_a"], codec_a)
    # baresip 1.0 wants its microphone file at the codec's own sampling rate.
    source = {"G722": "speech_b_16k", "opus": "speech_b_48k"}.get(codec_b, "speech_b")
    b = phone(tmp_path, "b", server, account, wavs[source], codec_b)
    try:
        a.start()
        b.start()
        a.dial(room)
        b.dial(room)
        time.sleep(TALK_S)
        a.hangup()
        b.hangup()
        time.sleep(0.5)
    finally:
        a.stop()
        b.stop()
    context = f"\n--- a ---\n{a.log_tail()}\n--- b ---\n{b.log_tail()}\n--- server ---\n{server.log_tail()}"
    results = {}
    for name, (snd, rcv) in {"a->b": (a, b), "b->a": (b, a)}.items():
        delay, corr, mos = one_way(snd, rcv)
        results[name] = (round(delay * 1000), round(corr, 3), round(mos, 2))
    print("one-way results (delay ms, correlation, PESQ NB):", results)
    for name, (delay_ms, corr, mos) in results.items():
        assert corr > 0.6, f"{name}: the speech did not arrive (correlation {corr}){context}"
        assert 0 <= delay_ms < 150, f"{name}: delay {delay_ms} ms"
        assert mos >= min_pesq, f"{name}: PESQ {mos} < {min_pesq}"
    for p in (a, b):
        assert self_similarity(p) < 0.3, "a phone hears itself"
    with StoreView(server.data_dir) as view:
        calls = view.calls(room)
    assert sorted(str(c["codec"]) for c in calls) == sorted([codec_a, codec_b])


def test_rfc4733_digits_become_room_events(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    room = server.new_room(account["apiKey"])
    p = phone(tmp_path, "dtmf", server, account, wavs["speech_a"], "PCMU")
    try:
        p.start()
        p.dial(room)
        time.sleep(2.0)
        p.send_digits("159#")
        time.sleep(1.0)
        p.hangup()
        time.sleep(0.5)
    finally:
        p.stop()
    with StoreView(server.data_dir) as view:
        calls = view.ended_calls(room)
    assert len(calls) == 1, calls
    stats = calls[0]["stats"]
    assert isinstance(stats, dict)
    assert stats.get("dtmf") == "159#", f"{stats}\n{p.log_tail()}\n{server.log_tail()}"
    events = [
        line for line in server.log_text().splitlines() if "DtmfPressed" in line and room in line
    ]
    assert [e.split("'digit': '")[1][0] for e in events] == list("159#")
