"""The admin dashboard: server-rendered pages under ``/dashboard`` for API keys, SIP
credentials, rooms, live calls, call history and the Twilio set-up (login with argon2)."""

from .core import PREFIX, Dashboard
from .passwords import ADMIN_USERNAME, PASSWORD_ENV, Passwords, ensure_admin
from .ratelimit import LoginRateLimiter
from .router import SESSION_KEY_PURPOSE, create_dashboard_router
from .sessions import COOKIE, DashboardSession, Flash, SessionSigner
from .views import HistoryFilter, live_snapshot

__all__ = [
    "ADMIN_USERNAME",
    "COOKIE",
    "PASSWORD_ENV",
    "PREFIX",
    "SESSION_KEY_PURPOSE",
    "Dashboard",
    "DashboardSession",
    "Flash",
    "HistoryFilter",
    "LoginRateLimiter",
    "Passwords",
    "SessionSigner",
    "create_dashboard_router",
    "ensure_admin",
    "live_snapshot",
]
