"""Run as a separate process by test_speech_engines_real.py: synthesize 10,000 mixed Chinese and
English characters with the real offline engines through ``synthesize(long=True)`` and print,
as JSON, the peak resident memory of this process and the text each engine call was given.

A process of its own, because the test process has other models loaded (Whisper) and its peak
memory says nothing about synthesis.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from api.accounts.service import create_user
from api.billing import ledger
from api.catalog.catalog import get_catalog
from api.db import Database, migrate
from api.engines.registry import default_registry
from api.principal import Principal
from api.settings import Settings
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.synthesis import SpeechOrder, synthesize
from api.storage import get_object_store

CHINESE = "今天天气很好，我们一起去公园散步吧。欢迎使用语音合成服务，祝您生活愉快。"
ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank. Thanks for calling. "


def mixed_text(length: int) -> str:
    pieces: list[str] = []
    while sum(map(len, pieces)) < length:
        pieces.append(CHINESE if len(pieces) % 2 == 0 else ENGLISH)
    return "".join(pieces)[:length]


class Recording:
    """Wraps a TTS engine and notes every text it is asked to speak."""

    def __init__(self, engine: Any, spoken: list[str]) -> None:
        self._engine, self._spoken = engine, spoken

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def synthesize(self, request: Any) -> Any:
        self._spoken.append(request.text)
        return self._engine.synthesize(request)

    def stream(self, request: Any) -> Any:
        self._spoken.append(request.text)
        return self._engine.stream(request)


def peak_resident_mb() -> float:
    """This process's peak resident memory. Not ``getrusage``: Linux carries ``ru_maxrss``
    across ``exec`` from the forked parent, so a child of a big test process reads its size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="amphion-long-"))
    settings = Settings(
        environment="test",
        secret_key="test-secret-key-that-is-long-enough",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'amphion.db'}",
    )
    migrate(settings.database_url)
    db = Database(settings.database_url)
    with db.write() as session:
        user = create_user(session, email="long@example.com", password_hash="x", settings=settings)
        assert user.id is not None
        ledger.credit(session, user.id, 100_000_000, kind="grant", note="probe")
    engines = default_registry(settings)
    spoken: list[str] = []
    for name in ("espeak-ng", "piper"):
        real = engines.tts(name)
        engines.register_tts(name, lambda real=real: Recording(real, spoken))
    context = SpeechContext(settings, db, get_catalog(), engines, get_object_store(settings))
    caller = Caller(Principal(user.id, "long@example.com", "user", "session"), "probe")
    text = mixed_text(int(sys.argv[1]))
    result = synthesize(
        context, caller, SpeechOrder("cosyvoice-v3-flash", text, voice="longanyang"), long=True
    )
    peak_mb = peak_resident_mb()
    print(
        json.dumps(
            {
                "text": text,
                "spoken": spoken,
                "segments": result.segments,
                "duration_ms": result.duration_ms,
                "bytes": len(result.audio),
                "peak_mb": peak_mb,
            }
        )
    )


if __name__ == "__main__":
    main()
