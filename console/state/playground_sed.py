"""The playground's emotion tab: a file or a recording in, seven emotion scores out.

The run is ``api.speech.recognition.analyze_emotion`` in-process, in a background event (held,
charged like the API, recorded in the history).
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from api.billing.money import format_yuan
from api.speech.recognition import EmotionAnalysis, analyze_emotion
from console.state.playground import (
    EMOTIONS_ZH,
    AudioInputMixin,
    model_entry,
    seconds,
    speech_context,
)

UPLOAD_ID = "sed-upload"
DEFAULT_MODEL = "Zipformer-SED"


def sed_models() -> list[dict[str, str]]:
    return [model_entry(model) for model in speech_context().catalog.models("sed")]


class PlaygroundSedState(AudioInputMixin, rx.State):
    """Options and the latest analysis of the emotion tab."""

    catalog_kind: ClassVar[str] = "sed"
    _list_models = staticmethod(sed_models)

    model: str = DEFAULT_MODEL
    scores: list[dict[str, str | float]] = []
    top: str = ""
    top_zh: str = ""
    heuristic: bool = False

    @rx.event
    async def analyze_upload(self, files: list[rx.UploadFile]):
        """A file (or the recorder's take) arrived: keep it and analyse it in the background."""
        return await self._keep_upload_for(files, PlaygroundSedState.run_analysis)

    @rx.event(background=True)
    async def run_analysis(self):
        """Score the kept file's emotions: billed and recorded like an API call."""
        async for event in self._run_on_kept_file(
            lambda: self.model, analyze_emotion, self._show, done=("Analysed", "分析完成")
        ):
            yield event

    def _show(self, analysis: EmotionAnalysis) -> None:
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
