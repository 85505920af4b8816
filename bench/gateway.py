"""Rows B1, B2, B5, B6, B8 and B9: the API server against a baseline measured in the same round.

Each ``*_round`` coroutine measures its baseline and its value back to back (so both see the
same machine load) and adds one round to its ``Row``. ``Gateway`` holds what they share: the
throw-away server (``bench.server``), an API key, the provider fake (``bench.provider_fake``)
and the offline engine that ``tts-1``'s voice ``alloy`` speaks with, loaded in this process
for the "engine called directly" baselines.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from api import audio
from api.engines.base import Pcm, SynthesisRequest, TTSEngine
from bench.affinity import context_switches, cores_apart, cpu_seconds, process_tree
from bench.load import Callers, LoadResult, Send, load
from bench.provider_fake import ANSWER_SECONDS, HOSTED_MODEL, PROVIDER_KEY, ProviderFake
from bench.table import Row

# 200 characters of English, as in the B5/B8.
TEXT_200 = (
    "The quick brown fox jumps over the lazy dog while the river keeps running to the sea. "
    "A calm voice reads this sentence aloud, so that every listener can follow along easily."
)[:200]
ENGINE, ENGINE_VOICE = "piper", "joe"  # what catalog voice "alloy" speaks English with
SPEECH_RATE = 24_000  # B9 encodes its MP3 at the OpenAI dialect's pcm rate (with a resample)
CONNECTIONS = 50


@dataclass(frozen=True)
class Sizes:
    """Bounded counts per round (``quick`` divides them)."""

    cheap_requests: int = 2000  # B1, each side
    cheap_connections: int = 10
    debit_requests: int = 600  # B2, each side
    tts_calls: int = 10  # B5, each side, one at a time (an engine call varies by ±30 ms)
    tts_back_to_back: int = 5  # B5, gateway calls back to back beside the judged ones (not judged)
    hosted_requests: int = 300  # B6, each side, 50 at a time
    throughput_calls: int = 8  # B8, each side, 4 at a time
    mp3_streams: int = 3  # B9

    def quick(self) -> Sizes:
        return Sizes(400, 10, 150, 3, 5, 100, 4, 2)


class OneConnection:
    """One kept-alive connection to the server through the standard library's HTTP client, for
    calls made one at a time (B5), so that the figure is the server's and not the client's:
    httpx took 2.8 ms longer than this to send B5's call and read its 420 KB answer on the
    machine of 06 Dec (5.5 against 2.7 ms outside the server's own time, 12 calls each)."""

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self._connection = http.client.HTTPConnection(url.host, url.port, timeout=120)

    def reopen(self) -> None:
        """A new connection, opened with one call not counted: the server closes one left idle
        while other rows ran (and the standard client does not reconnect by itself)."""
        self._connection.close()
        self.timed("GET", "/bench/hello")

    def timed(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[float, httpx.Response]:
        """(ms until the whole answer was read, the answer); a non-2xx answer raises."""
        started = time.perf_counter()
        self._connection.request(method, path, body=body, headers=headers or {})
        answer = self._connection.getresponse()
        content = answer.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        response = httpx.Response(answer.status, headers=answer.getheaders(), content=content)
        if not response.is_success:
            raise RuntimeError(f"{method} {path}: {answer.status} {content[:200]!r}")
        return elapsed_ms, response

    async def aclose(self) -> None:  # (for contextlib.aclosing beside the async clients)
        self._connection.close()


@dataclass
class Gateway:
    callers: Callers  # CONNECTIONS clients of the server under test
    one: OneConnection  # one more, for calls made one at a time
    key: str
    fake: ProviderFake
    server_pid: int
    engine: TTSEngine
    sizes: Sizes

    @property
    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


def _speech_body(model: str, text: str, fmt: str = "wav") -> dict[str, object]:
    return {
        "model": model,
        "input": text,
        "voice": "alloy",
        "response_format": fmt,
        "stream": False,
    }


def _hello(client: httpx.AsyncClient):  # noqa: ANN202 - the load client's Send
    return client.get("/bench/hello")


async def _hello_load(gateway: Gateway, connections: int, requests: int) -> LoadResult:
    return await load(gateway.callers, _hello, connections=connections, requests=requests)


def _checked(result: LoadResult, what: str) -> LoadResult:
    if not result.latencies:
        raise RuntimeError(f"{what}: no request succeeded ({result.errors} errors)")
    return result


async def warm_up(gateway: Gateway) -> None:
    """Open the client's connections and grow the server's worker threads before round 1, so
    the first round's baselines are not measured on a cold server (not counted)."""
    await _hello_load(gateway, CONNECTIONS, 4 * CONNECTIONS)
    await load(
        gateway.callers,
        lambda c: c.post("/bench/debit", headers=gateway.auth),
        connections=CONNECTIONS,
        requests=2 * CONNECTIONS,
    )


# --- B1, B2: cheap authenticated calls vs hello-world ------------------------------------------


async def b1_round(gateway: Gateway, row: Row) -> None:
    sizes = gateway.sizes
    hello = _checked(
        await _hello_load(gateway, sizes.cheap_connections, sizes.cheap_requests), "hello"
    )
    account = _checked(
        await load(
            gateway.callers,
            lambda c: c.get("/api/account", headers=gateway.auth),
            connections=sizes.cheap_connections,
            requests=sizes.cheap_requests,
        ),
        "GET /api/account",
    )
    row.add(hello.per_second, account.per_second)


async def b2_round(gateway: Gateway, rate: Row, tail: Row) -> None:
    """``rate``: debits/s ÷ hello/s at 50 connections; ``tail``: the debits' p99 ÷ p50."""
    requests = gateway.sizes.debit_requests
    hello = _checked(await _hello_load(gateway, CONNECTIONS, requests), "hello")
    debit = _checked(
        await load(
            gateway.callers,
            lambda c: c.post("/bench/debit", headers=gateway.auth),
            connections=CONNECTIONS,
            requests=requests,
        ),
        "POST /bench/debit",
    )
    rate.add(hello.per_second, debit.per_second)
    tail.add(debit.p(0.5), debit.p(0.99))
    if debit.timeouts or debit.errors:
        tail.faults += debit.timeouts + debit.errors
        tail.notes.append(f"{debit.timeouts} timeouts, {debit.errors} errors in one round")


# --- B5, B8: TTS through the gateway vs the engine in-process ----------------------------------


def engine_wav(engine: TTSEngine, text: str = TEXT_200) -> bytes:
    """What "calling the engine directly" takes to make the gateway's answer: synthesize and
    write a WAV file at the engine's own rate, as the OpenAI dialect answers ``wav`` when no
    ``sample_rate`` is asked for (Piper speaks at 22.05 kHz; only ``pcm`` defaults to 24 kHz).

    Until 06 Dec this baseline also resampled to 24 kHz, about 2.5 ms of work the gateway did
    not do for this request: B5's "added" was that much too small."""
    return audio.encode(_synthesized(engine, text), "wav")


def _synthesized(engine: TTSEngine, text: str = TEXT_200) -> Pcm:
    return engine.synthesize(SynthesisRequest(text=text, voice=ENGINE_VOICE))


async def gateway_wav(client: httpx.AsyncClient, key: str) -> httpx.Response:
    response = await client.post(
        "/v1/audio/speech", json=_speech_body("tts-1", TEXT_200), headers={"X-API-Key": key}
    )
    response.raise_for_status()
    return response


def timed_engine_wav(engine: TTSEngine) -> tuple[float, float]:
    """``engine_wav`` timed: (ms for the whole call, ms of it inside ``engine.synthesize``)."""
    started = time.perf_counter()
    pcm = _synthesized(engine)
    synthesized = time.perf_counter()
    audio.encode(pcm, "wav")
    return (time.perf_counter() - started) * 1000, (synthesized - started) * 1000


async def b5_round(gateway: Gateway, row: Row) -> None:
    """p50 of sequential calls, in ms: gateway (value) vs engine in-process (baseline), and
    what the gateway adds around the engine call, which decides the row's "≤ 5 ms added".

    One call to the engine varies by ±10 ms or more here from one call to the next (its two
    threads share two cores with whatever else runs), so a difference of two medians of 10
    calls moves by more than the 5 ms it is judged against. Both sides time their engine
    call: the bench around ``engine.synthesize``, the server in ``Server-Timing``'s ``engine``
    (the same clock as ``X-Gateway-Overhead-Ms``). The time around it, the whole call less
    the engine's own time, is what the gateway adds in every call (HTTP both ways, the 420 KB
    answer, authentication, hold, stored file, settlement) with none of the engine's jitter.
    The engine's own p50 on both sides is kept too (``engines``): were the engine slower
    inside the server, that would show there and in the raw figures.

    Taking turns leaves the server idle for the 400 ms of each of the bench's own engine calls,
    and on this kind of virtual machine (its kernel started with ``haltpoll.guest_halt_poll_ns=0``)
    a thread woken on an idle core waits 130-200 µs for it against 10-60 µs on a busy one; a
    gateway call hands over between threads several times. So a few gateway calls are also made
    back to back, and what they add around the engine is printed beside the judged figure."""
    direct, direct_around, through, through_around, reported = [], [], [], [], []
    engine_here, engine_there, floor = [], [], []
    body = json.dumps(_speech_body("tts-1", TEXT_200)).encode()
    headers = {"X-API-Key": gateway.key, "Content-Type": "application/json"}
    gateway.one.reopen()
    for _ in range(gateway.sizes.tts_calls):  # alternate call by call
        total_ms, engine_ms = timed_engine_wav(gateway.engine)
        direct.append(total_ms)
        direct_around.append(total_ms - engine_ms)
        engine_here.append(engine_ms)
        elapsed_ms, answer = gateway.one.timed("POST", "/v1/audio/speech", body, headers)
        timing = server_timing(answer.headers)
        through.append(elapsed_ms)
        through_around.append(elapsed_ms - timing["engine"])
        engine_there.append(timing["engine"])
        reported.append(timing["gateway"])
        floor.append(gateway.one.timed("GET", f"/bench/bytes?size={len(answer.content)}")[0])
    back_to_back = []
    for _ in range(gateway.sizes.tts_back_to_back):
        elapsed_ms, answer = gateway.one.timed("POST", "/v1/audio/speech", body, headers)
        back_to_back.append(elapsed_ms - server_timing(answer.headers)["engine"])
    median = statistics.median
    row.back_to_back.append(median(back_to_back) - median(direct_around))
    row.add(median(direct), median(through))
    row.around.append(median(through_around) - median(direct_around))
    row.floor.append(median(floor))
    quartiles = statistics.quantiles(engine_here, n=4)
    row.engines.append((median(engine_here), median(engine_there), quartiles[2] - quartiles[0]))
    row.server_ms.append(median(reported))


def server_timing(headers: httpx.Headers) -> dict[str, float]:
    """The server's ``Server-Timing`` in ms by name: ``engine`` (inside engines) and
    ``gateway`` (outside them: ``X-Gateway-Overhead-Ms``)."""
    timing = {}
    for metric in headers["Server-Timing"].split(","):
        name, _, duration = metric.strip().partition(";dur=")
        timing[name] = float(duration)
    return timing


async def b8_round(gateway: Gateway, row: Row, concurrency: int = 4) -> None:
    """Calls per second with ``concurrency`` at once: gateway (value) vs engine (baseline)."""
    calls = gateway.sizes.throughput_calls
    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: engine_wav(gateway.engine), range(calls)))
        engine_rate = calls / (time.perf_counter() - started)
    through = _checked(
        await load(
            gateway.callers,
            lambda c: gateway_wav(c, gateway.key),
            connections=concurrency,
            requests=calls,
        ),
        "TTS through the gateway",
    )
    row.add(engine_rate, through.per_second)


# --- B6: hosted provider behind the gateway vs the provider directly ---------------------------


# What B6's calls say, through the gateway and (``UPSTREAM_BODY``) straight to the fake.
HOSTED_TEXT = "Hello there."


def hosted_speech(
    client: httpx.AsyncClient, key: str, path: str = "/v1/audio/speech", *, stream: bool = False
) -> Awaitable[httpx.Response]:
    """The hosted model through the gateway (the provider fake speaks); ``path`` "/bench/relay"
    makes the same call without the hold, the stored file and the settlement; ``stream`` asks
    for the audio as it comes (the latency is still until the whole body is read)."""
    body = {**_speech_body(HOSTED_MODEL, HOSTED_TEXT), "stream": stream}
    return client.post(path, json=body, headers={"X-API-Key": key})


async def hosted_speech_timed(
    client: httpx.AsyncClient, key: str, reported: list[float]
) -> httpx.Response:
    """``hosted_speech``, noting in ``reported`` what the server says was its own part of each
    answered call (``Server-Timing``'s gateway, ms)."""
    response = await hosted_speech(client, key)
    if response.is_success:
        reported.append(server_timing(response.headers)["gateway"])
    return response


# What the gateway asks the provider fake for ``hosted_speech``: B6's baseline asks it directly.
UPSTREAM_BODY = {
    "model": "tts-1",
    "input": HOSTED_TEXT,
    "voice": "alloy",
    "response_format": "wav",
}


def provider_speech(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    """``hosted_speech``'s upstream call, straight to the provider fake."""
    headers = {"Authorization": f"Bearer {PROVIDER_KEY}"}
    return client.post("/v1/audio/speech", json=UPSTREAM_BODY, headers=headers)


@dataclass(frozen=True)
class HostedPair:
    """B6's judged pair: calls straight to the provider fake, then the same calls through the
    gateway, with what the server spent on the second half."""

    direct: LoadResult
    through: LoadResult
    cpu_ms: float  # the server's CPU a call through it, all its threads
    switches: tuple[float, float]  # its context switches a call: voluntary, involuntary


async def hosted_pair(
    fake_url: str,
    callers: Callers,
    through: Send,
    server_pid: int,
    requests: int,
    stagger: float,
    counting: Callable[[], None] | None = None,
) -> HostedPair:
    """``requests`` calls, ``CONNECTIONS`` in flight with starts spread over ``stagger``
    seconds, straight to the fake at ``fake_url`` and then ``through`` the server of
    ``server_pid``. ``counting`` is told when the calls that count begin."""
    async with Callers(fake_url, CONNECTIONS) as upstream:
        # Not counted: one call per caller on each side first. Other rows (or other servers)
        # ran since, and the connections that went idle (the callers' and the server's own to
        # the provider, which it drops after a few seconds) are opened again here.
        await load(upstream, provider_speech, connections=CONNECTIONS, requests=CONNECTIONS)
        await load(callers, through, connections=CONNECTIONS, requests=CONNECTIONS)
        if counting is not None:
            counting()
        direct = _checked(
            await load(upstream, provider_speech, connections=CONNECTIONS, requests=requests,
                       stagger=stagger),
            "the provider fake",
        )  # fmt: skip
    server = process_tree(server_pid)
    cpu_before, switches_before = cpu_seconds(server), context_switches(server)
    answered = _checked(
        await load(callers, through, connections=CONNECTIONS, requests=requests,
                   stagger=stagger),
        "the hosted model through the gateway",
    )  # fmt: skip
    cpu_after, switches_after = cpu_seconds(server), context_switches(server)
    return HostedPair(
        direct,
        answered,
        (cpu_after - cpu_before) * 1000 / requests,
        (
            (switches_after[0] - switches_before[0]) / requests,
            (switches_after[1] - switches_before[1]) / requests,
        ),
    )


async def b6_round(gateway: Gateway, p50: Row, p99: Row) -> None:
    """50 hosted calls in flight, through the gateway vs straight to the provider fake.

    The judged figures keep 50 in flight with arrivals spread over one provider answer (the
    callers start staggered over ``ANSWER_SECONDS``). Started together, closed-loop callers in
    front of a fixed delay stay in lockstep for the whole run: every request of a wave arrives
    in the same millisecond, and the median waits for 25 others to be admitted, a measure of
    CPU saturation that no independent clients produce. That figure is kept as a note.

    The callers and the fake stand for other machines: while the row is measured, the server
    has cores of its own and they share the one left (``bench.affinity``). The same calls with
    all three free to run on every core follow, as a note.

    After the judged pair, the same staggered calls go through ``/bench/relay``: what the
    gateway adds without its guarantees (no hold, no stored file, no settlement), a note too.
    So are the same calls streamed, as the OpenAI dialect answers by default: every chunk is a
    thread hop and an ASGI message of its own, which the judged whole-file answer does not pay."""
    requests = gateway.sizes.hosted_requests
    reported: list[float] = []
    cpu_ms: list[float] = []  # the server's CPU per call of each ``both``'s gateway run

    def through_gateway(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return hosted_speech_timed(client, gateway.key, reported)

    def server_cpu() -> float:
        return cpu_seconds(process_tree(gateway.server_pid))

    async def both(stagger: float) -> tuple[LoadResult, LoadResult]:
        pair = await hosted_pair(
            gateway.fake.base_url, gateway.callers, through_gateway, gateway.server_pid,
            requests, stagger, counting=reported.clear,
        )  # fmt: skip
        direct, through = pair.direct, pair.through
        cpu_ms.append(pair.cpu_ms)
        if through.timeouts or through.errors:
            p99.faults += through.timeouts + through.errors
            p99.notes.append(f"{through.timeouts} timeouts, {through.errors} errors in one round")
        return direct, through

    with cores_apart(gateway.server_pid, [gateway.fake.pid]) as apart:
        direct, through = await both(ANSWER_SECONDS)
        p50.add(direct.p(0.5), through.p(0.5))
        p99.add(direct.p(0.99), through.p(0.99))
        p50.server_ms.append(statistics.median(reported))
        cpu_before = server_cpu()
        relayed = _checked(
            await load(gateway.callers, lambda c: hosted_speech(c, gateway.key, "/bench/relay"),
                       connections=CONNECTIONS, requests=requests, stagger=ANSWER_SECONDS),
            "the hosted model through /bench/relay",
        )  # fmt: skip
        p50.floor.append(relayed.p(0.5) - direct.p(0.5))
        p50.server_cpu.append((cpu_ms[0], (server_cpu() - cpu_before) * 1000 / requests))
        streamed = _checked(
            await load(gateway.callers, lambda c: hosted_speech(c, gateway.key, stream=True),
                       connections=CONNECTIONS, requests=requests, stagger=ANSWER_SECONDS),
            "the hosted model streamed through the gateway",
        )  # fmt: skip
        p50.streamed.append(_added_p50_p99(direct, streamed))
        at_p50, at_p99 = _added_p50_p99(*await both(0.0))  # lockstep waves: context only
        p50.lockstep.append(at_p50)
        p99.lockstep.append(at_p99)
    if apart:  # the judged calls again, on shared cores: context only
        p50.shared.append(_added_p50_p99(*await both(ANSWER_SECONDS)))


def _added_p50_p99(direct: LoadResult, through: LoadResult) -> tuple[float, float]:
    """What ``through`` added to ``direct``, in ms, at p50 and at p99."""
    return through.p(0.5) - direct.p(0.5), through.p(0.99) - direct.p(0.99)


# --- B9: first MP3 bytes after the first PCM chunk ---------------------------------------------


def first_chunks_ms(engine: TTSEngine, text: str = TEXT_200) -> tuple[float, float]:
    """(ms until the engine's first PCM chunk, ms until the streaming MP3 encoder's first bytes),
    both from the call, as the streaming endpoints chain them."""
    started = time.perf_counter()
    first_pcm: list[float] = []

    def chunks() -> Iterator[Pcm]:
        for chunk in engine.stream(SynthesisRequest(text=text, voice=ENGINE_VOICE)):
            if not first_pcm:
                first_pcm.append(time.perf_counter() - started)
            yield chunk

    encoded = audio.encode_stream(chunks(), "mp3", SPEECH_RATE)
    next(encoded)
    first_mp3 = time.perf_counter() - started
    encoded.close()
    return first_pcm[0] * 1000, first_mp3 * 1000


async def b9_round(gateway: Gateway, row: Row) -> None:
    pairs = [first_chunks_ms(gateway.engine) for _ in range(gateway.sizes.mp3_streams)]
    row.add(statistics.median(p for p, _ in pairs), statistics.median(m for _, m in pairs))
