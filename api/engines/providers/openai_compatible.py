"""Any OpenAI-compatible speech server: OpenAI itself, speaches, LocalAI, vLLM, gateways.

Base URL: the ``/v1`` root (``https://api.openai.com/v1``), as the OpenAI SDK takes it.
``Authorization: Bearer <key>`` when a key is configured.

**Speech** — ``POST /audio/speech`` with JSON ``{"model", "input" (≤4096 chars), "voice" (a
name or ``{"id": "voice_…"}``), "response_format": "pcm" | "wav", "speed" (0.25–4.0),
"instructions"?}``. The body is the audio itself, chunked as it is made; ``pcm`` is raw 24 kHz
16-bit little-endian mono. With ``"stream_format": "sse"`` (gpt-4o-mini-tts, not tts-1) the body
is Server-Sent Events: ``{"type": "speech.audio.delta", "audio": "<base64 pcm>"}`` … then
``{"type": "speech.audio.done", "usage": {"input_tokens", "output_tokens", "total_tokens"}}``.

**Transcription** — ``POST /audio/transcriptions``, multipart: ``file``, ``model``,
``response_format=verbose_json``, ``timestamp_granularities[]=segment`` (and ``word``),
``language`` (ISO-639-1), ``prompt``, ``temperature`` → ``{"task", "language" (a name such as
"english"), "duration", "text", "segments": [{"id", "start", "end", "text", "avg_logprob",
"no_speech_prob", …}], "words": [{"word", "start", "end"}], "usage"}`` (seconds).
**Translation** — ``POST /audio/translations``: the same without ``language`` and
``timestamp_granularities``; the text is English.

Errors follow ``common``'s mapping; OpenAI's ``{"error": {"code": …}}`` code is kept, its
message (which quotes part of the key on a 401) never is.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator, Sequence
from types import MappingProxyType
from typing import Any, Literal

import httpx

from api.engines.base import (
    EngineVoice,
    Pcm,
    RecognitionRequest,
    Segment,
    SynthesisRequest,
    Word,
)
from api.errors import InvalidInputError

from .common import (
    ClosingAdapter,
    Deadline,
    PcmChunker,
    ProviderConfig,
    ProviderError,
    ProviderHttp,
    ProviderTranscript,
    SpeechAnswer,
    checked_seconds,
    checked_usage,
    clamp,
    join_pcm,
    json_object,
    no_audio,
    provider_logger,
    safe_upstream_code,
    wav_bytes,
)

PROVIDER = "OpenAI-compatible server"

_log = provider_logger("openai_compatible")

PCM_SAMPLE_RATE = 24000  # OpenAI's "pcm" format
MAX_INPUT_CHARS = 4096
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
_LANGUAGE_NAMES = {
    "english": "en",
    "chinese": "zh",
    "mandarin": "zh",
    "cantonese": "yue",
    "japanese": "ja",
    "korean": "ko",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "russian": "ru",
    "arabic": "ar",
    "thai": "th",
    "vietnamese": "vi",
    "dutch": "nl",
    "indonesian": "id",
}


def iso_language(language: str | None) -> str | None:
    """A platform tag (``en-us``, ``cmn``) or a Whisper language name as an ISO-639-1 code."""
    if not language:
        return None
    lowered = language.strip().lower()
    if lowered in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[lowered]
    code = lowered.replace("_", "-").split("-")[0]
    return {"cmn": "zh", "zho": "zh", "eng": "en"}.get(code, code)


class OpenAICompatibleTTS(ClosingAdapter):
    """``POST /audio/speech`` streamed into ``Pcm`` chunks; implements ``TTSEngine``.

    ``response_format`` is ``pcm`` (24 kHz) or ``wav`` (its own rate); ``stream_format="sse"``
    asks for Server-Sent Events instead of a raw body (PCM inside). Speed is native; pitch is not.
    """

    native_speed = True
    native_pitch = False

    def __init__(
        self,
        config: ProviderConfig,
        *,
        model: str = "tts-1",
        response_format: Literal["pcm", "wav"] = "pcm",
        stream_format: Literal["audio", "sse"] = "audio",
        voices: Sequence[EngineVoice] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        if response_format not in ("pcm", "wav") or stream_format not in ("audio", "sse"):
            raise ValueError("response_format is pcm or wav; stream_format is audio or sse")
        self.config = config
        self.model = model
        self.provider_model = config.provider_model(model)
        self.name = f"openai-{model}"
        self.sample_rate = PCM_SAMPLE_RATE
        self.response_format = response_format
        self.stream_format = stream_format
        self._voices = list(
            voices
            if voices is not None
            else (EngineVoice(name, "en", "neutral", "OpenAI voice") for name in OPENAI_VOICES)
        )
        self._http = ProviderHttp(PROVIDER, config, transport=transport)
        self._answer = SpeechAnswer(PROVIDER, response_format, PCM_SAMPLE_RATE)  # not for sse

    def voices(self) -> list[EngineVoice]:
        return list(self._voices)

    def synthesize(self, request: SynthesisRequest) -> Pcm:
        body = self._body(request)  # bad input fails here, before any request
        if self.stream_format == "sse":  # the audio comes inside events: read as they arrive
            chunks = list(self._stream(body))
            return join_pcm(chunks, chunks[0].sample_rate if chunks else self.sample_rate)
        deadline = Deadline(self.config.total_timeout)
        with self._http.stream("POST", "/audio/speech", json=body) as response:
            return self._answer.whole(self._http, response, deadline)

    def stream(self, request: SynthesisRequest) -> Iterator[Pcm]:
        body = self._body(request)  # bad input fails here, before any request
        return self._stream(body)

    def _body(self, request: SynthesisRequest) -> dict[str, Any]:
        if not request.text.strip():
            raise InvalidInputError("text is empty", param="input")
        if len(request.text) > MAX_INPUT_CHARS:
            raise InvalidInputError(
                f"text is longer than {MAX_INPUT_CHARS} characters",
                code="TEXT_TOO_LONG",
                param="input",
            )
        profile = request.profile or {}
        voice: str | dict[str, str] = request.voice
        if isinstance(profile.get("voice_id"), str) and profile["voice_id"]:
            voice = {"id": profile["voice_id"]}  # a custom voice made on the provider
        if not voice:
            raise InvalidInputError("a voice is required", param="voice")
        body: dict[str, Any] = {
            "model": self.provider_model,
            "input": request.text,
            "voice": voice,
            "response_format": "pcm" if self.stream_format == "sse" else self.response_format,
            "speed": clamp(request.speed, 0.25, 4.0),
        }
        if request.instruction and not self.provider_model.startswith("tts-1"):
            body["instructions"] = request.instruction
        if self.stream_format == "sse":
            body["stream_format"] = "sse"
        return body

    def _stream(self, body: dict[str, Any]) -> Iterator[Pcm]:
        deadline = Deadline(self.config.total_timeout)
        with self._http.stream("POST", "/audio/speech", json=body) as response:
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if self.stream_format == "sse":
                if content_type != "text/event-stream":
                    raise ProviderError(f"{PROVIDER} did not answer with events", provider=PROVIDER)
                yield from self._events(response, deadline)
                return
            yield from self._answer.chunks(self._http, response, deadline)

    def _events(self, response: httpx.Response, deadline: Deadline) -> Iterator[Pcm]:
        chunker = PcmChunker(PCM_SAMPLE_RATE)
        data_lines: list[str] = []
        finished = False
        for line in response.iter_lines():
            deadline.check(PROVIDER)
            if line.startswith("data:"):
                data_lines.append(line[5:].strip())
                continue
            if line or not data_lines:
                continue  # comments, event names, keep-alives
            event, data_lines = "\n".join(data_lines), []
            pcm, finished = self._event(event, chunker)
            if pcm is not None:
                yield pcm
            if finished:
                break
        if data_lines and not finished:  # a last event without its blank line
            pcm, finished = self._event("\n".join(data_lines), chunker)
            if pcm is not None:
                yield pcm
        if not finished:
            raise ProviderError(f"{PROVIDER} stream ended before it was done", provider=PROVIDER)
        chunker.finish(PROVIDER)
        if chunker.samples_out == 0:
            raise no_audio(PROVIDER)

    @staticmethod
    def _event(raw: str, chunker: PcmChunker) -> tuple[Pcm | None, bool]:
        if raw == "[DONE]":
            return None, True
        try:
            event = json.loads(raw)
        except ValueError:
            raise ProviderError(f"{PROVIDER} sent an invalid event", provider=PROVIDER) from None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "speech.audio.delta":
            try:
                audio = base64.b64decode(event.get("audio") or "", validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise ProviderError(
                    f"{PROVIDER} sent undecodable audio", provider=PROVIDER
                ) from None
            return chunker.feed(audio), False
        if kind == "speech.audio.done":
            usage = event.get("usage")
            if isinstance(usage, dict):
                for key in ("input_tokens", "output_tokens", "total_tokens"):
                    checked_usage(usage.get(key), provider=PROVIDER, what=key, upper=10_000_000)
            return None, True
        if kind == "error" or "error" in (event if isinstance(event, dict) else {}):
            error = event.get("error") if isinstance(event.get("error"), dict) else {}
            code = safe_upstream_code(error.get("code") or error.get("type"))
            raise ProviderError(
                f"{PROVIDER} failed mid-stream" + (f" ({code})" if code else ""),
                provider=PROVIDER,
                upstream_code=code,
            )
        return None, False


class OpenAICompatibleASR(ClosingAdapter):
    """``POST /audio/transcriptions`` (or ``/audio/translations``); implements ``ASREngine``.

    Asks for ``verbose_json`` with segment (and, when requested, word) timestamps and returns a
    ``ProviderTranscript`` whose duration is the platform's own measure of the audio. For
    servers or models that only answer ``json`` (gpt-4o-transcribe), pass
    ``response_format="json"``: the text then comes back as one segment spanning the audio.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        model: str = "whisper-1",
        response_format: Literal["verbose_json", "json"] = "verbose_json",
        languages: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
    ):
        self.config = config
        self.model = model
        self.provider_model = config.provider_model(model)
        self.name = f"openai-{model}"
        self.response_format = response_format
        self.languages = tuple(languages)
        self._http = ProviderHttp(PROVIDER, config, transport=transport)

    def transcribe(self, request: RecognitionRequest) -> ProviderTranscript:
        translate = request.task == "translate"
        fields: dict[str, Any] = {
            "model": self.provider_model,
            "response_format": self.response_format,
            "temperature": "0",
        }
        if request.prompt:
            fields["prompt"] = request.prompt
        if not translate:
            language = iso_language(request.language)
            if language:
                fields["language"] = language
            if self.response_format == "verbose_json":
                fields["timestamp_granularities[]"] = (
                    ["segment", "word"] if request.word_timestamps else ["segment"]
                )
        response = self._http.request(
            "POST",
            "/audio/translations" if translate else "/audio/transcriptions",
            data=fields,
            files={"file": ("audio.wav", wav_bytes(request.audio), "audio/wav")},
        )
        return self._transcript(json_object(response, PROVIDER), request)

    def _transcript(self, data: dict[str, Any], request: RecognitionRequest) -> ProviderTranscript:
        text = data.get("text")
        if not isinstance(text, str):
            raise ProviderError(f"{PROVIDER} answered without a transcript", provider=PROVIDER)
        text = text.strip()
        duration_ms = request.audio.duration_ms
        # Timestamps well past the end of the audio are nonsense, not rounding.
        limit_ms = duration_ms + 30_000
        words = self._words(data.get("words"), limit_ms)
        segments = self._segments(data.get("segments"), words, limit_ms)
        if not segments and text:
            segments = (Segment(0, text, 0, duration_ms, words=words),)
        usage: dict[str, float] = {}
        raw_usage = data.get("usage")
        if isinstance(raw_usage, dict):
            upper = 10 * request.audio.duration_seconds + 10_000_000
            for key, value in raw_usage.items():
                if key == "type" or isinstance(value, dict):  # "duration"/"tokens"; token details
                    continue
                checked = checked_usage(value, provider=PROVIDER, what=str(key), upper=upper)
                if checked is not None:
                    usage[str(key)] = checked
        if request.task == "translate":
            language = "en"
        else:
            reported = data.get("language")
            language = iso_language(reported if isinstance(reported, str) else None) or (
                iso_language(request.language) or ""
            )
        return ProviderTranscript(
            text=text,
            language=language,
            duration_ms=duration_ms,
            segments=segments,
            usage=MappingProxyType(usage),
        )

    @staticmethod
    def _span(raw: dict[str, Any], what: str, limit_ms: int) -> tuple[int, int]:
        start = checked_seconds(raw.get("start"), provider=PROVIDER, what=f"{what} start")
        end = checked_seconds(raw.get("end"), provider=PROVIDER, what=f"{what} end")
        start_ms, end_ms = round(start * 1000), round(end * 1000)
        if end_ms < start_ms or end_ms > limit_ms:
            raise ProviderError(
                f"{PROVIDER} returned nonsense {what} timestamps", provider=PROVIDER
            )
        return start_ms, end_ms

    def _words(self, raw: object, limit_ms: int) -> tuple[Word, ...]:
        if not isinstance(raw, list):
            return ()
        words = []
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("word"), str):
                raise ProviderError(f"{PROVIDER} returned a malformed word", provider=PROVIDER)
            start_ms, end_ms = self._span(item, "word", limit_ms)
            probability = item.get("probability", 1.0)
            words.append(
                Word(
                    text=item["word"].strip(),
                    start_ms=start_ms,
                    end_ms=end_ms,
                    probability=float(probability)
                    if isinstance(probability, int | float) and math.isfinite(probability)
                    else 1.0,
                )
            )
        return tuple(words)

    def _segments(self, raw: object, words: tuple[Word, ...], limit_ms: int) -> tuple[Segment, ...]:
        if not isinstance(raw, list):
            return ()
        spans = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ProviderError(f"{PROVIDER} returned a malformed segment", provider=PROVIDER)
            start_ms, end_ms = self._span(item, "segment", limit_ms)
            spans.append((index, item, start_ms, end_ms))
        segments = []
        for position, (index, item, start_ms, end_ms) in enumerate(spans):
            last = position == len(spans) - 1
            # A word belongs to the segment it starts in (the last one takes any stragglers).
            inside = tuple(
                word
                for word in words
                if start_ms <= word.start_ms and (word.start_ms < end_ms or last)
            )

            def number(key: str, item: dict[str, Any] = item) -> float:
                value = item.get(key, 0.0)
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                return float(value) if ok and math.isfinite(value) else 0.0

            segment_id = item.get("id")
            segments.append(
                Segment(
                    id=segment_id if isinstance(segment_id, int) else index,
                    text=item["text"].strip(),
                    start_ms=start_ms,
                    end_ms=end_ms,
                    words=inside,
                    avg_logprob=number("avg_logprob"),
                    no_speech_prob=number("no_speech_prob"),
                )
            )
        return tuple(segments)
