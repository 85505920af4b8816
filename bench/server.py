"""A throw-away API server for benchmarks: its own data dir, loopback only, stopped by PID.

    with api_server() as server:
        key = server.new_api_key()
        ...

The server is ``amphion serve --api-only`` itself (granian, one worker process, the real
offline engines), so what is measured is what a client of a deployed server would get.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from console.local_server import free_port, http_status

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-that-is-long-enough"
PASSWORD = "a sturdy bench password 42"


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int

    def url(self, path: str) -> str:
        return self.base_url + path

    def post_json(self, path: str, body: dict, headers: dict[str, str] | None = None) -> dict:
        request = urllib.request.Request(
            self.url(path),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def new_api_key(self) -> str:
        """Sign up a fresh account (¥100) and issue it a key."""
        email = f"bench{time.time_ns()}@example.com"
        signed_up = self.post_json("/api/auth/signup", {"email": email, "password": PASSWORD})
        token = signed_up["data"]["token"]
        issued = self.post_json(
            "/api/keys", {"name": "bench"}, {"Authorization": f"Bearer {token}"}
        )
        return str(issued["data"]["key"])


@contextmanager
def api_server(extra_env: dict[str, str] | None = None, code: Path = REPO_ROOT) -> Iterator[Server]:
    """The server of the project checked out at ``code`` (by default this one; ``bench.compare``
    starts servers of other revisions beside it), in a temporary data dir."""
    with tempfile.TemporaryDirectory(prefix="amphion-bench-") as root:
        data_dir = Path(root) / "data"
        port = free_port()
        env = {
            **os.environ,
            "AMPHION_ENVIRONMENT": "test",
            "AMPHION_SECRET_KEY": SECRET_KEY,
            "AMPHION_DATA_DIR": str(data_dir),
            "AMPHION_DATABASE_URL": f"sqlite:///{data_dir / 'amphion.db'}",
            "AMPHION_SIGNUP_LIMIT_PER_HOUR": "10000",
            **(extra_env or {}),
        }
        migrate = [sys.executable, "-m", "api.cli", "migrate"]
        subprocess.run(migrate, cwd=code, env=env, check=True, capture_output=True)
        # What operators run: `amphion serve --api-only` (granian, one worker process).
        command = [
            sys.executable, "-m", "api.cli", "serve", "--api-only",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        log = Path(root) / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while http_status(base_url + "/api/health") != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield Server(base_url, process.pid)
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process we started, SIGKILL its group if it does not go within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
