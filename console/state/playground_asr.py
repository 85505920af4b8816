"""The playground's speech-recognition tab: a file or a recording in, the transcript out.

The run is ``api.speech.recognition.recognize`` in-process, in a background event (held,
charged per second of decoded audio, recorded in the history), with the detected emotion.
The transcript stays on the server for the txt / srt / vtt downloads.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from api.billing.money import format_yuan
from api.engines.base import Transcript
from api.speech.recognition import LANGUAGES, RecognitionOrder, RecognitionResult, recognize
from api.speech.subtitles import timestamp, to_srt, to_vtt
from console.i18n import language_of, pick
from console.state.playground import (
    EMOTIONS_ZH,
    AudioInputMixin,
    model_entry,
    seconds,
    speech_context,
)
from console.state.session import signed_in_principal

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


class PlaygroundAsrState(AudioInputMixin, rx.State):
    """Options and the latest transcript of the recognition tab."""

    catalog_kind: ClassVar[str] = "asr"
    _list_models = staticmethod(asr_models)

    model: str = DEFAULT_MODEL
    language: str = AUTO
    text: str = ""
    segments: list[dict[str, str]] = []
    detected_language: str = ""
    emotion: str = ""
    emotion_zh: str = ""
    _transcript: Transcript | None = None

    @rx.var
    def languages(self) -> list[str]:
        return [AUTO, *LANGUAGES]

    @rx.event
    async def set_language(self, language: str):
        if await signed_in_principal(self) is not None and language in self.languages:
            self.language = language

    @rx.event
    async def transcribe_upload(self, files: list[rx.UploadFile]):
        """A file (or the recorder's take) arrived: keep it and transcribe it in the background."""
        return await self._keep_upload_for(files, PlaygroundAsrState.run_transcription)

    @rx.event(background=True)
    async def run_transcription(self):
        """Transcribe the kept file: billed and recorded like an API call."""
        async for event in self._run_on_kept_file(
            self._order, recognize, self._show, done=("Transcribed", "识别完成")
        ):
            yield event

    def _order(self) -> RecognitionOrder:
        return RecognitionOrder(
            model=self.model,
            language=None if self.language == AUTO else self.language,
            with_emotion=True,
            source={"file": self.file_name, "source": "console"},
        )

    def _show(self, result: RecognitionResult) -> None:
        transcript = result.transcript
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
