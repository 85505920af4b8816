"""The catalog resolves every model and voice id the seeds name, with the seeds' prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.billing.pricing import Usage
from api.catalog import load_catalog
from api.catalog.catalog import DEFAULT_CATALOG
from api.errors import InvalidInputError

SEED_MODELS = [
    "Qwen3-TTS", "Zipformer-SED",  # seed 000
    "cosyvoice-v3-flash", "cosyvoice-v3-plus", "cosyvoice-v2",  # seed 001 TTS
    "qwen3-asr-flash", "qwen-audio-asr", "qwen3-asr-flash-filetrans",  # seed 001 ASR
    "voice-enrollment",  # seed 001 cloning
    "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "whisper-1",  # seeds 002, 003
    "v1", "v2", "s1", "v3-turbo", "v3-hd",  # seed 004 versions
]  # fmt: skip
SEED_VOICES = [
    "default",  # seed 000 example
    "longanyang", "longanhuan", "longyingjing_v3",  # seed 001
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
    "verse",  # seeds 002, 003
    "your_model_id",  # seed 004's reference_id placeholder
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("model_id", SEED_MODELS)
def test_every_seed_model_resolves(catalog, model_id: str) -> None:
    model = catalog.model(model_id)
    assert model.engine and model.price and model.call_type in ("sync", "async")


@pytest.mark.parametrize("voice_id", SEED_VOICES)
def test_every_seed_voice_resolves_and_speaks_with_an_engine(catalog, voice_id: str) -> None:
    voice = catalog.voice(voice_id)
    assert voice.models
    for text in ("Hello there.", "你好,欢迎使用。"):
        ref = voice.engine_voice_for(text)
        assert ref.engine in ("espeak-ng", "piper") and ref.voice


def test_seed_prices(catalog) -> None:
    one_call = Usage(characters=15)
    assert catalog.model("Qwen3-TTS").price.cost(one_call) == 10_000  # ¥0.0100 per call
    assert catalog.model("Zipformer-SED").price.cost(one_call) == 5_000  # ¥0.0050 per call
    flash = catalog.model("cosyvoice-v3-flash").price
    assert flash.describe() == "¥0.14335 / 10k characters"
    assert flash.cost(Usage(characters=10_000)) == 143_350
    assert catalog.model("cosyvoice-v3-plus").public()["price"] == "¥0.286706 / 10k characters"


def test_seed_001_call_types_and_model_listing_shape(catalog) -> None:
    assert catalog.model("qwen3-asr-flash").call_type == "sync"
    assert catalog.model("qwen3-asr-flash-filetrans").call_type == "async"
    listing = catalog.model("cosyvoice-v3-flash").public()
    assert listing["model_name"] == "CosyVoice V3 Flash"
    assert listing["features"] == ["快速合成", "支持SSML", "支持Instruct"]
    assert listing["provider"] == "offline" and listing["engine"] == "offline-tts"


def test_system_voice_shape_and_filters(catalog) -> None:
    voice = catalog.voice("longyingjing_v3").public()
    assert voice == {
        "voice_id": "longyingjing_v3",
        "name": "龙应静",
        "trait": "低调冷静女",
        "age": "20~30岁",
        "category": "客服",
        "languages": ["中文(普通话)", "英文"],
        "models": ["cosyvoice-v3-flash", "cosyvoice-v3-plus"],
        "features": {"ssml": True, "instruct": False, "timestamp": True},
        "gender": "female",
    }
    social = [v.voice_id for v in catalog.voices(model="cosyvoice-v3-flash", category="社交陪伴")]
    assert social == ["longanyang", "longanhuan"]
    assert {v.voice_id for v in catalog.voices(model="v3-hd")} >= {"fish-narrator"}


def test_errors_carry_seed_codes(catalog) -> None:
    with pytest.raises(InvalidInputError) as unknown_model:
        catalog.model("gpt-99")
    assert unknown_model.value.code == "INVALID_MODEL"
    with pytest.raises(InvalidInputError) as wrong_kind:
        catalog.model("whisper-1", kind="tts")
    assert wrong_kind.value.code == "INVALID_MODEL"
    with pytest.raises(InvalidInputError) as unknown_voice:
        catalog.voice("nobody")
    assert unknown_voice.value.code == "INVALID_VOICE"
    with pytest.raises(InvalidInputError) as mismatch:
        catalog.voice_for_model(catalog.model("tts-1"), "longanyang")
    assert mismatch.value.code == "MODEL_VOICE_MISMATCH"
    assert catalog.voice_for_model(catalog.model("Qwen3-TTS"), None).voice_id == "default"


def test_a_broken_operator_file_is_refused_with_the_entry_named(tmp_path: Path) -> None:
    text = DEFAULT_CATALOG.read_text(encoding="utf-8")
    broken = tmp_path / "catalog.toml"
    broken.write_text(
        text.replace('engine_voices = { "*" = "espeak-ng:yue" }', 'engine_voices = { "*" = "yue" }')
    )
    with pytest.raises(ValueError, match="engine:voice"):
        load_catalog(broken)
    broken.write_text(text + '\n[[voices]]\nvoice_id = "x"\nmodels = ["no-such-model"]\n')
    with pytest.raises(ValueError, match="no-such-model"):
        load_catalog(broken)


def test_asr_models_name_the_languages_they_recognise(catalog) -> None:
    qwen = ["zh", "en", "ja", "ko", "de", "fr", "es", "it", "pt", "ru", "ar"]
    for model_id in ("qwen3-asr-flash", "qwen3-asr-flash-filetrans"):
        assert list(catalog.model(model_id).languages) == qwen
    for model_id in ("whisper-1", "faster-whisper-base"):
        assert catalog.model(model_id).languages == ()  # any language


@pytest.mark.parametrize(
    ("languages", "message"),
    [
        ('["zh", "cmn"]', r"unknown Whisper languages \['cmn'\]"),
        ('["zh", "en", "zh"]', "listed twice"),
        ('"zh"', "must be a list"),
        ("[1]", "must be a list"),
    ],
)
def test_a_bad_language_list_is_refused_with_the_model_named(
    tmp_path: Path, languages: str, message: str
) -> None:
    text = DEFAULT_CATALOG.read_text(encoding="utf-8")
    listed = 'languages = ["zh", "en", "ja", "ko", "de", "fr", "es", "it", "pt", "ru", "ar"]'
    assert listed in text
    broken = tmp_path / "catalog.toml"
    broken.write_text(text.replace(listed, f"languages = {languages}", 1))
    with pytest.raises(ValueError, match=message) as refused:
        load_catalog(broken)
    assert "qwen3-asr-flash" in str(refused.value)


def test_only_speech_recognition_models_take_a_language_list(tmp_path: Path) -> None:
    text = DEFAULT_CATALOG.read_text(encoding="utf-8")
    broken = tmp_path / "catalog.toml"
    piper = 'engine = "piper"\n'
    assert text.count(piper) == 1  # the Piper TTS model
    broken.write_text(text.replace(piper, piper + 'languages = ["en"]\n'))
    with pytest.raises(ValueError, match="languages is for speech recognition models"):
        load_catalog(broken)
