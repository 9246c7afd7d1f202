"""Start real processes for end-to-end tests: the sipmeet server, SIPp, the CLI.

Every process is started with its own PID kept, and stopped by that PID.
All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
SCENARIOS = Path(__file__).parent / "scenarios"
PYTHON = sys.executable


# Ports handed to the processes a test starts come from below the kernel's
# ephemeral range (32768-60999 by default): a port picked there could be taken
# by any outgoing connection between the moment it is checked and the moment
# the peer binds it.
_PORT_FLOOR, _PORT_CEILING = 10000, 32000
_handed_out: set[int] = set()  # recent ones only: forgotten past _MEMORY
_MEMORY = 4000


def _remember(ports: range | list[int]) -> None:
    if len(_handed_out) > _MEMORY:
        _handed_out.clear()
    _handed_out.update(ports)


def _bindable(port: int, *, udp: bool, tcp: bool) -> bool:
    kinds = ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def free_port(*, udp_and_tcp: bool = True) -> int:
    """A port free for TCP (and UDP, by default) on 127.0.0.1, not handed out before."""
    for _ in range(500):
        port = random.randrange(_PORT_FLOOR, _PORT_CEILING)
        if port in _handed_out or not _bindable(port, udp=udp_and_tcp, tcp=True):
            continue
        _remember([port])
        return port
    raise RuntimeError("no free port")


def free_udp_range(count: int) -> tuple[int, int]:
    """An even-aligned range of ``count`` UDP ports that are free right now."""
    for _ in range(500):
        first = random.randrange(_PORT_FLOOR, _PORT_CEILING - count) & ~1
        ports = range(first, first + count)
        if any(p in _handed_out for p in ports):
            continue
        if not all(_bindable(p, udp=True, tcp=False) for p in ports):
            continue
        _remember(ports)
        return first, first + count - 1
    raise RuntimeError("no free UDP port range")


def ports_bindable(first: int, last: int) -> list[int]:
    """The ports of the range that cannot be bound now (empty when all are free)."""
    busy = []
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                busy.append(port)
    return busy


def sip_options(port: int, *, transport: str = "UDP", timeout_s: float = 1.0) -> int | None:
    """Send one OPTIONS to the server; return the status code, or None without an answer."""
    call_id = uuid.uuid4().hex
    family_type = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, family_type) as s:
        s.settimeout(timeout_s)
        try:
            if transport == "UDP":
                s.bind((HOST, 0))
            else:
                s.connect((HOST, port))
        except OSError:
            return None
        local_port = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {HOST}:{local_port};branch=z9hG4bK{call_id[:16]};rport\r\n"
            f"From: <sip:probe@{HOST}>;tag=probe\r\n"
            f"To: <sip:{HOST}:{port}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        try:
            if transport == "UDP":
                s.sendto(msg, (HOST, port))
            else:
                s.sendall(msg)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                data = s.recv(65536)
                if call_id.encode() in data and data.startswith(b"SIP/2.0 "):
                    status = int(data.split(b" ", 2)[1])
                    if status >= 200:
                        return status
        except OSError:
            return None
    return None


@dataclass
class Server:
    """A ``sipmeet serve`` process on free ports with its own data directory."""

    data_dir: Path
    sip_port: int = field(default_factory=free_port)
    rtp_ports: tuple[int, int] = field(default_factory=lambda: free_udp_range(40))
    http_port: int = field(default_factory=lambda: free_port(udp_and_tcp=False))
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIPMEET_")}
        env.update(
            {
                "SIPMEET_DATA_DIR": str(self.data_dir),
                "SIPMEET_SIP_HOST": HOST,
                "SIPMEET_SIP_PORT": str(self.sip_port),
                "SIPMEET_RTP_PORTS": f"{self.rtp_ports[0]}-{self.rtp_ports[1]}",
                "SIPMEET_HTTP_PORT": str(self.http_port),
                "SIPMEET_LOG_LEVEL": "debug",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, json_out: bool = True) -> dict[str, object] | str:
        out = subprocess.run(
            [PYTHON, "-m", "sipmeet", *args, *(["--json"] if json_out else [])],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"sipmeet {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return json.loads(out.stdout) if json_out else out.stdout.strip()

    def new_account(self, name: str) -> dict[str, str]:
        """A fresh API key with SIP enabled: apiKey, username, password."""
        key = self.cli("keys", "create", "--name", name, "--enable-sip")
        assert isinstance(key, dict) and isinstance(key["sip"], dict)
        return {
            "apiKey": str(key["apiKey"]),
            "username": str(key["sip"]["username"]),
            "password": str(key["sip"]["password"]),
        }

    def new_room(self, api_key: str) -> str:
        room = self.cli("rooms", "create", "--api-key", api_key)
        assert isinstance(room, dict)
        return str(room["roomId"])

    def start(self, timeout_s: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "server.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "sipmeet", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if sip_options(self.sip_port, timeout_s=0.3) == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout_s}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.proc = None

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@dataclass(frozen=True)
class SippResult:
    returncode: int
    output: str
    errors: str

    def explain(self) -> str:
        return f"SIPp exit {self.returncode}\n--- output ---\n{self.output[-3000:]}\n--- errors ---\n{self.errors[-3000:]}"


def run_sipp(
    scenario: str | Path,
    server_port: int,
    workdir: Path,
    *,
    transport: str = "u1",
    inject: Sequence[Sequence[str]] = (),
    credentials: tuple[str, str] | None = None,
    substitutions: dict[str, str] | None = None,
    extra: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> SippResult:
    """Run one SIPp scenario as a client against the server; SIPp exits 0 when every call passed.

    ``credentials`` (username, password) answer digest challenges (``[authentication]``).
    """
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed (Debian package sip-tester)")
    workdir.mkdir(parents=True, exist_ok=True)
    src = SCENARIOS / scenario if isinstance(scenario, str) else scenario
    text = src.read_text()
    for key, value in (substitutions or {}).items():
        text = text.replace(f"@{key}@", value)
    scen = workdir / src.name
    scen.write_text(text)
    args = [
        sipp,
        f"{HOST}:{server_port}",
        "-sf",
        str(scen),
        "-i",
        HOST,
        "-p",
        str(free_port()),
        "-mp",
        str(free_udp_range(4)[0]),
        "-t",
        transport,
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-trace_err",
        "-max_recv_loops",
        "1000",
    ]
    if inject:
        csv = workdir / "inject.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(";".join(row) + ";\n" for row in inject))
        args += ["-inf", str(csv)]
    if credentials is not None:
        args += ["-au", credentials[0], "-ap", credentials[1]]
    args += list(extra)
    proc = subprocess.Popen(
        args,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s + 15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=5)
    errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    for p in workdir.glob("*_errors.log"):
        p.unlink()
    return SippResult(proc.returncode, out.decode(errors="replace"), errors)


def sipp_workdir(tmp_path: Path, wavs: dict[str, Path]) -> Path:
    """A folder for one SIPp run, with the speech file its scenarios stream (rtp_stream)."""
    wd = tmp_path / "sipp"
    wd.mkdir(parents=True)
    (wd / "speech_pcmu.wav").write_bytes(wavs["speech_pcmu"].read_bytes())
    return wd


def dial(
    server: Server,
    room: str,
    scenario: str,
    workdir: Path,
    credentials: tuple[str, str],
    *,
    transport: str = "u1",
    substitutions: dict[str, str] | None = None,
    extra: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> SippResult:
    """Run ``scenario`` as a caller into ``room`` (injection field 1) with these credentials."""
    return run_sipp(
        scenario,
        server.sip_port,
        workdir,
        transport=transport,
        inject=[("-", room, "-")],
        credentials=credentials,
        substitutions=substitutions,
        extra=extra,
        timeout_s=timeout_s,
    )


def call_room(
    server: Server,
    account: dict[str, str],
    scenario: str,
    workdir: Path,
    *,
    room: str | None = None,
    password: str | None = None,
    **options: Any,
) -> str:
    """Dial ``scenario`` into ``room`` (default: a new room of the account's key) with the
    account's SIP credentials (``password`` to try another one); SIPp must pass. Returns the
    room id. ``options`` go to :func:`dial` (transport, substitutions, extra, timeout_s)."""
    room = room if room is not None else server.new_room(account["apiKey"])
    credentials = (account["username"], password if password is not None else account["password"])
    result = dial(server, room, scenario, workdir, credentials, **options)
    assert result.returncode == 0, result.explain() + server.log_tail()
    return room


def refused(
    server: Server,
    account: dict[str, str],
    room: str,
    status: int,
    workdir: Path,
    *,
    codecs: str = "0",
    **options: Any,
) -> None:
    """An INVITE into ``room`` is answered ``status`` (after the challenge) and nothing else."""
    substitutions = {"STATUS": str(status), "CODECS": codecs}
    call_room(
        server,
        account,
        "invite_rejected.xml",
        workdir,
        room=room,
        substitutions=substitutions,
        **options,
    )


@contextlib.contextmanager
def running_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A started server, stopped (by its PID) when the block ends."""
    server = Server(data_dir, extra_env=dict(extra_env or {}))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_speech_wavs(directory: Path) -> dict[str, Path]:
    """Known speech recordings made with espeak-ng, converted with sox.

    Returns paths: ``speech_a`` / ``speech_b`` (16-bit 8 kHz mono WAV, different
    voices and texts), ``speech_a_16k`` / ``speech_a_48k`` (16 kHz, and 48 kHz stereo), ``speech_a_long`` (8 kHz with a minute of
    silence after the speech) and
    ``speech_pcmu`` (μ-law WAV for SIPp's rtp_stream).
    """
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "a": (
            "en-us",
            "The quick brown fox jumps over the lazy dog. Please join the meeting at nine "
            "o'clock, and bring the quarterly numbers with you.",
        ),
        "b": (
            "en-gb+f3",
            "Seven slippery snails slid slowly seaward. The weather tomorrow will be bright "
            "and sunny, with a light breeze from the west.",
        ),
    }
    out: dict[str, Path] = {}
    for name, (voice, text) in texts.items():
        raw = directory / f"raw_{name}.wav"
        if not raw.exists():
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text],
                check=True,
                timeout=60,
            )
        for rate in (8000, 16000, 48000):
            suffix = "" if rate == 8000 else f"_{rate // 1000}k"
            dst = directory / f"speech_{name}{suffix}.wav"
            if not dst.exists():
                subprocess.run(
                    [
                        "sox",
                        str(raw),
                        "-r",
                        str(rate),
                        "-c",
                        "2" if rate == 48000 else "1",  # baresip's Opus wants stereo
                        "-b",
                        "16",
                        "-e",
                        "signed-integer",
                        str(dst),
                        "norm",
                        "-3",
                    ],
                    check=True,
                    timeout=60,
                )
            out[f"speech_{name}{suffix}"] = dst
    # baresip ends a call when its microphone file ends: a long version for long calls.
    for name in ("a", "b"):
        long = directory / f"speech_{name}_long.wav"
        if not long.exists():
            subprocess.run(
                ["sox", str(out[f"speech_{name}"]), str(long), "pad", "0", "60"],
                check=True,
                timeout=60,
            )
        out[f"speech_{name}_long"] = long
    pcmu = directory / "speech_pcmu.wav"
    if not pcmu.exists():
        subprocess.run(
            [
                "sox",
                str(out["speech_a"]),
                "-r",
                "8000",
                "-c",
                "1",
                "-e",
                "u-law",
                "-b",
                "8",
                str(pcmu),
            ],
            check=True,
            timeout=60,
        )
    out["speech_pcmu"] = pcmu
    return out
