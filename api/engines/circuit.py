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

State lives in memory, per process: with several web workers each worker finds out about an
outage by itself (after ``failure_threshold`` failures of its own). ``circuit_board(settings)``
is the process-wide set of breakers; ``CircuitGuardedEngine`` puts one in front of an adapter.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from api.engines.providers.common import ProviderError
from api.errors import ServiceUnavailableError, UpstreamTimeoutError
from api.settings import Settings

State = Literal["closed", "open", "half_open"]
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


class CircuitBreaker:
    """One provider's circuit (see the module docstring); safe to share between threads."""

    def __init__(self, name: str, policy: BreakerPolicy, clock: Clock = time.monotonic):
        self.name = name
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None  # None: closed
        self._trial_started: float | None = None  # a half-open trial is running since then

    # --- before a call ------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse now (``CircuitOpenError``) if a call would be refused; claims nothing."""
        with self._lock:
            wait = self._wait(self._clock())
        if wait > 0:
            raise CircuitOpenError(self.name, wait)

    def admit(self) -> None:
        """Let one call through or refuse it; in half-open, the admitted call is the trial."""
        with self._lock:
            now = self._clock()
            wait = self._wait(now)
            if wait <= 0 and self._opened_at is not None:
                self._trial_started = now
        if wait > 0:
            raise CircuitOpenError(self.name, wait)

    def _wait(self, now: float) -> float:
        """Seconds until a call may go through (0: now). The caller holds the lock."""
        if self._opened_at is None:
            return 0.0
        cool_down_left = self._opened_at + self.policy.open_seconds - now
        if cool_down_left > 0:
            return cool_down_left
        if self._trial_started is not None:
            # Another request is the trial; a trial that never reported back is given up on.
            trial_left = self._trial_started + self.policy.open_seconds - now
            return max(0.0, min(trial_left, 1.0)) if trial_left > 0 else 0.0
        return 0.0

    # --- after a call -------------------------------------------------------------------------

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = self._trial_started = None

    def failed(self) -> None:
        with self._lock:
            now = self._clock()
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.policy.failure_threshold:
                self._opened_at = now  # a failed trial opens the circuit for another round
                self._trial_started = None

    def abandoned(self) -> None:
        """The call ended without a verdict on the provider: free the trial for another."""
        with self._lock:
            self._trial_started = None

    def record(self, error: BaseException | None) -> None:
        """The outcome of an admitted call: None for success, else the error it raised."""
        if error is None or (isinstance(error, ProviderError) and not is_failure(error)):
            self.succeeded()
        elif is_failure(error):
            self.failed()
        else:
            self.abandoned()

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
        with self._lock:
            now = self._clock()
            wait = self._wait(now)
            if self._opened_at is None:
                state: State = "closed"
            elif self._opened_at + self.policy.open_seconds > now:
                state = "open"
            else:
                state = "half_open"
            return CircuitSnapshot(self.name, state, self._failures, wait)

    @property
    def state(self) -> State:
        return self.snapshot().state


class CircuitBoard:
    """The breakers of one process, one per provider, made on first use.

    ``clock`` is read through the board, so a test can swap it before or after breakers exist.
    """

    def __init__(self, policy: BreakerPolicy, clock: Clock = time.monotonic):
        self.policy = policy
        self.clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = self._breakers[name] = CircuitBreaker(
                    name, self.policy, lambda: self.clock()
                )
            return breaker

    def snapshot(self, name: str) -> CircuitSnapshot:
        with self._lock:
            breaker = self._breakers.get(name)
        if breaker is None:
            return CircuitSnapshot(name, "closed", 0, 0.0)
        return breaker.snapshot()


# id(settings) → (settings, board), like the engine registries: settings objects are unhashable.
_boards: dict[int, tuple[Settings, CircuitBoard]] = {}
_boards_lock = threading.Lock()


def circuit_board(settings: Settings) -> CircuitBoard:
    """The process-wide breakers for ``settings``, made once."""
    with _boards_lock:
        cached = _boards.get(id(settings))
        if cached is None:
            board = CircuitBoard(BreakerPolicy.from_settings(settings))
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
