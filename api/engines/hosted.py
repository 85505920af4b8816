"""Models served by hosted providers: which adapter serves a catalog model, with which config.

The catalog says what serves each model (``provider = "openai"`` and so on); the settings hold
where the provider lives and the operator's key (``AMPHION_PROVIDERS``), so the catalog file
never carries a secret. ``register_hosted`` adds one engine per hosted catalog model to a
registry, named ``ModelSpec.engine_name`` ("openai:tts-1"); it is built on first use like any
engine. A hosted model whose provider is not configured is a 503 when called, not a silent
fallback to an offline voice the caller did not ask for.

A model marked ``byok`` runs on the calling user's own provider key instead of the operator's:
``OwnKeyEngines`` is the registry as that user sees it (``SpeechContext.for_caller``).

Every hosted adapter, on the operator's key or a user's, sits behind its provider's circuit
breaker (``api.engines.circuit``): a provider that keeps failing is refused with a fast 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.catalog.catalog import Catalog, ModelSpec
from api.engines.circuit import CircuitGuardedEngine, circuit_board
from api.engines.providers import ProviderConfig
from api.engines.registry import EngineKind, EngineRegistry, refuse_unless_ready
from api.errors import ServiceUnavailableError
from api.settings import Settings

_CONFIG_FIELDS = (
    "base_url",
    "api_key",
    "connect_timeout",
    "read_timeout",
    "write_timeout",
    "total_timeout",
    "models",
)


def provider_config(settings: Settings, provider: str) -> ProviderConfig:
    """The operator's configuration of ``provider`` (503 when it is missing or malformed)."""
    raw = settings.providers.get(provider)
    if not raw:
        raise ServiceUnavailableError(f"The {provider} provider is not configured on this server")
    try:
        return ProviderConfig(**{key: raw[key] for key in _CONFIG_FIELDS if key in raw})
    except (TypeError, ValueError) as error:
        raise ServiceUnavailableError(f"The {provider} provider is misconfigured") from error


def _guarded(settings: Settings, provider: str, adapter: Any) -> CircuitGuardedEngine:
    return CircuitGuardedEngine(adapter, circuit_board(settings).breaker(provider))


def _adapter(provider: str, kind: str, model: ModelSpec, config: ProviderConfig) -> Any:
    upstream_model = model.provider_model or model.id
    if provider == "openai":
        from api.engines.providers.openai_compatible import (
            OpenAICompatibleASR,
            OpenAICompatibleTTS,
        )

        adapter = OpenAICompatibleTTS if kind == "tts" else OpenAICompatibleASR
        return adapter(config, model=upstream_model)
    if provider == "dashscope":
        from api.engines.providers.dashscope import DashScopeASR, DashScopeCosyVoiceTTS

        if kind == "tts":
            return DashScopeCosyVoiceTTS(config, model=upstream_model)
        return DashScopeASR(config, model=upstream_model)
    if provider == "fish":
        from api.engines.providers.fish import FishASR, FishTTS

        return FishTTS(config, model=upstream_model) if kind == "tts" else FishASR(config)
    raise ServiceUnavailableError(f"No {kind} adapter for provider {provider}")


_KINDS: dict[str, EngineKind] = {"tts": "tts", "asr": "asr"}


def register_hosted(registry: EngineRegistry, catalog: Catalog, settings: Settings) -> None:
    """Register an engine for every catalog model a hosted provider serves."""
    for model in catalog.models():
        kind = _KINDS.get(model.kind)
        if model.provider == "offline" or kind is None:
            continue

        def build(model: ModelSpec = model, kind: str = kind) -> Any:
            config = provider_config(settings, model.provider)
            return _guarded(settings, model.provider, _adapter(model.provider, kind, model, config))

        if model.engine_name not in registry.names(kind):  # registered once per registry
            factory: Callable[[], Any] = build
            registry.register(kind, model.engine_name, factory)


def own_key_adapter(settings: Settings, model: ModelSpec, api_key: str) -> Any:
    """An adapter for a bring-your-own-key model on a user's key (the operator's base URL)."""
    kind = _KINDS.get(model.kind)
    if kind is None or not model.hosted:
        raise ServiceUnavailableError(f"Model {model.id} is not served by a hosted provider")
    config = provider_config(settings, model.provider).with_user_key(api_key)
    return _guarded(settings, model.provider, _adapter(model.provider, kind, model, config))


class OwnKeyEngines(EngineRegistry):
    """The registry as one user sees it: a bring-your-own-key model runs on that user's key.

    Every other engine comes from the shared registry. An own-key adapter is built on the first
    request for it within this view (one use case) with the key ``user_key(provider)`` returns;
    that callable raises when the user has none (seed 001's 403), before any credit is held.
    """

    def __init__(
        self,
        shared: EngineRegistry,
        catalog: Catalog,
        settings: Settings,
        user_key: Callable[[str], str],
    ) -> None:
        super().__init__()
        self._shared = shared
        self._settings = settings
        self._user_key = user_key
        self._own = {m.engine_name: m for m in catalog.models() if m.byok and m.hosted}
        self._built: dict[str, Any] = {}

    @property
    def shared(self) -> EngineRegistry:
        """The process-wide registry this view is over."""
        return self._shared

    def get(self, kind: EngineKind, name: str) -> Any:
        model = self._own.get(name)
        if model is None:
            return self._shared.get(kind, name)
        if name not in self._built:
            api_key = self._user_key(model.provider)
            self._built[name] = own_key_adapter(self._settings, model, api_key)
        return refuse_unless_ready(self._built[name])

    def register(self, kind: EngineKind, name: str, factory: Callable[[], Any]) -> None:
        self._shared.register(kind, name, factory)

    def names(self, kind: EngineKind | None = None) -> tuple[str, ...]:
        return self._shared.names(kind)

    def is_loaded(self, kind: EngineKind, name: str) -> bool:
        return self._shared.is_loaded(kind, name)
