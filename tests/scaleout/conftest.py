"""The scale-out cluster: two web servers and two job workers on PostgreSQL, Redis and S3.

``test_scaleout.py`` is collected only when ``AMPHION_TEST_DATABASE_URL`` and
``AMPHION_TEST_REDIS_URL`` are both set (``.ci/run`` sets them), like the PostgreSQL and Redis
variants of the other tests.

One cluster serves the module: a fresh PostgreSQL database of its own (migrated once, as an
operator runs ``amphion migrate``), an empty Redis database number of its own, moto's S3 server
on loopback, and a TCP proxy playing the load balancer. Both web servers are ``amphion serve``
processes (pages, websocket and API on one port; the second with two worker processes;
``AMPHION_PUBLIC_BASE_URL`` is the proxy, so the browser's websocket goes through it), built at
the same time; both job workers are ``amphion worker`` processes. No web server runs jobs
(``AMPHION_INPROCESS_WORKER`` is false) and no process shares a data directory: objects live in
S3 only.

Clients name their address with ``X-Forwarded-For`` (the servers trust loopback as a proxy), so
each test's per-address budgets (sign-ups, requests per minute) are its own.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from console.launcher import REPO_ROOT
from console.local_server import ConsoleStartError, LocalConsole, log_tail
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.helpers import moto_s3_server
from tests.scaleout.cluster import (
    JobWorker,
    SwitchProxy,
    job_worker,
    private_postgres,
    private_redis,
    web_servers,
)

collect_ignore = [] if TEST_DATABASE_URL and TEST_REDIS_URL else ["test_scaleout.py"]

SECRET_KEY = "scaleout-secret-key-that-is-long-enough"
SIGNUP_LIMIT = 6  # per address and hour, counted in Redis for every server
S3_ACCESS_KEY_ID = "testing-access-key"  # moto accepts any credentials
S3_SECRET_ACCESS_KEY = "testing-secret-key"
# Web worker processes per server (``amphion serve --workers``): B runs two, so a tab's events,
# its websocket and its speech links may also land on different processes of one server.
WEB_WORKERS = [1, 2]


@dataclass(frozen=True)
class Cluster:
    """Two web servers behind a proxy, two job workers, and what they share."""

    servers: list[LocalConsole]
    workers: list[JobWorker]
    proxy: SwitchProxy
    database_url: str
    redis_url: str

    def url(self, server: int, path: str) -> str:
        return self.servers[server].url(path)


def _environment(database_url: str, redis_url: str, s3_endpoint: str, proxy: str) -> dict[str, str]:
    """What every process of the cluster runs with: the operator's scale-out recipe."""
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith("AMPHION_")
    }
    return {
        **inherited,
        "AMPHION_ENVIRONMENT": "test",
        "AMPHION_SECRET_KEY": SECRET_KEY,
        "AMPHION_DATABASE_URL": database_url,
        "AMPHION_REDIS_URL": redis_url,
        "AMPHION_STORAGE_BACKEND": "s3",
        "AMPHION_S3_BUCKET": f"amphion-scaleout-{uuid.uuid4().hex[:12]}",
        "AMPHION_S3_ENDPOINT_URL": s3_endpoint,
        "AMPHION_S3_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
        "AMPHION_S3_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
        "AMPHION_INPROCESS_WORKER": "false",
        "AMPHION_PUBLIC_BASE_URL": proxy,
        "AMPHION_TRUSTED_PROXIES": '["127.0.0.1"]',
        "AMPHION_SIGNUP_LIMIT_PER_HOUR": str(SIGNUP_LIMIT),
        "AMPHION_JOB_POLL_SECONDS": "0.2",
        "AMPHION_JOB_HANDLER_MODULES": '["tests.scaleout.rendezvous"]',
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: str) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scaleout")
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(private_postgres(TEST_DATABASE_URL))
        redis_url = stack.enter_context(private_redis(TEST_REDIS_URL))
        # The proxy's port goes into the frontend build, so it listens before the servers.
        proxy = SwitchProxy(backends=[]).start()
        stack.callback(proxy.close)
        env = _environment(database_url, redis_url, s3_server, proxy.base_url)
        roots = [root / "web-a", root / "web-b"]
        for path in roots:
            path.mkdir()
        try:
            servers = stack.enter_context(web_servers(roots, env, WEB_WORKERS))
        except ConsoleStartError as error:
            pytest.fail(str(error))
        proxy.backends.extend(("127.0.0.1", int(s.base_url.rsplit(":", 1)[1])) for s in servers)
        workers = []
        for name in ("worker-a", "worker-b"):
            data_dir = root / name
            data_dir.mkdir()
            worker_env = {**env, "AMPHION_DATA_DIR": str(data_dir)}
            workers.append(stack.enter_context(job_worker(worker_env, root / f"{name}.log")))
        yield Cluster(servers, workers, proxy, database_url, redis_url)


def log_tails(cluster: Cluster) -> str:
    """The end of every process's log, for a failure message."""
    parts: list[Any] = []
    for path in [s.log for s in cluster.servers] + [w.log for w in cluster.workers]:
        parts.append(f"--- {path.parent.name}/{path.name}\n{log_tail(path, 2500)}")
    return "\n".join(parts)
