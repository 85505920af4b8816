"""What a person picking options for a speech request may choose: voices, and the price ahead.

The console's playground asks these before it places an order: which voices speak a model (the
catalog's system voices, and the caller's own cloned voices that are ready for it), whether a
voice takes a style instruction, and what a text would cost. Functions take a Session (reads
only) and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from api import audio
from api.billing.pricing import Usage
from api.catalog.catalog import Catalog, ModelSpec
from api.speech.synthesis import SEGMENT_LIMIT
from api.voices import service as voices
from api.voices.models import OK

MAX_OWN_VOICES = 100  # one model's cloned voices offered in a picker


@dataclass(frozen=True)
class VoiceChoice:
    """One entry of a voice picker."""

    voice_id: str
    name: str
    detail: str
    own: bool
    instruct: bool


def takes_instruction(model: ModelSpec) -> bool:
    """Models whose features name style instructions (OpenAI "instructions", CosyVoice
    "Instruct"): their voices may be given one unless the voice itself says otherwise."""
    return any("instruct" in feature.lower() for feature in model.features)


def voice_choices(
    session: Session, catalog: Catalog, *, user_id: int, model_id: str
) -> list[VoiceChoice]:
    """System voices of the model, then the caller's cloned voices that are OK for it."""
    model = catalog.model(model_id, kind="tts")
    choices = [
        VoiceChoice(
            voice_id=voice.voice_id,
            name=voice.name,
            detail=" · ".join(part for part in (voice.trait, "/".join(voice.languages)) if part),
            own=False,
            instruct=voice.features.get("instruct", False) or takes_instruction(model),
        )
        for voice in catalog.voices(model=model.id)
    ]
    cloned, _ = voices.list_voices(
        session, user_id=user_id, model=model.id, status=OK, limit=MAX_OWN_VOICES
    )
    choices += [
        VoiceChoice(
            voice_id=voice.voice_id,
            name=voice.prefix,
            detail=voice.voice_id,
            own=True,
            instruct=takes_instruction(model),
        )
        for voice in cloned
    ]
    return choices


def estimate(catalog: Catalog, model_id: str, text: str) -> tuple[int, int]:
    """(billable characters, cost in µ¥) of speaking ``text`` with the model."""
    model = catalog.model(model_id, kind="tts")
    characters = audio.count_characters(text)
    return characters, model.price.cost(Usage(characters=characters))


def per_call_limit(catalog: Catalog, model_id: str) -> int:
    """The most characters one ordinary request to the model may carry; above it the long-text
    path (split, rendered piece by piece, merged) takes over."""
    model = catalog.model(model_id, kind="tts")
    return model.limits.max_characters or SEGMENT_LIMIT
