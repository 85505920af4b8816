"""The OpenAPI document: every route documented with its dialect's errors, and the API keeps
the promises its own schema makes (schemathesis over ``/openapi.json`` with a valid key)."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.http.app import create_api
from api.http.context import AppContext
from tests.dialects.conftest import Account

SPEECH_PREFIXES = ("/tts/", "/sed/", "/api/audio/", "/v1/", "/api/open/")
# Routes whose success changes who may call next; fuzzing them with our one key would lock
# the rest of the run out (they have golden tests of their own).
SKIPPED = {
    ("POST", "/api/auth/logout"),
    ("POST", "/api/account/password"),
    ("DELETE", "/api/keys/{key_id}"),
}
EXAMPLES_PER_OPERATION = 6


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_docs_and_redoc_are_served(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert "text/html" in response.headers["content-type"]


def test_every_speech_route_documents_its_dialects_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    speech = [op for op in _operations(spec) if op[1].startswith(SPEECH_PREFIXES)]
    assert len(speech) >= 20, "the four dialects' routes are in the document"
    for method, path, operation in speech:
        documented = set(operation["responses"])
        expected = {"200", "401"} | ({"400"} if method in ("POST", "PUT") else set())
        assert expected <= documented, f"{method} {path}: {sorted(documented)}"
        assert operation.get("summary") or operation.get("description"), f"{method} {path}"
        example = operation["responses"]["401"]["content"]["application/json"]["example"]
        if path.startswith("/api/open/"):
            assert set(example) == {"error", "details", "code"}
        elif path.startswith("/api/"):
            assert set(example) >= {"code", "message", "error_code"}  # null data is dropped
        elif path.startswith("/v1/"):
            assert set(example) == {"error"}
        else:
            assert set(example) == {"detail"}


def test_schemathesis_finds_no_server_error_and_no_broken_schema(
    context: AppContext, speech, account: Account
) -> None:
    app = create_api(context)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                headers=account.headers,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        try:
            check()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:2000])
        checked += 1
    assert not failures, "\n\n".join(failures)
    assert checked >= 30
