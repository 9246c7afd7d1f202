"""Property-based run of the OpenAPI schema (schemathesis): no 5xx, responses match the schema.

Uses schemathesis' Python API (one Hypothesis run per operation) with few examples each, so the
whole run stays within seconds.
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sipmeet.api import ApiContext, create_app
from sipmeet.storage import ApiKey, Store
from tests.fakes import FakeCall, FakeLive

from .conftest import auth

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_conforms_to_its_schema(
    ctx: ApiContext, key: ApiKey, store: Store, live: FakeLive
) -> None:
    store.create_room(key.id, "existing-room")
    live.live_calls.append(FakeCall("sip-1", "existing-room", key.id, "c1"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    paths = {op.path for op in operations}
    assert {"/v2/rooms", "/v2/rooms/{roomId}", "/v2/sip/rotate", "/healthz"} <= paths
    started = time.monotonic()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=auth(key), checks=CHECKS)

        run()
    assert time.monotonic() - started < 60
