"""Drive baresip (a real softphone) from tests: config, ctrl_tcp commands, recordings.

baresip reads its config directory (``-f``), plays a WAV file as its microphone
(``aufile``), and the ``sndfile`` filter writes what it encodes (sends) and what
it decodes (hears) to WAV files. The test stamps the moment each recording
file appears, so that recordings of different phones share one time base.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .harness import HOST, free_port, free_udp_range

MODULE_PATH = "/usr/lib/baresip/modules"
# baresip 1.0 names a codec by its sampling rate, which for G.722 is not the RTP clock.
CODEC_SPECS = {"G722": "G722/16000/1", "opus": "opus/48000/2"}


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


@dataclass
class Baresip:
    """One baresip process with one account (no REGISTER) calling into sipmeet."""

    workdir: Path
    username: str
    password: str
    server_port: int
    source_wav: Path
    codec: str = "PCMU"  # baresip's codec name: PCMU, PCMA, G722
    account_line: str | None = None  # an accounts line as a user would write it
    sip_port: int = field(default_factory=free_port)
    ctrl_port: int = field(default_factory=lambda: free_port(udp_and_tcp=False))
    proc: subprocess.Popen[bytes] | None = None
    _ctrl: socket.socket | None = None
    _buffer: bytes = b""
    file_times: dict[str, float] = field(default_factory=dict)
    _watcher: threading.Thread | None = None
    _stop_watch: threading.Event = field(default_factory=threading.Event)

    @property
    def record_dir(self) -> Path:
        return self.workdir / "recordings"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(exist_ok=True)
        rtp_first, rtp_last = free_udp_range(20)
        srate = {"G722": 16000, "opus": 48000}.get(self.codec, 8000)
        config = f"""
poll_method		epoll
net_interface		{HOST}
sip_listen		{HOST}:{self.sip_port}
sip_transports		udp
audio_player		aubridge,sink-{self.sip_port}
audio_alert		aubridge,alert-{self.sip_port}
audio_source		aufile,{self.source_wav}
audio_srate		{srate}
audio_channels		{2 if self.codec == "opus" else 1}
audio_level		no
rtp_tos			0
rtp_ports		{rtp_first}-{rtp_last}
rtp_timeout		0
jitter_buffer_delay	1-10
module_path		{MODULE_PATH}
module			g711.so
module			g722.so
module			opus.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{HOST}:{self.ctrl_port}
snd_path		{self.record_dir}
"""
        (self.workdir / "config").write_text(config.lstrip())
        account = self.account_line or (
            f"<sip:{self.username}@{HOST}:{self.server_port};transport=udp>"
            f";auth_pass={self.password};regint=0;audio_codecs={CODEC_SPECS.get(self.codec, self.codec)}"
        )
        (self.workdir / "accounts").write_text(account + "\n")
        (self.workdir / "contacts").write_text("")

    def start(self, timeout_s: float = 15.0) -> None:
        binary = shutil.which("baresip")
        if binary is None:
            raise RuntimeError("baresip is not installed (Debian package baresip-core)")
        self.write_config()
        log = (self.workdir / "baresip.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "-f", str(self.workdir), "-v"],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"baresip exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self._ctrl = socket.create_connection((HOST, self.ctrl_port), timeout=1.0)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"baresip control port never opened:\n{self.log_tail()}")
        self._watcher = threading.Thread(target=self._watch_recordings, daemon=True)
        self._watcher.start()

    def _watch_recordings(self) -> None:
        """Stamp (monotonic clock) the moment each recording file appears."""
        while not self._stop_watch.is_set():
            for path in self.record_dir.glob("*.wav"):
                if path.name not in self.file_times:
                    self.file_times[path.name] = time.monotonic()
            time.sleep(0.002)

    def command(self, command: str, params: str = "") -> None:
        if self._ctrl is None:
            raise RuntimeError("baresip not started")
        payload = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._ctrl.sendall(netstring(payload))

    def dial(self, room_id: str) -> None:
        self.command("dial", f"sip:{room_id}@{HOST}:{self.server_port}")

    def send_digits(self, digits: str, gap_s: float = 0.4) -> None:
        for digit in digits:
            self.command("sndcode", digit)
            time.sleep(gap_s)

    def hangup(self) -> None:
        self.command("hangup")

    def recording(self, kind: str) -> tuple[Path, float]:
        """The ``enc`` (sent) or ``dec`` (heard) recording and when it appeared."""
        for name, stamp in self.file_times.items():
            if name.endswith(f"-{kind}.wav"):
                return self.record_dir / name, stamp
        raise FileNotFoundError(
            f"no {kind} recording in {self.record_dir}: {sorted(self.file_times)}"
        )

    def stop(self) -> None:
        self._stop_watch.set()
        if self._ctrl is not None:
            with contextlib.suppress(OSError):
                self.command("quit")
            self._ctrl.close()
            self._ctrl = None
        proc = self.proc
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "baresip.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
