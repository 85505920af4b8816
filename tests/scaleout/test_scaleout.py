"""Scale-out mode: two web servers and two job workers on PostgreSQL, Redis and S3 serve as one.

Mixed traffic goes through both web servers (sign-up, sign-in, API keys, sync speech in three
dialects, and async jobs: file transcriptions and voice enrolments); the checks are what an
operator relies on:

* no job is lost or run twice: each reaches a terminal state on its first attempt, both job
  workers took some, and each job's hold is settled by exactly one capture or release and
  recorded by exactly one history row;
* the ledger sums to every balance, and both servers report the same balances;
* per-address limits are counted once for the whole cluster (Redis), not once per server;
* a console session moves between servers: signed in on one, the browser's websocket cut and
  reconnected to the other finds the tab's Reflex state there (in Redis), and a reload is
  served by the other server, still signed in.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select
from sqlmodel import col

from api.accounts.service import SIGNUP_WINDOW
from api.billing import ledger
from api.billing.models import HOLD_CAPTURED, HOLD_RELEASED, Hold, LedgerEntry
from api.db import Database
from api.history.models import HistoryRecord
from api.jobs import service as jobs
from api.jobs.models import SUCCEEDED, TERMINAL, Job
from tests.scaleout.cluster import web_worker_processes
from tests.scaleout.conftest import SIGNUP_LIMIT, WEB_WORKERS, Cluster, log_tails
from tests.scaleout.rendezvous import CHARGE_MICROS, MEET

PASSWORD = "scale out sturdy pw 42"
USERS = 4
TRANSCRIPTIONS_PER_USER = 1
REQUEST_TIMEOUT = 120.0  # a hang guard: a speech call takes well under a second here
JOBS_DEADLINE = 240.0  # a hang guard: the jobs normally end within 20 s
ENGLISH = "Hello from the second server. The queue is shared by every worker."
# A voice sample must be 10-60 s of clear speech: this reads for about 15 s.
SAMPLE_TEXT = (
    "My grandmother kept a small garden behind the house, with roses, tomatoes and a crooked "
    "apple tree. Every summer we picked the apples together and baked pies for the neighbours, "
    "who came over in the evening to sit on the porch and talk until the stars came out."
)
ENROLMENTS = 1
# Sync speech in three dialects: (path, JSON body, auth header style).
SPEECH_CALLS: list[tuple[str, dict[str, Any], str]] = [
    (
        "/v1/audio/speech",
        {"model": "tts-1", "input": "Scale out, dialect one.", "voice": "alloy"},
        "bearer",
    ),
    (
        "/tts/v1/audio/speech",
        {"model": "Qwen3-TTS", "input": "你好,横向扩展。", "voice": "default"},
        "x-api-key",
    ),
    (
        "/api/open/tts",
        {"reference_id": "fish-narrator", "text": "Scale out, dialect three.", "format": "mp3"},
        "bearer",
    ),
]


_addresses = itertools.count(1)


def address() -> str:
    """A client address no other test of the module uses (TEST-NET-3), for per-address limits;
    the cluster's Redis database is fresh, so no earlier run has counted it either."""
    return f"203.0.113.{next(_addresses)}"


def wait_until(condition: Callable[[], bool], timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log_tails(cluster)}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def database(cluster: Cluster) -> Iterator[Database]:
    """The cluster's database, for checks from the test process."""
    db = Database(cluster.database_url)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def workers_polling(cluster: Cluster) -> None:
    """Both job workers are up and polling the shared queue."""
    wait_until(
        lambda: all(worker.started() for worker in cluster.workers),
        120,
        "both job workers to poll",
        cluster,
    )


@dataclass
class Account:
    email: str
    user_id: int
    key: str
    home: int  # the server it signed up on


def envelope_data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 200, body
    return body["data"]


def open_account(cluster: Cluster, client: httpx.Client, index: int, ip: str) -> Account:
    """Sign up on one server, sign in and create an API key on the other."""
    home, other = index % 2, (index + 1) % 2
    email = f"scale-{index}-{uuid.uuid4().hex[:8]}@example.com"
    headers = {"X-Forwarded-For": ip}
    credentials = {"email": email, "password": PASSWORD}
    signed_up = envelope_data(
        client.post(cluster.url(home, "/api/auth/signup"), json=credentials, headers=headers)
    )
    signed_in = envelope_data(
        client.post(cluster.url(other, "/api/auth/login"), json=credentials, headers=headers)
    )
    session = {"Authorization": f"Bearer {signed_in['token']}", **headers}
    created = envelope_data(
        client.post(cluster.url(home, "/api/keys"), json={"name": "scale"}, headers=session)
    )
    return Account(email, int(signed_up["user"]["id"]), created["key"], home)


def auth(account: Account, style: str, ip: str) -> dict[str, str]:
    if style == "x-api-key":
        return {"X-API-Key": account.key, "X-Forwarded-For": ip}
    return {"Authorization": f"Bearer {account.key}", "X-Forwarded-For": ip}


def speak(cluster: Cluster, server: int, account: Account, call: int, ip: str) -> httpx.Response:
    path, body, style = SPEECH_CALLS[call]
    return httpx.post(
        cluster.url(server, path),
        json=body,
        headers=auth(account, style, ip),
        timeout=REQUEST_TIMEOUT,
    )


def english_wav(cluster: Cluster, account: Account, ip: str, text: str = ENGLISH) -> bytes:
    response = httpx.post(
        cluster.url(account.home, "/v1/audio/speech"),
        json={"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"},
        headers=auth(account, "bearer", ip),
        timeout=REQUEST_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.content


def submit_transcription(
    cluster: Cluster, server: int, account: Account, wav: bytes, ip: str
) -> str:
    response = httpx.post(
        cluster.url(server, "/api/audio/asr/transcribe"),
        data={"model": "qwen3-asr-flash-filetrans", "language": "en"},
        files={"file": ("speech.wav", wav, "audio/wav")},
        headers=auth(account, "bearer", ip),
        timeout=REQUEST_TIMEOUT,
    )
    return str(envelope_data(response)["task_id"])


def submit_enrolment(cluster: Cluster, server: int, account: Account, wav: bytes, ip: str) -> str:
    response = httpx.post(
        cluster.url(server, "/api/audio/voice/create"),
        data={"target_model": "cosyvoice-v3-plus", "prefix": f"scale{server}"},
        files={"file": ("sample.wav", wav, "audio/wav")},
        headers=auth(account, "bearer", ip),
        timeout=REQUEST_TIMEOUT,
    )
    return str(envelope_data(response)["voice_id"])


def submit_meeting_jobs(database: Database, user_id: int) -> list[str]:
    """Two rendezvous jobs (each with its own hold): only two workers can run both."""
    ids = []
    with database.write() as session:
        for n in range(2):
            hold = ledger.hold(
                session, user_id, 1_000_000, idempotency_key=f"meet-{n}", purpose="job"
            )
            ids.append(
                jobs.submit_job(session, user_id=user_id, kind=MEET, payload={}, hold_id=hold.id).id
            )
    return ids


def settlements(database: Database, hold_id: int) -> list[str]:
    with database.read() as session:
        return list(
            session.execute(
                select(LedgerEntry.kind)
                .where(col(LedgerEntry.hold_id) == hold_id)
                .order_by(col(LedgerEntry.id))
            ).scalars()
        )


def test_mixed_traffic_through_both_servers_loses_and_doubles_nothing(
    cluster: Cluster, database: Database, workers_polling: None
) -> None:
    ip = address()
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        accounts = [open_account(cluster, client, n, ip) for n in range(USERS)]

    # Sync speech: every account, every dialect, through both servers, four at a time.
    calls = [
        (server, account, call)
        for account in accounts
        for call in range(len(SPEECH_CALLS))
        for server in (0, 1)
    ]
    with ThreadPoolExecutor(4) as pool:
        spoken = list(pool.map(lambda c: speak(cluster, c[0], c[1], c[2], ip), calls))
    for (server, _account, call), response in zip(calls, spoken, strict=True):
        assert response.status_code == 200, (server, SPEECH_CALLS[call][0], response.text)
        assert len(response.content) > 1000

    # Async jobs: each account's file transcriptions submitted through alternating servers.
    wavs = {account.user_id: english_wav(cluster, account, ip) for account in accounts}
    submissions = [
        (n % 2, account)
        for account in accounts
        for n in range(account.home, account.home + TRANSCRIPTIONS_PER_USER)
    ]
    with ThreadPoolExecutor(4) as pool:
        task_ids = list(
            pool.map(
                lambda s: submit_transcription(cluster, s[0], s[1], wavs[s[1].user_id], ip),
                submissions,
            )
        )
    # Voice enrolments: a sample spoken by the cluster, cloned through each server.
    sample = english_wav(cluster, accounts[0], ip, SAMPLE_TEXT)
    cloned = {
        submit_enrolment(cluster, n % 2, accounts[n % USERS], sample, ip): accounts[n % USERS]
        for n in range(ENROLMENTS)
    }
    meeting = submit_meeting_jobs(database, accounts[0].user_id)

    # Every task polled through alternating servers until it ends.
    servers = itertools.cycle((0, 1))
    owners = {task: account for task, (_s, account) in zip(task_ids, submissions, strict=True)}
    finished: dict[str, dict[str, Any]] = {}
    voices: dict[str, dict[str, Any]] = {}

    def all_ended() -> bool:
        for task in task_ids:
            if task in finished:
                continue
            data = envelope_data(
                httpx.get(
                    cluster.url(next(servers), f"/api/audio/asr/task/{task}"),
                    headers=auth(owners[task], "bearer", ip),
                    timeout=REQUEST_TIMEOUT,
                )
            )
            if data["task_status"] in TERMINAL:
                finished[task] = data
        for voice_id, account in cloned.items():
            if voice_id in voices:
                continue
            voice = envelope_data(
                httpx.get(
                    cluster.url(next(servers), f"/api/audio/voice/{voice_id}"),
                    headers=auth(account, "bearer", ip),
                    timeout=REQUEST_TIMEOUT,
                )
            )
            if voice["status"] != "DEPLOYING":
                voices[voice_id] = voice
        with database.read() as session:
            meets = [session.get(Job, job_id) for job_id in meeting]
        return (
            len(finished) == len(task_ids)
            and len(voices) == len(cloned)
            and all(j is not None and j.status in TERMINAL for j in meets)
        )

    wait_until(all_ended, JOBS_DEADLINE, "every job to end", cluster)

    # The transcripts are real and their JSON is in the shared store, readable through either.
    for n, data in enumerate(finished.values()):
        assert data["task_status"] == "SUCCEEDED", data
        assert "server" in data["result"]["transcripts"][0]["text"].lower()
        url = data["result"]["transcription_url"]
        fetched = httpx.get(url if url.startswith("http") else cluster.url(n % 2, url), timeout=30)
        assert fetched.status_code == 200
        assert "server" in json.dumps(fetched.json()).lower()

    for voice in voices.values():
        assert voice["status"] == "OK", voice

    with database.read() as session:
        all_jobs = list(session.execute(select(Job)).scalars())
        history = list(session.execute(select(HistoryRecord)).scalars())
        holds = list(session.execute(select(Hold)).scalars())
        assert ledger.unreconciled_users(session) == []
    by_id = {job.id: job for job in all_jobs}
    enrolments = [job for job in all_jobs if job.kind == "voice.enroll"]
    assert len(enrolments) == ENROLMENTS
    assert set(by_id) == set(task_ids) | set(meeting) | {job.id for job in enrolments}

    # No job lost or run twice: each ran once, on one of the two workers, and both took some.
    worker_ids = set()
    for job in all_jobs:
        assert job.status == SUCCEEDED, (job.id, job.kind, job.error)
        assert job.attempts == 1, (job.id, job.attempts)
        worker_ids.add(job.lease_owner)
    assert len(worker_ids) == 2, worker_ids
    assert by_id[meeting[0]].lease_owner != by_id[meeting[1]].lease_owner

    # Each job: one hold, settled by exactly one capture; one history row, succeeded.
    for job in all_jobs:
        assert job.hold_id is not None
        assert settlements(database, job.hold_id) == ["hold", "capture"]
        rows = [row for row in history if row.job_id == job.id]
        if job.kind == MEET:
            assert rows == []  # submitted directly, not through a use case
            continue
        assert len(rows) == 1, (job.id, rows)
        assert rows[0].status == "succeeded"
    charged = {hold.id: hold for hold in holds}
    for job_id in meeting:
        hold_id = by_id[job_id].hold_id
        assert hold_id is not None
        assert charged[hold_id].captured_micros == CHARGE_MICROS

    # Every hold (sync speech too) settled exactly once; nothing is still held.
    for hold in holds:
        assert hold.status in (HOLD_CAPTURED, HOLD_RELEASED), hold
        assert len(settlements(database, int(hold.id or 0))) == 2

    # One history row per sync call that answered 200, plus the WAVs made for the uploads.
    speech_rows = [row for row in history if row.type == "tts"]
    assert len(speech_rows) == len(calls) + len(accounts) + 1
    assert all(row.status == "succeeded" for row in speech_rows)

    # Both servers tell every account the same balance, the one the ledger adds up to.
    with database.read() as session:
        entries = list(session.execute(select(LedgerEntry)).scalars())
    for account in accounts:
        total = sum(e.amount_micros for e in entries if e.user_id == account.user_id)
        balances = {
            envelope_data(
                httpx.get(
                    cluster.url(server, "/api/account"),
                    headers=auth(account, "bearer", ip),
                    timeout=REQUEST_TIMEOUT,
                )
            )["balance"]
            for server in (0, 1)
        }
        assert balances == {f"{total / 1_000_000:.4f}"}, (account.email, balances, total)


def test_each_server_runs_the_web_workers_it_was_asked_for(cluster: Cluster) -> None:
    counts = [web_worker_processes(server.pid) for server in cluster.servers]
    assert counts == WEB_WORKERS


def test_per_address_limits_are_counted_once_for_the_whole_cluster(cluster: Cluster) -> None:
    ip = address()
    # The sign-up budget is a fixed hourly window: start well inside one, so that all the
    # sign-ups below are counted against the same budget.
    into_window = time.time() % SIGNUP_WINDOW
    if into_window > SIGNUP_WINDOW - 60:
        time.sleep(SIGNUP_WINDOW - into_window + 1)
    outcomes: list[tuple[int, int]] = []
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        # Alternate servers: per-server counters would let 2 x SIGNUP_LIMIT through.
        for n in range(2 * SIGNUP_LIMIT):
            server = n % 2
            response = client.post(
                cluster.url(server, "/api/auth/signup"),
                json={
                    "email": f"limit-{n}-{uuid.uuid4().hex[:6]}@example.com",
                    "password": PASSWORD,
                },
                headers={"X-Forwarded-For": ip},
            )
            outcomes.append((server, response.status_code))
    accepted = [server for server, status in outcomes if status == 200]
    refused = [server for server, status in outcomes if status == 429]
    assert len(accepted) == SIGNUP_LIMIT, outcomes
    assert set(accepted) == {0, 1}  # both servers counted into the one budget
    assert len(refused) == SIGNUP_LIMIT and set(refused) == {0, 1}, outcomes
    # The one counter lives in the cluster's Redis.
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        counts = [int(client.get(key) or 0) for key in client.scan_iter(f"*signup:ip:{ip}:*")]
    finally:
        client.close()
    assert counts == [2 * SIGNUP_LIMIT]


# --- the console ------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
TEXT_TYPED_ON_A = "Typed on the first server, spoken by the second."


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    configured = os.environ.get("AMPHION_E2E_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_a_console_session_is_served_by_either_server(
    cluster: Cluster, database: Database, browser: Any, screenshots: Path
) -> None:
    proxy = cluster.proxy
    ip = address()
    email = f"console-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        user_id = envelope_data(
            client.post(
                cluster.url(1, "/api/auth/signup"),
                json={"email": email, "password": PASSWORD},
                headers={"X-Forwarded-For": ip},
            )
        )["user"]["id"]

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)  # a hang guard on two busy cores
    page = context.new_page()
    browser_console: list[str] = []
    page.on("console", lambda message: browser_console.append(f"{message.type}: {message.text}"))
    try:
        # Server A: sign in (an account made through B), then type into the playground; the
        # text lives in the tab's Reflex state. Pages stay on one server while it is up: each
        # server builds its own frontend, and two builds name their asset files differently.
        proxy.route_to(0)
        page.goto(proxy.base_url + "/signin")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/dashboard**")
        assert page.get_by_test_id("balance").inner_text() == "¥100.0000"
        page.screenshot(path=str(screenshots / "scaleout-1-dashboard-on-a.png"))
        page.goto(proxy.base_url + "/playground")
        page.get_by_test_id("tts-text").fill(TEXT_TYPED_ON_A)
        page.wait_for_function(
            "n => document.querySelector('[data-testid=\"tts-characters\"]')?.textContent === n",
            arg=str(len(TEXT_TYPED_ON_A)),
        )
        on_a, on_b = proxy.websockets(0), proxy.websockets(1)
        assert on_a >= 1 and on_b == 0

        # A leaves the rotation: its connections are cut and the websocket reconnects to B,
        # which speaks the text typed on A: it found the tab's state in Redis.
        proxy.route_to(1)
        wait_until(lambda: proxy.websockets(1) > on_b, 60, "the websocket to reach B", cluster)
        page.get_by_test_id("tts-generate").click()
        page.wait_for_function(
            "() => !!document.querySelector('[data-testid=\"tts-player\"]')?.getAttribute('src')",
            timeout=90_000,
        )
        page.get_by_test_id("tts-cost").wait_for(timeout=90_000)
        page.screenshot(path=str(screenshots / "scaleout-2-typed-on-a-spoken-by-b.png"))
        with database.read() as session:
            spoken = list(
                session.execute(
                    select(HistoryRecord).where(
                        col(HistoryRecord.user_id) == user_id, col(HistoryRecord.type) == "tts"
                    )
                ).scalars()
            )
        assert [(row.characters, row.api_key_id, row.status) for row in spoken] == [
            (len(TEXT_TYPED_ON_A), None, "succeeded")
        ]

        # A reload is served by B from the start, still signed in.
        page.goto(proxy.base_url + "/dashboard")
        page.get_by_test_id("balance").wait_for()
        assert page.get_by_text(email).first.is_visible()
        assert page.get_by_test_id("balance").inner_text() != "¥100.0000"  # the speech was paid
        page.screenshot(path=str(screenshots / "scaleout-3-dashboard-on-b.png"))
        assert proxy.websockets(0) == on_a  # nothing reached A after it left
    except Exception as error:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(screenshots / "scaleout-failed.png"))
        pytest.fail(
            f"{error!r}\n--- browser console\n"
            + "\n".join(browser_console[-30:])
            + f"\n--- proxy\n{proxy.seen}\n{log_tails(cluster)}"
        )
    finally:
        context.close()
