"""Fish Audio: text to speech, speech to text and voice cloning over its HTTP API.

Base URL: the host root (``https://api.fish.audio``). Every call carries
``Authorization: Bearer <key>``.

**TTS** — ``POST /v1/tts`` with header ``model: s1 | s2-pro | s2.1-pro | …`` and a MessagePack
(``application/msgpack``) or JSON body ``{"text", "reference_id"?, "format": "pcm" | "wav",
"sample_rate", "latency": "balanced", "normalize": true, "chunk_length": 200,
"prosody": {"speed": 0.5–2.0, "volume": 0}}``. Success is the audio itself, chunked as it is
made, with no JSON wrapper; ``pcm`` is raw 16-bit little-endian mono at ``sample_rate``.

**ASR** — ``POST /v1/asr`` with a MessagePack body ``{"audio": <bytes>, "language"?,
"ignore_timestamps": false}`` → ``{"text", "duration", "segments": [{"text", "start", "end"}]}``
(seconds, per Fish's OpenAPI document).

**Clone** — ``POST /model`` as multipart form: ``type=tts``, ``title``, ``train_mode=fast``,
``visibility``, ``enhance_audio_quality`` and the sample as ``voices`` → the voice model as
JSON, its id in ``_id``; that id is the ``reference_id`` later TTS calls speak with.
``DELETE /model/{id}`` removes it.

Errors are ``{"status", "message"}`` (401/402/404/429) or a 422 list; ``common`` maps them, and
nothing of their text reaches the caller.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Sequence
from types import MappingProxyType
from typing import Any, Literal

import httpx
import msgpack

from api.engines.base import (
    CloneResult,
    EngineVoice,
    Pcm,
    RecognitionRequest,
    Segment,
    SynthesisRequest,
)
from api.errors import InvalidInputError

from .common import (
    Breaker,
    ClosingAdapter,
    Deadline,
    ProviderConfig,
    ProviderError,
    ProviderHttp,
    ProviderTranscript,
    SpeechAnswer,
    checked_seconds,
    checked_usage,
    clamp,
    json_object,
    provider_logger,
    wav_bytes,
)

PROVIDER = "Fish Audio"

_log = provider_logger("fish")

FISH_SAMPLE_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,127}$")
_DEFAULT_VOICES = ("", "default")


def _fish_language(language: str | None) -> str | None:
    if not language:
        return None
    code = language.lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "zho": "zh", "eng": "en"}.get(code, code)


class FishTTS(ClosingAdapter):
    """``POST /v1/tts`` streamed into ``Pcm`` chunks; implements ``TTSEngine``.

    ``model`` is the platform model id, mapped through ``config.models`` to the value of Fish's
    ``model`` header. ``request.voice`` (or a cloned voice's ``profile["reference_id"]``) is the
    Fish voice model id; ``""``/``"default"`` lets Fish pick. ``encoding`` chooses MessagePack
    (Fish's native body) or JSON. Speed is native (``prosody.speed``); pitch is not.
    """

    native_speed = True
    native_pitch = False

    def __init__(
        self,
        config: ProviderConfig,
        *,
        model: str = "s1",
        audio_format: Literal["pcm", "wav"] = "pcm",
        sample_rate: int = 44100,
        encoding: Literal["msgpack", "json"] = "msgpack",
        latency: Literal["normal", "balanced", "low"] = "balanced",
        voices: Sequence[EngineVoice] = (),
        transport: httpx.BaseTransport | None = None,
    ):
        if audio_format not in ("pcm", "wav") or encoding not in ("msgpack", "json"):
            raise ValueError("audio_format is pcm or wav; encoding is msgpack or json")
        if sample_rate not in FISH_SAMPLE_RATES:
            raise ValueError(f"Fish Audio sample rates are {FISH_SAMPLE_RATES}")
        self.config = config
        self.model = model
        self.provider_model = config.provider_model(model)
        self.name = f"fish-{model}"
        self.sample_rate = sample_rate
        self.audio_format = audio_format
        self.encoding = encoding
        self.latency = latency
        self._voices = list(voices)
        self._http = ProviderHttp(PROVIDER, config, transport=transport)
        self._answer = SpeechAnswer(PROVIDER, audio_format, sample_rate)

    def voices(self) -> list[EngineVoice]:
        return list(self._voices)

    def synthesize(self, request: SynthesisRequest) -> Pcm:
        content, headers = self._request(request)  # bad input fails here, before any request
        deadline = Deadline(self.config.total_timeout)
        with self._http.stream("POST", "/v1/tts", content=content, headers=headers) as response:
            return self._answer.whole(self._http, response, deadline)

    def stream(self, request: SynthesisRequest) -> Iterator[Pcm]:
        content, headers = self._request(request)  # bad input fails here, before any request
        return self._stream(content, headers)

    def _request(self, request: SynthesisRequest) -> tuple[bytes, dict[str, str]]:
        """The request's body and headers."""
        body = self._body(request)
        if self.encoding == "msgpack":
            content, content_type = msgpack.packb(body, use_bin_type=True), "application/msgpack"
        else:
            content = json.dumps(body, ensure_ascii=False).encode()
            content_type = "application/json"
        return content, {"model": self.provider_model, "Content-Type": content_type}

    def _body(self, request: SynthesisRequest) -> dict[str, Any]:
        if not request.text.strip():
            raise InvalidInputError("text is empty", param="text")
        profile = request.profile or {}
        reference = profile.get("reference_id")
        voice = reference if isinstance(reference, str) and reference else request.voice
        body: dict[str, Any] = {
            "text": request.text,
            "format": self.audio_format,
            "sample_rate": self.sample_rate,
            "latency": self.latency,
            "normalize": True,
            "chunk_length": 200,
            "prosody": {"speed": clamp(request.speed, 0.5, 2.0), "volume": 0},
        }
        if voice not in _DEFAULT_VOICES:
            if not _ID.match(voice):
                raise InvalidInputError("unknown Fish Audio voice", param="reference_id")
            body["reference_id"] = voice
        return body

    def _stream(self, content: bytes, headers: dict[str, str]) -> Iterator[Pcm]:
        deadline = Deadline(self.config.total_timeout)
        with self._http.stream("POST", "/v1/tts", content=content, headers=headers) as response:
            yield from self._answer.chunks(self._http, response, deadline)


class FishASR(ClosingAdapter):
    """``POST /v1/asr``; implements ``ASREngine`` (transcription only; Fish does not translate).

    Returns a ``ProviderTranscript`` with Fish's timed segments; its duration is the platform's
    own measure of the audio, Fish's reported duration is only checked for sense.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        languages: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
    ):
        self.config = config
        self.name = "fish-asr"
        self.languages = tuple(languages)
        self._http = ProviderHttp(PROVIDER, config, transport=transport)

    def transcribe(self, request: RecognitionRequest) -> ProviderTranscript:
        if request.task != "transcribe":
            raise InvalidInputError(f"{PROVIDER} speech to text cannot translate", param="task")
        body: dict[str, Any] = {"audio": wav_bytes(request.audio), "ignore_timestamps": False}
        language = _fish_language(request.language)
        if language:
            body["language"] = language
        response = self._http.request(
            "POST",
            "/v1/asr",
            content=msgpack.packb(body, use_bin_type=True),
            headers={"Content-Type": "application/msgpack"},
        )
        data = json_object(response, PROVIDER)
        text = data.get("text")
        if not isinstance(text, str):
            raise ProviderError(f"{PROVIDER} answered without a transcript", provider=PROVIDER)
        text = text.strip()
        duration_ms = request.audio.duration_ms
        reported = checked_usage(
            data.get("duration"),
            provider=PROVIDER,
            what="duration",
            upper=10 * request.audio.duration_seconds + 60,
        )
        limit_ms = duration_ms + 30_000
        segments = []
        raw_segments = data.get("segments")
        for index, item in enumerate(raw_segments if isinstance(raw_segments, list) else []):
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ProviderError(f"{PROVIDER} returned a malformed segment", provider=PROVIDER)
            start = checked_seconds(item.get("start"), provider=PROVIDER, what="segment start")
            end = checked_seconds(item.get("end"), provider=PROVIDER, what="segment end")
            start_ms, end_ms = round(start * 1000), round(end * 1000)
            if end_ms < start_ms or end_ms > limit_ms:
                raise ProviderError(f"{PROVIDER} returned nonsense timestamps", provider=PROVIDER)
            segments.append(Segment(index, item["text"].strip(), start_ms, end_ms))
        if not segments and text:
            segments.append(Segment(0, text, 0, duration_ms))
        return ProviderTranscript(
            text=text,
            language=language or "",
            duration_ms=duration_ms,
            segments=tuple(segments),
            usage=MappingProxyType({"duration": reported} if reported is not None else {}),
        )


class FishClone(ClosingAdapter):
    """Fish Audio voice cloning (``POST /model``); implements ``CloneEngine``.

    ``enroll`` uploads the sample as a private voice model and returns a ``CloneResult`` whose
    ``base_voice`` and ``profile["reference_id"]`` are Fish's model id; ``FishTTS`` speaks with
    it. The provider does the cloning, so ``apply`` hands speech back unchanged.

    Give it ``breaker=circuit_board(settings).breaker("fish")`` so enrolment and deletion go
    through Fish's circuit (``ready()``, the registry's hook, asks it before any credit is held).
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        title_prefix: str = "amphion",
        visibility: Literal["private", "unlist", "public"] = "private",
        enhance_audio_quality: bool = True,
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
    ):
        self.config = config
        self.name = "fish-clone"
        self.title_prefix = title_prefix
        self.visibility = visibility
        self.enhance_audio_quality = enhance_audio_quality
        self._http = ProviderHttp(PROVIDER, config, transport=transport, breaker=breaker)

    def enroll(self, sample: Pcm, *, language: str | None = None) -> CloneResult:
        if len(sample.samples) == 0:
            raise InvalidInputError("the voice sample is empty", param="file")
        title = f"{self.title_prefix}-{uuid.uuid4().hex[:8]}"
        fields = {
            "type": "tts",
            "title": title,
            "train_mode": "fast",
            "visibility": self.visibility,
            "enhance_audio_quality": "true" if self.enhance_audio_quality else "false",
        }
        response = self._http.request(
            "POST",
            "/model",
            data=fields,
            files=[("voices", ("sample.wav", wav_bytes(sample), "audio/wav"))],
        )
        data = json_object(response, PROVIDER)
        model_id = data.get("_id", data.get("id"))
        if not isinstance(model_id, str) or not _ID.match(model_id):
            raise ProviderError(f"{PROVIDER} answered without a voice model id", provider=PROVIDER)
        state = data.get("state")
        _log.info("Fish Audio voice model created: %s", title)
        return CloneResult(
            base_voice=model_id,
            profile={
                "provider": "fish",
                "reference_id": model_id,
                "model_id": model_id,
                "title": title,
                "state": state if isinstance(state, str) else None,
            },
        )

    def apply(self, speech: Pcm, profile: dict[str, Any]) -> Pcm:
        return speech

    def delete(self, model_id: str) -> None:
        if not _ID.match(model_id):
            raise InvalidInputError("invalid voice model id", param="model_id")
        self._http.request("DELETE", f"/model/{model_id}")
