"""Console pages must be revalidated: a page cached from another build names assets this server
does not have (console/caching.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console.caching import revalidate_pages


def _app(static: Path) -> Starlette:
    return Starlette(
        routes=[
            Route("/own", lambda _: HTMLResponse("<p>", headers={"Cache-Control": "no-store"})),
            Route("/text", lambda _: PlainTextResponse("plain")),
            Mount("/", StaticFiles(directory=static, html=True)),
        ]
    )


def _get_all(static: Path, *paths: str) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=revalidate_pages(_app(static)))
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(run())


def test_pages_are_revalidated_and_assets_keep_their_caching(tmp_path: Path) -> None:
    (tmp_path / "dashboard.html").write_text("<html>dashboard</html>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app-Ab12.js").write_text("console.log(1)")
    page, asset, own, text = _get_all(
        tmp_path, "/dashboard.html", "/assets/app-Ab12.js", "/own", "/text"
    )
    assert page.status_code == 200 and page.text == "<html>dashboard</html>"
    assert page.headers["cache-control"] == "no-cache"
    assert "last-modified" in page.headers  # revalidation can still answer 304
    assert asset.status_code == 200 and "cache-control" not in asset.headers
    assert own.headers["cache-control"] == "no-store"  # a page's own choice stands
    assert "cache-control" not in text.headers
