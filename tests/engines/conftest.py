"""Fixtures for the engine tests: one espeak-ng engine and one loaded Piper voice per session.

Both are costly to build only once (Piper's model takes about 1.5 s to verify and load), and
both are safe to share: espeak-ng serialises its calls, Piper's onnxruntime session is
thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.engines.espeak import EspeakEngine
from api.engines.piper import PiperEngine


@pytest.fixture(scope="session")
def espeak() -> EspeakEngine:
    return EspeakEngine()


@pytest.fixture(scope="session")
def piper_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("piper-data")


@pytest.fixture(scope="session")
def piper(piper_data_dir: Path) -> Iterator[PiperEngine]:
    engine = PiperEngine(data_dir=piper_data_dir)
    engine.warm_up()
    yield engine


@pytest.fixture(scope="session")
def piper_deterministic(piper: PiperEngine, piper_data_dir: Path) -> PiperEngine:
    """Noise scales 0: the same text gives the same samples (shares the loaded model)."""
    engine = PiperEngine(data_dir=piper_data_dir, deterministic=True)
    engine.warm_up()
    return engine
