"""Durable state: API keys, SIP credentials, rooms and call records (SQLAlchemy + Alembic)."""

from .crypto import SecretBox, generate_master_key
from .engine import create_store_engine, head_revision, migrate
from .errors import Conflict, Invalid, MasterKeyError, NotFound, StorageError
from .ids import new_room_id, normalize_room_id
from .records import (
    CALL_RESULTS,
    WEBRTC_TRANSPORT,
    ApiKey,
    CallRecord,
    CallResult,
    CallStart,
    RoomRecord,
    SipAccount,
    SipCredentials,
)
from .store import HA1_ALGORITHMS, Store

__all__ = [
    "CALL_RESULTS",
    "HA1_ALGORITHMS",
    "WEBRTC_TRANSPORT",
    "ApiKey",
    "CallRecord",
    "CallResult",
    "CallStart",
    "Conflict",
    "Invalid",
    "MasterKeyError",
    "NotFound",
    "RoomRecord",
    "SecretBox",
    "SipAccount",
    "SipCredentials",
    "StorageError",
    "Store",
    "create_store_engine",
    "generate_master_key",
    "head_revision",
    "migrate",
    "new_room_id",
    "normalize_room_id",
]
