"""README's quick start, run as written: serve, create a key and a room, dial in.

The commands are read from README.md itself, so the test fails when the README
and the program disagree. Only the data directory is redirected (to keep the
checkout clean); ports are the embedded defaults.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .baresip import Baresip
from .harness import HOST, make_speech_wavs, sip_options
from .store_view import StoreView

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def quick_start_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", section, re.S)]


def shell_commands() -> list[str]:
    return [
        line.strip()
        for lang, body in quick_start_blocks()
        if lang == "sh"
        for line in body.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def test_readme_quick_start(tmp_path: Path) -> None:
    commands = shell_commands()
    assert commands[0] == "./run serve", commands
    for port in (5060, 8000):
        if not port_free(port):
            pytest.skip(f"the quick start uses the default port {port}, which is busy here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPMEET_")}
    env["SIPMEET_DATA_DIR"] = str(tmp_path / "sipmeet-data")
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        ["bash", "-c", f"exec {commands[0]}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    outputs: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 60
        while sip_options(5060, timeout_s=0.3) != 200:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.2)
        for command in commands[1:]:
            for name, value in outputs.items():
                command = command.replace(f"<{name}>", value)
            out = subprocess.run(
                ["bash", "-c", command],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert out.returncode == 0, f"{command}: {out.stderr}"
            data = json.loads(out.stdout)
            outputs.update({k: v for k, v in data.items() if isinstance(v, str)})
            for k, v in data.items():
                if isinstance(v, dict):
                    outputs.update({f"{k}.{kk}": str(vv) for kk, vv in v.items()})
        room_id, sip_uri = outputs["roomId"], outputs["sipUri"]
        assert sip_uri == f"sip:{room_id}@127.0.0.1"
        # Dial with the accounts line exactly as README shows it.
        account_block = next(
            body for lang, body in quick_start_blocks() if lang == "" and "auth_pass" in body
        )
        account_line = (
            account_block.strip()
            .replace("USERNAME", outputs["sip.username"])
            .replace("PASSWORD", outputs["sip.password"])
        )
        wavs = make_speech_wavs(tmp_path / "wavs")
        phone = Baresip(
            tmp_path / "phone",
            outputs["sip.username"],
            outputs["sip.password"],
            5060,
            wavs["speech_a"],
            account_line=account_line,
        )
        try:
            phone.start()
            phone.command("dial", sip_uri)
            time.sleep(3.0)
            phone.hangup()
            time.sleep(0.5)
        finally:
            phone.stop()
        with StoreView(tmp_path / "sipmeet-data") as view:
            calls = view.calls(room_id)
        assert len(calls) == 1 and calls[0]["answered_at"] is not None, (calls, phone.log_tail())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        log.close()
