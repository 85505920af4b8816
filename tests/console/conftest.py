"""The console state tests run their async handlers on asyncio, as Reflex does."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
