"""The HTTP side: REST API (``/v2``), health (``/healthz``) and Prometheus metrics (``/metrics``)."""

from .app import create_app
from .context import (
    ApiContext,
    FrameClockView,
    LiveCall,
    LiveControl,
    LiveRoom,
    PortUsage,
    RoomView,
    run_sync,
)
from .errors import ApiError, ErrorBody
from .health import HealthOut, run_checks
from .metrics import Metrics
from .participants import group_sessions, mask_number, parse_session_id, session_id
from .quality import call_quality, estimate_mos, mos_from_r, r_factor
from .server import HttpServer

__all__ = [
    "ApiContext",
    "ApiError",
    "ErrorBody",
    "FrameClockView",
    "HealthOut",
    "HttpServer",
    "LiveCall",
    "LiveControl",
    "LiveRoom",
    "Metrics",
    "PortUsage",
    "RoomView",
    "call_quality",
    "create_app",
    "estimate_mos",
    "group_sessions",
    "mask_number",
    "mos_from_r",
    "parse_session_id",
    "r_factor",
    "run_checks",
    "run_sync",
    "session_id",
]
