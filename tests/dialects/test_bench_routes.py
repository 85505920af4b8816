"""The bench's own routes (``AMPHION_BENCH_ROUTES=1``): absent otherwise, and what they do.

``/bench/relay`` is the floor under row B6: the OpenAI speech call without its guarantees. It
must give the same audio as the real route and leave no trace (no charge, no history row, no
stored file), or B6's note would compare unlike things.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_api
from api.http.context import AppContext
from tests.dialects.conftest import Account, _account, balance

SPEECH = {
    "model": "tts-1",
    "input": "Hello there.",
    "voice": "alloy",
    "response_format": "wav",
    "stream": False,
}


@pytest.fixture
def bench_client(
    context: AppContext, speech, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("AMPHION_BENCH_ROUTES", "1")
    with TestClient(create_api(context), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def bench_account(bench_client: TestClient, sign_up) -> Account:
    return _account(bench_client, sign_up)


def _stored_files(context: AppContext) -> list[str]:
    root = context.settings.data_dir
    return sorted(str(path) for path in root.rglob("*.wav")) if root.exists() else []


def test_bench_routes_exist_only_when_asked(client: TestClient, account: Account) -> None:
    headers = account.headers
    assert client.get("/bench/hello").status_code == 404
    assert client.get("/bench/bytes", params={"size": 1}).status_code == 404
    assert client.post("/bench/relay", json=SPEECH, headers=headers).status_code == 404


def test_the_relay_speaks_as_the_route_does_and_leaves_no_trace(
    bench_client: TestClient, bench_account: Account, context: AppContext
) -> None:
    before = balance(bench_client, bench_account)
    relayed = bench_client.post("/bench/relay", json=SPEECH, headers=bench_account.headers)
    assert relayed.status_code == 200, relayed.text
    assert relayed.headers["content-type"] == "audio/wav"
    assert balance(bench_client, bench_account) == before
    history = bench_client.get("/api/history", headers=bench_account.session).json()["data"]
    assert history["items"] == []
    assert _stored_files(context) == []

    billed = bench_client.post("/v1/audio/speech", json=SPEECH, headers=bench_account.headers)
    assert billed.status_code == 200, billed.text
    assert billed.content == relayed.content  # the same engine call, the same bytes
    assert balance(bench_client, bench_account) != before
    assert len(_stored_files(context)) == 1


def test_the_relay_authenticates_and_validates_as_the_route_does(
    bench_client: TestClient, bench_account: Account
) -> None:
    assert bench_client.post("/bench/relay", json=SPEECH).status_code == 401
    bad_key = {"X-API-Key": "sk-amphion-not-a-real-key"}
    assert bench_client.post("/bench/relay", json=SPEECH, headers=bad_key).status_code == 401
    too_fast = {**SPEECH, "speed": 9}
    headers = bench_account.headers
    refused = bench_client.post("/bench/relay", json=too_fast, headers=headers)
    assert refused.status_code == 400, refused.text
    real = bench_client.post("/v1/audio/speech", json=too_fast, headers=headers)
    assert real.status_code == refused.status_code


def test_bytes_answers_the_size_asked_for_within_bounds(bench_client: TestClient) -> None:
    """B5's floor: an answer of a given size that costs the server nothing to make."""
    answer = bench_client.get("/bench/bytes", params={"size": 420_000})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "audio/wav" and len(answer.content) == 420_000
    assert bench_client.get("/bench/bytes", params={"size": -1}).status_code == 400
    assert bench_client.get("/bench/bytes", params={"size": 10**8}).status_code == 400
