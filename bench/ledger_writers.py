"""Debit fairness and latency: N concurrent writers hold+capture ¥0.01 for a fixed time.

    .venv/bin/python -m bench.ledger_writers [--seconds 5] [--writers 8] [--postgres URL]

Each writer charges its own account through the real ledger (``hold`` then ``capture``, one
write transaction each), as an API request around an engine call would. Reported per backend:
transactions per second, p50/p99/max latency of one charge, and the spread of per-writer counts
(fairness: SQLite writers that are not serialized starve each other, research/performance.md B2).
Goals (issue "Speed and scale-out", rows B3/B4): SQLite worst ≤ 100 ms and counts within 2×;
PostgreSQL ≥ 3,000 txn/s and fair.
"""

from __future__ import annotations

import argparse
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


def run(url: str, writers: int, seconds: float) -> dict[str, float]:
    db, users = _prepare(url, writers)
    latencies: list[list[float]] = [[] for _ in range(writers)]
    barrier = threading.Barrier(writers)
    deadline = [0.0]

    def writer(index: int) -> None:
        barrier.wait()
        if index == 0:
            deadline[0] = time.perf_counter() + seconds
        while deadline[0] == 0.0:
            time.sleep(0.0001)
        counter = 0
        while time.perf_counter() < deadline[0]:
            started = time.perf_counter()
            with db.write() as session:
                hold = ledger.hold(
                    session, users[index], CENT, idempotency_key=f"w{index}-{counter}"
                )
                hold_id = hold.id
            assert hold_id is not None
            with db.write() as session:
                ledger.capture(session, hold_id, CENT)
            latencies[index].append(time.perf_counter() - started)
            counter += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    every = sorted(x for per in latencies for x in per)
    counts = [len(per) for per in latencies]
    return {
        "charges/s": len(every) / seconds,
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
        rows.append(("PostgreSQL", run(args.postgres, args.writers, args.seconds)))
    header = ["backend", "charges/s", "p50 ms", "p99 ms", "max ms", "min/max writer"]
    print(" | ".join(header))
    for name, row in rows:
        cells = [name] + [f"{row[h]:.2f}" for h in header[1:]]
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
