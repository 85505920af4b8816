"""The playground's speech-recognition tab: a file or a recording in, the transcript out.

The run is ``api.speech.recognition.recognize`` in-process, in a background event (held,
charged per second of decoded audio, recorded in the history), with the detected emotion.
The transcript stays on the server for the txt / srt / vtt downloads.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from api.billing.money import format_yuan
from api.engines.base import Transcript
from api.errors import AuthenticationError
from api.speech.recognition import DEFAULT_MAX_FILE_MB, LANGUAGES, RecognitionOrder, recognize
from api.speech.subtitles import timestamp, to_srt, to_vtt
from console import routes
from console.i18n import language_of, pick
from console.state.playground import (
    EMOTIONS_ZH,
    AudioInputMixin,
    PlaygroundState,
    console_caller,
    friendly_error,
    model_entry,
    seconds,
    speech_context,
    take_upload,
)
from console.state.session import current_principal, signed_in_principal

UPLOAD_ID = "asr-upload"
DEFAULT_MODEL = "faster-whisper-base"
AUTO = "auto"
MAX_SEGMENTS_SHOWN = 200
DOWNLOADS = ("txt", "srt", "vtt")


def asr_models() -> list[dict[str, str]]:
    """Recognition models answered in one call (the file-transcription job is the API's)."""
    return [
        model_entry(model)
        for model in speech_context().catalog.models("asr")
        if model.call_type == "sync"
    ]


def upload_limit(model_id: str) -> int:
    model = speech_context().catalog.model(model_id, kind="asr")
    return model.limits.max_file_bytes or DEFAULT_MAX_FILE_MB * 1024 * 1024


class PlaygroundAsrState(AudioInputMixin, rx.State):
    """Options and the latest transcript of the recognition tab."""

    models: list[dict[str, str]] = []
    model: str = DEFAULT_MODEL
    language: str = AUTO
    has_result: bool = False
    text: str = ""
    segments: list[dict[str, str]] = []
    detected_language: str = ""
    emotion: str = ""
    emotion_zh: str = ""
    duration: str = ""
    cost: str = ""
    _transcript: Transcript | None = None

    @rx.var
    def languages(self) -> list[str]:
        return [AUTO, *LANGUAGES]

    @rx.event
    async def load(self):
        """The model list (the page's on-load check has run already)."""
        if await signed_in_principal(self) is not None and not self.models:
            self.models = await asyncio.to_thread(asr_models)

    @rx.event
    async def set_model(self, model_id: str):
        if await signed_in_principal(self) is None:
            return
        if model_id in {m["id"] for m in self.models}:
            self.model = model_id

    @rx.event
    async def set_language(self, language: str):
        if await signed_in_principal(self) is not None and language in self.languages:
            self.language = language

    @rx.event
    async def transcribe_upload(self, files: list[rx.UploadFile]):
        """A file (or the recorder's take) arrived: keep it and transcribe it in the background."""
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        refused = await self._accept_upload(files, upload_limit(self.model))
        if refused is not None:
            return refused
        return PlaygroundAsrState.run_transcription

    @rx.event
    async def recording_started(self, result: str):
        if await signed_in_principal(self) is not None:
            return await self._recording_started(str(result))
        return None

    @rx.event
    async def recording_stopped(self):
        """The clip is on its way through the upload zone."""
        if await signed_in_principal(self) is not None:
            self.recording = False

    @rx.event(background=True)
    async def run_transcription(self):
        """Transcribe the kept file: billed and recorded like an API call."""
        principal = await current_principal(self)
        async with self:
            path, self._pending = self._pending, ""
            order = RecognitionOrder(
                model=self.model,
                language=None if self.language == AUTO else self.language,
                with_emotion=True,
                source={"file": self.file_name, "source": "console"},
            )
            lang = await language_of(self)
        if not path:
            return
        data = await asyncio.to_thread(take_upload, path)
        try:
            if principal is None:
                raise AuthenticationError("Sign in again to continue")
            result = await asyncio.to_thread(
                recognize, speech_context(), console_caller(principal), data, order
            )
        except Exception as error:
            async with self:
                self.busy = False
            yield rx.toast.error(friendly_error(error, lang))
            return
        transcript = result.transcript
        async with self:
            self.busy = False
            self.has_result = True
            self._transcript = transcript
            self.text = transcript.text
            self.segments = [
                {
                    "start": timestamp(segment.start_ms, separator="."),
                    "end": timestamp(segment.end_ms, separator="."),
                    "text": segment.text.strip(),
                }
                for segment in transcript.segments[:MAX_SEGMENTS_SHOWN]
            ]
            self.detected_language = transcript.language or ""
            self.emotion = result.emotion.top if result.emotion is not None else ""
            self.emotion_zh = EMOTIONS_ZH.get(self.emotion, self.emotion)
            self.duration = seconds(result.duration_ms)
            self.cost = format_yuan(result.cost_micros)
            page = await self.get_state(PlaygroundState)
            await page._refresh_balance(principal)
        yield rx.toast.success(
            pick(lang, f"Transcribed · ¥{self.cost}", f"识别完成 · ¥{self.cost}"), duration=2500
        )

    @rx.event
    async def download(self, kind: str):
        """The transcript as plain text, SubRip or WebVTT."""
        if await signed_in_principal(self) is None or kind not in DOWNLOADS:
            return None
        transcript = self._transcript
        if transcript is None:
            lang = await language_of(self)
            return rx.toast.error(pick(lang, "Transcribe something first.", "请先完成一次识别。"))
        body = {"txt": transcript.text, "srt": to_srt(transcript), "vtt": to_vtt(transcript)}[kind]
        return rx.download(data=body, filename=f"transcript.{kind}")
