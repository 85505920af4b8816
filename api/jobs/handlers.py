"""The job handler registry: which function runs which job kind.

A handler is ``fn(ctx: JobContext) -> JobOutcome``. Register it with the decorator::

    @register("asr.filetrans")
    def transcribe_file(ctx: JobContext) -> JobOutcome:
        ...
        return JobOutcome(result={"text": text}, charge_micros=cost)

**Handlers must be idempotent.** A worker can die at any instruction (SIGKILL, OOM, power
loss); the job's lease then runs out and another worker runs the handler again from the start,
up to ``max_attempts`` times. A re-run must produce the same effect as one clean run: derive
object keys and idempotency keys from ``ctx.job_id`` (not from random values), overwrite rather
than append, and never settle the job's hold yourself — return the charge in the
:class:`JobOutcome` and the worker captures it in the same transaction that marks the job
SUCCEEDED. Raise an exception to fail the job: a :class:`~api.errors.DomainError`'s message is
shown to the user, anything else is stored as a generic message (the traceback goes to the log
only). Long handlers should call ``ctx.heartbeat()`` now and then between steps (a background
thread renews the lease too) and may stop early when it returns False: the job was taken over.

The worker imports every module named in ``settings.job_handler_modules`` plus
:data:`BUILTIN_HANDLER_MODULES` when it starts, so registration happens at import time.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.db import Database
    from api.settings import Settings

logger = logging.getLogger(__name__)

# Domain modules that define job kinds of the platform itself; operators add their own through
# AMPHION_JOB_HANDLER_MODULES.
BUILTIN_HANDLER_MODULES: tuple[str, ...] = ("api.speech.transcription", "api.speech.cloning")


@dataclass(frozen=True)
class JobOutcome:
    """What a successful handler returns: the job's result and what it really cost."""

    result: dict[str, Any]
    charge_micros: int | None = None  # None: capture the whole hold
    history_record_id: int | None = None


@dataclass(frozen=True)
class JobContext:
    """Everything a handler may use; ``payload`` is the handler's own copy."""

    job_id: str
    user_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    hold_id: int | None
    settings: Settings
    db: Database
    heartbeat: Callable[[], bool]
    lease_lost: threading.Event = field(default_factory=threading.Event)

    @property
    def is_first_attempt(self) -> bool:
        return self.attempt == 1


JobHandler = Callable[[JobContext], JobOutcome]


class UnknownJobKindError(LookupError):
    """No handler is registered for a job's kind in this worker."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"Unknown job kind {kind!r}: no handler is registered for it")
        self.kind = kind


_handlers: dict[str, JobHandler] = {}
_lock = threading.Lock()


def _same_function(a: JobHandler, b: JobHandler) -> bool:
    # A module imported twice (a reload, or under two names) re-registers the same source.
    def where(handler: JobHandler) -> tuple[object, ...]:
        code = getattr(handler, "__code__", None)
        return (
            getattr(handler, "__qualname__", None),
            getattr(code, "co_filename", None),
            getattr(code, "co_firstlineno", None),
        )

    return a is b or (where(a) == where(b) and where(a)[1] is not None)


def register_handler(kind: str, handler: JobHandler) -> JobHandler:
    """Make ``handler`` run jobs of ``kind``; a second, different handler for it is an error."""
    if not kind:
        raise ValueError("job kind must not be empty")
    with _lock:
        existing = _handlers.get(kind)
        if existing is not None and not _same_function(existing, handler):
            raise ValueError(f"job kind {kind!r} already has a handler: {existing!r}")
        _handlers[kind] = handler
    return handler


def register(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Decorator form of :func:`register_handler`."""

    def decorate(handler: JobHandler) -> JobHandler:
        return register_handler(kind, handler)

    return decorate


def unregister_handler(kind: str) -> None:
    """Forget the handler of ``kind`` (tests and plugins that unload)."""
    with _lock:
        _handlers.pop(kind, None)


def get_handler(kind: str) -> JobHandler:
    """The handler for ``kind``; raises UnknownJobKindError when there is none."""
    with _lock:
        handler = _handlers.get(kind)
    if handler is None:
        raise UnknownJobKindError(kind)
    return handler


def registered_kinds() -> list[str]:
    with _lock:
        return sorted(_handlers)


def load_handler_modules(modules: Iterable[str]) -> None:
    """Import each named module (built-ins first) so its ``@register`` calls run."""
    for name in (*BUILTIN_HANDLER_MODULES, *modules):
        importlib.import_module(name)
        logger.debug("loaded job handler module %s", name)
