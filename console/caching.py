"""Console pages are revalidated on every visit: ``revalidate_pages`` wraps the server's app.

A page's HTML names the asset files of the build that made it, and each build (another release,
or another server of a scaled-out console) names them differently. Reflex serves pages as static
files with ``Last-Modified`` and no ``Cache-Control``, which lets a browser reuse a page it holds
without asking, for a tenth of the time since that page was built (heuristic freshness): after a
release, or when a load balancer moves a tab to another server, the browser then asks for assets
the server never had and gets 404s. ``no-cache`` makes it ask each time (an unchanged page is a
cheap 304); the assets themselves keep caching, their names change with their content.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_CACHE = (b"cache-control", b"no-cache")


def revalidate_pages(app: ASGIApp) -> ASGIApp:
    """``app`` with ``Cache-Control: no-cache`` on HTML answers that set no caching of their own."""

    async def revalidated(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_revalidated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower(): value for name, value in headers}
                is_html = names.get(b"content-type", b"").startswith(b"text/html")
                if is_html and b"cache-control" not in names:
                    message = {**message, "headers": [*headers, NO_CACHE]}
            await send(message)

        await app(scope, receive, send_revalidated)

    return revalidated
