"""Row B6's load against servers of several revisions at once, taking turns round by round.

    .venv/bin/python -m bench.compare HEAD~1 .          # the last commit against the work tree
    .venv/bin/python -m bench.compare main HEAD --rounds 8

Why: this machine's speed moves by a third within minutes (the same code measured 2.5-3.3 ms
of server CPU a call across six servers in ten minutes, 07 Dec), so B6's figure from one run
against another's says more about the minutes than the change. Here a server of each revision
runs side by side and they take turns (A B, then B A, …): each round's pair sees the same
minute, and the summary counts the rounds in which a revision beat the first one.

Each revision is checked out in a temporary git worktree, removed at the end; ``.`` is this
work tree as it is, uncommitted changes included. Every server runs on this checkout's
virtual environment: a revision that changed dependencies needs them installed first.

A round is B6's judged measure (``bench.gateway.hosted_pair``): the server on cores of its own
(``--shared``: every process free to use every core, as B6's note), 50 callers staggered over
one provider answer, first straight to the provider fake, then through the server. Per
revision and round: what the server added at p50 and p99; the p50 of what it reports as its
own part (``Server-Timing``'s "gateway": from the request's arrival in the app to its answer,
less the time in the engine; granian's part, the provider client's and the extra hop on
loopback are outside it); its CPU per call; and its context switches per call (voluntary: a
thread waited for I/O, a lock or the GIL; involuntary: the scheduler took the core from a
thread that could still run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import tempfile
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.affinity import cores_apart
from bench.gateway import CONNECTIONS, Sizes, hosted_pair, hosted_speech_timed
from bench.load import Callers, load
from bench.provider_fake import ANSWER_SECONDS, ProviderFake, provider_fake, server_env
from bench.server import REPO_ROOT, Server, api_server

WORK_TREE = "."


@dataclass(frozen=True)
class Sample:
    """One revision's figures in one round (ms; switches per call)."""

    added_p50: float
    added_p99: float
    own_p50: float  # the server's own measure of its part (Server-Timing "gateway"), p50
    cpu_ms: float
    voluntary: float
    involuntary: float

    def line(self) -> str:
        return (
            f"added p50 {self.added_p50:5.2f} ms, p99 {self.added_p99:6.2f} ms; "
            f"its own p50 {self.own_p50:4.2f} ms; "
            f"server CPU {self.cpu_ms:4.2f} ms a call; context switches a call "
            f"{self.voluntary:4.1f} voluntary, {self.involuntary:4.1f} involuntary"
        )


@dataclass
class Contender:
    revision: str
    server: Server
    key: str
    callers: Callers
    own_ms: list[float] = field(default_factory=list)  # Server-Timing "gateway" of each call

    def call(self, client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return hosted_speech_timed(client, self.key, self.own_ms)


@contextlib.contextmanager
def checkout(revision: str, target: Path) -> Iterator[Path]:
    """``revision`` in a temporary worktree at ``target`` (this tree itself for ``.``)."""
    if revision == WORK_TREE:
        yield REPO_ROOT
        return
    git = ["git", "-C", str(REPO_ROOT), "worktree"]
    subprocess.run(
        [*git, "add", "--detach", str(target), revision], check=True, capture_output=True
    )
    try:
        yield target
    finally:
        subprocess.run([*git, "remove", "--force", str(target)], check=False, capture_output=True)


async def measure(contender: Contender, fake: ProviderFake, requests: int, shared: bool) -> Sample:
    """B6's judged pair for one server (``gateway.hosted_pair``), on cores of its own unless
    ``shared``; any call that failed fails the comparison."""
    apart = contextlib.nullcontext() if shared else cores_apart(contender.server.pid, [fake.pid])
    with apart:
        pair = await hosted_pair(
            fake.base_url, contender.callers, contender.call, contender.server.pid, requests,
            ANSWER_SECONDS, counting=contender.own_ms.clear,
        )  # fmt: skip
    for result, what in ((pair.direct, "the provider fake"), (pair.through, contender.revision)):
        if result.errors or result.timeouts:
            raise RuntimeError(f"{what}: {result.errors} errors, {result.timeouts} timeouts")
    return Sample(
        added_p50=pair.through.p(0.5) - pair.direct.p(0.5),
        added_p99=pair.through.p(0.99) - pair.direct.p(0.99),
        own_p50=statistics.median(contender.own_ms),
        cpu_ms=pair.cpu_ms,
        voluntary=pair.switches[0],
        involuntary=pair.switches[1],
    )


def summary(revisions: list[str], samples: list[list[Sample]]) -> list[str]:
    """Medians per revision; for each after the first, the rounds in which its p50 was lower."""
    lines = []
    for index, (revision, mine) in enumerate(zip(revisions, samples, strict=True)):
        median = Sample(
            *(statistics.median(getattr(s, name) for s in mine) for name in Sample.__annotations__)
        )
        beat = ""
        if index:
            wins = sum(m.added_p50 < f.added_p50 for m, f in zip(mine, samples[0], strict=True))
            beat = f"; p50 lower than {revisions[0]}'s in {wins} of {len(mine)} rounds"
        lines.append(f"{revision}: median {median.line()}{beat}")
    return lines


async def compare(
    revisions: list[str], rounds: int, requests: int, shared: bool = False
) -> list[str]:
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="amphion-compare-")))
        codes = [
            stack.enter_context(checkout(revision, scratch / f"code{index}"))
            for index, revision in enumerate(revisions)
        ]
        fake = stack.enter_context(provider_fake())
        env = server_env(fake, scratch)
        servers = [stack.enter_context(api_server(env, code)) for code in codes]
        async with contextlib.AsyncExitStack() as clients:
            contenders = []
            for revision, server in zip(revisions, servers, strict=True):
                callers = await clients.enter_async_context(Callers(server.base_url, CONNECTIONS))
                contender = Contender(revision, server, server.new_api_key(), callers)
                # Warm-up, not counted: first imports, connection pools, worker threads.
                await load(
                    callers, contender.call, connections=CONNECTIONS, requests=3 * CONNECTIONS
                )
                contenders.append(contender)
            samples: list[list[Sample]] = [[] for _ in contenders]
            for number in range(rounds):
                turns = list(range(len(contenders)))
                for index in turns if number % 2 == 0 else reversed(turns):
                    sample = await measure(contenders[index], fake, requests, shared)
                    samples[index].append(sample)
                    print(f"round {number + 1} {revisions[index]}: {sample.line()}", flush=True)
    return summary(revisions, samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help=f"git revisions ('{WORK_TREE}': this tree)")
    parser.add_argument("--rounds", type=int, default=6, help="turns each (default 6)")
    parser.add_argument(
        "--requests",
        type=int,
        default=Sizes().hosted_requests,
        help="calls a side in each turn (default: B6's)",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="the server shares the cores with the callers and the fake (B6's note)",
    )
    args = parser.parse_args(argv)
    for line in asyncio.run(compare(args.revisions, args.rounds, args.requests, args.shared)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
