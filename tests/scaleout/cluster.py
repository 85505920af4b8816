"""The pieces of a scale-out cluster on loopback, for the scale-out test.

* :func:`private_postgres` — a fresh PostgreSQL database of our own on the test server
  (``AMPHION_TEST_DATABASE_URL``), migrated, dropped afterwards.
* :func:`private_redis` — a Redis database number of our own on the test server
  (``AMPHION_TEST_REDIS_URL``): the first empty one, claimed with a lock key, emptied
  afterwards. The rate limiter's keys have a fixed prefix and Reflex's state manager keeps its
  own, so a database of our own is what keeps parallel runs and other tests apart.
* :class:`SwitchProxy` — a tiny TCP proxy in front of the web servers, playing the load
  balancer. It sends every new connection to its current backend; :meth:`SwitchProxy.switch`
  picks another one and cuts the connections to the old (a server taken out of rotation), so
  the browser's websocket reconnects to the other server, deterministically.
* :func:`web_servers` — ``amphion serve --workers N`` processes (console + API on one port),
  started together so that their frontend builds overlap; like ``console.local_server`` (whose
  pieces they reuse) but on the cluster's database rather than a SQLite file each.
* :func:`job_worker` — an ``amphion worker`` process (``python -m api.cli worker``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from api.db import migrate
from console.launcher import REPO_ROOT
from console.local_server import (
    LocalConsole,
    _private_web_dir,
    _wait_ready,
    ensure_frontend_installed,
    free_port,
    stop_process,
)

REDIS_LOCK_KEY = "amphion-scaleout-test:lock"
REDIS_LOCK_SECONDS = 1800  # outlives any run; a crashed run's database is free again after it
STOP_TIMEOUT = 15


# --- PostgreSQL -------------------------------------------------------------------------------


def _database_url(server_url: str, name: str) -> str:
    base, _, _old = server_url.rpartition("/")
    return f"{base}/{name}"


@contextlib.contextmanager
def private_postgres(server_url: str) -> Iterator[str]:
    """A migrated database of our own on the server of ``server_url``; its URL."""
    name = f"amphion_scaleout_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server_url, name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Redis ------------------------------------------------------------------------------------


def _redis_url(server_url: str, db: int) -> str:
    base, _, last = server_url.rstrip("/").rpartition("/")
    # redis://host:port/N → replace N; redis://host:port → append.
    root = base if last.isdigit() else server_url.rstrip("/")
    return f"{root}/{db}"


@contextlib.contextmanager
def private_redis(server_url: str) -> Iterator[str]:
    """An empty Redis database number of our own (1–15) on that server, emptied afterwards."""
    token = f"{os.getpid()}:{uuid.uuid4().hex}"
    for db in range(15, 0, -1):
        url = _redis_url(server_url, db)
        client = redis.Redis.from_url(url)
        try:
            # Only a database that is empty (nobody's data) and that we lock first is ours.
            if client.dbsize() == 0 and client.set(
                REDIS_LOCK_KEY, token, nx=True, ex=REDIS_LOCK_SECONDS
            ):
                break
        finally:
            client.close()
    else:
        raise RuntimeError("no empty Redis database (1-15) is free for the scale-out test")
    try:
        yield url
    finally:
        client = redis.Redis.from_url(url)
        try:
            if client.get(REDIS_LOCK_KEY) == token.encode():
                client.flushdb()
        finally:
            client.close()


# --- the load balancer ------------------------------------------------------------------------


@dataclass
class _Link:
    backend: int
    client: socket.socket
    upstream: socket.socket
    first_line: str = ""

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@dataclass
class SwitchProxy:
    """A TCP proxy on loopback that sends new connections to one backend at a time."""

    backends: list[tuple[str, int]]
    current: int = 0
    port: int = 0
    _listener: socket.socket = field(init=False)
    _links: list[_Link] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: threading.Event = field(default_factory=threading.Event)
    # Request lines seen per backend (the first line of every connection), in order.
    seen: dict[int, list[str]] = field(default_factory=dict)

    def start(self) -> SwitchProxy:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, name="scaleout-proxy", daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route_to(self, backend: int) -> None:
        """Send new connections to ``backend`` and cut every open one to the others."""
        with self._lock:
            self.current = backend
            stale = [link for link in self._links if link.backend != backend]
            self._links = [link for link in self._links if link.backend == backend]
        for link in stale:
            link.close()

    def websockets(self, backend: int) -> int:
        """How many event websockets (Reflex's ``/_event``) ``backend`` was given."""
        with self._lock:
            return sum("/_event" in line for line in self.seen.get(backend, []))

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                backend = self.current
            try:
                upstream = socket.create_connection(self.backends[backend], timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(backend, client, upstream)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _pump(self, link: _Link, outbound: bool) -> None:
        source, target = (link.client, link.upstream) if outbound else (link.upstream, link.client)
        first = outbound
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if first:
                    first = False
                    line = data.split(b"\r\n", 1)[0].decode("latin-1")
                    with self._lock:
                        self.seen.setdefault(link.backend, []).append(line)
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)
            if not outbound:
                link.close()
                with self._lock, contextlib.suppress(ValueError):
                    self._links.remove(link)


# --- web servers ------------------------------------------------------------------------------


@contextlib.contextmanager
def web_servers(
    roots: list[Path], env: dict[str, str], workers: list[int]
) -> Iterator[list[LocalConsole]]:
    """One ``amphion serve`` per directory in ``roots`` (each its own port and frontend build),
    with as many web worker processes as ``workers`` says for it."""
    ensure_frontend_installed()
    started: list[tuple[subprocess.Popen[bytes], LocalConsole]] = []
    try:
        for root, count in zip(roots, workers, strict=True):
            port = free_port()
            data_dir = root / "data"
            server_env = {
                **env,
                "AMPHION_DATA_DIR": str(data_dir),
                "AMPHION_PORT": str(port),
                "REFLEX_WEB_WORKDIR": str(_private_web_dir(root / "web")),
                "REFLEX_STATES_WORKDIR": str(root / "states"),
            }
            log = root / "server.log"
            command = ["-m", "api.cli", "serve", "--port", str(port), "--workers", str(count)]
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, *command],
                    cwd=REPO_ROOT,
                    env=server_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            console = LocalConsole(
                f"http://127.0.0.1:{port}",
                env["AMPHION_DATABASE_URL"],
                data_dir,
                log,
                process.pid,
                process.poll,
            )
            started.append((process, console))
        for process, console in started:
            _wait_ready(process, console.base_url, console.log)
        yield [console for _process, console in started]
    finally:
        for process, _console in started:
            stop_process(process)


def child_processes(pid: int) -> list[tuple[int, str]]:
    """The children of ``pid`` (Linux ``/proc``): their PIDs and command lines."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces or parentheses: the fields after it are safe.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == pid:
            children.append((int(entry.name), command.strip()))
    return children


def web_worker_processes(server_pid: int) -> int:
    """How many web worker processes an ``amphion serve`` (console) runs: the children of its
    ``reflex run`` supervisor (``python -m console.reflex_server run``) that are copies of it."""
    supervisor = "console.reflex_server run"
    supervisors = [p for p, command in child_processes(server_pid) if supervisor in command]
    return sum(supervisor in command for p in supervisors for _pid, command in child_processes(p))


# --- job workers ------------------------------------------------------------------------------


@dataclass
class JobWorker:
    """An ``amphion worker`` process and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def started(self) -> bool:
        """Whether it polls for jobs yet (its handlers loaded, its database migrated)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return any("job worker" in line and line.endswith("started") for line in text.splitlines())

    def stop(self) -> None:
        """SIGTERM by PID (the worker finishes or hands back its job), SIGKILL if it hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def job_worker(env: dict[str, str], log: Path) -> Iterator[JobWorker]:
    """Run ``amphion worker`` with ``env`` until the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = JobWorker(process, log)
    try:
        yield worker
    finally:
        worker.stop()
