"""Request and response bodies (camelCase on the wire, as in the established meeting APIs)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CallActionResult",
    "CallsPage",
    "CreateRoomRequest",
    "DeactivateRoomRequest",
    "LiveCallOut",
    "MuteRequest",
    "ParticipantOut",
    "ParticipantsPage",
    "QualityOut",
    "RoomOut",
    "RoomsPage",
    "RotateSipRequest",
    "SessionOut",
    "SessionsPage",
    "SipCredentialsOut",
    "SipStatusOut",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRoomRequest(_Body):
    customRoomId: str | None = Field(
        default=None, description="3-64 lowercase letters, digits and hyphens; default: random"
    )
    pin: str | None = Field(
        default=None, description="4-12 digits the dial-in menu asks for after the room's code"
    )
    webhook: str | None = Field(
        default=None,
        description="An http(s) URL that receives this room's events (signed like /v2/webhooks)",
        max_length=2000,
    )


class DeactivateRoomRequest(_Body):
    roomId: str = Field(min_length=1, max_length=200)


class MuteRequest(_Body):
    muted: bool


class RotateSipRequest(_Body):
    graceSeconds: int = Field(
        default=0, ge=0, le=7 * 24 * 3600, description="how long the old password keeps working"
    )


class RoomOut(BaseModel):
    roomId: str
    sipUri: str
    active: bool
    createdAt: datetime
    deactivatedAt: datetime | None = None
    liveParticipants: int = Field(description="participants connected on this node now")
    dialinCode: str | None = Field(default=None, description="digits for the dial-in menu")
    hasPin: bool = False
    webhookId: int | None = Field(
        default=None, description="the room's webhook, when one was given"
    )
    webhookSecret: str | None = Field(
        default=None, description="its signing secret: returned once, when the room is created"
    )


class RoomsPage(BaseModel):
    data: list[RoomOut]
    total: int
    page: int | None = None
    perPage: int
    nextCursor: str | None = None


class QualityOut(BaseModel):
    lossPercent: float | None = None
    jitterMs: float | None = None
    rttMs: float | None = None
    mos: float | None = Field(
        default=None, description="estimated MOS (simplified ITU-T G.107 E-model)"
    )


class ParticipantOut(BaseModel):
    participantId: str
    kind: str = "sip"
    roomId: str
    live: bool
    displayName: str | None = None
    maskedNumber: str | None = None
    transport: str | None = None
    codec: str | None = None
    startedAt: datetime | None = None
    joinedAt: datetime | None = None
    leftAt: datetime | None = None
    result: str | None = None
    reason: str | None = None
    muted: bool | None = None
    quality: QualityOut


class ParticipantsPage(BaseModel):
    data: list[ParticipantOut]
    total: int


class SessionOut(BaseModel):
    sessionId: str
    roomId: str
    start: datetime
    end: datetime | None = None
    active: bool
    participantCount: int


class SessionsPage(BaseModel):
    data: list[SessionOut]
    total: int


class SipStatusOut(BaseModel):
    enabled: bool
    username: str | None = None
    domain: str
    sipUriPattern: str
    createdAt: datetime | None = None
    rotatedAt: datetime | None = None
    previousPasswordValidUntil: datetime | None = None


class SipCredentialsOut(BaseModel):
    username: str
    password: str
    domain: str
    sipUriPattern: str
    previousPasswordValidUntil: datetime | None = None


class LiveCallOut(BaseModel):
    participantId: str
    callId: str | None = None
    roomId: str
    displayName: str | None = None
    maskedNumber: str | None = None
    codec: str | None = None
    muted: bool = False
    onHold: bool = False
    quality: QualityOut


class CallsPage(BaseModel):
    data: list[LiveCallOut]
    total: int


class CallActionResult(BaseModel):
    participantId: str
    ok: bool = True
    muted: bool | None = None
