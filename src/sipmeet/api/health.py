"""``/healthz``: 200 only when SIP is listening, RTP ports are free and the database answers."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from sipmeet.storage import StorageError

from .context import ApiContext, run_sync

__all__ = ["DB_TIMEOUT_S", "CheckOut", "HealthOut", "run_checks"]

DB_TIMEOUT_S = 2.0


class CheckOut(BaseModel):
    ok: bool
    detail: str


class HealthOut(BaseModel):
    status: str  # "ok" or "fail"
    checks: dict[str, CheckOut]
    code: str | None = None  # set when failing, like every error body
    message: str | None = None


def _sip(ctx: ApiContext) -> CheckOut:
    if ctx.sip_listening is None:
        return CheckOut(ok=False, detail="SIP is not running on this node")
    if not ctx.sip_listening():
        return CheckOut(ok=False, detail="SIP transport is not listening")
    return CheckOut(ok=True, detail="listening")


def _rtp(ctx: ApiContext) -> CheckOut:
    ports = ctx.rtp_ports
    if ports is None:
        return CheckOut(ok=False, detail="no RTP port allocator")
    free = ports.capacity - ports.in_use
    detail = f"{free} of {ports.capacity} port pairs free"
    return CheckOut(ok=free > 0, detail=detail)


async def _database(ctx: ApiContext) -> CheckOut:
    try:
        await asyncio.wait_for(run_sync(ctx.store.ping), DB_TIMEOUT_S)
    except TimeoutError:
        return CheckOut(ok=False, detail=f"no answer in {DB_TIMEOUT_S:g} s")
    except StorageError as exc:
        return CheckOut(ok=False, detail=str(exc))
    return CheckOut(ok=True, detail="answers")


async def run_checks(ctx: ApiContext) -> HealthOut:
    checks = {"sip": _sip(ctx), "rtpPorts": _rtp(ctx), "database": await _database(ctx)}
    failing = [name for name, check in checks.items() if not check.ok]
    if not failing:
        return HealthOut(status="ok", checks=checks)
    return HealthOut(
        status="fail",
        checks=checks,
        code="unhealthy",
        message=f"failing checks: {', '.join(failing)}",
    )
