"""The playground's emotion tab: a file or a recording in, seven emotion scores out.

The run is ``api.speech.recognition.analyze_emotion`` in-process, in a background event (held,
charged like the API, recorded in the history).
"""

from __future__ import annotations

import asyncio

import reflex as rx

from api.billing.money import format_yuan
from api.errors import AuthenticationError
from api.speech.recognition import DEFAULT_MAX_FILE_MB, analyze_emotion
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

UPLOAD_ID = "sed-upload"
DEFAULT_MODEL = "Zipformer-SED"


def sed_models() -> list[dict[str, str]]:
    return [model_entry(model) for model in speech_context().catalog.models("sed")]


def upload_limit(model_id: str) -> int:
    model = speech_context().catalog.model(model_id, kind="sed")
    return model.limits.max_file_bytes or DEFAULT_MAX_FILE_MB * 1024 * 1024


class PlaygroundSedState(AudioInputMixin, rx.State):
    """Options and the latest analysis of the emotion tab."""

    models: list[dict[str, str]] = []
    model: str = DEFAULT_MODEL
    has_result: bool = False
    scores: list[dict[str, str | float]] = []
    top: str = ""
    top_zh: str = ""
    heuristic: bool = False
    duration: str = ""
    cost: str = ""

    @rx.event
    async def load(self):
        if await signed_in_principal(self) is not None and not self.models:
            self.models = await asyncio.to_thread(sed_models)

    @rx.event
    async def set_model(self, model_id: str):
        if await signed_in_principal(self) is None:
            return
        if model_id in {m["id"] for m in self.models}:
            self.model = model_id

    @rx.event
    async def analyze_upload(self, files: list[rx.UploadFile]):
        """A file (or the recorder's take) arrived: keep it and analyse it in the background."""
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        refused = await self._accept_upload(files, upload_limit(self.model))
        if refused is not None:
            return refused
        return PlaygroundSedState.run_analysis

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
    async def run_analysis(self):
        """Score the kept file's emotions: billed and recorded like an API call."""
        principal = await current_principal(self)
        async with self:
            path, self._pending = self._pending, ""
            model_id = self.model
            lang = await language_of(self)
        if not path:
            return
        data = await asyncio.to_thread(take_upload, path)
        try:
            if principal is None:
                raise AuthenticationError("Sign in again to continue")
            analysis = await asyncio.to_thread(
                analyze_emotion, speech_context(), console_caller(principal), data, model_id
            )
        except Exception as error:
            async with self:
                self.busy = False
            yield rx.toast.error(friendly_error(error, lang))
            return
        async with self:
            self.busy = False
            self.has_result = True
            self.scores = [
                {
                    "label": label,
                    "label_zh": EMOTIONS_ZH.get(label, label),
                    "score": round(score * 100, 1),
                }
                for label, score in analysis.result.scores
            ]
            self.top = analysis.result.top
            self.top_zh = EMOTIONS_ZH.get(self.top, self.top)
            self.heuristic = analysis.result.heuristic
            self.duration = seconds(analysis.duration_ms)
            self.cost = format_yuan(analysis.cost_micros)
            page = await self.get_state(PlaygroundState)
            await page._refresh_balance(principal)
        yield rx.toast.success(
            pick(lang, f"Analysed · ¥{self.cost}", f"分析完成 · ¥{self.cost}"), duration=2500
        )
