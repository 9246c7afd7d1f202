"""The admin dashboard in headless Chromium against ``sipmeet serve``, with SIPp as the phone.

Log in, create an API key with SIP, read its credentials off the page, create a room, call it
with SIPp and watch the call in the live view, rotate the password in the dashboard; the old
password then gets 403. Screenshots of the key and live pages go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import CHROMIUM, HEADLESS_ARGS

from .harness import HOST, Server, SippResult, run_sipp, running_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ADMIN_PASSWORD = "e2e dashboard password 1"
ROOM = "dash-e2e"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]

CHROMIUM_ARGS = HEADLESS_ARGS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("dashboard-server"), {"SIPMEET_ADMIN_PASSWORD": ADMIN_PASSWORD}
    ) as srv:
        yield srv


class SippCall(threading.Thread):
    """One SIPp call run in the background while the browser looks."""

    def __init__(self, server: Server, workdir: Path, credentials: tuple[str, str]) -> None:
        super().__init__(daemon=True)
        self.args: dict[str, Any] = {
            "scenario": "call_auth.xml",
            "server_port": server.sip_port,
            "workdir": workdir,
            "credentials": credentials,
            "inject": [("-", ROOM, "-")],
            "extra": ["-d", "4000"],
            "timeout_s": 40,
        }
        self.result: SippResult | None = None

    def run(self) -> None:
        self.result = run_sipp(**self.args)


def test_dashboard_keys_rooms_live_call_and_rotation(
    server: Server, wavs: dict[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://{HOST}:{server.env['SIPMEET_HTTP_PORT']}"
    workdir = tmp_path / "sipp"
    workdir.mkdir()
    (workdir / "speech_pcmu.wav").write_bytes(wavs["speech_pcmu"].read_bytes())
    # The password came from the environment: it is not printed.
    assert "dashboard admin password:" not in server.log_text()
    assert "account created with the password from admin.password (SIPMEET_ADMIN_PASSWORD)" in (
        server.log_text()
    )
    assert ADMIN_PASSWORD not in server.log_text()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())  # the confirmations

            # Log in (a wrong password first: refused).
            page.goto(f"{base}/dashboard/keys")
            expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
            page.fill("input[name=password]", "not the password")
            page.click("button[type=submit]")
            expect(page.locator(".flash.error")).to_have_text("Wrong username or password.")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{base}/dashboard/keys")

            # An API key with SIP; its credentials as the page shows them.
            page.fill("#create-key input[name=name]", "dashboard e2e")
            page.click("#create-key button[type=submit]")
            expect(page.locator("h1")).to_have_text("dashboard e2e")
            api_key = page.inner_text("#api-key-id").strip()
            username = page.inner_text("#sip-username").strip()
            old_password = page.inner_text("#sip-password").strip()
            assert api_key.startswith("API") and username and len(old_password) >= 16
            pattern = page.inner_text("#sip-uri-pattern").strip()
            assert pattern == f"sip:<room-id>@{HOST}"
            page.click("button[data-reveal=sip-password]")
            expect(page.locator("#sip-password")).not_to_have_class(re.compile("concealed"))
            page.screenshot(path=str(ARTIFACTS / "dashboard-keys.png"), full_page=True)

            # A room of that key.
            page.goto(f"{base}/dashboard/rooms")
            page.select_option("#create-room select[name=key]", api_key)
            page.fill("#create-room input[name=room]", ROOM)
            page.click("#create-room button[type=submit]")
            row = page.locator(f"tr[data-room-id={ROOM}]")
            expect(row).to_contain_text(f"sip:{ROOM}@{HOST}")
            expect(row.locator("code.dialin")).to_have_text(re.compile(r"^\d+$"))

            # A phone call (SIPp) shows up in the live view with its quality.
            page.goto(f"{base}/dashboard/live")
            call = SippCall(server, workdir, (username, old_password))
            call.start()
            try:
                item = page.locator(f"section[data-room-id={ROOM}] li.call")
                expect(item).to_have_count(1, timeout=10_000)
                expect(item.locator(".phone-badge")).to_have_text("☎ +*******4567")
                expect(item.locator(".q-jitter")).to_have_text(
                    re.compile(r"jitter \d"), timeout=6_000
                )
                chart = item.locator("svg.quality-chart")
                expect(chart).to_have_attribute("data-samples", re.compile(r"^[2-9]"))
                expect(chart.locator("polyline.jitter")).to_have_count(1)
                page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)
            finally:
                call.join(timeout=60)
            assert call.result is not None
            assert call.result.returncode == 0, call.result.explain() + server.log_tail()
            expect(item).to_have_count(0, timeout=6_000)  # it ended: gone from the live view

            page.goto(f"{base}/dashboard/history?room={ROOM}")
            expect(page.locator("#history tbody tr[data-call-id]")).to_have_count(1)
            expect(page.locator("#history tbody")).to_contain_text("caller-hangup")

            # Rotate in the dashboard: a new password is shown; the old one gets 403.
            page.goto(f"{base}/dashboard/keys/{api_key}")
            page.click("#rotate button[type=submit]")
            expect(page.locator(".flash.ok")).to_contain_text("SIP password rotated")
            new_password = page.inner_text("#sip-password").strip()
            assert page.inner_text("#sip-username").strip() == username
            assert new_password and new_password != old_password
        finally:
            browser.close()

    refused = run_sipp(
        "invite_rejected.xml",
        server.sip_port,
        tmp_path / "old",
        inject=[("-", ROOM, "-")],
        credentials=(username, old_password),
        substitutions={"STATUS": "403", "CODECS": "0"},
    )
    assert refused.returncode == 0, refused.explain() + server.log_tail()
