"""Debit fairness and latency: N concurrent writers hold+capture ¥0.01 for a fixed time.

    .venv/bin/python -m bench.ledger_writers [--seconds 5] [--writers 8] [--postgres URL]

Each writer charges its own account through the real ledger (``hold`` then ``capture``, one
write transaction each), as an API request around an engine call would. Reported per backend:
transactions per second, p50/p99/max latency of one charge, and the spread of per-writer counts
(fairness: SQLite writers that are not serialized starve each other, research/performance.md B2).
Goals (issue "Speed and scale-out", rows B3/B4): SQLite worst ≤ 100 ms and counts within 2×;
PostgreSQL ≥ 3,000 txn/s (a charge is two transactions) and fair.

``processes`` spreads the writers over that many OS processes, as a deployment on PostgreSQL
spreads requests over web workers (one per core); on SQLite the writers share one process,
whose serialized writer path is what B3 measures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path

from api.accounts.service import create_user
from api.billing import ledger
from api.db import Database, metadata, migrate
from api.settings import Settings

CENT = 10_000
# Writer processes on PostgreSQL: one per core of this 2-core machine, as web workers would be.
POSTGRES_PROCESSES = 2


def _prepare(url: str, writers: int) -> tuple[Database, list[int]]:
    migrate(url)
    db = Database(url)
    if not db.is_sqlite:
        from sqlalchemy import text

        names = ", ".join(t.name for t in metadata.sorted_tables)
        with db.write_engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    settings = Settings(environment="development", signup_bonus_micros=0)
    users = []
    with db.write() as session:
        for index in range(writers):
            user = create_user(
                session, email=f"bench{index}@example.com", password_hash="x", settings=settings
            )
            assert user.id is not None
            ledger.credit(session, user.id, 10**12, kind="grant")
            users.append(user.id)
    return db, users


def _charge_for(url: str, users: list[int], seconds: float, start_at: float) -> list[list[float]]:
    """One process's writers (a thread per user) from ``start_at`` (epoch seconds) on; their
    per-charge latencies."""
    db = Database(url)
    latencies: list[list[float]] = [[] for _ in users]

    def writer(index: int) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds
        counter = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            hold_id = ledger.hold_now(
                db, users[index], CENT, idempotency_key=f"w{users[index]}-{counter}"
            ).hold_id
            ledger.capture_now(db, hold_id, CENT)
            latencies[index].append(time.perf_counter() - started)
            counter += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    return latencies


def _process_main(url: str, users: list[int], seconds: float, start_at: float, out) -> None:  # noqa: ANN001
    out.put(_charge_for(url, users, seconds, start_at))


def run(url: str, writers: int, seconds: float, processes: int = 1) -> dict[str, float]:
    db, users = _prepare(url, writers)
    db.dispose()
    groups = [users[index::processes] for index in range(processes)]
    if processes == 1:
        latencies = _charge_for(url, users, seconds, time.time())
    else:
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        start_at = time.time() + 3.0  # spawned interpreters import the app first
        children = [
            context.Process(target=_process_main, args=(url, group, seconds, start_at, out))
            for group in groups
        ]
        for child in children:
            child.start()
        latencies = [per for _ in children for per in out.get(timeout=seconds + 120)]
        for child in children:
            child.join(timeout=30)
    every = sorted(x for per in latencies for x in per)
    counts = [len(per) for per in latencies]
    return {
        "charges/s": len(every) / seconds,
        "txn/s": 2 * len(every) / seconds,
        "p50 ms": statistics.median(every) * 1000,
        "p99 ms": every[int(len(every) * 0.99) - 1] * 1000,
        "max ms": every[-1] * 1000,
        "min/max writer": min(counts) / max(counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--postgres", default="", help="also measure this PostgreSQL database")
    parser.add_argument(
        "--processes", type=int, default=POSTGRES_PROCESSES, help="PostgreSQL writer processes"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        rows.append(
            (
                "SQLite (WAL, serialized)",
                run(f"sqlite:///{Path(scratch) / 'b.db'}", args.writers, args.seconds),
            )
        )
    if args.postgres:
        rows.append(("PostgreSQL", run(args.postgres, args.writers, args.seconds, args.processes)))
    header = ["backend", "charges/s", "txn/s", "p50 ms", "p99 ms", "max ms", "min/max writer"]
    print(" | ".join(header))
    for name, row in rows:
        cells = [name] + [f"{row[h]:.2f}" for h in header[1:]]
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
