"""uvicorn inside the running event loop: start on a real port, answer, stop cleanly."""

from __future__ import annotations

import signal
import socket

import httpx
import pytest
from fastapi import APIRouter

from sipmeet.api import ApiContext, HttpServer, create_app


async def test_serves_in_the_same_loop_and_stops(ctx: ApiContext) -> None:
    server = HttpServer(create_app(ctx), "127.0.0.1", 0)
    before = signal.getsignal(signal.SIGINT)
    await server.start()
    try:
        assert server.listening and server.port > 0
        assert signal.getsignal(signal.SIGINT) is before  # the node keeps its signal handling
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as c:
            r = await c.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            assert "server" not in r.headers
            assert (await c.get("/openapi.json")).json()["info"]["title"] == "sipmeet"
            assert (await c.get("/docs")).status_code == 200
    finally:
        await server.stop()
    assert not server.listening
    # The port is free again.
    with socket.create_server(("127.0.0.1", server.port)):
        pass
    await server.stop()  # idempotent


async def test_busy_port_is_an_oserror(ctx: ApiContext) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = HttpServer(create_app(ctx), "127.0.0.1", port)
        with pytest.raises(OSError):
            await server.start()
        assert not server.listening


async def test_extra_routers_are_mounted(ctx: ApiContext) -> None:
    extra = APIRouter()

    @extra.get("/meet/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app = create_app(ctx, routers=[extra])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/meet/ping")).json() == {"pong": "yes"}
