"""``/dashboard/login`` and ``/dashboard/logout``."""

from __future__ import annotations

import asyncio
import logging
import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .core import PREFIX, Dashboard, client_address, secure_headers
from .sessions import DashboardSession, Flash

__all__ = ["add_auth_routes"]

log = logging.getLogger(__name__)

HOME = f"{PREFIX}/keys"


def _safe_next(value: object) -> str:
    """Only our own pages are followed after login (no open redirect)."""
    if not isinstance(value, str) or not value.startswith(f"{PREFIX}/"):
        return HOME
    if "//" in value or "\\" in value or not all(c.isprintable() for c in value):
        return HOME
    return value


def add_auth_routes(router: APIRouter, dash: Dashboard) -> None:
    def login_page(
        request: Request,
        session: DashboardSession,
        *,
        error: str | None = None,
        status_code: int = 200,
        next_url: str = HOME,
    ) -> Response:
        page = dash.templates.get_template("login.html").render(
            csrf=dash.signer.csrf_token(session), error=error, next_url=next_url, user=None
        )
        response = secure_headers(HTMLResponse(page, status_code=status_code))
        dash.set_session(request, response, session)
        return response

    @router.get("", include_in_schema=False)
    async def index(request: Request) -> Response:
        return dash.redirect(HOME)

    @router.get("/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        if await dash.user(request) is not None:
            return dash.redirect(_safe_next(request.query_params.get("next")))
        session = dash.session(request) or dash.signer.new()
        next_url = _safe_next(request.query_params.get("next"))
        return login_page(request, session, next_url=next_url)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        client = client_address(request)
        wait_s = dash.limiter.retry_after_s(client)
        if wait_s > 0:
            log.warning("dashboard login refused for %s: too many failures", client)
            seconds = math.ceil(wait_s)
            refused = HTMLResponse(
                f"Too many failed logins. Try again in {seconds} s.", status_code=429
            )
            refused.headers["Retry-After"] = str(seconds)
            return secure_headers(refused)
        session = dash.session(request)
        form = await request.form()
        if session is None or not dash.signer.csrf_ok(session, form.get("csrf")):
            # No (or another) session: show a fresh form instead of checking the password.
            return login_page(
                request,
                dash.signer.new(),
                error="The login form expired. Please try again.",
                status_code=403,
            )
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        next_url = _safe_next(form.get("next"))
        store = dash.ctx.store
        stored = await asyncio.to_thread(store.admin_password_hash, username) if username else None
        async with dash.hashing:
            ok = await asyncio.to_thread(dash.passwords.verify, stored, password)
        if not ok or stored is None:
            dash.limiter.failure(client)
            log.warning("dashboard login failed for %r from %s", username[:64], client)
            return login_page(
                request,
                session,
                error="Wrong username or password.",
                status_code=401,
                next_url=next_url,
            )
        dash.limiter.success(client)
        if dash.passwords.needs_rehash(stored):
            async with dash.hashing:
                stored = await asyncio.to_thread(dash.passwords.hash, password)
            await asyncio.to_thread(store.set_admin_password_hash, username, stored)
        previous = await asyncio.to_thread(store.record_admin_login, username)
        log.info("dashboard login: %s from %s", username, client)
        dash.signer.revoke(session)  # a fresh session id after login (no fixation)
        fresh = dash.signer.new(username, stored)
        last = "first login" if previous is None else f"last login {previous:%Y-%m-%d %H:%M} UTC"
        response = dash.redirect(next_url, Flash("ok", f"Welcome, {username} ({last})."))
        dash.set_session(request, response, fresh)
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        session, _ = got
        dash.signer.revoke(session)
        log.info("dashboard logout: %s", session.username)
        response = dash.redirect(f"{PREFIX}/login")
        dash.clear_session(response)
        return response
