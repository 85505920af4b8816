"""``Router`` declines paths none of its routes could match, and routing stays as it was."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from api.http.routing import Router


def _app() -> tuple[FastAPI, Router, list[str]]:
    tried: list[str] = []
    items = Router(prefix="/api/items")

    @items.get("")
    def list_items() -> list[int]:
        return [1]

    @items.get("/{item_id}")
    def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    other = Router()

    @other.post("/v1/things")
    def make_thing() -> dict[str, str]:
        return {"made": "yes"}

    original = items.routes[1].matches

    def counting(scope):  # noqa: ANN001, ANN202
        tried.append(scope["path"])
        return original(scope)

    items.routes[1].matches = counting  # type: ignore[method-assign]
    app = FastAPI()
    app.include_router(items)
    app.include_router(other)
    return app, items, tried


def test_a_path_no_route_could_match_is_declined_without_trying_a_route() -> None:
    app, items, tried = _app()
    client = TestClient(app)
    assert client.post("/v1/things").json() == {"made": "yes"}
    assert tried == []  # /v1/things does not start with /api/items: no pattern was tried
    assert items.matches({"type": "http", "path": "/v1/things", "root_path": ""}) == (
        Match.NONE,
        {},
    )


def test_routing_answers_as_before() -> None:
    app, _, tried = _app()
    client = TestClient(app)
    assert client.get("/api/items").json() == [1]
    assert client.get("/api/items/7").json() == {"id": 7}
    assert tried  # a path under the router's beginning is tried as usual
    assert client.post("/api/items/7").status_code == 405  # a partial match still tells
    assert client.get("/api/items/7/", follow_redirects=False).status_code == 307
    assert client.get("/nowhere").status_code == 404
