"""The dashboard's shared machinery: sessions on requests, CSRF-checked forms, rendering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from sipmeet.api.context import ApiContext

from .passwords import Passwords
from .ratelimit import LoginRateLimiter
from .sessions import COOKIE, FLASH_COOKIE, DashboardSession, Flash, SessionSigner, password_tag

__all__ = [
    "MAX_CONCURRENT_HASHES",
    "PREFIX",
    "Dashboard",
    "client_address",
    "secure_headers",
    "wants_json",
]

PREFIX = "/dashboard"
MAX_CONCURRENT_HASHES = 2

# Scripts and styles only from our own static files (no inline code), no framing.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sipmeet.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def secure_headers(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


class Dashboard:
    """What every dashboard route shares: the node's context, the signer, the login limiter."""

    def __init__(
        self,
        ctx: ApiContext,
        *,
        passwords: Passwords,
        signer: SessionSigner,
        limiter: LoginRateLimiter,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self.passwords = passwords
        self.signer = signer
        self.limiter = limiter
        self.wall_clock = wall_clock
        self.templates = _environment()
        # argon2 takes tens of MiB per verification: a few at a time, whoever knocks.
        self.hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)

    # -- sessions ----------------------------------------------------------------------------

    def session(self, request: Request) -> DashboardSession | None:
        """The session of the request's cookie, logged in or not."""
        return self.signer.decode(request.cookies.get(COOKIE))

    async def user(self, request: Request) -> DashboardSession | None:
        """The logged-in session, checked against the administrator's current password."""
        session = self.session(request)
        if session is None or session.username is None:
            return None
        current = await asyncio.to_thread(self.ctx.store.admin_password_hash, session.username)
        if current is None or session.password_tag != password_tag(current):
            return None
        return session

    def set_session(self, request: Request, response: Response, session: DashboardSession) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.encode(session),
            max_age=self.signer.max_age_s,
            path=PREFIX,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="lax")

    def to_login(self, request: Request) -> Response:
        if wants_json(request):
            return secure_headers(JSONResponse({"error": "login required"}, status_code=401))
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)

    async def form(self, request: Request) -> Response | tuple[DashboardSession, FormData]:
        """A POSTed form of a logged-in administrator with the session's CSRF token; otherwise
        the response to send instead (login redirect, or 403 for a missing or wrong token)."""
        session = await self.user(request)
        if session is None:
            return self.to_login(request)
        form = await request.form()
        if not self.signer.csrf_ok(session, form.get("csrf")):
            return self.forbidden(request)
        return session, form

    def forbidden(self, request: Request) -> Response:
        message = "The form was not sent from this dashboard session; reload the page and retry."
        if wants_json(request):
            return secure_headers(JSONResponse({"error": message}, status_code=403))
        return secure_headers(HTMLResponse(message, status_code=403))

    # -- responses ---------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        session: DashboardSession,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        flash = self.signer.decode_flash(request.cookies.get(FLASH_COOKIE))
        page = self.templates.get_template(template).render(
            user=session.username,
            csrf=self.signer.csrf_token(session),
            flash=flash,
            domain=self.ctx.settings.sip.domain,
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(page, status_code=status_code)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path=PREFIX)
        return secure_headers(response)

    def redirect(self, url: str, flash: Flash | None = None) -> Response:
        response = RedirectResponse(url, status_code=303)
        if flash is not None:
            response.set_cookie(
                FLASH_COOKIE,
                self.signer.encode_flash(flash),
                path=PREFIX,
                httponly=True,
                samesite="lax",
            )
        return secure_headers(response)

    def done(self, request: Request, url: str, text: str, **extra: object) -> Response:
        """A successful action: JSON for scripts, else back to ``url`` with the message."""
        if wants_json(request):
            return secure_headers(JSONResponse({"ok": True, "message": text, **extra}))
        return self.redirect(url, Flash("ok", text))

    def failed(self, request: Request, url: str, text: str, status_code: int = 400) -> Response:
        if wants_json(request):
            return secure_headers(JSONResponse({"error": text}, status_code=status_code))
        return self.redirect(url, Flash("error", text))
