"""Load benchmark: how much CPU the server spends per bridged call, held at real time.

Starts ``sipmeet serve`` on free ports, creates rooms of ``--room-size`` phones,
and has SIPp place ``--calls`` concurrent authenticated G.711 calls that each
stream speech RTP for ``--seconds``. While every call is up, the server's CPU
time is sampled from /proc; at the end the room clocks' lateness (from the
server log) tells whether the mixer kept real time.

    .venv/bin/python -m bench.calls --calls 40 --room-size 4 --seconds 20

Prints one line of figures per run. Run it several times and quote medians:
the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.harness import HOST, Server, free_port, free_udp_range, make_speech_wavs

SCENARIO = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "scenarios" / "call_auth.xml"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run(calls: int, room_size: int, seconds: float, rate: float) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="sipmeet-bench-"))
    server = Server(work / "data", rtp_ports=free_udp_range(max(64, 4 * calls + 8)))
    server.extra_env["SIPMEET_LOG_LEVEL"] = "info"
    server.start()
    try:
        key = server.cli("keys", "create", "--name", "bench", "--enable-sip")
        assert isinstance(key, dict) and isinstance(key["sip"], dict)
        rooms = []
        for _ in range((calls + room_size - 1) // room_size):
            room = server.cli("rooms", "create", "--api-key", str(key["apiKey"]))
            assert isinstance(room, dict)
            rooms.append(str(room["roomId"]))
        wavs = make_speech_wavs(work / "wavs")
        shutil.copy(wavs["speech_pcmu"], work / "speech_pcmu.wav")
        inject = work / "rooms.csv"
        inject.write_text(
            "SEQUENTIAL\n" + "".join(f"-;{rooms[i // room_size]};-;\n" for i in range(calls))
        )
        sipp = shutil.which("sipp")
        if sipp is None:
            raise SystemExit("sipp is not installed (Debian package sip-tester)")
        args = [
            sipp, f"{HOST}:{server.sip_port}", "-sf", str(SCENARIO), "-inf", str(inject),
            "-au", str(key["sip"]["username"]), "-ap", str(key["sip"]["password"]),
            "-i", HOST, "-p", str(free_port()), "-mp", str(free_udp_range(4 * calls + 4)[0]),
            "-m", str(calls), "-l", str(calls), "-r", str(rate), "-d", str(int(seconds * 1000)),
            "-nostdin", "-timeout", f"{int(seconds + calls / rate + 60)}s",
            "-trace_rtt", "-rtt_freq", "1",
        ]  # fmt: skip
        assert server.proc is not None
        pid = server.proc.pid
        sipp_out = (work / "sipp.out").open("wb")
        sipp_proc = subprocess.Popen(args, cwd=work, stdout=sipp_out, stderr=subprocess.STDOUT)
        ramp_s = calls / rate + 1.0
        time.sleep(ramp_s)  # every call placed and answered
        window_s = max(1.0, seconds - 2.0)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(window_s)
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
        rc = sipp_proc.wait(timeout=seconds + 120)
        sipp_out.close()
        time.sleep(1.0)
        log = server.log_text()
    finally:
        server.stop()
    answered = log.count("call answered:")
    late = re.findall(r"tick lateness mean ([0-9.]+) ms max ([0-9.]+) ms", log)
    mean_lateness = [float(m) for m, _ in late]
    lateness = [float(x) for _, x in late]
    skipped = sum(int(m) for m in re.findall(r"ticks, ([0-9]+) skipped", log))
    core_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    # SIPp's response time 1 (-trace_rtt): first INVITE sent -> 200 received, the digest
    # challenge round trip and the server's credential and room lookups included.
    setup_ms = None
    samples = []
    for path in work.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 2 and fields[1].strip():  # Date_ms;response_time_ms;rtd_no
                samples.append(float(fields[1]))
    if samples:
        samples.sort()
        setup_ms = round(samples[len(samples) // 2], 2)
    return {
        "calls": calls,
        "answered": answered,
        "sipp_rc": rc,
        "server_core_pct": round(core_pct, 1),
        "core_pct_per_call": round(core_pct / calls, 3),
        "median_setup_ms": setup_ms,
        "calls_per_core": round(100.0 / (core_pct / calls)) if core_pct > 0 else 0,
        "ticks_skipped": skipped,
        "mean_tick_lateness_ms": round(sum(mean_lateness) / len(mean_lateness), 2) if late else 0.0,
        "max_tick_lateness_ms": max(lateness, default=0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--room-size", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0, help="calls placed per second")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    for _ in range(args.runs):
        print(run(args.calls, args.room_size, args.seconds, args.rate), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
