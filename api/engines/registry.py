"""The engine registry: named TTS, ASR, emotion and clone engines, each built on first use.

The catalog routes a model or voice to an engine by name ("espeak-ng", "piper",
"faster-whisper-base", …); the use cases ask this registry for that name. Engines are expensive
to build (Piper and Whisper load hundreds of MB), so the registry holds factories and calls each
one at most once, when the engine is first asked for; concurrent first requests for one engine
wait for a single build, while requests for other engines go ahead. A factory that fails is not
remembered: the next request tries again (a model package may be installed meanwhile).

Asking for a name nobody registered, or an engine whose module or model is missing, is a
``ServiceUnavailableError`` (503): the platform is up, that engine is not. So is an engine that
says it cannot take work right now (``refuse_unless_ready``: a hosted provider whose circuit
breaker is open, ``api.engines.circuit``).

``default_registry(settings)`` registers the offline engines. The ASR, emotion and clone engines
live in modules that may not exist yet in a given checkout; their factories import them only
when called, so the registry (and everything that only needs TTS) works without them.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from api.engines.base import ASREngine, CloneEngine, EmotionEngine, TTSEngine
from api.errors import DomainError, ServiceUnavailableError
from api.settings import Settings, get_settings

logger = logging.getLogger(__name__)

EngineKind = Literal["tts", "asr", "emotion", "clone"]
KINDS: tuple[EngineKind, ...] = ("tts", "asr", "emotion", "clone")
_PROTOCOLS: dict[EngineKind, type] = {
    "tts": TTSEngine,
    "asr": ASREngine,
    "emotion": EmotionEngine,
    "clone": CloneEngine,
}

Engine = TypeVar("Engine")


class _Slot:
    """One registered engine: its factory, the built instance, and the lock its build holds."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self.instance: Any = None
        self.lock = threading.Lock()


class EngineRegistry:
    """Named engines of four kinds, built lazily from factories (see the module docstring)."""

    def __init__(self) -> None:
        self._slots: dict[EngineKind, dict[str, _Slot]] = {kind: {} for kind in KINDS}
        self._lock = threading.Lock()

    # --- registration -----------------------------------------------------------------------

    def register(self, kind: EngineKind, name: str, factory: Callable[[], Any]) -> None:
        """Register (or replace) the factory for ``name``; nothing is built yet."""
        if kind not in self._slots:
            raise ValueError(f"Unknown engine kind '{kind}'")
        with self._lock:
            self._slots[kind][name] = _Slot(factory)

    def register_tts(self, name: str, factory: Callable[[], TTSEngine]) -> None:
        self.register("tts", name, factory)

    def register_asr(self, name: str, factory: Callable[[], ASREngine]) -> None:
        self.register("asr", name, factory)

    def register_emotion(self, name: str, factory: Callable[[], EmotionEngine]) -> None:
        self.register("emotion", name, factory)

    def register_clone(self, name: str, factory: Callable[[], CloneEngine]) -> None:
        self.register("clone", name, factory)

    # --- lookup -----------------------------------------------------------------------------

    def tts(self, name: str) -> TTSEngine:
        return cast(TTSEngine, self.get("tts", name))

    def asr(self, name: str) -> ASREngine:
        return cast(ASREngine, self.get("asr", name))

    def emotion(self, name: str) -> EmotionEngine:
        return cast(EmotionEngine, self.get("emotion", name))

    def clone(self, name: str) -> CloneEngine:
        return cast(CloneEngine, self.get("clone", name))

    def get(self, kind: EngineKind, name: str) -> Any:
        """The engine registered as ``name``, built now if this is the first request for it."""
        with self._lock:
            slot = self._slots.get(kind, {}).get(name)
        if slot is None:
            raise ServiceUnavailableError(f"No {_label(kind)} engine named '{name}'")
        if slot.instance is None:
            with slot.lock:
                if slot.instance is None:
                    slot.instance = self._build(kind, name, slot.factory)
        return refuse_unless_ready(slot.instance)

    def names(self, kind: EngineKind | None = None) -> tuple[str, ...]:
        """Registered names of one kind, or of all kinds, sorted (registered ≠ loadable)."""
        with self._lock:
            kinds = KINDS if kind is None else (kind,)
            return tuple(sorted({name for each in kinds for name in self._slots.get(each, {})}))

    def is_loaded(self, kind: EngineKind, name: str) -> bool:
        """Whether the engine has been built (for health pages; never builds it)."""
        with self._lock:
            slot = self._slots.get(kind, {}).get(name)
        return slot is not None and slot.instance is not None

    @staticmethod
    def _build(kind: EngineKind, name: str, factory: Callable[[], Any]) -> Any:
        try:
            engine = factory()
        except DomainError:
            raise  # the factory's own 503 (missing package, failed integrity check) says more
        except ImportError as error:
            logger.warning("%s engine '%s' is not installed: %s", _label(kind), name, error)
            raise ServiceUnavailableError(
                f"The {_label(kind)} engine '{name}' is not installed"
            ) from error
        except Exception as error:
            logger.exception("%s engine '%s' failed to load", _label(kind), name)
            raise ServiceUnavailableError(
                f"The {_label(kind)} engine '{name}' failed to load"
            ) from error
        if not isinstance(engine, _PROTOCOLS[kind]):
            raise ServiceUnavailableError(f"'{name}' is not a {_label(kind)} engine")
        return engine


def refuse_unless_ready(engine: Engine) -> Engine:
    """``engine``, unless it says it cannot take work now (a hosted provider whose circuit is
    open raises its 503 from ``ready``). Use cases look engines up before they hold credit, so
    asking here keeps a refused request from holding anything."""
    ready = getattr(engine, "ready", None)
    if ready is not None:
        ready()
    return engine


def _label(kind: EngineKind) -> str:
    return {"tts": "TTS", "asr": "ASR", "emotion": "emotion", "clone": "clone"}[kind]


# --- the offline engines ----------------------------------------------------------------------

CLONE_CHECK_ASR = "faster-whisper-base"  # multilingual: a clone in any language is checked


def _attribute(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def default_registry(settings: Settings) -> EngineRegistry:
    """A registry with every offline engine registered by name (none built yet)."""
    registry = EngineRegistry()

    def espeak() -> TTSEngine:
        from api.engines.espeak import EspeakEngine

        return EspeakEngine()

    def piper() -> TTSEngine:
        from api.engines.piper import PiperEngine

        return PiperEngine(settings)

    def whisper(model: str) -> Callable[[], ASREngine]:
        def build() -> ASREngine:
            engine_class = _attribute("api.engines.whisper", "WhisperEngine")
            return cast(ASREngine, engine_class(model=model, settings=settings))

        return build

    def prosody() -> EmotionEngine:
        engine_class = _attribute("api.engines.emotion", "ProsodyEmotionEngine")
        return cast(EmotionEngine, engine_class(settings))

    def world() -> CloneEngine:
        engine_class = _attribute("api.engines.clone", "WorldCloneEngine")
        return cast(CloneEngine, engine_class(settings, asr=registry.asr(CLONE_CHECK_ASR)))

    registry.register_tts("espeak-ng", espeak)
    registry.register_tts("piper", piper)
    registry.register_asr("faster-whisper-tiny.en", whisper("tiny.en"))
    registry.register_asr("faster-whisper-base", whisper("base"))
    registry.register_emotion("prosody-heuristic", prosody)
    registry.register_clone("world-styling", world)
    return registry


# id(settings) → (settings, registry). Settings objects are unhashable (pydantic), so they are
# keyed by identity; holding the settings object too means its id cannot be reused while cached.
_registries: dict[int, tuple[Settings, EngineRegistry]] = {}
_registries_lock = threading.Lock()


def get_registry(settings: Settings | None = None) -> EngineRegistry:
    """The process-wide registry for ``settings`` (default: ``get_settings()``), made once.

    Cached per settings object for the life of the process: production has one settings
    object; tests that make many can drop theirs with ``forget_registry``. Heavy model state
    (Piper's voice, Whisper models, the espeak-ng library) is shared at module level by the
    engines themselves, so a second registry does not load a second copy.
    """
    if settings is None:
        settings = get_settings()
    with _registries_lock:
        cached = _registries.get(id(settings))
        if cached is None:
            cached = _registries[id(settings)] = (settings, default_registry(settings))
        return cached[1]


def forget_registry(settings: Settings) -> None:
    """Drop the cached registry of ``settings`` (the next ``get_registry`` makes a new one)."""
    with _registries_lock:
        _registries.pop(id(settings), None)
