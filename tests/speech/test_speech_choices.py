"""Voice pickers and estimates: the model's system voices plus the caller's ready clones."""

from __future__ import annotations

from api.catalog.catalog import get_catalog
from api.db import Database
from api.settings import Settings
from api.speech.choices import estimate, per_call_limit, takes_instruction, voice_choices
from api.voices import service as voices
from tests.helpers import make_user


def _clone(db: Database, user_id: int, *, model: str, ready: bool) -> str:
    with db.write() as session:
        voice = voices.create_voice(
            session, user_id=user_id, prefix="mine", target_model=model, sample_key=None
        )
        if ready:
            voices.mark_deployed(session, voice, base_voice="piper:joe", profile={})
        return voice.voice_id


def test_choices_are_the_models_voices_and_the_callers_ready_clones(
    db: Database, settings: Settings
) -> None:
    owner = make_user(db, settings)
    other = make_user(db, settings)
    ready = _clone(db, owner, model="cosyvoice-v3-flash", ready=True)
    _clone(db, owner, model="cosyvoice-v3-flash", ready=False)  # still deploying
    _clone(db, owner, model="cosyvoice-v2", ready=True)  # another model
    theirs = _clone(db, other, model="cosyvoice-v3-flash", ready=True)

    with db.read() as session:
        choices = voice_choices(
            session, get_catalog(), user_id=owner, model_id="cosyvoice-v3-flash"
        )

    system = [choice.voice_id for choice in choices if not choice.own]
    own = [choice.voice_id for choice in choices if choice.own]
    assert "longanyang" in system and "longxiaochun" not in system  # v2 only
    assert own == [ready]
    assert theirs not in {choice.voice_id for choice in choices}
    assert all(choice.instruct for choice in choices)  # CosyVoice V3 takes instructions


def test_instruction_follows_the_voice_and_the_model(db: Database, settings: Settings) -> None:
    user = make_user(db, settings)
    catalog = get_catalog()
    with db.read() as session:
        qwen = voice_choices(session, catalog, user_id=user, model_id="Qwen3-TTS")
    assert [choice.instruct for choice in qwen] == [False]
    assert takes_instruction(catalog.model("gpt-4o-mini-tts"))
    assert not takes_instruction(catalog.model("tts-1"))


def test_estimates_follow_the_catalog_price() -> None:
    catalog = get_catalog()
    assert estimate(catalog, "Qwen3-TTS", "你好") == (2, 10_000)  # ¥0.01 per call
    # ¥0.108 per 1k characters, rounded up to a whole µ¥.
    assert estimate(catalog, "tts-1", "Hello") == (5, 540)
    assert per_call_limit(catalog, "cosyvoice-v3-flash") == 2000
