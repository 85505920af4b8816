"""DashScope (Alibaba Cloud Model Studio / Bailian): CosyVoice TTS, Qwen3-ASR, file transcription,
voice enrollment.

Base URL: the host root (``https://dashscope.aliyuncs.com``, ``https://dashscope-intl...``, or a
workspace domain). Every call carries ``Authorization: Bearer <key>``.

**CosyVoice TTS** — WebSocket ``wss://<host>/api-ws/v1/inference``, JSON commands as text
frames, audio as binary frames::

    -> {"header": {"action": "run-task", "task_id": T, "streaming": "duplex"},
        "payload": {"task_group": "audio", "task": "tts", "function": "SpeechSynthesizer",
                    "model": M, "input": {},
                    "parameters": {"text_type": "PlainText", "voice": V, "format": "pcm",
                                   "sample_rate": R, "volume": 50, "rate": 1.0, "pitch": 1.0}}}
    <- {"header": {"task_id": T, "event": "task-started"}, "payload": {}}
    -> {"header": {"action": "continue-task", ...}, "payload": {"input": {"text": "..."}}}  × N
    -> {"header": {"action": "finish-task", ...}, "payload": {"input": {}}}
    <- result-generated (sentence-begin / sentence-synthesis / sentence-end) text frames,
       with the PCM in the binary frames between them
    <- {"header": {"event": "task-finished"}, "payload": {"usage": {"characters": n}}}
       or {"header": {"event": "task-failed", "error_code": "...", "error_message": "..."}}

**Qwen3-ASR-Flash (sync)** — ``POST /api/v1/services/aigc/multimodal-generation/generation``
with ``{"model", "input": {"messages": [system context, user {"audio": data-URL}]},
"parameters": {"asr_options": {"language", "enable_itn"}}}`` → ``output.choices[0].message``
(``content[0].text``, ``annotations[{"type": "audio_info", "language", "emotion"}]``) and
``usage.seconds``.

**Qwen3-ASR-Flash-Filetrans (async)** — ``POST /api/v1/services/audio/asr/transcription`` with
``X-DashScope-Async: enable`` → ``output.task_id``; ``GET /api/v1/tasks/{task_id}`` →
``output.task_status`` PENDING | RUNNING | SUCCEEDED | FAILED | UNKNOWN; on success
``output.result.transcription_url`` points at a JSON file (``transcripts[].sentences[]`` with
``begin_time``/``end_time`` in ms, ``text``, ``language``, ``emotion``, ``words``). That URL is
fetched without credentials (``fetch_public_json``).

**Voice enrollment** — ``POST /api/v1/services/audio/tts/customization`` with
``{"model": "voice-enrollment", "input": {"action": create_voice | list_voice | query_voice |
update_voice | delete_voice, ...}}`` → ``output`` (``voice_id``, ``voice_list``, ``status``).
DashScope fetches the sample from a public URL itself; this adapter never downloads it.

Errors follow ``common``'s mapping; a task-failed event becomes a 502 naming DashScope's error
code (never its error message, which may echo input).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import httpx
import websockets
from websockets.sync.client import ClientConnection, connect

from api.engines.base import (
    EMOTION_LABELS,
    CloneResult,
    EngineVoice,
    Pcm,
    RecognitionRequest,
    Segment,
    SynthesisRequest,
)
from api.errors import InvalidInputError, UpstreamError, UpstreamTimeoutError

from .common import (
    Breaker,
    ClosingAdapter,
    Deadline,
    PcmChunker,
    ProviderConfig,
    ProviderError,
    ProviderHttp,
    ProviderKeyRejectedError,
    ProviderTranscript,
    checked_usage,
    clamp,
    error_for_status,
    fetch_public_json,
    join_pcm,
    json_object,
    no_audio,
    provider_logger,
    safe_upstream_code,
    upstream_timeout,
    wav_bytes,
)

PROVIDER = "DashScope"

_log = provider_logger("dashscope")
# Handed to the websockets library, which logs each handshake header (Authorization too) at
# DEBUG: this logger's filter redacts them.
_ws_log = provider_logger("dashscope.websocket")

WS_PATH = "/api-ws/v1/inference"
ASR_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
FILETRANS_PATH = "/api/v1/services/audio/asr/transcription"
TASKS_PATH = "/api/v1/tasks/"
CUSTOMIZATION_PATH = "/api/v1/services/audio/tts/customization"

COSYVOICE_SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
COSYVOICE_LANGUAGE_HINTS = ("zh", "en", "fr", "de", "ja", "ko", "ru", "pt", "th", "id", "vi")
_MAX_CHARS_PER_MESSAGE = 20_000  # continue-task limit
_MAX_CHARS_PER_TASK = 200_000
_MAX_ASR_UPLOAD_BYTES = 10 * 1024 * 1024  # qwen3-asr-flash: ≈5 min / 10 MB
_AUTH_ERROR_CODES = frozenset({"InvalidApiKey", "AccessDenied", "Unauthorized"})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

# Not a verified catalogue (DashScope publishes no list API for system voices): a starting set
# the operator's catalog can replace through the ``voices`` argument.
DEFAULT_COSYVOICE_VOICES = (
    EngineVoice("longxiaochun_v2", "cmn", "female", "CosyVoice v2 system voice"),
    EngineVoice("longanyang", "cmn", "neutral", "CosyVoice v3 system voice"),
)


def dashscope_language(language: str | None) -> str | None:
    """Platform language tags (``cmn``, ``en-us``, ``yue``) as DashScope's short codes."""
    if not language:
        return None
    code = language.lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "zho": "zh", "chi": "zh", "eng": "en"}.get(code, code)


def normalized_emotion(value: object) -> str | None:
    if isinstance(value, str) and value.strip().lower() in EMOTION_LABELS:
        return value.strip().lower()
    return None


def _ws_url(base_url: str) -> str:
    url = httpx.URL(base_url)
    scheme = "wss" if url.scheme == "https" else "ws"
    return str(url.copy_with(scheme=scheme, raw_path=url.raw_path.rstrip(b"/") + WS_PATH.encode()))


def _checked_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ProviderError(f"{PROVIDER} returned an invalid {what}", provider=PROVIDER)
    return value


def _input_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise InvalidInputError(f"invalid {what}", param=what)
    return value


def _public_url(value: str, param: str) -> str:
    url = httpx.URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInputError("the audio URL must be an http(s) URL", param=param)
    return value


# --- CosyVoice text to speech ------------------------------------------------------------------


@dataclass(frozen=True)
class _TaskPlan:
    model: str
    voice: str
    sample_rate: int
    rate: float
    pitch: float
    volume: int
    instruction: str | None
    language_hint: str | None
    pieces: tuple[str, ...]
    characters: int


class DashScopeCosyVoiceTTS:
    """CosyVoice over DashScope's duplex WebSocket; implements ``TTSEngine``.

    ``model`` is the platform model id (``cosyvoice-v3-flash``, ``cosyvoice-v3-plus``,
    ``cosyvoice-v2``), mapped through ``config.models``. Audio is requested as raw PCM at
    ``sample_rate`` (or the request's rate when CosyVoice supports it). Speed and pitch are
    native (``rate``/``pitch`` 0.5–2.0). A cloned voice arrives as ``request.profile``
    ``{"voice_id": ..., "target_model": ...}``; its target model must be this model.
    """

    native_speed = True
    native_pitch = True

    def __init__(
        self,
        config: ProviderConfig,
        *,
        model: str = "cosyvoice-v3-flash",
        sample_rate: int = 24000,
        volume: int = 50,
        voices: Sequence[EngineVoice] | None = None,
    ):
        if sample_rate not in COSYVOICE_SAMPLE_RATES:
            raise ValueError(f"CosyVoice sample rates are {COSYVOICE_SAMPLE_RATES}")
        self.config = config
        self.model = model
        self.provider_model = config.provider_model(model)
        self.name = f"dashscope-{model}"
        self.sample_rate = sample_rate
        self.volume = int(clamp(volume, 0, 100))
        self._voices = list(DEFAULT_COSYVOICE_VOICES if voices is None else voices)
        self._ws_url = _ws_url(config.base_url)

    def voices(self) -> list[EngineVoice]:
        return list(self._voices)

    def synthesize(self, request: SynthesisRequest) -> Pcm:
        plan = self._plan(request)
        return join_pcm(self._run_task(plan), plan.sample_rate)

    def stream(self, request: SynthesisRequest) -> Iterator[Pcm]:
        plan = self._plan(request)  # bad input fails here, before any connection
        return self._run_task(plan)

    def _plan(self, request: SynthesisRequest) -> _TaskPlan:
        text = request.text
        if not text.strip():
            raise InvalidInputError("text is empty", param="text")
        if len(text) > _MAX_CHARS_PER_TASK:
            raise InvalidInputError(
                f"text is longer than {_MAX_CHARS_PER_TASK} characters",
                code="TEXT_TOO_LONG",
                param="text",
            )
        voice = request.voice
        profile = request.profile or {}
        cloned = profile.get("voice_id")
        if isinstance(cloned, str) and cloned:
            target = profile.get("target_model")
            if isinstance(target, str) and target not in (self.model, self.provider_model):
                raise InvalidInputError(
                    "this cloned voice belongs to another model",
                    code="MODEL_VOICE_MISMATCH",
                    param="voice",
                )
            voice = cloned
        if not voice:
            raise InvalidInputError("a voice is required", param="voice")
        rate = request.sample_rate if request.sample_rate in COSYVOICE_SAMPLE_RATES else None
        hint = dashscope_language(request.language)
        pieces = tuple(
            text[start : start + _MAX_CHARS_PER_MESSAGE]
            for start in range(0, len(text), _MAX_CHARS_PER_MESSAGE)
        )
        return _TaskPlan(
            model=self.provider_model,
            voice=voice,
            sample_rate=rate or self.sample_rate,
            rate=clamp(request.speed, 0.5, 2.0),
            pitch=clamp(request.pitch, 0.5, 2.0),
            volume=self.volume,
            instruction=request.instruction or None,
            language_hint=hint if hint in COSYVOICE_LANGUAGE_HINTS else None,
            pieces=pieces,
            characters=len(text),
        )

    def _connect(self, deadline: Deadline) -> ClientConnection:
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        try:
            return connect(
                self._ws_url,
                additional_headers=headers,
                user_agent_header="amphion-platform",
                proxy=None,  # like httpx's trust_env=False: no environment proxy gets the key
                open_timeout=deadline.cap(self.config.connect_timeout),
                close_timeout=1.0,
                ping_interval=None,
                max_size=16 * 1024 * 1024,
                logger=_ws_log,
            )
        except websockets.InvalidStatus as exc:
            raise error_for_status(
                PROVIDER, exc.response.status_code, self.config.key_owner
            ) from None
        except TimeoutError:
            raise upstream_timeout(PROVIDER) from None
        except websockets.InvalidHandshake:
            raise ProviderError(
                f"{PROVIDER} WebSocket handshake failed", provider=PROVIDER
            ) from None
        except OSError:
            raise ProviderError(f"could not connect to {PROVIDER}", provider=PROVIDER) from None

    def _run_task(self, plan: _TaskPlan) -> Iterator[Pcm]:
        deadline = Deadline(self.config.total_timeout)
        error: UpstreamError | UpstreamTimeoutError | None = None
        with self._connect(deadline) as ws:
            try:
                yield from self._converse(ws, plan, deadline)
            except TimeoutError:
                error = upstream_timeout(PROVIDER)
            except websockets.ConnectionClosed:
                error = ProviderError(
                    f"{PROVIDER} closed the connection before the task finished", provider=PROVIDER
                )
            except OSError:
                error = ProviderError(f"the connection to {PROVIDER} broke off", provider=PROVIDER)
        if error is not None:
            _log.info("CosyVoice task failed: %s", error.message)
            raise error from None

    def _converse(self, ws: ClientConnection, plan: _TaskPlan, deadline: Deadline) -> Iterator[Pcm]:
        task_id = str(uuid.uuid4())
        header = {"task_id": task_id, "streaming": "duplex"}
        parameters: dict[str, Any] = {
            "text_type": "PlainText",
            "voice": plan.voice,
            "format": "pcm",
            "sample_rate": plan.sample_rate,
            "volume": plan.volume,
            "rate": plan.rate,
            "pitch": plan.pitch,
        }
        if plan.instruction:
            parameters["instruction"] = plan.instruction
        if plan.language_hint:
            parameters["language_hints"] = [plan.language_hint]
        ws.send(
            json.dumps(
                {
                    "header": {"action": "run-task", **header},
                    "payload": {
                        "task_group": "audio",
                        "task": "tts",
                        "function": "SpeechSynthesizer",
                        "model": plan.model,
                        "parameters": parameters,
                        "input": {},
                    },
                }
            )
        )
        while True:  # the protocol forbids text before task-started
            message = ws.recv(timeout=deadline.cap(self.config.read_timeout))
            if isinstance(message, bytes):
                raise ProviderError(
                    f"{PROVIDER} sent audio before the task started", provider=PROVIDER
                )
            event, data = self._event(message, task_id)
            if event == "task-started":
                break
            if event == "task-failed":
                raise self._task_failed(data)
        for piece in plan.pieces:
            ws.send(
                json.dumps(
                    {
                        "header": {"action": "continue-task", **header},
                        "payload": {"input": {"text": piece}},
                    },
                    ensure_ascii=False,
                )
            )
        ws.send(
            json.dumps({"header": {"action": "finish-task", **header}, "payload": {"input": {}}})
        )
        chunker = PcmChunker(plan.sample_rate)
        # CosyVoice bills Chinese characters double; anything past this bound is nonsense.
        usage_bound = 4 * plan.characters + 1000
        while True:
            message = ws.recv(timeout=deadline.cap(self.config.read_timeout))
            deadline.check(PROVIDER)
            if isinstance(message, bytes):
                pcm = chunker.feed(message)
                if pcm is not None:
                    yield pcm
                continue
            event, data = self._event(message, task_id)
            if event == "task-failed":
                raise self._task_failed(data)
            if event in ("result-generated", "task-finished"):
                usage = data.get("payload", {}).get("usage")
                if isinstance(usage, dict):
                    checked_usage(
                        usage.get("characters"),
                        provider=PROVIDER,
                        what="characters",
                        upper=usage_bound,
                    )
            if event == "task-finished":
                break
        chunker.finish(PROVIDER)
        if chunker.samples_out == 0:
            raise no_audio(PROVIDER)

    @staticmethod
    def _event(message: str, task_id: str) -> tuple[str, dict[str, Any]]:
        try:
            data = json.loads(message)
        except ValueError:
            raise ProviderError(f"{PROVIDER} sent invalid JSON", provider=PROVIDER) from None
        header = data.get("header") if isinstance(data, dict) else None
        if not isinstance(header, dict) or not isinstance(header.get("event"), str):
            raise ProviderError(f"{PROVIDER} sent an event without a header", provider=PROVIDER)
        if header.get("task_id") not in (None, task_id):
            raise ProviderError(f"{PROVIDER} answered for another task", provider=PROVIDER)
        if not isinstance(data.get("payload", {}), dict):
            raise ProviderError(f"{PROVIDER} sent a malformed event", provider=PROVIDER)
        return header["event"], data

    def _task_failed(self, event: dict[str, Any]) -> ProviderError:
        code = safe_upstream_code(event["header"].get("error_code"))
        if code in _AUTH_ERROR_CODES and self.config.key_owner == "user":
            return ProviderKeyRejectedError(
                f"{PROVIDER} rejected the provider API key ({code})",
                provider=PROVIDER,
                upstream_code=code,
            )
        detail = f" ({code})" if code else ""
        return ProviderError(
            f"{PROVIDER} speech synthesis failed{detail}", provider=PROVIDER, upstream_code=code
        )


# --- Qwen3-ASR (sync) --------------------------------------------------------------------------


class DashScopeASR(ClosingAdapter):
    """Qwen3-ASR-Flash over the native multimodal-generation endpoint; implements ``ASREngine``.

    Audio goes inline as a base64 WAV data URL (≤10 MB, about five minutes at 16 kHz). Returns a
    ``ProviderTranscript``: the text as one segment spanning the audio (the sync model gives no
    timestamps), the detected language, and the emotion from ``annotations[audio_info]``.
    Translation is not something this model does (400).
    """

    languages: tuple[str, ...] = ()

    def __init__(
        self,
        config: ProviderConfig,
        *,
        model: str = "qwen3-asr-flash",
        enable_itn: bool = False,
        transport: httpx.BaseTransport | None = None,
    ):
        self.config = config
        self.model = model
        self.provider_model = config.provider_model(model)
        self.name = f"dashscope-{model}"
        self.enable_itn = enable_itn
        self._http = ProviderHttp(PROVIDER, config, transport=transport)

    def transcribe(self, request: RecognitionRequest) -> ProviderTranscript:
        if request.task != "transcribe":
            raise InvalidInputError(f"{self.model} cannot translate", param="task")
        audio = wav_bytes(request.audio)
        if len(audio) * 4 // 3 > _MAX_ASR_UPLOAD_BYTES:
            raise InvalidInputError(
                f"audio is too long for {self.model}; use the file transcription model",
                code="AUDIO_TOO_LONG",
                param="file",
            )
        data_url = "data:audio/wav;base64," + base64.b64encode(audio).decode("ascii")
        asr_options: dict[str, Any] = {"enable_itn": self.enable_itn}
        language = dashscope_language(request.language)
        if language:
            asr_options["language"] = language
        body = {
            "model": self.provider_model,
            "input": {
                "messages": [
                    {"role": "system", "content": [{"text": request.prompt or ""}]},
                    {"role": "user", "content": [{"audio": data_url}]},
                ]
            },
            "parameters": {"asr_options": asr_options},
        }
        data = json_object(self._http.request("POST", ASR_PATH, json=body), PROVIDER)
        text, detected, emotion = self._parse(data)
        duration_ms = request.audio.duration_ms
        seconds = checked_usage(
            (data.get("usage") or {}).get("seconds")
            if isinstance(data.get("usage"), dict)
            else None,
            provider=PROVIDER,
            what="seconds",
            upper=10 * request.audio.duration_seconds + 60,
        )
        return ProviderTranscript(
            text=text,
            language=detected or language or "",
            duration_ms=duration_ms,
            segments=(Segment(0, text, 0, duration_ms),) if text else (),
            emotion=emotion,
            usage=MappingProxyType({"seconds": seconds} if seconds is not None else {}),
        )

    @staticmethod
    def _parse(data: dict[str, Any]) -> tuple[str, str | None, str | None]:
        try:
            message = data["output"]["choices"][0]["message"]
            content = message["content"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError(
                f"{PROVIDER} answered without a transcript", provider=PROVIDER
            ) from None
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = "".join(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        else:
            raise ProviderError(f"{PROVIDER} answered without a transcript", provider=PROVIDER)
        language = emotion = None
        annotations = message.get("annotations") if isinstance(message, dict) else None
        for note in annotations if isinstance(annotations, list) else []:
            if isinstance(note, dict) and note.get("type", "audio_info") == "audio_info":
                if isinstance(note.get("language"), str) and note["language"]:
                    language = dashscope_language(note["language"])
                emotion = normalized_emotion(note.get("emotion")) or emotion
        return text.strip(), language, emotion


# --- Qwen3-ASR file transcription (async) ------------------------------------------------------

TaskStatus = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "UNKNOWN"]
_TASK_STATUSES: tuple[TaskStatus, ...] = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "UNKNOWN")


@dataclass(frozen=True)
class TimedWord:
    text: str
    begin_ms: int
    end_ms: int
    punctuation: str = ""


@dataclass(frozen=True)
class TimedSentence:
    sentence_id: int
    begin_ms: int
    end_ms: int
    text: str
    language: str | None = None
    emotion: str | None = None
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True)
class ChannelTranscript:
    channel_id: int
    text: str
    sentences: tuple[TimedSentence, ...] = ()


@dataclass(frozen=True)
class FileTranscriptionTask:
    """One poll of a file transcription task, in the pieces seed 001's task answer is made of."""

    task_id: str
    status: TaskStatus
    submit_time: str | None = None
    scheduled_time: str | None = None
    end_time: str | None = None
    transcription_url: str | None = None
    transcripts: tuple[ChannelTranscript, ...] = ()
    usage_seconds: float | None = None
    error_code: str | None = None  # DashScope's code when FAILED

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "UNKNOWN")

    def result_dict(self) -> dict[str, Any]:
        """``data.result`` of seed 001's ``GET /api/audio/asr/task/{task_id}``."""
        return {
            "transcription_url": self.transcription_url,
            "transcripts": [
                {
                    "channel_id": channel.channel_id,
                    "text": channel.text,
                    "sentences": [
                        {
                            "begin_time": sentence.begin_ms,
                            "end_time": sentence.end_ms,
                            "text": sentence.text,
                            "sentence_id": sentence.sentence_id,
                            "language": sentence.language,
                            "emotion": sentence.emotion,
                        }
                        for sentence in channel.sentences
                    ],
                }
                for channel in self.transcripts
            ],
        }


def _ms(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ProviderError(f"{PROVIDER} returned an invalid {what}", provider=PROVIDER)
    return int(value)


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _timed_sentence(raw: object, index: int) -> TimedSentence:
    if not isinstance(raw, dict):
        raise ProviderError(f"{PROVIDER} returned a malformed sentence", provider=PROVIDER)
    begin, end = _ms(raw.get("begin_time"), "begin time"), _ms(raw.get("end_time"), "end time")
    if end < begin:
        raise ProviderError(
            f"{PROVIDER} returned a sentence ending before it begins", provider=PROVIDER
        )
    words = []
    for word in raw.get("words") or []:
        if isinstance(word, dict) and isinstance(word.get("text"), str):
            words.append(
                TimedWord(
                    text=word["text"],
                    begin_ms=_ms(word.get("begin_time"), "word time"),
                    end_ms=_ms(word.get("end_time"), "word time"),
                    punctuation=_text(word, "punctuation") or "",
                )
            )
    sentence_id = raw.get("sentence_id")
    return TimedSentence(
        sentence_id=sentence_id if isinstance(sentence_id, int) else index,
        begin_ms=begin,
        end_ms=end,
        text=_text(raw, "text") or "",
        language=dashscope_language(_text(raw, "language")),
        emotion=normalized_emotion(raw.get("emotion")),
        words=tuple(words),
    )


def _channel_transcripts(document: dict[str, Any]) -> tuple[ChannelTranscript, ...]:
    transcripts = document.get("transcripts")
    if not isinstance(transcripts, list):
        raise ProviderError(f"{PROVIDER} result has no transcripts", provider=PROVIDER)
    channels = []
    for position, raw in enumerate(transcripts):
        if not isinstance(raw, dict):
            raise ProviderError(f"{PROVIDER} returned a malformed transcript", provider=PROVIDER)
        sentences = tuple(
            _timed_sentence(sentence, index)
            for index, sentence in enumerate(raw.get("sentences") or [])
        )
        channel_id = raw.get("channel_id")
        text = raw.get("text")
        channels.append(
            ChannelTranscript(
                channel_id=channel_id if isinstance(channel_id, int) else position,
                text=text if isinstance(text, str) else "".join(s.text for s in sentences),
                sentences=sentences,
            )
        )
    return tuple(channels)


class DashScopeFileTranscription(ClosingAdapter):
    """Submit-and-poll helper for ``qwen3-asr-flash-filetrans`` (long audio at a public URL).

    ``submit`` returns DashScope's task id; ``fetch`` polls once; ``wait`` polls until the task
    ends. A FAILED task is an answer, not an exception: it comes back with ``status="FAILED"``
    and DashScope's ``error_code``, the way seed 001's task endpoint reports it.

    The result file is downloaded without credentials, and only from the configured DashScope
    host or a host under ``result_host_suffixes`` (DashScope's OSS buckets live under
    ``.aliyuncs.com``), so a URL in an answer cannot turn into a fetch on the internal network.

    Give it ``breaker=circuit_board(settings).breaker("dashscope")``: each submit and poll then
    goes through DashScope's circuit (``ready()`` asks it before any credit is held), so a
    failing DashScope refuses new jobs, and ends polling ones, with a fast 503.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        model: str = "qwen3-asr-flash-filetrans",
        poll_interval: float = 1.0,
        result_host_suffixes: Sequence[str] = (".aliyuncs.com",),
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
    ):
        self.config = config
        self.model = model
        self.provider_model = config.provider_model(model)
        self.poll_interval = poll_interval
        self.result_host_suffixes = tuple(suffix.lower() for suffix in result_host_suffixes)
        self._http = ProviderHttp(PROVIDER, config, transport=transport, breaker=breaker)

    def submit(
        self,
        file_url: str,
        *,
        language: str | None = None,
        enable_itn: bool = False,
        enable_words: bool = True,
        channel_ids: Sequence[int] = (0,),
    ) -> str:
        parameters: dict[str, Any] = {
            "channel_id": [int(channel) for channel in channel_ids],
            "enable_itn": enable_itn,
            "enable_words": enable_words,
        }
        code = dashscope_language(language)
        if code:
            parameters["language"] = code
        body = {
            "model": self.provider_model,
            "input": {"file_url": _public_url(file_url, "file_url")},
            "parameters": parameters,
        }
        response = self._http.request(
            "POST", FILETRANS_PATH, json=body, headers={"X-DashScope-Async": "enable"}
        )
        output = json_object(response, PROVIDER).get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        return _checked_id(task_id, "task id")

    def fetch(self, task_id: str) -> FileTranscriptionTask:
        task_id = _input_id(task_id, "task_id")
        data = json_object(self._http.request("GET", TASKS_PATH + task_id), PROVIDER)
        output = data.get("output")
        if not isinstance(output, dict) or output.get("task_status") not in _TASK_STATUSES:
            raise ProviderError(
                f"{PROVIDER} answered with an unknown task state", provider=PROVIDER
            )
        status: TaskStatus = output["task_status"]
        usage = data.get("usage")
        seconds = checked_usage(
            usage.get("seconds") if isinstance(usage, dict) else None,
            provider=PROVIDER,
            what="seconds",
            upper=7 * 24 * 3600,
        )
        url: str | None = None
        transcripts: tuple[ChannelTranscript, ...] = ()
        if status == "SUCCEEDED":
            url = self._transcription_url(output)
            self._check_result_host(url)
            document = fetch_public_json(url, provider=PROVIDER, config=self.config)
            transcripts = _channel_transcripts(document)
        return FileTranscriptionTask(
            task_id=task_id,
            status=status,
            submit_time=_text(output, "submit_time"),
            scheduled_time=_text(output, "scheduled_time"),
            end_time=_text(output, "end_time"),
            transcription_url=url,
            transcripts=transcripts,
            usage_seconds=seconds,
            error_code=safe_upstream_code(output.get("code")) if status == "FAILED" else None,
        )

    def wait(self, task_id: str, *, timeout: float | None = None) -> FileTranscriptionTask:
        """Poll until the task ends; a 504 once ``timeout`` (default: total_timeout) passes."""
        deadline = Deadline(timeout if timeout is not None else self.config.total_timeout)
        while True:
            task = self.fetch(task_id)
            if task.finished:
                return task
            if deadline.remaining() <= self.poll_interval:
                raise upstream_timeout(PROVIDER)
            time.sleep(self.poll_interval)

    def _check_result_host(self, url: str) -> None:
        host = httpx.URL(url).host.lower()
        if host != httpx.URL(self.config.base_url).host.lower() and not any(
            host.endswith(suffix) for suffix in self.result_host_suffixes
        ):
            raise ProviderError(
                f"{PROVIDER} pointed to a result on an unexpected host", provider=PROVIDER
            )

    @staticmethod
    def _transcription_url(output: dict[str, Any]) -> str:
        # qwen3-asr-flash-filetrans answers with ``result``; Fun-ASR style tasks with ``results``.
        result = output.get("result")
        if not isinstance(result, dict):
            results = output.get("results")
            result = results[0] if isinstance(results, list) and results else None
        url = result.get("transcription_url") if isinstance(result, dict) else None
        if not isinstance(url, str) or not url:
            raise ProviderError(f"{PROVIDER} task succeeded without a result", provider=PROVIDER)
        return url


# --- voice enrollment (cloning) ----------------------------------------------------------------

VoiceStatus = Literal["DEPLOYING", "OK", "UNDEPLOYED"]
_VOICE_STATUS: dict[str, VoiceStatus] = {
    "OK": "OK",
    "DEPLOYING": "DEPLOYING",
    "PENDING": "DEPLOYING",
    "REVIEWING": "DEPLOYING",
    "UNDEPLOYED": "UNDEPLOYED",
    "FAILED": "UNDEPLOYED",
    "REJECTED": "UNDEPLOYED",
}
_PREFIX = re.compile(r"^[a-z0-9]{1,9}$")


def voice_status(raw: object) -> VoiceStatus:
    """DashScope's voice status as the platform's lifecycle: DEPLOYING → OK | UNDEPLOYED.

    Unknown values count as still DEPLOYING: a voice is usable only once DashScope says OK.
    """
    return _VOICE_STATUS.get(raw.upper(), "DEPLOYING") if isinstance(raw, str) else "DEPLOYING"


@dataclass(frozen=True)
class EnrolledVoice:
    voice_id: str
    status: VoiceStatus
    target_model: str | None = None
    created: str | None = None  # DashScope's gmt_create
    modified: str | None = None  # gmt_modified

    def clone_result(self) -> CloneResult:
        """What the voices service stores: synthesis sends ``voice_id`` to ``target_model``."""
        return CloneResult(
            base_voice=self.voice_id,
            profile={
                "provider": "dashscope",
                "voice_id": self.voice_id,
                "target_model": self.target_model,
                "status": self.status,
            },
        )


def _enrolled(raw: object, target_model: str | None = None) -> EnrolledVoice:
    if not isinstance(raw, dict):
        raise ProviderError(f"{PROVIDER} returned a malformed voice", provider=PROVIDER)

    def text(key: str) -> str | None:
        return _text(raw, key) or None

    return EnrolledVoice(
        voice_id=_checked_id(raw.get("voice_id"), "voice id"),
        status=voice_status(raw.get("status")),
        target_model=text("target_model") or target_model,
        created=text("gmt_create"),
        modified=text("gmt_modified"),
    )


class DashScopeVoiceEnrollment(ClosingAdapter):
    """CosyVoice voice cloning (``voice-enrollment``): create, list, query, update, delete.

    DashScope downloads the sample itself from ``audio_url`` (WAV/MP3/M4A, 10–20 s recommended,
    ≤60 s, ≤10 MB); give it a short-lived signed URL of the stored sample. ``prefix`` is
    lowercase letters and digits, under 10 characters. A new voice is DEPLOYING until DashScope
    reviews it.

    Give it ``breaker=circuit_board(settings).breaker("dashscope")`` so every action goes
    through DashScope's circuit (``ready()`` asks it before any credit is held).
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
    ):
        self.config = config
        self._http = ProviderHttp(PROVIDER, config, transport=transport, breaker=breaker)

    def _call(self, action_input: dict[str, Any]) -> dict[str, Any]:
        response = self._http.request(
            "POST", CUSTOMIZATION_PATH, json={"model": "voice-enrollment", "input": action_input}
        )
        output = json_object(response, PROVIDER).get("output")
        if not isinstance(output, dict):
            raise ProviderError(f"{PROVIDER} answered without output", provider=PROVIDER)
        return output

    def create_voice(
        self,
        *,
        target_model: str,
        prefix: str,
        audio_url: str,
        language_hints: Sequence[str] | None = None,
    ) -> EnrolledVoice:
        if not _PREFIX.match(prefix):
            raise InvalidInputError(
                "prefix must be 1–9 lowercase letters or digits", param="prefix"
            )
        action: dict[str, Any] = {
            "action": "create_voice",
            "target_model": self.config.provider_model(target_model),
            "prefix": prefix,
            "url": _public_url(audio_url, "audio_url"),
        }
        hints = [code for code in map(dashscope_language, language_hints or ()) if code]
        if hints:
            action["language_hints"] = hints
        output = self._call(action)
        voice = _enrolled(
            {"status": "DEPLOYING", **output}, target_model=self.config.provider_model(target_model)
        )
        _log.info("DashScope voice created: %s (%s)", voice.voice_id, voice.status)
        return voice

    def list_voices(
        self, *, prefix: str | None = None, page_index: int = 0, page_size: int = 10
    ) -> list[EnrolledVoice]:
        action: dict[str, Any] = {
            "action": "list_voice",
            "page_index": max(0, page_index),
            "page_size": int(clamp(page_size, 1, 100)),
        }
        if prefix:
            action["prefix"] = prefix
        voices = self._call(action).get("voice_list")
        if not isinstance(voices, list):
            raise ProviderError(f"{PROVIDER} answered without a voice list", provider=PROVIDER)
        return [_enrolled(voice) for voice in voices]

    def query_voice(self, voice_id: str) -> EnrolledVoice:
        voice_id = _input_id(voice_id, "voice_id")
        output = self._call({"action": "query_voice", "voice_id": voice_id})
        return _enrolled({"voice_id": voice_id, **output})

    def update_voice(self, voice_id: str, audio_url: str) -> None:
        self._call(
            {
                "action": "update_voice",
                "voice_id": _input_id(voice_id, "voice_id"),
                "url": _public_url(audio_url, "audio_url"),
            }
        )

    def delete_voice(self, voice_id: str) -> None:
        self._call({"action": "delete_voice", "voice_id": _input_id(voice_id, "voice_id")})
