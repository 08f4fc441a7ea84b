"""Requests generated from the service's OpenAPI document (schemathesis): none makes a 5xx.

The service runs as in production (uvicorn in a child process, the embedded store); every
operation gets valid and invalid parameters and bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from tests.integration.serve.conftest import Server, Shop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_server(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    running = Server(shop.model_dir, f"sqlite:///{folder / 'state.db'}").start()
    yield running
    running.stop()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_request_makes_a_server_error(
    fuzzed_server: Server, mode: schemathesis.GenerationMode
) -> None:
    """Valid (positive) and invalid (negative) requests for every operation of the document."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == {  # every endpoint is in the document
        "POST /v1/events",
        "GET /v1/users/{user_id}/recommendations",
        "GET /v1/users/{user_id}/interests",
        "POST /v1/rerank",
        "GET /v1/segments",
        "POST /v1/model/reload",
        "GET /healthz",
        "GET /metrics",
    }

    unsatisfiable: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            )

        try:
            no_server_error()
        except Unsatisfiable:
            # No invalid request exists for an operation without inputs (GET /healthz).
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            unsatisfiable.append(operation.label)
    assert set(unsatisfiable) <= {"GET /healthz", "GET /metrics", "POST /v1/model/reload"}
