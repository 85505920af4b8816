"""Console event round trip: a click until the state update is in the DOM, 10 sessions at once.

    .venv/bin/python -m bench.console_roundtrip [--rounds 5] [--clicks 20] [--sessions 10]
                                                [--think-ms 1000] [--trivial-sessions 1]

Starts a throw-away console (``console.local_server``, with ``AMPHION_BENCH_PAGES=1`` so the
trivial counter page exists), signs up ``--sessions`` users in-process (1,000 operations each)
and opens one browser context per user in one headless Chromium (Playwright). Then, in
interleaved rounds:

* real: every session at once clicks ``--clicks`` times on History's pager (next, previous,
  ...): each click re-checks the session in the database and reads a page of 20 operations;
* trivial: ``--trivial-sessions`` (1) session(s) click the bare Reflex counter
  (``/bench/counter``) as often, while the other sessions stay connected.

Between two clicks a session pauses as a person reading the page would: a random 0.5–1.5 ×
``--think-ms``. ``--think-ms 0`` has every session click again the moment the page updated,
which saturates this machine's two cores (the worst case, not a usage pattern).

A round trip is timed inside the page: from the click event (a capturing listener) until a
MutationObserver sees the watched element's text change, so Playwright's own protocol time is
not counted; "until the answer arrived" is the part before the first websocket message after
the click, the rest is the browser applying the delta and rendering. Prints min/median/max over
the rounds of each case's p50 and p90, and the ratio real ÷ trivial of the p50s.
Goals (issue 5): real p50 ≤ 150 ms and ≤ 1.5 × trivial.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from api.accounts.service import SESSION_COOKIE, create_session, register_user
from api.db import Database
from api.history import service as history
from api.keys.service import issue_key
from api.settings import Settings
from console.local_server import LocalConsole, local_console

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SECRET_KEY = "bench-console-secret-key-long-enough"
PASSWORD = "a sturdy bench password 42"
GOAL_P50_MS = 150.0
GOAL_RATIO = 1.5
CLICK_TIMEOUT_MS = 10_000

# Installed before any page script: notes when each websocket message arrives, so a round
# trip splits into "until the server's answer arrived" and "rendering it".
WATCH_SOCKETS_SCRIPT = """
(() => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => {
        if (window.__answeredAt === null) window.__answeredAt = performance.now();
      });
    }
  };
})();
"""
# Armed before each click: resolves with [milliseconds from the click event until the watched
# element's text differs from what it was when armed, of which until the first websocket
# message after the click arrived].
ARM_SCRIPT = """
([watchSelector, timeoutMs]) => {
  const before = document.querySelector(watchSelector)?.textContent;
  window.__roundTrip = new Promise((resolve, reject) => {
    let clickedAt = null;
    document.addEventListener("click", () => {
      clickedAt = performance.now();
      window.__answeredAt = null;
    }, {capture: true, once: true});
    const observer = new MutationObserver(() => {
      const watched = document.querySelector(watchSelector);
      if (clickedAt !== null && watched && watched.textContent !== before) {
        observer.disconnect();
        const now = performance.now();
        resolve([now - clickedAt, (window.__answeredAt ?? now) - clickedAt]);
      }
    });
    observer.observe(document.documentElement,
                     {subtree: true, childList: true, characterData: true});
    setTimeout(() => { observer.disconnect(); reject(new Error("no update")); }, timeoutMs);
  });
}
"""


@dataclass(frozen=True)
class Scenario:
    """A page, the buttons to click in turn and the element whose text each click changes."""

    name: str
    route: str
    clicks: tuple[str, ...]  # Playwright selectors, clicked in turn
    watch: str  # CSS selector of the element whose text a click changes
    ready: str  # Playwright selector that shows the page has loaded its data


def _testid(name: str) -> str:
    return f'[data-testid="{name}"]'


TRIVIAL = Scenario(
    "trivial counter",
    "/bench/counter",
    clicks=(_testid("bench-increment"),),
    watch=_testid("bench-count"),
    ready=_testid("bench-increment"),
)
# History's pager, next then previous: each click re-checks the session in the database and
# reads a page of 20 operations (with the keys that made them) of an account that has 1,000.
HISTORY_PAGER = Scenario(
    "history pager",
    "/history",
    clicks=(
        f"{_testid('pager')} button >> nth=1",
        f"{_testid('pager')} button >> nth=0",
    ),
    watch=_testid("pager"),
    ready=_testid("history-row"),
)
# The language switch (the app shell has one in the sidebar and one in the top bar): no
# database, but the whole page's text re-renders.
DASHBOARD_LANGUAGE = Scenario(
    "dashboard language switch",
    "/dashboard",
    clicks=(f"{_testid('language-switch')} >> visible=true",),
    watch=_testid("language-switch"),
    ready=_testid("balance"),
)
SCENARIOS = {"history-pager": HISTORY_PAGER, "dashboard-language": DASHBOARD_LANGUAGE}
HISTORY_ROWS = 1_000


def _settings(console: LocalConsole) -> Settings:
    return Settings(
        environment="test",
        secret_key=SECRET_KEY,
        data_dir=console.data_dir,
        database_url=console.database_url,
    )


def _sign_up_users(console: LocalConsole, count: int) -> list[str]:
    """``count`` fresh accounts (¥100 each) with a key and 1,000 operations each: their session
    tokens."""
    settings = _settings(console)
    database = Database(console.database_url)
    tokens = []
    try:
        for number in range(count):
            email = f"bench{number}-{time.time_ns()}@example.com"
            user = register_user(database, settings, email=email, password=PASSWORD)
            assert user.id is not None
            with database.write() as session:
                key, _ = issue_key(
                    session, user_id=user.id, name="bench", secret_key=settings.secret_key
                )
                for operation in range(HISTORY_ROWS):
                    history.record(
                        session,
                        user_id=user.id,
                        type=("tts", "asr", "sed")[operation % 3],
                        model="cosyvoice-v3-flash",
                        voice="longxiaochun",
                        characters=42,
                        duration_ms=3_000,
                        cost_micros=1_000 + operation,
                        api_key_id=key.id if operation % 2 else None,
                        request_id=f"req-{operation:06d}",
                    )
                _, token = create_session(session, user_id=user.id, settings=settings)
            tokens.append(token)
    finally:
        database.dispose()
    return tokens


async def _open(browser, console: LocalConsole, scenario: Scenario, token: str | None):
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    if token is not None:
        cookie = {"name": SESSION_COOKIE, "value": token, "url": console.base_url}
        await context.add_cookies([cookie])
    await context.add_init_script(WATCH_SOCKETS_SCRIPT)
    page = await context.new_page()
    await page.goto(console.url(scenario.route))
    await page.locator(scenario.ready).first.wait_for()
    await page.locator(scenario.clicks[0]).first.wait_for()
    return page


Sample = tuple[float, float]  # (click until rendered, click until the answer arrived), ms


async def _click_once(page, scenario: Scenario, number: int) -> Sample:
    await page.evaluate(ARM_SCRIPT, [scenario.watch, CLICK_TIMEOUT_MS])
    await page.locator(scenario.clicks[number % len(scenario.clicks)]).first.click()
    total, answered = await page.evaluate("window.__roundTrip")
    return float(total), float(answered)


async def _session_clicks(
    page, scenario: Scenario, clicks: int, think_seconds: float = 0.0
) -> list[Sample]:
    samples = []
    for number in range(clicks):
        samples.append(await _click_once(page, scenario, number))
        if think_seconds:
            await asyncio.sleep(random.uniform(0.5, 1.5) * think_seconds)
    return samples


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class CaseFigures:
    """Per round: p50 and p90 of the round trip, and the median time until the answer came."""

    p50s: list[float]
    p90s: list[float]
    answered: list[float]

    def add(self, samples: list[Sample]) -> None:
        totals = [total for total, _ in samples]
        self.p50s.append(statistics.median(totals))
        self.p90s.append(_percentile(totals, 0.9))
        self.answered.append(statistics.median(answered for _, answered in samples))


def _row(name: str, values: list[float], unit: str = "ms") -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    if unit == "×":
        return f"| {name} | {low:.2f} × | {mid:.2f} × | {high:.2f} × |"
    return f"| {name} | {low:.0f} {unit} | {mid:.0f} {unit} | {high:.0f} {unit} |"


@dataclass
class RoundTrips:
    """What ``measure`` found: per round, the real and trivial figures and real ÷ trivial."""

    real: CaseFigures
    trivial: CaseFigures
    ratios: list[float]
    load_at_start: float


async def measure(args: argparse.Namespace, console: LocalConsole) -> RoundTrips:
    """Open the sessions and click through ``args.rounds`` interleaved rounds."""
    from playwright.async_api import async_playwright

    scenario = SCENARIOS[args.scenario]
    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure
    tokens = await asyncio.to_thread(_sign_up_users, console, args.sessions)
    started = time.monotonic()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        real_pages = [await _open(browser, console, scenario, token) for token in tokens]
        trivial_pages = [
            await _open(browser, console, TRIVIAL, None) for _ in range(args.trivial_sessions)
        ]
        think = args.think_ms / 1000
        # Warm-up (first renders, JIT, connection pools): not counted.
        await asyncio.gather(*(_session_clicks(page, scenario, 2) for page in real_pages))
        await asyncio.gather(*(_session_clicks(page, TRIVIAL, 2) for page in trivial_pages))

        real, trivial, ratios = CaseFigures([], [], []), CaseFigures([], [], []), []
        for round_number in range(args.rounds):
            if time.monotonic() - started > args.max_seconds:
                print(f"stopped after {round_number} rounds (--max-seconds)", file=sys.stderr)
                break
            per_session = await asyncio.gather(
                *(_session_clicks(page, scenario, args.clicks, think) for page in real_pages)
            )
            real.add([sample for samples in per_session for sample in samples])
            per_session = await asyncio.gather(
                *(_session_clicks(page, TRIVIAL, args.clicks, think) for page in trivial_pages)
            )
            trivial.add([sample for samples in per_session for sample in samples])
            ratios.append(real.p50s[-1] / trivial.p50s[-1])
        await browser.close()
    return RoundTrips(real, trivial, ratios, load_at_start)


async def _run(args: argparse.Namespace, console: LocalConsole) -> int:
    measured = await measure(args, console)
    real, trivial, ratios = measured.real, measured.trivial, measured.ratios
    scenario = SCENARIOS[args.scenario]
    if not ratios:
        print("no round completed", file=sys.stderr)
        return 1
    rounds = len(ratios)
    print(
        f"{args.sessions} sessions × {args.clicks} clicks ({scenario.name}) vs "
        f"{args.trivial_sessions} session(s) × {args.clicks} clicks (trivial counter), "
        f"think time {args.think_ms:.0f} ms, {rounds} interleaved rounds, one Chromium, "
        f"{os.cpu_count()} cores, load average {measured.load_at_start:.1f} at the start"
    )
    print("| per round | min | median | max |")
    print("|---|---|---|---|")
    print(_row("real p50", real.p50s))
    print(_row("real p90", real.p90s))
    print(_row("real: until the answer arrived (p50)", real.answered))
    print(_row("trivial p50", trivial.p50s))
    print(_row("trivial p90", trivial.p90s))
    print(_row("trivial: until the answer arrived (p50)", trivial.answered))
    print(_row("ratio real ÷ trivial (p50)", ratios, unit="×"))
    answer_ratios = [r / t for r, t in zip(real.answered, trivial.answered, strict=True)]
    print(_row("ratio real ÷ trivial, until the answer arrived", answer_ratios, unit="×"))
    real_p50 = statistics.median(real.p50s)
    ratio = statistics.median(ratios)
    met = real_p50 <= GOAL_P50_MS and ratio <= GOAL_RATIO
    print(
        f"goal p50 ≤ {GOAL_P50_MS:.0f} ms and ≤ {GOAL_RATIO} × trivial: "
        f"{real_p50:.0f} ms, {ratio:.2f} × — {'met' if met else 'MISSED'}"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clicks", type=int, default=20, help="clicks per session per round")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument(
        "--think-ms", type=float, default=1000.0, help="mean pause between a session's clicks"
    )
    parser.add_argument("--trivial-sessions", type=int, default=1)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="history-pager")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop starting rounds")
    return parser


@contextmanager
def bench_console() -> Iterator[LocalConsole]:
    """A throw-away console with the trivial counter page, in a temporary directory."""
    env = {
        "AMPHION_SECRET_KEY": SECRET_KEY,
        "AMPHION_BENCH_PAGES": "1",
        "AMPHION_SIGNUP_LIMIT_PER_HOUR": "10000",
    }
    with tempfile.TemporaryDirectory(prefix="amphion-bench-console-") as root:
        with local_console(Path(root), env) as console:
            yield console


def main() -> int:
    args = parser().parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    with bench_console() as console:
        return asyncio.run(_run(args, console))


if __name__ == "__main__":
    raise SystemExit(main())
