"""The catalog: which models and system voices exist, what they cost, and what serves them.

Loaded once from a TOML file (``api/catalog/default.toml`` unless ``AMPHION_CATALOG_PATH``
names an operator's copy) and read-only afterwards. Both doors and the use cases ask it to
resolve a model id or voice id (aliases included), to check a voice suits a model (seed 001's
MODEL_VOICE_MISMATCH), for a model's price rule and limits, and which engine voice speaks a text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from api.billing.pricing import PriceRule
from api.errors import InvalidInputError

DEFAULT_CATALOG = Path(__file__).with_name("default.toml")
ModelKind = Literal["tts", "asr", "sed", "clone"]
KINDS = ("tts", "asr", "sed", "clone")
PROVIDERS = ("offline", "dashscope", "openai", "fish")
# The engine name that means "the voice decides, by the language of the text".
VOICE_ROUTED = "offline-tts"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Whisper's language codes (faster-whisper's tokenizer), which an ASR model's ``languages``
# are written in. A copy rather than an import: loading the catalog must not import
# faster-whisper (``api.engines.weights`` makes it offline before its first import), and a
# test in tests/engines keeps the copy equal to the tokenizer's list.
WHISPER_LANGUAGES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw "
    "he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt "
    "my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl "
    "tr tt uk ur uz vi yi yo zh yue".split()
)


@dataclass(frozen=True)
class Limits:
    max_characters: int | None = None
    max_audio_seconds: float | None = None
    max_file_mb: float | None = None

    @property
    def max_file_bytes(self) -> int | None:
        return None if self.max_file_mb is None else int(self.max_file_mb * 1024 * 1024)


@dataclass(frozen=True)
class ModelSpec:
    """One model id as callers see it, and what serves it."""

    id: str
    kind: ModelKind
    name: str
    description: str
    features: tuple[str, ...]
    call_type: Literal["sync", "async"]
    price: PriceRule
    limits: Limits
    engine: str
    provider: str = "offline"
    provider_model: str = ""
    byok: bool = False
    default_voice: str = ""
    aliases: tuple[str, ...] = ()
    # ASR only: the languages the model recognises (Whisper codes). An offline engine standing
    # in for a hosted model detects among these only, so it never answers a language the real
    # model could not; empty means any language.
    languages: tuple[str, ...] = ()

    @property
    def hosted(self) -> bool:
        return self.provider != "offline"

    @property
    def engine_name(self) -> str:
        """The registry name of the engine that serves this model (``api.engines.hosted``)."""
        return f"{self.provider}:{self.id}" if self.hosted else self.engine

    def public(self) -> dict[str, Any]:
        """What model listings show (no internals beyond the engine's honest name)."""
        return {
            "model_id": self.id,
            "model_name": self.name,
            "kind": self.kind,
            "description": self.description,
            "features": list(self.features),
            "call_type": self.call_type,
            "price": self.price.describe(),
            "engine": self.engine if self.provider == "offline" else self.provider_model,
            "provider": self.provider,
            "requires_own_key": self.byok,
        }


@dataclass(frozen=True)
class EngineVoiceRef:
    """Which engine speaks, with which of its voices."""

    engine: str
    voice: str


@dataclass(frozen=True)
class VoiceSpec:
    """A system voice in seed 001's shape, plus how the offline engines render it."""

    voice_id: str
    name: str
    trait: str
    age: str
    category: str
    languages: tuple[str, ...]
    models: tuple[str, ...]
    features: dict[str, bool]
    gender: str
    engine_voices: dict[str, EngineVoiceRef]
    style: dict[str, float] = field(default_factory=dict)
    description: str = ""
    aliases: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """Seed 001's SystemVoice shape (plus gender)."""
        return {
            "voice_id": self.voice_id,
            "name": self.name,
            "trait": self.trait,
            "age": self.age,
            "category": self.category,
            "languages": list(self.languages),
            "models": list(self.models),
            "features": dict(self.features),
            "gender": self.gender,
        }

    def engine_voice_for(self, text: str) -> EngineVoiceRef:
        """The engine voice for this text: Chinese characters pick "zh", anything else "en"."""
        for key in (text_language(text), "*", "en", "zh"):
            if key in self.engine_voices:
                return self.engine_voices[key]
        raise InvalidInputError(f"Voice {self.voice_id} cannot speak this text")


def text_language(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


class Catalog:
    """Models and voices by id and alias; read-only."""

    def __init__(self, models: Iterable[ModelSpec], voices: Iterable[VoiceSpec]) -> None:
        self._models: dict[str, ModelSpec] = {}
        self._model_aliases: dict[str, str] = {}
        for model in models:
            self._add(self._models, self._model_aliases, model.id, model.aliases, model, "model")
        self._voices: dict[str, VoiceSpec] = {}
        self._voice_aliases: dict[str, str] = {}
        for voice in voices:
            self._add(
                self._voices, self._voice_aliases, voice.voice_id, voice.aliases, voice, "voice"
            )
        for voice in self._voices.values():
            for model_id in voice.models:
                if model_id not in self._models:
                    raise ValueError(f"voice {voice.voice_id} names unknown model {model_id}")
        for model in self._models.values():
            if model.default_voice and self.find_voice(model.default_voice) is None:
                raise ValueError(
                    f"model {model.id} has unknown default voice {model.default_voice}"
                )

    @staticmethod
    def _add(table: dict, aliases: dict, key: str, names: tuple[str, ...], item: Any, what: str):
        if key in table or key in aliases:
            raise ValueError(f"duplicate {what} id {key}")
        table[key] = item
        for alias in names:
            if alias in table or alias in aliases:
                raise ValueError(f"duplicate {what} alias {alias}")
            aliases[alias] = key

    # --- models --------------------------------------------------------------------------

    def find_model(self, model_id: str) -> ModelSpec | None:
        key = self._model_aliases.get(model_id, model_id)
        return self._models.get(key)

    def model(self, model_id: str, kind: ModelKind | None = None) -> ModelSpec:
        """The model, or seed 001's INVALID_MODEL (also when it is of another kind)."""
        found = self.find_model(model_id) if isinstance(model_id, str) else None
        if found is None or (kind is not None and found.kind != kind):
            wanted = f" {kind.upper()}" if kind else ""
            raise InvalidInputError(
                f"Unknown{wanted} model: {str(model_id)[:80]}", code="INVALID_MODEL", param="model"
            )
        return found

    def models(self, kind: ModelKind | None = None) -> list[ModelSpec]:
        return [m for m in self._models.values() if kind is None or m.kind == kind]

    # --- voices --------------------------------------------------------------------------

    def find_voice(self, voice_id: str) -> VoiceSpec | None:
        key = self._voice_aliases.get(voice_id, voice_id)
        return self._voices.get(key)

    def voice(self, voice_id: str) -> VoiceSpec:
        found = self.find_voice(voice_id) if isinstance(voice_id, str) else None
        if found is None:
            raise InvalidInputError(
                f"Unknown voice: {str(voice_id)[:80]}", code="INVALID_VOICE", param="voice"
            )
        return found

    def voices(
        self,
        *,
        model: str | None = None,
        category: str | None = None,
        language: str | None = None,
        gender: str | None = None,
    ) -> list[VoiceSpec]:
        """System voices, filtered; ``model`` accepts aliases, ``language`` matches a substring."""
        model_id = None
        if model:
            found = self.find_model(model)
            model_id = found.id if found else model
        return [
            v
            for v in self._voices.values()
            if (model_id is None or model_id in v.models)
            and (category is None or v.category == category)
            and (language is None or any(language.lower() in lang.lower() for lang in v.languages))
            and (gender is None or v.gender == gender)
        ]

    def voice_for_model(self, model: ModelSpec, voice_id: str | None) -> VoiceSpec:
        """The system voice to use (the model's default when none is given), checked to suit it."""
        voice = self.voice(voice_id or model.default_voice)
        if model.id not in voice.models:
            raise InvalidInputError(
                f"Voice {voice.voice_id} is not available for model {model.id}",
                code="MODEL_VOICE_MISMATCH",
                param="voice",
            )
        return voice

    def categories(self) -> list[str]:
        return sorted({v.category for v in self._voices.values()})


def _limits(raw: dict[str, Any] | None) -> Limits:
    raw = raw or {}
    unknown = set(raw) - {"max_characters", "max_audio_seconds", "max_file_mb"}
    if unknown:
        raise ValueError(f"unknown limits {sorted(unknown)}")
    return Limits(**raw)


def _engine_ref(text: str) -> EngineVoiceRef:
    engine, sep, voice = text.partition(":")
    if not sep or not engine or not voice:
        raise ValueError(f"engine voice must be 'engine:voice', got {text!r}")
    return EngineVoiceRef(engine, voice)


def _languages(raw: dict[str, Any]) -> tuple[str, ...]:
    languages = raw.get("languages", [])
    if not languages:
        return ()
    if raw["kind"] != "asr":
        raise ValueError(f"model {raw['id']}: languages is for speech recognition models")
    if not isinstance(languages, list) or not all(isinstance(code, str) for code in languages):
        raise ValueError(f"model {raw['id']}: languages must be a list of language codes")
    unknown = [code for code in languages if code not in WHISPER_LANGUAGES]
    if unknown:
        raise ValueError(f"model {raw['id']}: unknown Whisper languages {unknown}")
    if len(set(languages)) != len(languages):
        raise ValueError(f"model {raw['id']}: languages are listed twice")
    return tuple(languages)


def _model(raw: dict[str, Any]) -> ModelSpec:
    kind = raw["kind"]
    if kind not in KINDS:
        raise ValueError(f"model {raw.get('id')}: unknown kind {kind}")
    provider = raw.get("provider", "offline")
    if provider not in PROVIDERS:
        raise ValueError(f"model {raw['id']}: unknown provider {provider}")
    price = raw["price"]
    return ModelSpec(
        id=raw["id"],
        kind=kind,
        name=raw.get("name", raw["id"]),
        description=raw.get("description", ""),
        features=tuple(raw.get("features", ())),
        call_type=raw.get("call_type", "sync"),
        price=PriceRule.parse(price["unit"], price["yuan"]),
        limits=_limits(raw.get("limits")),
        engine=raw["engine"],
        provider=provider,
        provider_model=raw.get("provider_model", ""),
        byok=bool(raw.get("byok", False)),
        default_voice=raw.get("default_voice", ""),
        aliases=tuple(raw.get("aliases", ())),
        languages=_languages(raw),
    )


def _voice(raw: dict[str, Any]) -> VoiceSpec:
    features = raw.get("features", {})
    return VoiceSpec(
        voice_id=raw["voice_id"],
        name=raw.get("name", raw["voice_id"]),
        trait=raw.get("trait", ""),
        age=raw.get("age", ""),
        category=raw.get("category", ""),
        languages=tuple(raw.get("languages", ())),
        models=tuple(raw.get("models", ())),
        features={k: bool(features.get(k, False)) for k in ("ssml", "instruct", "timestamp")},
        gender=raw.get("gender", "neutral"),
        engine_voices={k: _engine_ref(v) for k, v in raw.get("engine_voices", {}).items()},
        style={k: float(v) for k, v in raw.get("style", {}).items()},
        description=raw.get("description", ""),
        aliases=tuple(raw.get("aliases", ())),
    )


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Parse and validate a catalog file; any mistake in it is a ValueError naming the entry."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return Catalog(
        (_model(m) for m in data.get("models", [])), (_voice(v) for v in data.get("voices", []))
    )


def catalog_for(catalog_path: str) -> Catalog:
    """The catalog an operator configured (``AMPHION_CATALOG_PATH``), or the shipped default."""
    return load_catalog(Path(catalog_path) if catalog_path else DEFAULT_CATALOG)


@lru_cache
def get_catalog() -> Catalog:
    """The process-wide catalog from ``AMPHION_CATALOG_PATH`` or the shipped default."""
    from api.settings import get_settings

    return catalog_for(get_settings().catalog_path)
