"""Every snippet of the console's API guide runs as written against a real API server.

The guide (``console.state.developers``) fills in the server's address and a key; given the
full key, each curl, Python and JavaScript example must succeed and produce audio (or, for the
envelope dialect, print the envelope's data).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.accounts.service import register_user
from api.db import Database
from api.keys.service import issue_key
from console.launcher import console_environment
from console.state.developers import DIALECTS, LANGUAGES, build_examples

pytestmark = pytest.mark.e2e

AUDIO_OUTPUTS = {"amphion": "output.mp3", "openai": "speech.mp3", "fish": "output.mp3"}


@pytest.fixture(scope="module")
def examples(api_server) -> dict[str, str]:
    database = Database(api_server.settings.database_url)
    try:
        user = register_user(
            database, api_server.settings, email="guide@example.com", password="guide-pass-2026"
        )
        assert user.id is not None
        with database.write() as session:
            _, key = issue_key(
                session, user_id=user.id, name="guide", secret_key=api_server.settings.secret_key
            )
    finally:
        database.dispose()
    return build_examples(api_server.base_url, key)


def _run(language: str, code: str, cwd: Path) -> str:
    command = {
        "curl": ["bash", "-e", "-c", code],
        "python": [sys.executable, "-c", code],
        "javascript": ["node", "--input-type=module", "-e", code],
    }[language]
    done = subprocess.run(
        command, cwd=cwd, env=console_environment(), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_example_runs_as_written(examples, dialect: str, language: str, tmp_path: Path):
    printed = _run(language, examples[f"{dialect}_{language}"], tmp_path)
    if dialect in AUDIO_OUTPUTS:
        audio = (tmp_path / AUDIO_OUTPUTS[dialect]).read_bytes()
        assert len(audio) > 1000 and (audio[:3] == b"ID3" or audio[0] == 0xFF)
    elif language == "curl":
        envelope = json.loads(printed)
        assert envelope["code"] == 200 and envelope["data"]["audio_url"]
    else:
        assert "audio_url" in printed


def test_the_openai_sdk_example_speaks_and_hears(examples, tmp_path: Path):
    printed = _run("python", examples["openai_sdk"], tmp_path)
    assert (tmp_path / "hello.mp3").stat().st_size > 1000
    assert "hello" in printed.lower()


def test_the_emotion_example_analyzes_a_recording(examples, api_server, tmp_path: Path):
    # A recording to analyze: the guide's own TTS example, asked for WAV.
    speak = examples["amphion_curl"].replace('"voice": "default"', '"response_format": "wav"')
    _run("curl", speak.replace("output.mp3", "audio.wav"), tmp_path)
    analysis = json.loads(_run("curl", examples["amphion_sed"], tmp_path))
    assert analysis.get("emotions") and analysis["duration_seconds"] > 0.5, analysis
