"""The engine registry: lazy, built once, clear 503s, the offline set, one registry per settings."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from api.engines import registry as registry_module
from api.engines.base import ASREngine, CloneEngine, EmotionEngine, TTSEngine
from api.engines.espeak import EspeakEngine
from api.engines.fakes import FakeASR, FakeClone, FakeEmotion, FakeTTS
from api.engines.registry import EngineRegistry, default_registry, forget_registry, get_registry
from api.errors import ServiceUnavailableError
from api.settings import Settings


def test_factories_run_on_first_use_only_and_once() -> None:
    calls: list[str] = []
    registry = EngineRegistry()

    def make() -> FakeTTS:
        calls.append("tts")
        return FakeTTS()

    registry.register_tts("tone", make)
    assert calls == [] and not registry.is_loaded("tts", "tone")
    first = registry.tts("tone")
    assert registry.tts("tone") is first
    assert calls == ["tts"] and registry.is_loaded("tts", "tone")


def test_concurrent_first_requests_build_once_and_do_not_block_other_engines() -> None:
    registry = EngineRegistry()
    builds: list[int] = []
    release = threading.Event()

    def slow() -> FakeTTS:
        builds.append(1)
        release.wait(5)
        return FakeTTS()

    registry.register_tts("slow", slow)
    registry.register_asr("quick", FakeASR)
    results: list[TTSEngine] = []
    threads = [
        threading.Thread(target=lambda: results.append(registry.tts("slow"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    assert isinstance(registry.asr("quick"), FakeASR)  # not stuck behind the slow build
    release.set()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(results) == 8 and all(engine is results[0] for engine in results)


def test_each_kind_has_its_own_names() -> None:
    registry = EngineRegistry()
    registry.register_tts("a", FakeTTS)
    registry.register_asr("b", FakeASR)
    registry.register_emotion("c", FakeEmotion)
    registry.register_clone("d", FakeClone)
    assert isinstance(registry.tts("a"), TTSEngine)
    assert isinstance(registry.asr("b"), ASREngine)
    assert isinstance(registry.emotion("c"), EmotionEngine)
    assert isinstance(registry.clone("d"), CloneEngine)
    assert registry.names() == ("a", "b", "c", "d")
    assert registry.names("asr") == ("b",)
    with pytest.raises(ServiceUnavailableError):
        registry.asr("a")  # a TTS name is not an ASR engine


def test_unknown_names_are_503() -> None:
    with pytest.raises(ServiceUnavailableError, match="nope"):
        EngineRegistry().tts("nope")


def test_a_factory_that_makes_the_wrong_kind_is_refused() -> None:
    registry = EngineRegistry()
    registry.register_tts("confused", FakeASR)  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailableError, match="not a TTS engine"):
        registry.tts("confused")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ImportError("No module named 'faster_whisper'"), "not installed"),
        (RuntimeError("out of memory"), "failed to load"),
        (ServiceUnavailableError("Model 'x' failed its integrity check"), "integrity"),
    ],
)
def test_failed_builds_are_503_and_retried(error: Exception, message: str) -> None:
    registry = EngineRegistry()
    attempts: list[int] = []

    def flaky() -> FakeTTS:
        attempts.append(1)
        if len(attempts) == 1:
            raise error
        return FakeTTS()

    registry.register_tts("flaky", flaky)
    with pytest.raises(ServiceUnavailableError, match=message):
        registry.tts("flaky")
    assert isinstance(registry.tts("flaky"), FakeTTS)
    assert len(attempts) == 2


def test_registering_again_replaces_the_engine() -> None:
    registry = EngineRegistry()
    registry.register_tts("voice", lambda: FakeTTS(name="old"))
    assert registry.tts("voice").name == "old"
    registry.register_tts("voice", lambda: FakeTTS(name="new"))
    assert registry.tts("voice").name == "new"


def test_default_registry_names_the_offline_engines(settings: Settings) -> None:
    registry = default_registry(settings)
    assert registry.names("tts") == ("espeak-ng", "piper")
    assert registry.names("asr") == ("faster-whisper-base", "faster-whisper-tiny.en")
    assert registry.names("emotion") == ("prosody-heuristic",)
    assert registry.names("clone") == ("world-styling",)
    assert not any(
        registry.is_loaded(kind, name) for kind in ("tts", "asr") for name in registry.names(kind)
    )
    assert isinstance(registry.tts("espeak-ng"), EspeakEngine)


def test_default_registry_works_without_the_optional_engine_modules(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes an import fail as if the module were missing.
    for module in ("api.engines.whisper", "api.engines.emotion", "api.engines.clone"):
        monkeypatch.setitem(sys.modules, module, None)
    registry = default_registry(settings)
    assert registry.tts("espeak-ng").name == "espeak-ng"
    for lookup in (
        lambda: registry.asr("faster-whisper-tiny.en"),
        lambda: registry.asr("faster-whisper-base"),
        lambda: registry.emotion("prosody-heuristic"),
        lambda: registry.clone("world-styling"),
    ):
        with pytest.raises(ServiceUnavailableError, match="not installed"):
            lookup()


def test_default_factories_pass_settings_model_and_asr(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, tuple[object, ...]] = {}

    class Whisper(FakeASR):
        def __init__(self, model: str, settings: Settings) -> None:
            super().__init__(name=f"whisper-{model}")
            made[model] = (settings,)

    class Prosody(FakeEmotion):
        def __init__(self, settings: Settings) -> None:
            super().__init__()
            made["prosody"] = (settings,)

    class World(FakeClone):
        def __init__(self, settings: Settings, asr: ASREngine) -> None:
            super().__init__()
            made["world"] = (settings, asr)

    modules = {
        "api.engines.whisper": Whisper,
        "api.engines.emotion": Prosody,
        "api.engines.clone": World,
    }
    names = {"api.engines.whisper": "WhisperEngine", "api.engines.emotion": "ProsodyEmotionEngine"}

    def fake_attribute(module: str, name: str) -> object:
        assert name == names.get(module, "WorldCloneEngine")
        return modules[module]

    monkeypatch.setattr(registry_module, "_attribute", fake_attribute)
    registry = default_registry(settings)
    assert registry.asr("faster-whisper-tiny.en").name == "whisper-tiny.en"
    registry.emotion("prosody-heuristic")
    registry.clone("world-styling")
    assert made["tiny.en"] == (settings,)
    assert made["prosody"] == (settings,)
    assert made["world"] == (settings, registry.asr("faster-whisper-base"))
    assert made["base"] == (settings,)


def test_get_registry_is_one_per_settings_object(settings: Settings) -> None:
    first = get_registry(settings)
    assert get_registry(settings) is first
    other = settings.model_copy()
    assert get_registry(other) is not first
    forget_registry(other)
    forget_registry(settings)
    assert get_registry(settings) is not first
    forget_registry(settings)


def test_get_registry_defaults_to_the_process_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    process_settings = Settings()
    monkeypatch.setattr(registry_module, "get_settings", lambda: process_settings)
    assert get_registry() is get_registry(process_settings)
    forget_registry(process_settings)
