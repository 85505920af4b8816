"""Every route answers malformed, missing, mistyped, over-long and unknown input with a 4xx in
its dialect's body, never a 500, and writes nothing.

The cases are generated from the app's own OpenAPI document, so a new route is covered the day
it is added.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.accounts import service as accounts
from api.accounts.models import User
from api.db import Database, metadata
from api.http.context import AppContext
from api.http.errors import dialect_of
from tests.helpers import PASSWORD
from tests.http.conftest import SignUp

SKIPPED = {"/api/auth/session/claim"}  # a browser redirect, covered in test_account_api


def snapshot(db: Database) -> dict[str, Any]:
    with db.read() as session:
        counts = {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }
        balances = session.execute(select(User.id, User.balance_micros)).all()
    counts.pop("console_sessions")  # sign-in attempts with good credentials may add one
    return {"counts": counts, "balances": sorted(balances)}


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return spec["components"]["schemas"][name]
    return schema


def wrong_values(schema: dict[str, Any]) -> list[Any]:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    values: list[Any] = [{"nested": "object"}]
    if "string" in kinds:
        values += [12345, "x" * 20_000]
    if "integer" in kinds:
        values += ["abc", 10**30, -5]
    if "array" in kinds:
        values += ["not-a-list", [{"x": 1}] * 50]
    return values


def body_cases(spec: dict[str, Any], operation: dict[str, Any]) -> list[tuple[str, Any]]:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return []
    schema = resolve(spec, content["application/json"]["schema"])
    cases: list[tuple[str, Any]] = [
        ("not json", b"{not json"),
        ("json array", b"[]"),
        ("json string", b'"hello"'),
    ]
    if schema.get("required"):
        cases.append(("empty object", b"{}"))
    for name, prop in schema.get("properties", {}).items():
        for value in wrong_values(prop):
            cases.append((f"{name}={str(value)[:20]}", {name: value}))
    return cases


PATH_VALUES = ["abc", "0", "-1", "99999999", str(10**20), "%00", "a" * 300]


def build_cases(spec: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    cases = []
    for path, operations in spec["paths"].items():
        if path in SKIPPED:
            continue
        for method, operation in operations.items():
            params = re.findall(r"{(\w+)(?::path)?}", path)
            if params:
                for value in PATH_VALUES:
                    concrete = re.sub(r"{\w+(?::path)?}", value, path)
                    cases.append((method.upper(), concrete, f"{params[0]}={value[:12]}", None))
                path_for_body = re.sub(r"{\w+(?::path)?}", "1", path)
            else:
                path_for_body = path
            for label, body in body_cases(spec, operation):
                cases.append((method.upper(), path_for_body, label, body))
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for value in ["x" * 5000, "-1", "1e99", "[]"]:
                    query = f"{parameter['name']}={value}"
                    cases.append((method.upper(), f"{path_for_body}?{query}", query[:30], None))
    return cases


def assert_dialect_error(path: str, status: int, body: Any) -> None:
    dialect = dialect_of(path)
    if dialect == "envelope":
        assert body["code"] == status and body["data"] is None and body["message"]
    elif dialect == "openai":
        assert set(body) == {"error"} and body["error"]["message"] and body["error"]["type"]
    elif dialect == "fish":
        assert body["error"] and "code" in body
    else:
        assert isinstance(body.get("detail"), str) and body["detail"]


@pytest.fixture
def credentials(client: TestClient, sign_up: SignUp, db: Database, context: AppContext):
    user = sign_up()
    accounts.register_user(
        db, context.settings, email="admin@example.com", password=PASSWORD, admin=True
    )
    login = client.post(
        "/api/auth/login", json={"email": "admin@example.com", "password": PASSWORD}
    )
    client.cookies.clear()
    admin = {"Authorization": f"Bearer {login.json()['data']['token']}"}
    return user, admin


def test_every_route_rejects_bad_input_cleanly(
    client: TestClient, db: Database, credentials: tuple[dict[str, str], dict[str, str]]
) -> None:
    user, admin = credentials
    spec = client.get("/openapi.json").json()
    cases = build_cases(spec)
    assert len(cases) > 150
    before = snapshot(db)
    failures = []
    for method, path, label, body in cases:
        headers = dict(admin if path.startswith("/api/admin") else user)
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        response = client.request(method, path, **kwargs)
        if response.status_code >= 500 or (response.status_code < 400 and body is not None):
            failures.append((method, path, label, response.status_code, response.text[:200]))
            continue
        if response.status_code >= 400:
            assert_dialect_error(path, response.status_code, response.json())
    assert failures == []
    assert snapshot(db) == before


def test_oversized_body_is_413_before_reading_it_all(client: TestClient, sign_up: SignUp) -> None:
    user = sign_up()
    huge = b'{"name": "' + b"x" * (33 * 1024 * 1024) + b'"}'
    response = client.post(
        "/api/keys", headers={**user, "Content-Type": "application/json"}, content=huge
    )
    assert response.status_code == 413 and response.json()["code"] == 413


def test_unknown_routes_and_methods_answer_in_dialect(client: TestClient) -> None:
    assert client.get("/api/nothing-here").json() == {
        "code": 404,
        "message": "Not Found",
        "data": None,
        "error_code": "NOT_FOUND",
    }
    assert client.put("/api/auth/login").status_code == 405
    assert client.get("/nothing-here").json() == {"detail": "Not Found"}
