"""Circuit breakers for hosted providers: a provider that keeps failing is refused fast.

When a provider answers 5xx, times out or refuses connections again and again, waiting for each
request to fail costs the caller a timeout and the platform a worker thread. One
``CircuitBreaker`` per provider ("openai", "dashscope", "fish": every model routed to a provider
shares its health, because an outage takes the whole provider down) counts those failures:

- **closed**: requests go through; ``failure_threshold`` consecutive failures open it.
- **open**: requests are refused at once with ``CircuitOpenError`` (503, code
  ``UPSTREAM_ERROR``, ``Retry-After``) without calling the provider. The engine registry asks
  the engine (``ready``) on every lookup, and every use case looks its engine up before it
  holds credit, so a refused request holds nothing.
- **half-open**: once ``open_seconds`` have passed, one trial request goes through; its success
  closes the circuit, its failure opens it for another ``open_seconds``. Other requests are
  refused while the trial runs; a trial that never reports back (the caller stopped before
  calling the provider) stops counting after ``open_seconds``, so the circuit cannot stick.

What counts as a failure (``is_failure``): a timeout, a connection that could not be made or
broke off, a 5xx, an answer that is not what the protocol promises. A 4xx (429, a rejected
user key) means the provider is up and answering, so it counts as a success.

State lives in memory, per process (``MemoryCircuitStore``), unless ``AMPHION_REDIS_URL`` is set:
then it lives in Redis (``RedisCircuitStore``, one Lua script per step, so the transitions are
atomic) and every web and job worker sees the same circuit, so ``failure_threshold`` failures
anywhere open it everywhere and one trial request speaks for all. ``circuit_board(settings)``
is the process-wide set of breakers; ``CircuitGuardedEngine`` puts one in front of an adapter.
The provider clients that are not engines — DashScope file transcription and voice enrollment,
Fish cloning — take their provider's breaker as ``breaker=``: each of their HTTP requests then
goes through it (``ProviderHttp``), and their ``ready()`` refuses before any credit is held.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from api.engines.providers.common import ProviderError
from api.errors import ServiceUnavailableError, UpstreamTimeoutError
from api.settings import Settings

logger = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
Outcome = Literal["success", "failure", "abandoned"]
Clock = Callable[[], float]
Result = TypeVar("Result")


class CircuitOpenError(ServiceUnavailableError):
    """503: the provider failed too often lately; ``retry_after`` says when to try again."""

    code = "UPSTREAM_ERROR"

    def __init__(self, provider: str, retry_after: float):
        super().__init__(f"{provider} is failing; requests are paused, try again later")
        self.retry_after = max(1, math.ceil(retry_after))


def is_failure(error: BaseException) -> bool:
    """Whether ``error`` says the provider is unwell (see the module docstring)."""
    if isinstance(error, UpstreamTimeoutError):
        return True
    if isinstance(error, ProviderError):
        status = error.upstream_status
        return status is None or status >= 500
    return False


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or not self.open_seconds > 0:
            raise ValueError("a circuit needs a threshold of at least 1 and a positive open time")

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerPolicy:
        return cls(settings.circuit_failure_threshold, settings.circuit_open_seconds)


@dataclass(frozen=True)
class CircuitSnapshot:
    """What an operator sees: the state and, while refusing, seconds until the next trial."""

    name: str
    state: State
    consecutive_failures: int
    retry_after: float


@dataclass
class _Circuit:
    failures: int = 0  # consecutive
    opened_at: float | None = None  # None: closed
    trial_started: float | None = None  # a half-open trial is running since then


class MemoryCircuitStore:
    """Circuit state in this process (the default): each worker judges its providers alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def wait(self, name: str, now: float, policy: BreakerPolicy, *, claim: bool) -> float:
        with self._lock:
            circuit = self._circuits.get(name)
            if circuit is None:
                return 0.0
            wait = _wait(circuit.opened_at, circuit.trial_started, now, policy.open_seconds)
            if claim and wait <= 0 and circuit.opened_at is not None:
                circuit.trial_started = now
            return wait

    def record(self, name: str, outcome: Outcome, now: float, policy: BreakerPolicy) -> None:
        with self._lock:
            circuit = self._circuits.setdefault(name, _Circuit())
            if outcome == "success":
                self._circuits[name] = _Circuit()
            elif outcome == "failure":
                circuit.failures += 1
                if circuit.opened_at is not None or circuit.failures >= policy.failure_threshold:
                    # Opened now, or a failed trial (or late failure) starts another round.
                    circuit.opened_at, circuit.trial_started = now, None
            else:
                circuit.trial_started = None

    def snapshot(self, name: str, now: float, policy: BreakerPolicy) -> CircuitSnapshot:
        with self._lock:
            circuit = self._circuits.get(name) or _Circuit()
            failures, opened_at, trial = circuit.failures, circuit.opened_at, circuit.trial_started
        return _snapshot(name, failures, opened_at, trial, now, policy)


def _wait(
    opened_at: float | None, trial_started: float | None, now: float, open_seconds: float
) -> float:
    """Seconds until a call may go through (0: now)."""
    if opened_at is None:
        return 0.0
    cool_down_left = opened_at + open_seconds - now
    if cool_down_left > 0:
        return cool_down_left
    if trial_started is not None:
        # Another request is the trial; a trial that never reported back is given up on.
        trial_left = trial_started + open_seconds - now
        if trial_left > 0:
            return min(trial_left, 1.0)
    return 0.0


def _snapshot(
    name: str,
    failures: int,
    opened_at: float | None,
    trial_started: float | None,
    now: float,
    policy: BreakerPolicy,
) -> CircuitSnapshot:
    state: State = "closed"
    if opened_at is not None:
        state = "open" if opened_at + policy.open_seconds > now else "half_open"
    wait = _wait(opened_at, trial_started, now, policy.open_seconds)
    return CircuitSnapshot(name, state, failures, wait)


# The same state machine as MemoryCircuitStore, run atomically inside Redis so every worker
# sees one circuit. KEYS[1] is the circuit's hash (failures, opened_at, trial_started); times
# are the callers' wall clocks (ARGV), floats travel as strings (Lua numbers come back as ints).
_WAIT_SCRIPT = """
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at'))
if not opened then return '0' end
local now, open = tonumber(ARGV[1]), tonumber(ARGV[2])
if opened + open - now > 0 then return tostring(opened + open - now) end
local trial = tonumber(redis.call('HGET', KEYS[1], 'trial_started'))
if trial and trial + open - now > 0 then return tostring(math.min(trial + open - now, 1)) end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'trial_started', ARGV[1]) end
return '0'
"""
_RECORD_SCRIPT = """
local outcome, now, threshold, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if outcome == 'success' then
  redis.call('DEL', KEYS[1])
  return 0
end
if outcome == 'failure' then
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if redis.call('HEXISTS', KEYS[1], 'opened_at') == 1 or failures >= threshold then
    redis.call('HSET', KEYS[1], 'opened_at', now)
    redis.call('HDEL', KEYS[1], 'trial_started')
  end
else
  redis.call('HDEL', KEYS[1], 'trial_started')
end
redis.call('EXPIRE', KEYS[1], ttl)
return 0
"""
_FORGET_AFTER_SECONDS = 24 * 3600  # an idle circuit's memory of old failures fades


class RedisCircuitStore:
    """Circuit state shared by every worker through Redis (``AMPHION_REDIS_URL``).

    Workers compare wall-clock times, so their clocks should agree (NTP) to well under
    ``open_seconds``. If Redis cannot be reached the circuit lets calls through and forgets
    their outcome: a broken breaker must not take the providers down with it.
    """

    def __init__(self, url: str, prefix: str = "amphion:circuit:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._prefix = prefix
        self._wait_script = self._redis.register_script(_WAIT_SCRIPT)
        self._record_script = self._redis.register_script(_RECORD_SCRIPT)

    def wait(self, name: str, now: float, policy: BreakerPolicy, *, claim: bool) -> float:
        import redis

        args = [repr(now), repr(policy.open_seconds), "1" if claim else "0"]
        try:
            return float(self._wait_script(keys=[self._prefix + name], args=args))
        except redis.RedisError as error:
            logger.warning(
                "circuit %s: Redis unavailable, letting the call through: %s", name, error
            )
            return 0.0

    def record(self, name: str, outcome: Outcome, now: float, policy: BreakerPolicy) -> None:
        import redis

        args: list[Any] = [outcome, repr(now), policy.failure_threshold, _FORGET_AFTER_SECONDS]
        try:
            self._record_script(keys=[self._prefix + name], args=args)
        except redis.RedisError as error:
            logger.warning("circuit %s: Redis unavailable, outcome not recorded: %s", name, error)

    def snapshot(self, name: str, now: float, policy: BreakerPolicy) -> CircuitSnapshot:
        import redis

        try:
            raw: Any = self._redis.hgetall(self._prefix + name)
        except redis.RedisError:
            raw = {}
        fields = {key.decode(): float(value) for key, value in raw.items()}
        return _snapshot(
            name,
            int(fields.get("failures", 0)),
            fields.get("opened_at"),
            fields.get("trial_started"),
            now,
            policy,
        )


class CircuitStore(Protocol):
    """Where circuits keep their state: ``MemoryCircuitStore`` or ``RedisCircuitStore``."""

    def wait(self, name: str, now: float, policy: BreakerPolicy, *, claim: bool) -> float: ...

    def record(self, name: str, outcome: Outcome, now: float, policy: BreakerPolicy) -> None: ...

    def snapshot(self, name: str, now: float, policy: BreakerPolicy) -> CircuitSnapshot: ...


class CircuitBreaker:
    """One provider's circuit (see the module docstring); safe to share between threads."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        clock: Clock = time.monotonic,
        store: CircuitStore | None = None,
    ):
        self.name = name
        self.policy = policy
        self._clock = clock
        self._store = store if store is not None else MemoryCircuitStore()

    # --- before a call ------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse now (``CircuitOpenError``) if a call would be refused; claims nothing."""
        self._refuse_if_waiting(claim=False)

    def admit(self) -> None:
        """Let one call through or refuse it; in half-open, the admitted call is the trial."""
        self._refuse_if_waiting(claim=True)

    def _refuse_if_waiting(self, *, claim: bool) -> None:
        wait = self._store.wait(self.name, self._clock(), self.policy, claim=claim)
        if wait > 0:
            raise CircuitOpenError(self.name, wait)

    # --- after a call -------------------------------------------------------------------------

    def record(self, error: BaseException | None) -> None:
        """The outcome of an admitted call: None for success, else the error it raised.

        A provider that answered (even a 4xx) is up; an error that never reached it (bad input,
        a consumer that went away) is no verdict and only frees the half-open trial.
        """
        outcome: Outcome
        if error is None or (isinstance(error, ProviderError) and not is_failure(error)):
            outcome = "success"
        elif is_failure(error):
            outcome = "failure"
        else:
            outcome = "abandoned"
        self._store.record(self.name, outcome, self._clock(), self.policy)

    def abandoned(self) -> None:
        self._store.record(self.name, "abandoned", self._clock(), self.policy)

    def call(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """``function(*args, **kwargs)`` through the circuit."""
        self.admit()
        try:
            result = function(*args, **kwargs)
        except BaseException as error:
            self.record(error)
            raise
        self.record(None)
        return result

    def snapshot(self) -> CircuitSnapshot:
        return self._store.snapshot(self.name, self._clock(), self.policy)

    @property
    def state(self) -> State:
        return self.snapshot().state


class CircuitBoard:
    """The breakers of one process, one per provider, made on first use, over one store.

    ``clock`` is read through the board, so a test can swap it before or after breakers exist.
    With Redis it must be a wall clock (``time.time``): workers compare each other's times.
    """

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Clock = time.monotonic,
        store: CircuitStore | None = None,
    ):
        self.policy = policy
        self.clock = clock
        self.store: CircuitStore = store if store is not None else MemoryCircuitStore()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = self._breakers[name] = CircuitBreaker(
                    name, self.policy, lambda: self.clock(), self.store
                )
            return breaker

    def snapshot(self, name: str) -> CircuitSnapshot:
        return self.store.snapshot(name, self.clock(), self.policy)


# id(settings) → (settings, board), like the engine registries: settings objects are unhashable.
_boards: dict[int, tuple[Settings, CircuitBoard]] = {}
_boards_lock = threading.Lock()


def circuit_board(settings: Settings) -> CircuitBoard:
    """The process-wide breakers for ``settings``, made once: shared through Redis when
    ``AMPHION_REDIS_URL`` is set, in this process otherwise."""
    with _boards_lock:
        cached = _boards.get(id(settings))
        if cached is None:
            policy = BreakerPolicy.from_settings(settings)
            if settings.redis_url:
                board = CircuitBoard(policy, time.time, RedisCircuitStore(settings.redis_url))
            else:
                board = CircuitBoard(policy)
            cached = _boards[id(settings)] = (settings, board)
        return cached[1]


class CircuitGuardedEngine:
    """A hosted TTS or ASR adapter behind its provider's breaker.

    ``ready`` is the registry's lookup hook (a refused request never reaches the hold); the
    calls that reach the provider go through ``CircuitBreaker.admit``/``record``. A stream's
    verdict comes when it ends: a failure while reading counts, a consumer that stops early
    gives no verdict. Everything else (``name``, ``sample_rate``, ``voices``, ``close``) is the
    adapter's own.
    """

    def __init__(self, engine: Any, breaker: CircuitBreaker):
        self._engine = engine
        self._breaker = breaker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def ready(self) -> None:
        self._breaker.check()

    def synthesize(self, request: Any) -> Any:
        return self._breaker.call(self._engine.synthesize, request)

    def transcribe(self, request: Any) -> Any:
        return self._breaker.call(self._engine.transcribe, request)

    def stream(self, request: Any) -> Iterator[Any]:
        self._breaker.admit()  # refused now, not at the first chunk
        try:
            chunks = self._engine.stream(request)
        except BaseException as error:
            self._breaker.record(error)
            raise
        return self._watched(chunks)

    def _watched(self, chunks: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from chunks
        except GeneratorExit:
            self._breaker.abandoned()
            raise
        except BaseException as error:
            self._breaker.record(error)
            raise
        self._breaker.record(None)
