"""Engines a starting server loads in the background (api/engines/preload.py)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.engines.fakes import FakeASR, FakeTTS
from api.engines.preload import preload, preload_in_background
from api.engines.registry import EngineRegistry
from api.http.app import create_api
from api.http.context import AppContext
from api.settings import DEFAULT_PRELOADED_ENGINES, Settings
from api.speech.context import SpeechContext
from tests.helpers import wait_until
from tests.http.conftest import context  # noqa: F401  (fixtures)
from tests.speech.conftest import fakes, speech  # noqa: F401  (fixtures)


class WarmingTTS(FakeTTS):
    """A fake that counts how often its model was loaded, or fails to load it."""

    def __init__(self, *, fails: bool = False) -> None:
        super().__init__(name="warming")
        self.fails = fails
        self.warmed = 0

    def warm_up(self) -> None:
        if self.fails:
            raise RuntimeError("the model file is damaged")
        self.warmed += 1


def test_preload_builds_each_engine_and_loads_its_model_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warming, broken, plain = WarmingTTS(), WarmingTTS(fails=True), FakeASR()
    registry = EngineRegistry()
    registry.register_tts("warming", lambda: warming)
    registry.register_tts("broken", lambda: broken)
    registry.register_asr("plain", lambda: plain)

    with caplog.at_level(logging.INFO, logger="amphion.engines"):
        ready = preload(registry, ["warming", "plain", "broken", "nowhere"])
        assert preload(registry, ["warming"]) == ["warming"]  # a second call loads nothing more

    assert ready == ["warming", "plain"]
    assert warming.warmed == 2  # warm_up itself is idempotent in the real engines
    assert registry.is_loaded("asr", "plain")  # no warm_up: built, which is all it needs
    assert registry.is_loaded("tts", "broken")  # built; its model failed and was only logged
    messages = caplog.text
    assert "could not preload the engine 'broken'" in messages
    assert "no engine named 'nowhere'" in messages


def test_preload_in_background_runs_in_a_daemon_thread_and_survives_a_broken_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert preload_in_background(EngineRegistry, []) is None  # nothing to load: no thread

    def broken_source() -> EngineRegistry:
        raise RuntimeError("the catalog does not parse")

    with caplog.at_level(logging.WARNING, logger="amphion.engines"):
        thread = preload_in_background(broken_source, ["piper"])
        assert thread is not None and thread.daemon and thread.name == "engine-preload"
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert "could not preload engines" in caplog.text


def test_which_engines_a_server_preloads() -> None:
    secret = {"secret_key": "a-test-secret-key-that-is-long-enough-0123"}
    assert Settings(environment="development").engines_to_preload == DEFAULT_PRELOADED_ENGINES
    assert Settings(environment="production", **secret).engines_to_preload == (
        "espeak-ng",
        "piper",
        "faster-whisper-base",
    )
    assert Settings(environment="test", **secret).engines_to_preload == ()
    assert Settings(environment="production", preload_engines=[], **secret).engines_to_preload == ()
    chosen = Settings(environment="test", preload_engines=["espeak-ng"], **secret)
    assert chosen.engines_to_preload == ("espeak-ng",)


def test_environment_list_of_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPHION_PRELOAD_ENGINES", '["espeak-ng", "piper"]')
    assert Settings(environment="development").engines_to_preload == ("espeak-ng", "piper")


def test_a_starting_app_preloads_its_engines_while_it_already_answers(
    context: AppContext,  # noqa: F811
    speech: SpeechContext,  # noqa: F811
) -> None:
    warming = WarmingTTS()
    speech.engines.register_tts("piper", lambda: warming)  # the name the default list has
    context.settings = context.settings.model_copy(update={"preload_engines": ["piper"]})

    with TestClient(create_api(context)) as client:
        assert client.get("/api/health").status_code == 200
        wait_until(lambda: warming.warmed == 1, 10, "the engine preloaded")
    assert speech.engines.is_loaded("tts", "piper")
