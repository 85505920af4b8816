"""The seeds' own code examples, run as written against the live server (issue 4).

Each curl, Python, JavaScript and TypeScript example of the seed documents is kept verbatim in
``seed_examples/`` (only the line breaks and Python indentation the seed text lost are restored;
``test_the_examples_are_verbatim`` checks that against ``docs/seeds``, the vendored spec). A test
copies one to a temporary working directory, makes the substitutions a reader would make, runs it
with the tool it was written for (``bash`` + curl, the venv's Python with ``requests``, the venv's
Node) against the real console server (``console_server``: console + API on one port, offline
engines), and checks what came out: the audio decodes to a plausible length, emotions are sorted,
transcripts are not empty, and the charge shows in the account's balance.

Substitutions (``localize``), and nothing else:

* base URLs ``https://api.amphion.example.com``, ``https://api.example.com``,
  ``https://fishaudio.net``, and the relative ``/v1/…`` and ``/api/audio/…`` URLs of seeds 001
  and 002 → the server's URL;
* placeholder keys ``sk-your-api-key``, ``YOUR_API_KEY``, ``YOUR_API_TOKEN``, seed 002's empty
  ``Authorization:`` header, and seed 001's ``token`` variable → a real API key.

(Seed 004's ``"reference_id": "your_model_id"`` stays: the catalog answers to that name.)

Test doubles for what an example expects from its surroundings:

* ``audio.wav`` in the working directory (seed 000 SED, and seed 001's file input): about 12 s of
  a story read by the server's own TTS (``/v1/audio/speech``, WAV) — long enough for voice
  cloning (10–60 s), short enough for sync recognition.
* Node, ``seed_examples/doubles/prelude.mjs`` (``node --import``): the examples run as ES modules,
  because seed 000 uses ``require`` *and* top-level await, which Node 24 refuses in one file
  (``ERR_AMBIGUOUS_MODULE_SYNTAX``), so the prelude provides ``require`` (packages from
  ``seed_examples/node_modules``); for seed 000's SED example only, ``fetch`` is node-fetch 2,
  because Node's own fetch sends an npm ``form-data`` body as the string ``[object FormData]``;
  for the browser examples a ``window.AudioContext`` that keeps what it is asked to decode, an
  ``Audio`` that fetches its source like a browser, ``document.querySelector('#audioFile')``
  holding ``audio.wav`` as a ``File``, and ``token``. TypeScript runs through Node 24's type
  stripping. Functions that a seed defines without calling them (seed 003's ``streamSpeech``,
  seed 001's model lists, streaming, cloning and system voices) are called by a few driver lines
  appended after the example, with the arguments its parameter tables describe; ``__report``
  hands results back.
* Python (seed 003 streaming): ``doubles/python/pyaudio.py`` stands in for PyAudio (no sound
  card) and keeps what is written to it; pydub (a test dependency) finds ``ffmpeg`` (imageio's)
  and ``ffprobe`` (``doubles/python/ffprobe.py``, PyAV's libavformat; imageio ships no ffprobe)
  on ``PATH``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest
from sqlmodel import col, select

from api import audio
from api.accounts.models import User
from api.billing.money import format_yuan
from api.billing.pricing import Usage
from api.catalog.catalog import get_catalog
from api.db import Database
from api.history.models import HistoryRecord
from console.launcher import REPO_ROOT
from tests.e2e.conftest import Server
from tests.helpers import PASSWORD

EXAMPLES = Path(__file__).parent / "seed_examples"
DOUBLES = EXAMPLES / "doubles"
SEEDS = REPO_ROOT / "docs" / "seeds"  # the spec, vendored: CI clones have no ../shared
SHARED_SEEDS = REPO_ROOT.parent / "shared" / "seeds"
NODE = Path(sys.executable).parent / "node"
RUN_TIMEOUT = 60

BASE_URLS = ("https://api.amphion.example.com", "https://api.example.com", "https://fishaudio.net")
KEY_PLACEHOLDERS = ("sk-your-api-key", "YOUR_API_KEY", "YOUR_API_TOKEN")
RELATIVE_URL = re.compile(r"(?<=['\"`])/(?=v1/|api/audio/)")
EMPTY_AUTHORIZATION = "'Authorization: '"

# What the TTS examples say, and the story the harness's recording reads.
SEED_000_TEXT = "你好,欢迎使用 Amphion 开放平台。"
STORY = (
    "My grandmother kept a small garden behind the house, with roses, tomatoes and a crooked "
    "apple tree. Every summer we picked the apples together and baked pies for the neighbours. "
    "The whole kitchen smelled of cinnamon for days."
)
EMOTIONS = {"neutral", "happy", "sad", "angry", "fearful", "surprised", "disgusted"}


# --- the server, an account, and the harness's recording ------------------------------------


@dataclass(frozen=True)
class Account:
    server: Server
    user_id: int
    session: str  # console login token
    key: str  # an API key: what every example is given
    db: Database  # the server's own database, read to see exact balances and records

    def balance_micros(self) -> int:
        with self.db.read() as session:
            user = session.get(User, self.user_id)
            assert user is not None
            return user.balance_micros

    def last_record_id(self) -> int:
        with self.db.read() as session:
            ids = session.exec(
                select(HistoryRecord.id).where(HistoryRecord.user_id == self.user_id)
            ).all()
        return max((i for i in ids if i is not None), default=0)

    def records_after(self, record_id: int) -> list[HistoryRecord]:
        with self.db.read() as session:
            return list(
                session.exec(
                    select(HistoryRecord)
                    .where(HistoryRecord.user_id == self.user_id, col(HistoryRecord.id) > record_id)
                    .order_by(col(HistoryRecord.id))
                ).all()
            )


@pytest.fixture(scope="module")
def account(console_server: Server) -> Iterator[Account]:
    with httpx.Client(base_url=console_server.base_url, timeout=30) as client:
        email = f"seed-examples{time.time_ns()}@example.com"
        signed = client.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        data = signed.json()["data"]
        created = client.post(
            "/api/keys",
            json={"name": "seed examples"},
            headers={"Authorization": f"Bearer {data['token']}"},
        )
        assert created.status_code == 200, created.text
    key = created.json()["data"]["key"]
    db = console_server.database()
    yield Account(console_server, int(data["user"]["id"]), data["token"], key, db)
    db.read_engine.dispose()
    db.write_engine.dispose()


@pytest.fixture(scope="module")
def recording(account: Account) -> bytes:
    """About 12 s of a story, spoken by the server's own TTS, as a WAV."""
    response = httpx.post(
        account.server.url("/v1/audio/speech"),
        headers={"Authorization": f"Bearer {account.key}"},
        json={
            "model": "tts-1",
            "voice": "alloy",
            "input": STORY,
            "response_format": "wav",
            "stream": False,
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    decoded = audio.decode(response.content)
    assert decoded.format == "wav" and 10 <= decoded.duration_seconds <= 30
    assert decoded.source_sample_rate >= 16000
    return response.content


@pytest.fixture
def workdir(tmp_path: Path, recording: bytes) -> Path:
    (tmp_path / "audio.wav").write_bytes(recording)
    return tmp_path


@pytest.fixture(scope="module")
def tool_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin directory with ``ffmpeg`` (imageio's) and the ``ffprobe`` double, for pydub."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    ffprobe = bin_dir / "ffprobe"
    double = DOUBLES / "python" / "ffprobe.py"
    ffprobe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{double}" "$@"\n')
    ffprobe.chmod(0o755)
    return bin_dir


# --- running an example ---------------------------------------------------------------------


def localize(name: str, account: Account) -> str:
    """The example as a reader runs it here: this server's URL and a real key."""
    base_url, key = account.server.base_url, account.key
    changed = text = (EXAMPLES / name).read_text()
    for url in BASE_URLS:
        changed = changed.replace(url, base_url)
    changed = RELATIVE_URL.sub(base_url + "/", changed)
    for placeholder in KEY_PLACEHOLDERS:
        changed = changed.replace(placeholder, key)
    changed = changed.replace(EMPTY_AUTHORIZATION, f"'Authorization: Bearer {key}'")
    assert base_url in changed and changed != text, f"{name}: nothing to point at the server"
    if not name.endswith(".ts"):  # seed 001's functions take the key as their token argument
        assert key in changed, f"{name}: no key placeholder"
    return changed


Completed = subprocess.CompletedProcess[bytes]


def _checked(result: Completed, name: str) -> Completed:
    assert result.returncode == 0, (
        f"{name} exited with {result.returncode}\nstdout: {result.stdout[-3000:]!r}\n"
        f"stderr: {result.stderr.decode(errors='replace')[-3000:]}"
    )
    return result


def run_shell(name: str, account: Account, workdir: Path) -> Completed:
    script = workdir / name
    script.write_text(localize(name, account))
    result = subprocess.run(
        ["bash", "-e", script.name], cwd=workdir, capture_output=True, timeout=RUN_TIMEOUT
    )
    return _checked(result, name)


def run_python(
    name: str, account: Account, workdir: Path, *, call: str | None = None, path: str = ""
) -> Completed:
    script = workdir / name
    script.write_text(localize(name, account))
    command = [sys.executable, script.name]
    if call is not None:  # a function the seed defines but does not call
        calling = f"import runpy; runpy.run_path({script.name!r})[{call!r}]()"
        command = [sys.executable, "-c", calling]
    env = {**os.environ, "PYTHONPATH": str(DOUBLES / "python")}
    if path:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, timeout=RUN_TIMEOUT)
    return _checked(result, name)


@dataclass(frozen=True)
class NodeRun:
    stdout: str
    report: dict[str, Any]

    @property
    def results(self) -> list[Any]:
        return list(self.report["results"])


def run_node(
    name: str, account: Account, workdir: Path, *, driver: str = "", fetch: str = ""
) -> NodeRun:
    if not (EXAMPLES / "node_modules" / "form-data").is_dir():
        pytest.fail("tests/e2e/seed_examples/node_modules is missing: scripts/test installs it")
    source = localize(name, account)
    # As an ES module (see the module docstring); TypeScript through Node's type stripping.
    script = workdir / (Path(name).stem + (".mts" if name.endswith(".ts") else ".mjs"))
    script.write_text(source + ("\n// --- driver (test harness) ---\n" + driver if driver else ""))
    env = {
        **os.environ,
        "SEED_BASE_URL": account.server.base_url,
        "SEED_TOKEN": account.key,
        "SEED_AUDIO_FILE": str(workdir / "audio.wav"),
        "SEED_REPORT": str(workdir / "report.json"),
        "SEED_FETCH": fetch,
        "NODE_NO_WARNINGS": "1",
    }
    command = [str(NODE), "--import", (DOUBLES / "prelude.mjs").as_uri(), script.name]
    result = _checked(
        subprocess.run(command, cwd=workdir, env=env, capture_output=True, timeout=RUN_TIMEOUT),
        name,
    )
    report = json.loads((workdir / "report.json").read_text())
    return NodeRun(result.stdout.decode(), report)


# --- what came out --------------------------------------------------------------------------


def assert_speech(
    data: bytes, fmt: str, *, min_seconds: float = 1.0, max_seconds: float = 20.0
) -> audio.Decoded:
    """Audio in ``fmt`` that decodes to a plausible length of sound (not silence)."""
    decoded = audio.decode(data)
    assert decoded.format == fmt, f"expected {fmt}, got {decoded.format}"
    assert min_seconds <= decoded.duration_seconds <= max_seconds, decoded.duration_seconds
    assert audio.rms_dbfs(decoded.pcm) > -40, "the audio is silent"
    return decoded


class Charges:
    """What one example cost: new history records and the balance, read from the database."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.balance = account.balance_micros()
        self.last = account.last_record_id()

    def settle(self, count: int = 1, timeout: float = 10.0) -> list[HistoryRecord]:
        """Wait until ``count`` new records are settled and the balance fell by their costs."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.account.records_after(self.last)
            spent = self.balance - self.account.balance_micros()
            done = len(records) >= count and spent == sum(r.cost_micros for r in records)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(records) == count, [(r.type, r.model, r.status) for r in records]
        assert spent == sum(r.cost_micros for r in records), (spent, records)
        for record in records:
            assert record.status == "succeeded", record
            price = get_catalog().model(record.model).price
            usage = Usage(characters=record.characters or 0, audio_ms=record.duration_ms or 0)
            assert record.cost_micros == price.cost(usage) > 0, record
        return records


def assert_charged(
    charges: Charges, *, kind: str, model: str, micros: int | None = None
) -> HistoryRecord:
    """The example made exactly one ``kind`` record on ``model`` and paid for it."""
    (record,) = charges.settle()
    assert (record.type, record.model) == (kind, model)
    if micros is not None:
        assert record.cost_micros == micros
    return record


# --- the examples are the seeds' ------------------------------------------------------------


def test_the_examples_are_verbatim() -> None:
    """Every example file is its seed's text, up to whitespace (line breaks, indentation)."""
    seeds = {p.name[:3]: " ".join(p.read_text().split()) for p in SEEDS.glob("*.txt")}
    files = sorted(p for p in EXAMPLES.glob("0*") if p.is_file())
    assert len(files) == 23
    for path in files:
        assert " ".join(path.read_text().split()) in seeds[path.name[:3]], path.name


def test_the_vendored_seeds_are_the_shared_ones() -> None:
    """docs/seeds holds the five seed documents unchanged (compared where the originals are)."""
    vendored = {p.name: p.read_bytes() for p in SEEDS.glob("*.txt")}
    assert sorted(name[:3] for name in vendored) == ["000", "001", "002", "003", "004"]
    for original in SHARED_SEEDS.glob("*.txt"):
        assert vendored[original.name] == original.read_bytes(), original.name


# --- seed 000: Amphion platform -------------------------------------------------------------

TTS_PRICE = 10_000  # ¥0.0100 per call
SED_PRICE = 5_000  # ¥0.0050 per call


@pytest.mark.parametrize("name", ["000_tts.sh", "000_tts.py", "000_tts.js"])
def test_seed_000_tts(name: str, account: Account, workdir: Path) -> None:
    charges = Charges(account)
    if name.endswith(".sh"):
        run_shell(name, account, workdir)
    elif name.endswith(".py"):
        out = run_python(name, account, workdir).stdout.decode()
        size = (workdir / "output.mp3").stat().st_size
        assert out.strip() == f"Status: 200, Size: {size} bytes"
    else:
        out = run_node(name, account, workdir).stdout
        size = (workdir / "output.mp3").stat().st_size
        assert out.strip() == f"Status: 200, Size: {size} bytes"
    assert_speech((workdir / "output.mp3").read_bytes(), "mp3")
    record = assert_charged(charges, kind="tts", model="Qwen3-TTS", micros=TTS_PRICE)
    assert record.characters == len(SEED_000_TEXT)


def _printed_emotions(out: str, places: int) -> list[tuple[str, float]]:
    pattern = re.compile(rf"^(\w+): (\d+\.\d{{{places}}})%$")
    lines = out.strip().splitlines()
    matches = [pattern.match(line) for line in lines]
    assert lines and all(matches), out
    return [(m.group(1), float(m.group(2))) for m in matches if m]


@pytest.mark.parametrize("name", ["000_sed.sh", "000_sed.py", "000_sed.js"])
def test_seed_000_sed(name: str, account: Account, workdir: Path, recording: bytes) -> None:
    charges = Charges(account)
    if name.endswith(".sh"):
        body = json.loads(run_shell(name, account, workdir).stdout)
        emotions = [(e["label"], e["score"]) for e in body["emotions"]]
        assert body["model"] == "Zipformer-SED"
        duration = audio.decode(recording).duration_seconds
        assert body["duration_seconds"] == pytest.approx(duration, abs=0.05)
    elif name.endswith(".py"):
        emotions = _printed_emotions(run_python(name, account, workdir).stdout.decode(), 2)
    else:
        emotions = _printed_emotions(run_node(name, account, workdir, fetch="node-fetch").stdout, 1)
    labels = [label for label, _ in emotions]
    scores = [score for _, score in emotions]
    assert set(labels) <= EMOTIONS and len(set(labels)) == len(labels) >= 2, emotions
    assert scores == sorted(scores, reverse=True), emotions
    scale = 1 if name.endswith(".sh") else 100
    assert sum(scores) == pytest.approx(scale, rel=0.02)
    assert_charged(charges, kind="sed", model="Zipformer-SED", micros=SED_PRICE)


# --- seed 002 and 003: OpenAI-compatible ----------------------------------------------------


def test_seed_002_curl(account: Account, workdir: Path) -> None:
    charges = Charges(account)
    out = run_shell("002_speech.sh", account, workdir).stdout
    assert_speech(out, "mp3")  # the default format, written to standard output
    record = assert_charged(charges, kind="tts", model="tts-1")
    assert record.characters == len("The quick brown fox jumped over the lazy dog.")


@pytest.mark.parametrize(
    ("name", "fmt"), [("003_basic.json", "mp3"), ("003_stream.json", "mp3"), ("003_hd.json", "wav")]
)
def test_seed_003_request_bodies(name: str, fmt: str, account: Account) -> None:
    body = (EXAMPLES / name).read_text()
    charges = Charges(account)
    response = httpx.post(
        account.server.url("/v1/audio/speech"),
        headers={"Authorization": f"Bearer {account.key}", "Content-Type": "application/json"},
        content=body.encode(),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == {"mp3": "audio/mpeg", "wav": "audio/wav"}[fmt]
    decoded = assert_speech(response.content, fmt)
    request = json.loads(body)
    if "sample_rate" in request:
        assert decoded.source_sample_rate == request["sample_rate"]
    assert_charged(charges, kind="tts", model=request["model"])


STREAM_JS_DRIVER = "await streamSpeech();\n"


def test_seed_003_javascript_stream(account: Account, workdir: Path) -> None:
    charges = Charges(account)
    run = run_node("003_stream.js", account, workdir, driver=STREAM_JS_DRIVER)
    chunks = run.report["decoded_chunks"]
    assert chunks >= 1 and run.report["sources_started"] == chunks
    assert_speech((workdir / "decoded.bin").read_bytes(), "mp3")
    assert_charged(charges, kind="tts", model="tts-1")


def test_seed_003_python_stream(account: Account, workdir: Path, tool_path: Path) -> None:
    charges = Charges(account)
    run_python("003_stream.py", account, workdir, call="stream_speech", path=str(tool_path))
    used = json.loads((workdir / "pyaudio.json").read_text())
    assert used["opened"] == [{"format": 8, "channels": 1, "rate": 24000, "output": True}]
    assert used["writes"] >= 1 and used["stopped"] and used["closed"] and used["terminated"]
    pcm = (workdir / "pyaudio.pcm").read_bytes()
    assert len(pcm) == used["bytes"]
    seconds = len(pcm) / 2 / 24000
    assert 1.0 <= seconds <= 20.0, seconds
    played = audio.decode_pcm(pcm, 24000)
    assert audio.rms_dbfs(played) > -40
    assert_charged(charges, kind="tts", model="tts-1")


# --- seed 004: Fish open API ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model"), [("004_tts_s1.sh", "fish-s1"), ("004_tts_v3hd.sh", "fish-v3-hd")]
)
def test_seed_004_curl(name: str, model: str, account: Account, workdir: Path) -> None:
    charges = Charges(account)
    run_shell(name, account, workdir)
    assert_speech((workdir / "output.mp3").read_bytes(), "mp3", min_seconds=0.5)
    record = assert_charged(charges, kind="tts", model=model)
    assert record.characters == len("要转换的文本内容")


# --- seed 001: AI voice backend (front-end TypeScript) --------------------------------------

SEED_001_TTS_MODELS = {"cosyvoice-v3-flash", "cosyvoice-v3-plus", "cosyvoice-v2"}
SEED_001_ASR_MODELS = {"qwen3-asr-flash", "qwen-audio-asr", "qwen3-asr-flash-filetrans"}
TTS_MODEL_FIELDS = {"model_id", "model_name", "description", "price_per_10k_chars", "features"}
ASR_MODEL_FIELDS = {"model_id", "model_name", "description", "call_type", "features"}
TTS_MODELS_DRIVER = "__report(await getTTSModels(token));"
ASR_MODELS_DRIVER = "__report(await getASRModels(token));"


def test_seed_001_model_lists(account: Account, workdir: Path) -> None:
    tts = run_node("001_tts_models.ts", account, workdir, driver=TTS_MODELS_DRIVER)
    (models,) = tts.results
    by_id = {m["model_id"]: m for m in models}
    assert SEED_001_TTS_MODELS <= set(by_id)
    assert by_id["cosyvoice-v3-flash"]["price_per_10k_chars"] == "0.14335"
    assert all(set(m) >= TTS_MODEL_FIELDS for m in models)
    asr = run_node("001_asr_models.ts", account, workdir, driver=ASR_MODELS_DRIVER)
    (models,) = asr.results
    by_id = {m["model_id"]: m for m in models}
    assert SEED_001_ASR_MODELS <= set(by_id)
    assert by_id["qwen3-asr-flash-filetrans"]["call_type"] == "async"
    assert by_id["qwen3-asr-flash"]["call_type"] == "sync"
    assert all(set(m) >= ASR_MODEL_FIELDS for m in models)


def test_seed_001_synthesize_and_play(account: Account, workdir: Path) -> None:
    charges = Charges(account)
    run = run_node(
        "001_synthesize.ts", account, workdir, driver="await __settle();\n__report(result);"
    )
    (result,) = run.results
    assert run.stdout.strip() == f"费用: {result['bill']}"
    (played,) = run.report["played"]
    assert played["src"] == result["audio_url"] and played["status"] == 200
    assert played["content_type"] == "audio/mpeg"
    decoded = assert_speech(Path(played["file"]).read_bytes(), "mp3")
    assert decoded.duration_seconds == pytest.approx(result["duration"], abs=0.1)
    assert result["format"] == "mp3" and result["characters"] == len("你好,欢迎使用语音合成服务!")
    record = assert_charged(charges, kind="tts", model="cosyvoice-v3-flash")
    assert format_yuan(record.cost_micros) == result["bill"] and record.id == result["record_id"]


def test_seed_001_synthesize_long(account: Account, workdir: Path) -> None:
    charges = Charges(account)
    run = run_node("001_synthesize_long.ts", account, workdir, driver="__report(result);")
    (result,) = run.results
    assert run.stdout.strip() == (
        f"合成完成,共{result['segments']}个片段,总时长{result['duration']}秒,费用{result['bill']}元"
    )
    assert result["segments"] >= 1
    assert result["total_characters"] == len("这是一段很长的文本...(超过2000字符)")
    listened = httpx.get(result["audio_url"], timeout=30)  # a signed link: no key needed
    assert listened.status_code == 200
    decoded = assert_speech(listened.content, "mp3")
    assert decoded.duration_seconds == pytest.approx(result["duration"], abs=0.1)
    record = assert_charged(charges, kind="tts", model="cosyvoice-v3-flash")
    assert format_yuan(record.cost_micros) == result["bill"] and record.id == result["record_id"]


STREAM_TS_DRIVER = """await synthesizeStream(
  token,
  { model: 'cosyvoice-v3-flash', voice: 'longanyang', text: '你好,欢迎使用语音合成服务!' },
  __collect
);
"""


def test_seed_001_synthesize_stream(account: Account, workdir: Path) -> None:
    charges = Charges(account)
    run = run_node("001_synthesize_stream.ts", account, workdir, driver=STREAM_TS_DRIVER)
    assert run.report["streamed_chunks"] >= 1
    assert_speech((workdir / "streamed.bin").read_bytes(), "mp3")
    assert_charged(charges, kind="tts", model="cosyvoice-v3-flash")


def test_seed_001_recognize_the_file_input(account: Account, workdir: Path) -> None:
    charges = Charges(account)
    run = run_node("001_recognize.ts", account, workdir)
    match = re.fullmatch(r"识别结果: (.+)\n费用: (\d+\.\d{4})\n", run.stdout)
    assert match, run.stdout
    text, bill = match.groups()
    words = set(re.findall(r"[a-z]+", text.lower()))
    assert {"grandmother", "garden", "apple"} & words, text
    record = assert_charged(charges, kind="asr", model="qwen3-asr-flash")
    assert format_yuan(record.cost_micros) == bill


CLONE_DRIVER = """const created = await createVoice(
  token, __audioFile(), 'seedex', 'cosyvoice-v3-flash'
);
__report(created);
__report(await waitForVoiceReady(token, created.voice_id));
"""


def test_seed_001_create_a_voice_and_wait_until_ready(account: Account, workdir: Path) -> None:
    run = run_node("001_create_voice.ts", account, workdir, driver=CLONE_DRIVER)
    created, ready = run.results
    assert created["voice_id"].startswith("cosyvoice-v3-flash-seedex-")
    assert created["status"] in {"DEPLOYING", "OK"}
    assert created["target_model"] == "cosyvoice-v3-flash" and created["record_id"] > 0
    assert ready["voice_id"] == created["voice_id"] and ready["status"] == "OK"


SYSTEM_VOICE_FIELDS = {
    "voice_id", "name", "trait", "age", "category", "languages", "models", "features"
}  # fmt: skip
SYSTEM_VOICES_DRIVER = """__report(await getSystemVoices(token, 'cosyvoice-v3-flash'));
__report(await getSystemVoices(token, undefined, '社交陪伴'));
"""


def test_seed_001_system_voices(account: Account, workdir: Path) -> None:
    run = run_node("001_system_voices.ts", account, workdir, driver=SYSTEM_VOICES_DRIVER)
    for_model, in_category = run.results
    assert {"longanyang", "longanhuan"} <= {v["voice_id"] for v in for_model}
    assert all("cosyvoice-v3-flash" in v["models"] for v in for_model)
    assert in_category and all(v["category"] == "社交陪伴" for v in in_category)
    for voice in for_model + in_category:
        assert set(voice) >= SYSTEM_VOICE_FIELDS
        assert set(voice["features"]) == {"ssml", "instruct", "timestamp"}


def test_seed_001_history(account: Account, workdir: Path) -> None:
    made = httpx.post(
        account.server.url("/api/audio/tts/synthesize"),
        headers={"Authorization": f"Bearer {account.key}"},
        json={"model": "cosyvoice-v3-flash", "voice": "longanyang", "text": "历史记录。"},
        timeout=60,
    )
    assert made.status_code == 200 and made.json()["code"] == 200, made.text
    record_id = made.json()["data"]["record_id"]
    run = run_node("001_history.ts", account, workdir, driver="__report(history);")
    (history,) = run.results
    assert history["page"] == 1 and history["page_size"] == 10 and history["total"] >= 1
    assert history["items"] and all(item["type"] == "tts" for item in history["items"])
    assert history["items"][0]["id"] == record_id
    assert run.stdout.startswith("历史记录:") and f"总数: {history['total']}" in run.stdout


# --- the balance the console shows ------------------------------------------------------------


def test_the_account_shows_the_balance_the_examples_left(account: Account) -> None:
    response = httpx.get(
        account.server.url("/api/account"),
        headers={"Authorization": f"Bearer {account.session}"},
        timeout=10,
    )
    assert response.status_code == 200
    balance = account.balance_micros()
    assert balance < 100_000_000  # the examples spent some of the ¥100 sign-up credit
    assert response.json()["data"]["balance"] == format_yuan(balance)
