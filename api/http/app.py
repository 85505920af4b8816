"""``create_api()``: the FastAPI application of every HTTP dialect.

The same app serves alone (``amphion serve --api-only``, granian) and inside the console
(``rx.App(api_transformer=create_api())``), where its routes win and Reflex is the fallback.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from api.engines.preload import preload_in_background
from api.http.context import AppContext
from api.http.docs import install_offline_docs
from api.http.errors import install_error_handlers
from api.http.middleware import RequestContextMiddleware
from api.http.offload import MAX_THREADS
from api.http.routes import (
    account,
    admin,
    amphion,
    audio_asr,
    audio_history,
    audio_tts,
    audio_voice,
    billing,
    files,
    fish,
    history,
    jobs,
    openai,
    playground,
)
from api.http.shutdown import install_drain
from api.scheduling import run_threads_as_batch

logger = logging.getLogger("amphion.http")

# Threads for blocking work (engines, hosted providers, database). anyio's default of 40 made
# the 41st concurrent hosted call wait for a thread while the first 40 only waited on the
# network: at 50 concurrent calls to a 300 ms provider that queueing added about 200 ms at p50
# (bench row B6). Idle threads cost little; CPU-bound engine calls share the cores either way.
BLOCKING_THREADS = MAX_THREADS  # anyio's limiter: as many as the speech calls' own pool

# Routers in the order a request's path is tried. Each declines a path none of its routes could
# match without trying them (``api.http.routing.Router``), so the order costs little; the ones
# that carry the traffic, the speech dialects, come first all the same. No path of one router
# is also a path of another, so the order changes only the time a match takes.
ROUTERS = (
    openai, amphion, fish, audio_tts, audio_asr, audio_voice, playground,
    account, billing, history, audio_history, files, jobs, admin,
)  # fmt: skip

DESCRIPTION = """
Amphion Open Platform HTTP API. Authenticate with `X-API-Key: sk-…` or
`Authorization: Bearer sk-…` (an API key), or `Authorization: Bearer <token>` from
`POST /api/auth/login`. Money is in yuan with four decimals (`"0.0100"`).
"""


def _start_worker(context: AppContext) -> Any:
    if not context.settings.inprocess_worker:
        return None
    try:
        from api.jobs.worker import Worker
    except ImportError:  # the jobs package is optional while it is being built
        return None
    return Worker(context.db, context.settings).start_in_thread()


def build_routes_now(routes: Iterable[Any]) -> None:
    """Build what FastAPI (0.165) builds for an included router's routes (their validators)
    on the first request that reaches the router: a fresh server's first call paid 40-80 ms
    for it (py-spy), all of it at start-up takes 86 ms. Routers only: a FastAPI that no longer
    builds lazily has nothing here to call, and this does nothing."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)  # FastAPI's _IncludedRouter
        if candidates is None:
            continue
        build_routes_now(candidates())  # included routers include routers of their own
        low_priority = getattr(route, "effective_low_priority_routes", None)
        if low_priority is not None:
            low_priority()


def create_api(context: AppContext | None = None, *, serving: bool | None = None) -> FastAPI:
    """Build the API app; without a context it is built from ``AMPHION_*`` settings.

    ``serving`` (by default: when built from settings, as a server process builds it) tunes the
    process when the app starts, for the life of the process:

    - What it holds by then leaves the cyclic garbage collector's reach (``gc.freeze``). Those
      objects live as long as the process, yet every full collection walked them all: 130,000
      of them, 47-80 ms a collection, each one stalling every request in flight (bench row
      B6's p99); 8 ms after the freeze.
    - Its threads run under ``SCHED_BATCH`` (``api.scheduling``) unless the settings say not
      to: fewer context switches between threads that wait for the GIL.

    Tests build many apps in one process and leave it off: a frozen app is never collected,
    and the test process keeps its own scheduling."""
    if serving is None:
        serving = context is None
    if context is None:
        from api.db import get_database
        from api.settings import get_settings

        settings = get_settings()
        context = AppContext.from_settings(settings, db=get_database())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = BLOCKING_THREADS
        worker = _start_worker(context)
        lifeline = None
        if worker is None:  # the worker loop runs one; without it this process beats itself
            from api.billing.sweeper import Lifeline

            lifeline = Lifeline(context.db, context.settings).start()
        # SIGTERM: the worker stops claiming at once, long streams are cut after a grace.
        uninstall_drain = install_drain(worker.stop_event.set if worker is not None else None)
        if serving:
            build_routes_now(_app.router.routes)  # before the freeze: they live as long
            gc.collect()  # what is garbage already goes first
            gc.freeze()
            if context.settings.batch_scheduling:
                run_threads_as_batch()
        preload_in_background(lambda: context.speech.engines, context.settings.engines_to_preload)
        try:
            yield
        finally:
            uninstall_drain()
            if worker is not None:
                worker.stop(timeout=10)
            if lifeline is not None:
                lifeline.stop()

    app = FastAPI(
        title="Amphion Open Platform API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from local assets below: no CDN needed
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.context = context
    install_error_handlers(app)
    install_offline_docs(app)

    for module in ROUTERS:
        app.include_router(module.router)
    if os.environ.get("AMPHION_BENCH_ROUTES") == "1":  # bench/'s baselines, never in production
        from api.http.routes import bench

        app.include_router(bench.router)  # last: the baselines pay for every router before them

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness: the process answers and the database responds."""
        with context.db.read() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    app.add_middleware(RequestContextMiddleware, max_body_bytes=context.settings.max_request_bytes)
    return app
