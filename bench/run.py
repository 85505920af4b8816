"""The whole benchmark: rows B1-B10 of issue 6 in one table of ratios.

    .venv/bin/python -m bench [--quick] [--rounds 5] [--skip B10] [--results bench/RESULTS.md]

Starts everything it measures on loopback and stops it by PID at the end: a throw-away API
server in a temporary data dir (``bench.server``, with the ``AMPHION_BENCH_ROUTES`` baselines),
the provider fake of B6 (``bench.provider_fake``), and for B10 a throw-away console with one
headless Chromium (``bench.console_roundtrip``). B3 uses a temporary SQLite file, B4 the
database ``--postgres`` names (created when missing; its tables are emptied).

Every row is measured in ``--rounds`` interleaved rounds: each round runs every row once, and a
row measures its baseline and its value back to back, so both see the same machine load. The
table shows min / median / max over the rounds; a goal is judged on the medians. Counts and
durations are bounded (``--quick`` shrinks them for a run of about 1.5 minutes); the full run
stays under ten minutes on a 2-core machine. Exit status 0 when every measured row met its goal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import console_roundtrip, gateway, ledger_writers, streaming
from bench.load import Callers
from bench.provider_fake import provider_fake, server_env
from bench.server import api_server
from bench.table import Row, markdown

# Rows whose goal is in milliseconds added, as a difference of medians (B5's is its own).
ADDED_MS_ROWS = ("B6 p50", "B6 p99", "B9")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/amphion_bench"


def _at_least(ratio: float) -> Callable[[Row], bool]:
    return lambda row: row.median("ratios") >= ratio


def _at_most(ratio: float) -> Callable[[Row], bool]:
    return lambda row: row.median("ratios") <= ratio


def new_rows() -> dict[str, Row]:
    """The issue's table: what each row measures, against what, and its goal."""
    rows = [
        Row("B1", "GET /api/account with X-API-Key, req/s vs GET /bench/hello (10 connections)",
            "≥ 0.5×", _at_least(0.5)),
        Row("B2", "authenticated debit (hold+capture+history), req/s vs hello, SQLite, 50 conn.",
            "≥ 0.35×", _at_least(0.35)),
        Row("B2 tail", "the debits' p99 (value) vs their p50 (baseline), ms, 50 connections",
            "p99 ≤ 4× p50, no timeouts", _at_most(4.0), unit="ms"),
        Row("B3", "8 debit writers, SQLite: worst latency (value) vs p50 (baseline), ms; "
            "ratio = slowest ÷ busiest writer's count", "worst ≤ 100 ms, ratio ≥ 0.5",
            lambda row: row.median("value") <= 100 and row.median("ratios") >= 0.5, unit="ms"),
        Row("B4", "8 debit writers on PostgreSQL (2 processes × 4 connections): transactions/s "
            "(a charge is two: hold, capture) (value) vs SQLite's (baseline); "
            "ratio = slowest ÷ busiest writer's count", "≥ 3,000 txn/s, ratio ≥ 0.5",
            lambda row: row.median("value") >= 3000 and row.median("ratios") >= 0.5),
        Row("B5", "TTS 200 chars wav via gateway, p50 ms vs the engine in-process",
            "≤ 1.2× and ≤ 5 ms added",
            lambda row: row.median("ratios") <= 1.2 and row.median("around") <= 5, unit="ms"),
        Row("B6 p50", "hosted TTS via gateway vs the provider fake (300 ms delay) directly, "
            "p50 ms, 50 in flight (staggered starts), the server on cores of its own",
            "≤ 3 ms added",
            lambda row: row.added() <= 3, unit="ms"),
        Row("B6 p99", "the same, p99 ms", "≤ 10 ms added", lambda row: row.added() <= 10,
            unit="ms"),
        Row("B7", "streamed first byte vs whole response, 1,000 chars mp3, s",
            "≤ 0.25×", _at_most(0.25), unit="s"),
        Row("B8", "TTS calls/s via gateway vs the engine in-process, 4 at a time",
            "≥ 0.8×", _at_least(0.8)),
        Row("B9", "first MP3 bytes (value) vs first PCM chunk (baseline), ms from the call",
            "≤ 20 ms added", lambda row: row.added() <= 20, unit="ms"),
        Row("B10", "console click → rendered p50, 10 sessions on History vs trivial counter "
            "with 1 session, ms", "≤ 1.5× and ≤ 150 ms",
            lambda row: row.median("ratios") <= 1.5 and row.median("value") <= 150, unit="ms"),
    ]  # fmt: skip
    return {row.name: row for row in rows}


@dataclass(frozen=True)
class Plan:
    rounds: int
    sizes: gateway.Sizes
    writer_seconds: float
    console_rounds: int
    console_clicks: int
    skip: frozenset[str]
    postgres: str
    # monotonic time by which the server rows stop starting rounds, and by which B10 stops
    # starting rounds: the whole run stays within its budget on a slow or busy machine
    server_rows_until: float
    console_until: float


def ensure_database(url: str) -> None:
    """Create the bench's own PostgreSQL database when missing (never the tests' one)."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def _writers_round(plan: Plan, rows: dict[str, Row], scratch: Path, number: int) -> None:
    """B3, and B4 against the SQLite figures of the same round (measured even if B3 is
    skipped, as B4's baseline)."""
    sqlite = ledger_writers.run(f"sqlite:///{scratch / f'b3-{number}.db'}", 8, plan.writer_seconds)
    if "B3" not in plan.skip:
        rows["B3"].add(sqlite["p50 ms"], sqlite["max ms"], sqlite["min/max writer"])
    if "B4" in plan.skip:
        return
    postgres = ledger_writers.run(
        plan.postgres, 8, plan.writer_seconds, processes=ledger_writers.POSTGRES_PROCESSES
    )
    rows["B4"].add(sqlite["txn/s"], postgres["txn/s"], postgres["min/max writer"])


def _streaming_round(server_url: str, key: str, row: Row) -> None:
    with httpx.Client(base_url=server_url, timeout=120) as client:
        whole = streaming.time_speech(client, key, stream=False, fmt="mp3")
        first = streaming.time_speech(client, key, stream=True, fmt="mp3")
    row.add(whole, first)


async def _gateway_rounds(plan: Plan, rows: dict[str, Row], scratch: Path) -> None:
    from api.engines.registry import default_registry
    from api.settings import Settings

    settings = Settings(environment="development", data_dir=scratch / "engines")
    engine = default_registry(settings).tts(gateway.ENGINE)
    with provider_fake() as fake:
        with api_server(server_env(fake, scratch)) as server:
            key = server.new_api_key()
            async with (
                Callers(server.base_url, gateway.CONNECTIONS) as callers,
                contextlib.aclosing(gateway.OneConnection(server.base_url)) as one,
            ):
                bench = gateway.Gateway(callers, one, key, fake, server.pid, engine, plan.sizes)
                # Warm-up, not counted: engine loads, connection pools, first imports.
                gateway.engine_wav(engine)
                await gateway.gateway_wav(callers.first, key)
                await gateway.hosted_speech(callers.first, key)
                await gateway.warm_up(bench)
                steps = _steps(plan, rows, bench, server.base_url, key, scratch)
                started = time.monotonic()
                for number in range(plan.rounds):
                    per_round = (time.monotonic() - started) / number if number else 0.0
                    if time.monotonic() + per_round > plan.server_rows_until:
                        rows["B1"].notes.append(
                            f"B1-B9 stopped after {number} rounds to keep within the time budget"
                        )
                        break
                    print(f"round {number + 1}/{plan.rounds}", file=sys.stderr, flush=True)
                    for name, step in steps:
                        if name in plan.skip and (name != "B3" or "B4" in plan.skip):
                            continue
                        try:
                            with collector_paused():
                                await step(number)
                        except Exception as error:  # one broken row must not hide the others
                            rows[name].error = f"{type(error).__name__}: {error}"[:200]
                            print(f"{name}: {rows[name].error}", file=sys.stderr)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """This process's garbage collector off while a row measures, after a full collection.

    This process is the load client, and it is large (the engine and its runtime, the clients,
    the browser driver): a full collection of it took 130-260 ms here, one every 20 s or so.
    When one fell inside a row's timed calls, every call in flight waited for it, and the
    server got the blame: B6's p99 went from +9 to +200 ms in one round of four (06 Dec; a
    probe timing every collection in each process of the run; the server's own took 12-15 ms,
    and those count). A row's garbage until its end is a few megabytes at most."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _steps(plan: Plan, rows: dict[str, Row], bench: gateway.Gateway, url: str, key: str,
           scratch: Path) -> list[tuple[str, Callable]]:  # fmt: skip
    async def b1(_: int) -> None:
        await gateway.b1_round(bench, rows["B1"])

    async def b2(_: int) -> None:
        await gateway.b2_round(bench, rows["B2"], rows["B2 tail"])

    async def b3(number: int) -> None:
        await asyncio.to_thread(_writers_round, plan, rows, scratch, number)

    async def b5(_: int) -> None:
        await gateway.b5_round(bench, rows["B5"])

    async def b6(_: int) -> None:
        await gateway.b6_round(bench, rows["B6 p50"], rows["B6 p99"])

    async def b7(_: int) -> None:
        await asyncio.to_thread(_streaming_round, url, key, rows["B7"])

    async def b8(_: int) -> None:
        await gateway.b8_round(bench, rows["B8"])

    async def b9(_: int) -> None:
        await gateway.b9_round(bench, rows["B9"])

    return [("B1", b1), ("B2", b2), ("B3", b3), ("B5", b5), ("B6 p50", b6), ("B7", b7),
            ("B8", b8), ("B9", b9)]  # fmt: skip


def _console_rows(plan: Plan, row: Row) -> None:
    if not Path(console_roundtrip.CHROMIUM).exists():
        row.error = f"{console_roundtrip.CHROMIUM} is missing"
        return
    max_seconds = max(0.0, plan.console_until - time.monotonic())
    args = console_roundtrip.parser().parse_args(
        ["--rounds", str(plan.console_rounds), "--clicks", str(plan.console_clicks),
         "--max-seconds", f"{max_seconds:.0f}"]
    )  # fmt: skip
    with console_roundtrip.bench_console() as console:
        measured = asyncio.run(console_roundtrip.measure(args, console))
    for trivial, real, ratio in zip(
        measured.trivial.p50s, measured.real.p50s, measured.ratios, strict=True
    ):
        row.add(trivial, real, ratio)


def file_creation_us(count: int = 50) -> float:
    """The median µs to create an empty file where the throw-away servers keep their data (the
    temp dir), as every stored audio file is created.

    On some file systems this depends on what was deleted there in the last minutes: ext4
    without a journal skips every recently deleted inode each time it looks for a free one. It
    measured 40-90 µs here on a quiet disk and 600-900 µs a file for minutes after a bench run
    or the test suite had removed their temp dirs (row B6 then pays it on every call)."""
    timings = []
    with tempfile.TemporaryDirectory(prefix="amphion-bench-probe-") as probe:
        for index in range(count):
            started = time.perf_counter()
            os.close(os.open(os.path.join(probe, f"f{index}"), os.O_CREAT | os.O_EXCL, 0o600))
            timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def machine() -> str:
    """nproc, CPU model, RAM, the load average and the cost of creating a file: what the
    figures depend on."""
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), {total_kb / 1024 / 1024:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average {load}; creating a file in the temp dir {file_creation_us():.0f} µs"
    )


def run(plan: Plan) -> tuple[dict[str, Row], str, str]:
    rows = new_rows()
    before = machine()
    for name in plan.skip:
        if name in rows:
            rows[name].error = "skipped (--skip)"
    if "B4" not in plan.skip:
        try:
            ensure_database(plan.postgres)
        except Exception as error:  # no PostgreSQL here: B4 says why, the rest still runs
            rows["B4"].error = f"PostgreSQL unavailable: {type(error).__name__}"
            plan = Plan(**{**plan.__dict__, "skip": plan.skip | {"B4"}})
    with tempfile.TemporaryDirectory(prefix="amphion-bench-run-") as scratch:
        asyncio.run(_gateway_rounds(plan, rows, Path(scratch)))
    if "B10" not in plan.skip:
        print("B10: console round trips", file=sys.stderr, flush=True)
        try:
            _console_rows(plan, rows["B10"])
        except Exception as error:
            rows["B10"].error = f"{type(error).__name__}: {error}"[:200]
    _b5_notes(rows["B5"])
    for name in ADDED_MS_ROWS:
        if rows[name].ratios:
            rows[name].notes.append(
                f"added (median of value − baseline): {rows[name].added():.1f} ms"
            )
        if rows[name].lockstep:
            rows[name].notes.append(
                "added with the 50 callers in lockstep waves (not judged; see bench/gateway.py): "
                f"{statistics.median(rows[name].lockstep):.1f} ms"
            )
        if rows[name].floor:
            rows[name].notes.append(
                "added by the same calls through /bench/relay: no hold, no stored audio file, no "
                "settlement (not judged; the floor of server, framework and provider client "
                f"here): {statistics.median(rows[name].floor):.1f} ms"
            )
        if rows[name].server_cpu:
            rows[name].notes.append(
                "the server's CPU per call (all its threads; not judged), through the gateway / "
                f"through /bench/relay: {_medians(rows[name].server_cpu)}"
            )
        if rows[name].streamed:
            rows[name].notes.append(
                "added by the same calls streamed (stream true, the OpenAI dialect's default; "
                f"not judged), p50 / p99: {_medians(rows[name].streamed)}"
            )
        if rows[name].shared:
            rows[name].notes.append(
                "added by the same calls with the callers and the provider fake on the "
                "server's cores as well (not judged; see bench/affinity.py), p50 / p99: "
                f"{_medians(rows[name].shared)}"
            )
        if rows[name].server_ms:
            rows[name].notes.append(
                "the server's own X-Gateway-Overhead-Ms, p50 (median over the rounds): "
                f"{statistics.median(rows[name].server_ms):.1f} ms"
            )
    if rows["B2 tail"].ratios and not rows["B2 tail"].faults:
        rows["B2 tail"].notes.append("no timeouts and no errors at 50 connections")
    return rows, before, machine()


def _b5_notes(row: Row) -> None:
    """What decides B5's "ms added", and the figures beside it (see ``gateway.b5_round``)."""
    if not row.around:
        return
    here = statistics.median(bench for bench, _, _ in row.engines)
    there = statistics.median(server for _, server, _ in row.engines)
    spread = statistics.median(iqr for _, _, iqr in row.engines)
    row.notes += [
        "added around the engine call (judged): each call less the engine time the server "
        "reports in Server-Timing, against each direct call less its own engine time, "
        f"median over the rounds: {row.median('around'):.1f} ms",
        "added, raw (median of value − baseline; not judged: the engine's own time varies "
        f"call to call, interquartile range {spread:.1f} ms): {row.added():.1f} ms",
        f"the engine's own p50: {here:.1f} ms in the bench's process, {there:.1f} ms inside "
        "the server",
        "the server's own X-Gateway-Overhead-Ms, p50 (median over the rounds): "
        f"{row.median('server_ms'):.1f} ms",
        "the floor: an answer of the same size from GET /bench/bytes, which does nothing, on "
        "the same connection (not judged; server, framework and HTTP): "
        f"{row.median('floor'):.1f} ms",
        "added around the engine call by gateway calls made back to back, with no engine call "
        "of the bench's between them (not judged: the server has not sat idle for 400 ms "
        "before each, and its threads' hand-offs find the cores awake; see bench/gateway.py): "
        f"{row.median('back_to_back'):.1f} ms",
    ]


def _medians(pairs: list[tuple[float, float]]) -> str:
    """The medians over the rounds of pairs (p50 and p99, or two sides), as "a / b ms"."""
    p50 = statistics.median(p for p, _ in pairs)
    p99 = statistics.median(p for _, p in pairs)
    return f"{p50:.1f} / {p99:.1f} ms"


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_results(path: Path, block: str) -> None:
    """Put ``block`` between the markers of ``path`` (the prose around them stays), or write
    a new file holding just the block."""
    fresh = f"{BEGIN}\n{block}{END}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        before, _, rest = text.partition(BEGIN)
        _, _, after = rest.partition(END)
        fresh = before + fresh + after.removeprefix("\n")
    path.write_text(fresh, encoding="utf-8")


def rows_named(names: list[str]) -> frozenset[str]:
    """The rows ``--skip`` names: "B6" is both "B6 p50" and "B6 p99", "B2" takes "B2 tail"."""
    rows = new_rows()
    unknown = [name for name in names if not any(_names(row, name) for row in rows)]
    if unknown:
        raise SystemExit(f"no such row: {', '.join(unknown)} (rows: B1 … B10)")
    return frozenset(row for row in rows for name in names if _names(row, name))


def _names(row: str, name: str) -> bool:
    return row == name or row.startswith(f"{name} ")


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: every server, fake and browser the run started is stopped
    by the ``with`` that started it (they run in sessions of their own, which a signal to the
    bench alone does not reach)."""
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, about 1.5 minutes")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument("--skip", action="append", default=[], help="a row to leave out (B4…)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="B4's database (emptied)")
    parser.add_argument("--results", type=Path, help="also write the table to this Markdown file")
    parser.add_argument(
        "--budget", type=float, help="seconds for the whole run (default 540, quick 180)"
    )
    args = parser.parse_args()
    sizes = gateway.Sizes()
    budget = args.budget or (180.0 if args.quick else 540.0)
    started = time.monotonic()
    plan = Plan(
        rounds=args.rounds or (2 if args.quick else 5),
        sizes=sizes.quick() if args.quick else sizes,
        writer_seconds=1.0 if args.quick else 5.0,
        # B10: 20 clicks a session a round, as the harness run alone. Each round's trivial p50
        # is the median of one session's clicks, and a ratio of medians taken from 10 samples
        # swung from 1.3x to 3.9x round to round (06 Dec); 3 rounds fit the budget.
        console_rounds=2 if args.quick else 3,
        console_clicks=5 if args.quick else 20,
        skip=rows_named(args.skip),
        postgres=args.postgres,
        # B10 needs about a third: its console build, sign-ups, browser and clicks
        server_rows_until=started + budget * 0.62,
        console_until=started + budget * 0.85,
    )
    rows, before, after = run(plan)
    elapsed = time.monotonic() - started
    table = markdown(list(rows.values()))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"{when}, {plan.rounds} interleaved rounds{' (--quick)' if args.quick else ''}, "
        f"{elapsed:.0f} s in all. Cells: min / median / max over the rounds; goals are judged "
        f"on the medians.\n\nMachine at the start: {before}\n\nAt the end: {after}\n"
    )
    print(header)
    print(table)
    if args.results:
        write_results(args.results, f"{header}\n{table}\n")
    measured = [row for row in rows.values() if row.name not in plan.skip]
    return 0 if all(row.met for row in measured) else 1


if __name__ == "__main__":
    raise SystemExit(main())
