"""Engine health for the admin page: answered from installed packages and configuration only."""

from __future__ import annotations

from api.billing.pricing import PriceRule
from api.catalog.catalog import Catalog, Limits, ModelSpec, get_catalog
from api.engines import health
from api.engines.registry import KINDS, EngineRegistry, default_registry
from api.settings import Settings


def _model(model_id: str, engine: str, *, kind: str = "tts", provider: str = "offline"):
    return ModelSpec(
        id=model_id,
        kind=kind,  # type: ignore[arg-type]
        name=model_id,
        description="",
        features=(),
        call_type="sync",
        price=PriceRule.parse("call", "0.01"),
        limits=Limits(),
        engine=engine,
        provider=provider,
    )


def test_every_catalog_model_gets_a_status_without_building_an_engine(settings: Settings) -> None:
    registry = default_registry(settings)
    rows = health.catalog_health(get_catalog(), registry, settings)
    assert [row.model_id for row in rows] == [model.id for model in get_catalog().models()]
    by_id = {row.model_id: row for row in rows}
    # This machine has every offline engine installed (the engine tests use them).
    assert by_id["espeak-ng"].status == "available"
    assert by_id["faster-whisper-base"].engines == ("faster-whisper-base",)
    assert by_id["Qwen3-TTS"].healthy
    built = [
        name for kind in KINDS for name in registry.names(kind) if registry.is_loaded(kind, name)
    ]
    assert built == []


def test_loaded_missing_and_hosted_states(settings: Settings) -> None:
    catalog = Catalog(
        [
            _model("speak", "espeak-ng"),
            _model("ghost", "no-such-engine"),
            _model("cloud-tts", "", provider="openai"),
            _model("cloud-asr", "", kind="asr", provider="fish"),
        ],
        [],
    )
    registry = EngineRegistry()
    sentinel = object()
    registry.register("tts", "espeak-ng", lambda: sentinel)
    registry._slots["tts"]["espeak-ng"].instance = sentinel  # as if built by a request
    configured = settings.model_copy(
        update={"providers": {"openai": {"base_url": "http://127.0.0.1:1", "api_key": "k"}}}
    )
    rows = {row.model_id: row for row in health.catalog_health(catalog, registry, configured)}
    assert rows["speak"].status == "loaded"
    assert rows["ghost"].status == "missing" and rows["ghost"].missing == ("no-such-engine",)
    assert rows["cloud-tts"].status == "configured" and rows["cloud-tts"].healthy
    assert rows["cloud-asr"].status == "not_configured" and not rows["cloud-asr"].healthy


def test_a_missing_package_is_named(settings: Settings, monkeypatch) -> None:
    monkeypatch.setitem(health.OFFLINE_REQUIREMENTS, "espeak-ng", ("no_such_package_xyz",))
    catalog = Catalog([_model("speak", "espeak-ng")], [])
    (row,) = health.catalog_health(catalog, EngineRegistry(), settings)
    assert row.status == "missing" and row.missing == ("no_such_package_xyz",)
