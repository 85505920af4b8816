"""B6's upstream: the OpenAI-compatible provider fake of the tests, behind a fixed 300 ms delay.

    with provider_fake() as fake:   # fake.base_url: http://127.0.0.1:PORT (the API is under /v1)
        ...

The fake (``tests.providers.fake_openai``) answers ``POST /v1/audio/speech`` with 0.5 s of
24 kHz audio in five pieces 50 ms apart; every request first waits ``DELAY_SECONDS``. It runs
in its own process (``python -m bench.provider_fake --port N``), so it shares no interpreter
with the load client, and is stopped by PID. ``hosted_catalog`` writes a copy of the shipped
catalog in which ``HOSTED_MODEL`` is served by the "openai" provider.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from bench.server import REPO_ROOT, free_port, stop
from tests.providers.support import OPERATOR_KEY

DELAY_SECONDS = 0.3
# How long one answer takes: the delay, then four 50 ms gaps between the five pieces.
ANSWER_SECONDS = DELAY_SECONDS + 0.2
HOSTED_MODEL = "gpt-4o-mini-tts"
PROVIDER_KEY = OPERATOR_KEY


def delayed(app: ASGIApp, seconds: float) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return wrapped


def hosted_catalog(target: Path) -> Path:
    """The shipped catalog with ``HOSTED_MODEL`` routed to the "openai" provider."""
    shipped = (REPO_ROOT / "api" / "catalog" / "default.toml").read_text(encoding="utf-8")
    line = f'id = "{HOSTED_MODEL}"\n'
    if shipped.count(line) != 1:
        raise RuntimeError(f"{HOSTED_MODEL} is not in the shipped catalog once")
    hosted = shipped.replace(line, line + 'provider = "openai"\nprovider_model = "tts-1"\n')
    if not re.search(r'provider = "openai"', hosted):
        raise RuntimeError("could not route the model")
    target.write_text(hosted, encoding="utf-8")
    return target


def providers_setting(base_url: str) -> str:
    """``AMPHION_PROVIDERS`` pointing "openai" at the fake (generous timeouts: none should hit)."""
    import json

    return json.dumps(
        {
            "openai": {
                "base_url": base_url + "/v1",
                "api_key": PROVIDER_KEY,
                "read_timeout": 20.0,
                "total_timeout": 60.0,
            }
        }
    )


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ProviderFake:
    base_url: str
    pid: int  # its process, which B6 keeps off the server's cores (``bench.affinity``)


def server_env(fake: ProviderFake, scratch: Path) -> dict[str, str]:
    """What a bench server needs to reach the fake: ``HOSTED_MODEL`` routed to it (a catalog
    written in ``scratch``), the bench routes, and no per-address limit on the load's calls."""
    return {
        "AMPHION_BENCH_ROUTES": "1",
        "AMPHION_IP_REQUESTS_PER_MINUTE": "0",
        "AMPHION_CATALOG_PATH": str(hosted_catalog(scratch / "catalog.toml")),
        "AMPHION_PROVIDERS": providers_setting(fake.base_url),
    }


@contextmanager
def provider_fake() -> Iterator[ProviderFake]:
    port = free_port()
    command = [sys.executable, "-m", "bench.provider_fake", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the provider fake did not start")
            time.sleep(0.05)
        yield ProviderFake(f"http://127.0.0.1:{port}", process.pid)
    finally:
        stop(process)


def main() -> None:
    import uvicorn

    from tests.providers.fake_openai import create_openai_app
    from tests.providers.fake_upstream import FakeState

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_openai_app(FakeState(valid_keys=frozenset({PROVIDER_KEY})))
    uvicorn.run(
        delayed(app, DELAY_SECONDS),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
