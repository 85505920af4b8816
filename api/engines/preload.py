"""Engines loaded when a server starts, in a thread of their own.

A fresh server used to load each model on the first call that needed it: that call waited for
Piper (0.7 s here) or Whisper, and for the speech context to be set up. The server now starts
``Settings.engines_to_preload`` as soon as it is up, while it already answers. A call that
needs an engine still loading waits for that load (the registry builds an engine once and each
engine loads its model once, under their own locks), never for a second one.

A failure is only logged: the first call that needs the engine reports it, as it always did
(a 503 for a model that is missing or fails its checksum).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from api.engines.registry import KINDS, EngineRegistry

logger = logging.getLogger("amphion.engines")


def preload(registry: EngineRegistry, names: Iterable[str]) -> list[str]:
    """Build each named engine and load its model (``warm_up``, where the engine has one);
    returns the names that are ready. Unknown names and failures are logged and skipped."""
    ready = []
    for name in names:
        kinds = [kind for kind in KINDS if name in registry.names(kind)]
        if not kinds:
            logger.warning("no engine named %r to preload (known: %s)", name, registry.names())
            continue
        started = time.perf_counter()
        try:
            for kind in kinds:
                warm_up = getattr(registry.get(kind, name), "warm_up", None)
                if warm_up is not None:
                    warm_up()
        except Exception:
            logger.warning("could not preload the engine %r", name, exc_info=True)
            continue
        logger.info("engine %r ready in %.2f s", name, time.perf_counter() - started)
        ready.append(name)
    return ready


def preload_in_background(
    registry: Callable[[], EngineRegistry], names: Iterable[str]
) -> threading.Thread | None:
    """``preload`` in a daemon thread; ``registry`` is called there too (building the speech
    context it comes from is part of what a first call would otherwise wait for)."""
    wanted = tuple(names)
    if not wanted:
        return None

    def run() -> None:
        try:
            preload(registry(), wanted)
        except Exception:  # the settings or the catalog are broken: calls will say so
            logger.warning("could not preload engines", exc_info=True)

    thread = threading.Thread(target=run, name="engine-preload", daemon=True)
    thread.start()
    return thread
