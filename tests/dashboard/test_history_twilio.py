"""Call history with its filters, and the Twilio set-up page."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sipmeet.dashboard.views import HISTORY_PAGE
from sipmeet.providers.twilio import twilio_dial_twiml
from sipmeet.storage import CallStart, Store

from .conftest import DOMAIN, PUBLIC_URL, Clock


def _call(
    store: Store,
    clock: Clock,
    room: str,
    key: str,
    started: datetime,
    end: tuple[str, str] | None,
    number: str = "+15551234567",
) -> int:
    clock.now = started
    record = store.record_call_start(
        CallStart(
            room_id=room,
            sip_call_id=f"c-{room}-{started.isoformat()}",
            transport="udp",
            api_key_id=key,
            caller_name="Alice",
            caller_number=number,
        )
    )
    store.record_call_answered(record, "PCMU")
    if end is not None:
        clock.advance(75)
        stats = {"packets_in": 90, "lost": 10, "jitter_ms": 3.5, "rtt_ms": None}
        store.record_call_end(record, end[0], end[1], stats)
    return record


@pytest.fixture
def calls(store: Store, clock: Clock) -> dict[str, int]:
    key = store.create_api_key("k", enable_sip=True)
    store.create_room(key.id, "standup")
    store.create_room(key.id, "board")
    back_then = clock.now  # the calls are in the past; the session's clock stays put
    day1 = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
    day2 = datetime(2025, 12, 2, 23, 59, tzinfo=UTC)
    ids = {
        "ok": _call(store, clock, "standup", key.id, day1, ("success", "caller-hangup")),
        "timeout": _call(store, clock, "board", key.id, day1, ("upstream_error", "rtp-timeout")),
        "late": _call(store, clock, "standup", key.id, day2, ("client_error", "bad-sdp")),
        "now": _call(store, clock, "board", key.id, datetime(2025, 12, 3, tzinfo=UTC), None),
    }
    clock.now = back_then
    return ids


def _shown(page: str) -> set[int]:
    return {int(part.split('"')[1]) for part in page.split("data-call-id=")[1:]}


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("", {"ok", "timeout", "late", "now"}),
        ("?room=standup", {"ok", "late"}),
        ("?result=upstream_error", {"timeout"}),
        ("?result=ongoing", {"now"}),
        ("?date=2025-12-01", {"ok", "timeout"}),
        ("?date=2025-12-02&room=standup", {"late"}),
        ("?room=standup&result=success&date=2025-12-01", {"ok"}),
        ("?room=nowhere", set()),
    ],
)
async def test_history_filters(
    admin: httpx.AsyncClient, calls: dict[str, int], query: str, wanted: set[str]
) -> None:
    page = await admin.get(f"/dashboard/history{query}")
    assert page.status_code == 200
    assert _shown(page.text) == {calls[name] for name in wanted}


async def test_history_pages_through_older_calls_in_the_database(
    admin: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    key = store.create_api_key("k", enable_sip=True)
    store.create_room(key.id, "standup")
    store.create_room(key.id, "board")
    back_then = clock.now
    start = datetime(2025, 11, 1, tzinfo=UTC)
    made = [  # 250 successful calls in standup among other rooms' and results' calls
        _call(store, clock, room, key.id, start + timedelta(minutes=i), (result, "x"))
        for i, (room, result) in enumerate(
            [("standup", "success"), ("board", "success"), ("standup", "client_error")] * 250
        )
    ]
    clock.now = back_then
    wanted = list(reversed(made[0::3]))  # newest first
    seen: list[int] = []
    link = "/dashboard/history?room=standup&result=success"
    for _ in range(5):
        page = await admin.get(link)
        assert page.status_code == 200
        shown = [int(p.split('"')[1]) for p in page.text.split("data-call-id=")[1:]]
        seen += shown
        if 'id="history-older"' not in page.text:
            break
        assert len(shown) == HISTORY_PAGE
        older = page.text.split('id="history-older"')[0].rsplit('href="', 1)[1].split('"')[0]
        link = "/dashboard/history" + html.unescape(older)
        assert "room=standup" in link and "result=success" in link
    assert seen == wanted  # every match, in order, none twice: not just the newest 1,000 rows
    assert 'id="history-newest"' in page.text


async def test_history_row_content(admin: httpx.AsyncClient, calls: dict[str, int]) -> None:
    page = await admin.get("/dashboard/history?result=success")
    row = page.text.split(f'data-call-id="{calls["ok"]}"')[1].split("</tr>")[0]
    for cell in ["2025-12-01 09:00:00", "standup", "Alice +*******4567", "UDP", "PCMU", "1:15"]:
        assert cell in row, cell
    assert "result-success" in row and "caller-hangup" in row
    assert "10 %" in row and "3.5 ms" in row
    assert "+15551234567" not in page.text  # caller numbers are masked


async def test_history_reports_ignored_filters(
    admin: httpx.AsyncClient, calls: dict[str, int]
) -> None:
    page = await admin.get("/dashboard/history?result=great&date=yesterday")
    assert "Ignored: unknown result &#39;great&#39;" in page.text
    assert "Ignored: not a date: &#39;yesterday&#39;" in page.text
    assert len(_shown(page.text)) == 4


async def test_twilio_page_shows_webhook_and_twiml(admin: httpx.AsyncClient, store: Store) -> None:
    key = store.create_api_key("k", enable_sip=True)
    assert key.sip is not None
    store.create_room(key.id, "standup")
    store.add_number("+14155550100", api_key_id=key.id, provider="twilio", room_id="standup")
    page = await admin.get("/dashboard/twilio?room=standup")
    assert page.status_code == 200
    assert f'<code id="twilio-webhook" class="">{PUBLIC_URL}/providers/twilio/voice</code>' in (
        page.text
    )
    twiml = html.unescape(page.text.split('<pre id="twiml">')[1].split("</pre>")[0])
    assert twiml == twilio_dial_twiml(f"sip:standup@{DOMAIN}", key.sip.username, key.sip.password)
    assert f'username="{key.sip.username}"' in twiml and f"sip:standup@{DOMAIN}</Sip>" in twiml
    assert "+14155550100" in page.text


async def test_twilio_page_without_sip_or_rooms(admin: httpx.AsyncClient, store: Store) -> None:
    empty = await admin.get("/dashboard/twilio")
    assert "No active rooms" in empty.text and 'id="twiml"' not in empty.text
    key = store.create_api_key("k")
    store.create_room(key.id, "standup")
    page = await admin.get("/dashboard/twilio")  # the first room is chosen
    assert "SIP is not enabled for the room's API key" in page.text
    assert 'id="twiml"' not in page.text
    unknown = await admin.get("/dashboard/twilio?room=nope-nope")
    assert "No active room nope-nope." in unknown.text
