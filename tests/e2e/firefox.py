"""Drive Debian's Firefox ESR from tests over WebDriver BiDi (no Playwright, no geckodriver).

Firefox started with ``--remote-debugging-port PORT`` serves WebDriver BiDi on
``ws://127.0.0.1:PORT/session``: JSON commands ``{id, method, params}`` answered by
``{type: "success" | "error", id, ...}``, with events (``{type: "event", method}``)
in between. :class:`Firefox` launches one headless browser on a fresh profile whose
``user.js`` holds the preferences a meeting test needs (fake camera and a fake
microphone tone, no permission prompt, autoplay, host ICE candidates on loopback),
and drives its one tab: navigate, evaluate JavaScript (results deserialised from
BiDi remote values to plain Python), click, screenshot. Every wait is bounded, and
the browser (a process group of its own, started here) is stopped by its PID.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from .harness import HOST, free_port

FIREFOX = Path("/usr/bin/firefox-esr")

# The fake microphone (MediaEngineFake.cpp) is a continuous sine wave at
# media.navigator.audio.fake_frequency Hz (1000 by default, which is the keypad's
# mute-confirmation beep: move it away from that and from the hand tones).
FAKE_TONE_HZ = 440

Pref = bool | int | str

PREFS: dict[str, Pref] = {
    # getUserMedia: fake devices, no prompt, our tone
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.navigator.audio.fake_frequency": FAKE_TONE_HZ,
    # media plays without a user gesture
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    # No sound card here. Without audio output Firefox runs its media graph on the
    # system clock (real time); an AudioContext then never starts, so pages record
    # with MediaRecorder (see meeting_page.RECORDER_JS). Not the mock backend: its
    # graph runs a few percent slow (10 ms sleeps plus the work), and the jitter
    # buffer then time-compresses what Firefox receives.
    "media.cubeb.force_null_context": True,
    # ICE host candidates on 127.0.0.1, by their address (no mDNS name). Firefox gathers
    # on the default route's address only unless the page is capturing, and fake
    # devices count as capturing only with permission.fake (no prompt all the same:
    # permission.disabled); loopback needs ice.loopback on top.
    "media.navigator.permission.fake": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    # no first-run pages, telemetry, updates, experiments or background traffic
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
}

# A string is called as a function (with ``arg``) when it is one, as in Playwright.
_FUNCTION = re.compile(r"^\s*(async\s+)?(function\b|\([^()]*\)\s*=>|[\w$]+\s*=>)")


class BidiError(RuntimeError):
    """A BiDi command failed, timed out, or the browser went away."""


class JavaScriptError(BidiError):
    """The page's script threw (or its promise rejected)."""


def user_js(prefs: Mapping[str, Pref]) -> str:
    """A profile's ``user.js`` setting ``prefs``."""
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


def to_local_value(value: Any) -> dict[str, Any]:
    """A Python value (None, bool, number, str, list, dict) as a BiDi LocalValue."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return {"type": "number", "value": "NaN"}
        if isinstance(value, float) and math.isinf(value):
            return {"type": "number", "value": "Infinity" if value > 0 else "-Infinity"}
        if isinstance(value, float) and value == 0 and math.copysign(1, value) < 0:
            return {"type": "number", "value": "-0"}
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [to_local_value(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), to_local_value(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


_NUMBERS = {"NaN": math.nan, "-0": -0.0, "Infinity": math.inf, "-Infinity": -math.inf}


def from_remote_value(remote: Mapping[str, Any]) -> Any:
    """A BiDi RemoteValue as plain Python.

    undefined/null -> None; numbers, strings, booleans as themselves (bigint -> int);
    arrays and sets -> list; objects and maps -> dict (keys that are not strings are
    converted too); dates -> their ISO string. Anything else (nodes, functions,
    windows, errors...) comes back as the remote value itself, a dict with its ``type``.
    """
    kind = remote.get("type")
    value = remote.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind == "number":
        if isinstance(value, str):
            return _NUMBERS[value]
        return value
    if kind in ("string", "boolean", "date"):
        return value
    if kind == "bigint":
        return int(str(value))
    if kind in ("array", "set"):
        return [from_remote_value(v) for v in value or []]
    if kind in ("object", "map"):
        out: dict[Any, Any] = {}
        for key, item in value or []:
            if not isinstance(key, str):
                key = from_remote_value(key)
                key = json.dumps(key) if isinstance(key, list | dict) else key
            out[key] = from_remote_value(item)
        return out
    return dict(remote)


class Firefox:
    """One headless Firefox and its one tab, driven over WebDriver BiDi."""

    def __init__(
        self,
        workdir: Path,
        *,
        prefs: Mapping[str, Pref] | None = None,
        binary: Path = FIREFOX,
        command_timeout_s: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.prefs = {**PREFS, **(prefs or {})}
        self.binary = binary
        self.command_timeout_s = command_timeout_s
        self.extra_env = dict(env or {})  # e.g. MOZ_LOG for a browser log in firefox.log
        self.port = free_port(udp_and_tcp=False)
        self.proc: subprocess.Popen[bytes] | None = None
        self.context: str | None = None  # the tab (top-level browsing context)
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self.console: list[str] = []  # log.entryAdded texts

    @property
    def profile(self) -> Path:
        return self.workdir / "profile"

    @property
    def log_path(self) -> Path:
        return self.workdir / "firefox.log"

    # -- the process -------------------------------------------------------------------

    def launch(self, timeout_s: float = 45.0) -> None:
        """Start Firefox on a fresh profile and open a BiDi session on its tab."""
        if not self.binary.exists():
            raise BidiError(f"{self.binary} is not installed (Debian package firefox-esr)")
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.profile / "user.js").write_text(user_js(self.prefs))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOZ_")}
        env.update(
            {"MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1", "HOME": str(self.workdir)}
        )
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "--headless",
                "--no-remote",
                "--profile",
                str(self.profile),
                "--remote-debugging-port",
                str(self.port),
                "about:blank",
            ],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its content processes share its process group
        )
        log.close()
        try:
            self._connect(timeout_s)
            self.command("session.new", {"capabilities": {}})
            self.command("session.subscribe", {"events": ["log.entryAdded"]})
            tree = self.command("browsingContext.getTree", {"maxDepth": 0})
            self.context = str(tree["contexts"][0]["context"])
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout_s: float) -> None:
        url = f"ws://{HOST}:{self.port}/session"
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BidiError(f"firefox exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self._ws = self._stack.enter_context(
                    connect(url, max_size=None, open_timeout=2, close_timeout=2)
                )
                return
            except (OSError, WebSocketException, TimeoutError):
                if time.monotonic() > deadline:
                    raise BidiError(
                        f"firefox's BiDi port never opened in {timeout_s}s:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.2)

    def close(self) -> None:
        """Close the browser (politely, then by its PID) and the connection."""
        if self._ws is not None:
            with contextlib.suppress(BidiError, OSError, WebSocketException):
                self.command("browser.close", {}, timeout_s=5)
        with contextlib.suppress(OSError, WebSocketException, RuntimeError):
            self._stack.close()
        self._ws = None
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # content processes left behind (their group is the browser's PID)
        self._signal_group(proc.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def __enter__(self) -> Firefox:
        self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- the protocol ------------------------------------------------------------------

    def command(
        self, method: str, params: Mapping[str, Any], *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send one BiDi command and return its ``result`` (events seen meanwhile are kept)."""
        if self._ws is None:
            raise BidiError("firefox is not connected")
        command_id = next(self._ids)
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": dict(params)}))
        deadline = time.monotonic() + (timeout_s or self.command_timeout_s)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BidiError(f"{method}: no answer in time")
            try:
                message = json.loads(self._ws.recv(timeout=left))
            except TimeoutError:
                raise BidiError(f"{method}: no answer in time") from None
            except WebSocketException as exc:
                raise BidiError(f"{method}: connection lost ({exc})") from exc
            if message.get("type") == "event":
                self._event(message)
                continue
            if message.get("id") != command_id:
                continue
            if message.get("type") == "error":
                raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
            result: dict[str, Any] = message.get("result", {})
            return result

    def _event(self, message: Mapping[str, Any]) -> None:
        if message.get("method") == "log.entryAdded":
            entry = message.get("params", {})
            self.console.append(f"{entry.get('level')}: {entry.get('text')}")
            del self.console[:-200]

    def _target(self) -> dict[str, str]:
        if self.context is None:
            raise BidiError("firefox has no tab")
        return {"context": self.context}

    # -- the tab -----------------------------------------------------------------------

    def goto(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.command(
            "browsingContext.navigate",
            {**self._target(), "url": url, "wait": "complete"},
            timeout_s=timeout_s,
        )

    def _script(self, script: str, arg: Any, timeout_s: float | None) -> dict[str, Any]:
        common = {"target": self._target(), "awaitPromise": True, "resultOwnership": "none"}
        if _FUNCTION.match(script):
            params = {
                **common,
                "functionDeclaration": script,
                "arguments": [] if arg is None else [to_local_value(arg)],
            }
            answer = self.command("script.callFunction", params, timeout_s=timeout_s)
        else:
            params = {**common, "expression": script}
            answer = self.command("script.evaluate", params, timeout_s=timeout_s)
        if answer.get("type") == "exception":
            details = answer.get("exceptionDetails", {})
            raise JavaScriptError(str(details.get("text", details)))
        return dict(answer["result"])

    def evaluate(self, script: str, arg: Any = None, *, timeout_s: float | None = None) -> Any:
        """Run ``script`` in the tab, as Playwright's ``page.evaluate`` does.

        A function (``(x) => ...``, ``async () => ...``, ``function ...``) is called with
        ``arg``; anything else is evaluated as an expression. Promises are awaited, and
        the result comes back as plain Python (:func:`from_remote_value`).
        """
        return from_remote_value(self._script(script, arg, timeout_s))

    def wait_for_function(
        self, script: str, arg: Any = None, *, timeout_s: float = 20.0, interval_s: float = 0.1
    ) -> Any:
        """Evaluate ``script`` until it is truthy; return that value (or raise after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        last_error: JavaScriptError | None = None
        while True:
            try:
                value = self.evaluate(script, arg)
                if value:
                    return value
            except JavaScriptError as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise BidiError(
                    f"timed out waiting for {script!r} (last error: {last_error})"
                    f"\n--- console ---\n" + "\n".join(self.console[-20:])
                )
            time.sleep(interval_s)

    def click(self, selector: str) -> None:
        """Click (a real pointer click, through input.performActions) the element ``selector``."""
        found = self.command(
            "script.evaluate",
            {
                "expression": f"document.querySelector({json.dumps(selector)})",
                "target": self._target(),
                "awaitPromise": False,
                "resultOwnership": "root",
            },
        )
        node = found.get("result", {})
        if node.get("type") != "node" or "sharedId" not in node:
            raise BidiError(f"no element matches {selector!r}")
        origin = {"type": "element", "element": {"sharedId": node["sharedId"]}}
        self.command(
            "input.performActions",
            {
                **self._target(),
                "actions": [
                    {
                        "type": "pointer",
                        "id": "mouse",
                        "parameters": {"pointerType": "mouse"},
                        "actions": [
                            {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                            {"type": "pointerDown", "button": 0},
                            {"type": "pointerUp", "button": 0},
                        ],
                    }
                ],
            },
        )
        if "handle" in found.get("result", {}):
            with contextlib.suppress(BidiError):
                self.command(
                    "script.disown",
                    {"handles": [found["result"]["handle"]], "target": self._target()},
                )

    def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        """Save a PNG of the tab (the whole document when ``full_page``)."""
        params: dict[str, Any] = {**self._target()}
        if full_page:
            params["origin"] = "document"
        shot = self.command("browsingContext.captureScreenshot", params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.contextmanager
def running_firefox(
    workdir: Path, *, prefs: Mapping[str, Pref] | None = None, env: Mapping[str, str] | None = None
) -> Iterator[Firefox]:
    """A launched :class:`Firefox`, closed (by its PID at worst) when the block ends."""
    browser = Firefox(workdir, prefs=prefs, env=env)
    browser.launch()
    try:
        yield browser
    finally:
        browser.close()
