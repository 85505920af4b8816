"""Speech emotion, offline: a documented heuristic, not a trained emotion recogniser.

No package ships a speech-emotion model (research/engines.md §3), so this engine reads two
things it can measure honestly and maps them onto seed 001's seven labels:

- **Arousal** (calm … excited) from prosody: F0 level against a register baseline, F0 spread
  and 5–95 % range in semitones, the spread of frame energy, and a syllable-rate proxy
  (``api.engines.prosody``). Semitones and rates are speaker-independent; the F0 level is
  compared with a typical male or female register (chosen by the clip's median F0) because a
  single clip has no speaker-neutral recording to compare with. Short or barely voiced clips
  are pulled towards 0: there is too little evidence to call them calm or excited.
- **Valence** (negative … positive) from the transcript, when there is one: VADER for English,
  for Chinese a small lexicon with negation, falling back to SnowNLP's product-review model
  only faintly (it calls "我很难过" positive and neutral prompts negative). No transcript, or a
  language neither handles, means valence is unknown (``None``), and the labels that differ
  only by valence share the score.

Labels are a soft assignment in the arousal × valence plane (Russell's circumplex): each label
has a prototype point; scores fall off with distance and are normalised to sum to 1. Anger and
fear, close in that plane, are told apart by energy versus pitch (anger is loud and
energetic, fear high and thin), and words that name an emotion ("hate", "scared", "恶心") tip
the balance between labels of the same quadrant. The result is deterministic and carries
``heuristic=True``; callers must present it as such. A trained model or a hosted provider can
replace this class behind the same ``EmotionEngine`` protocol.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from api.engines.base import EMOTION_LABELS, EmotionResult, Pcm
from api.engines.prosody import ProsodyFeatures, prosody_features
from api.settings import Settings

ENGINE_NAME = "prosody-heuristic"

# Prototype (arousal, valence) of each label, and a prior weight: neutral is the most common
# state of speech and needs a wide basin, or every lively reader would come out "surprised".
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "neutral": (0.0, 0.0, 1.5),
    "happy": (0.3, 0.75, 1.0),
    "surprised": (0.85, 0.15, 0.8),
    "angry": (0.7, -0.65, 1.0),
    "fearful": (0.55, -0.55, 0.9),
    "disgusted": (0.1, -0.7, 0.8),
    "sad": (-0.6, -0.55, 1.0),
}
SPREAD = 0.45  # how far a label's influence reaches in the plane
UNKNOWN_VALENCE_SPREAD = 1.0  # valence unknown: its axis separates labels only faintly
# Little evidence (silence, a blip) multiplies neutral's weight by up to this much more.
UNCERTAIN_NEUTRAL_BOOST = 2.0
ANGER_FEAR_CONTRAST = 0.25

# Speaking-style baselines, between espeak's flat reading and natural read speech.
MALE_REGISTER_HZ = 115.0
FEMALE_REGISTER_HZ = 205.0
REGISTER_BOUNDARY_HZ = 160.0
BASELINE_RANGE_ST, SCALE_RANGE_ST = 7.5, 3.0
BASELINE_SD_ST, SCALE_SD_ST = 2.5, 1.2
BASELINE_RATE, SCALE_RATE = 5.0, 1.0
BASELINE_ENERGY_SD_DB, SCALE_ENERGY_SD_DB = 8.0, 1.5
SCALE_LEVEL_ST = 5.0
EVIDENCE_SECONDS = 0.75  # voiced seconds at which the arousal estimate counts for half

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")

# Chinese sentiment words. SnowNLP alone is unreliable on everyday speech (see above).
_ZH_POSITIVE = (
    "好",
    "棒",
    "喜欢",
    "爱",
    "开心",
    "高兴",
    "快乐",
    "谢谢",
    "感谢",
    "满意",
    "太好了",
    "不错",
    "优秀",
    "漂亮",
    "精彩",
    "幸福",
    "成功",
    "赞",
    "完美",
    "欢迎",
)
_ZH_NEGATIVE = (
    "差",
    "坏",
    "讨厌",
    "恨",
    "生气",
    "愤怒",
    "难过",
    "伤心",
    "悲伤",
    "痛苦",
    "害怕",
    "恐惧",
    "担心",
    "糟糕",
    "失望",
    "烦",
    "恶心",
    "可怕",
    "垃圾",
    "失败",
    "哭",
    "气死",
)
# Negation right before a word flips it: "不好", "没意思"; "非常" is "very", not a negation.
_ZH_NEGATION_BEFORE = ("不", "没", "别", "未", "无")
_ZH_NEGATION_PAIRS = ("不是", "没有", "并不", "不太", "不够", "不会")

# Words that name an emotion tip the balance between labels of one quadrant.
_CUE_WORDS: dict[str, tuple[str, ...]] = {
    "angry": (
        "hate",
        "furious",
        "angry",
        "mad",
        "outrageous",
        "unacceptable",
        "annoyed",
        "生气",
        "愤怒",
        "气死",
        "恨",
        "讨厌",
        "滚",
    ),
    "fearful": (
        "scared",
        "afraid",
        "terrified",
        "frightened",
        "fear",
        "help me",
        "worried",
        "nervous",
        "害怕",
        "恐惧",
        "担心",
        "吓",
        "救命",
        "可怕",
    ),
    "disgusted": ("disgusting", "gross", "yuck", "revolting", "nasty", "恶心", "反感", "呕"),
    "sad": (
        "sad",
        "cry",
        "miss you",
        "lonely",
        "depressed",
        "heartbroken",
        "unhappy",
        "难过",
        "伤心",
        "悲伤",
        "哭",
        "孤独",
    ),
    "surprised": (
        "wow",
        "can't believe",
        "cannot believe",
        "unbelievable",
        "no way",
        "really?",
        "amazing",
        "竟然",
        "居然",
        "天哪",
        "真的吗",
        "没想到",
    ),
    "happy": (
        "happy",
        "glad",
        "great",
        "wonderful",
        "love",
        "thank",
        "delighted",
        "开心",
        "高兴",
        "快乐",
        "太好了",
        "谢谢",
        "喜欢",
    ),
}
CUE_BOOST = 1.8


@dataclass(frozen=True)
class Valence:
    value: float | None  # None: unknown
    source: str  # "vader", "zh-lexicon", "snownlp", "none"


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def evidence_of(features: ProsodyFeatures) -> float:
    """0–1: how much voiced speech the arousal estimate rests on."""
    if not features.voiced:
        return 0.0
    return features.voiced_seconds / (features.voiced_seconds + EVIDENCE_SECONDS)


def arousal_from(features: ProsodyFeatures) -> tuple[float, dict[str, float]]:
    """Arousal in [-1, 1] and the standardised cues it was built from."""
    if not features.voiced:
        return 0.0, {"level": 0.0, "range": 0.0, "spread": 0.0, "rate": 0.0, "energy": 0.0}
    register = (
        MALE_REGISTER_HZ if features.f0_median_hz < REGISTER_BOUNDARY_HZ else FEMALE_REGISTER_HZ
    )
    cues = {
        "level": _clip(12 * math.log2(features.f0_median_hz / register) / SCALE_LEVEL_ST, -2, 2),
        "range": _clip((features.f0_range_semitones - BASELINE_RANGE_ST) / SCALE_RANGE_ST, -2, 2),
        "spread": _clip((features.f0_sd_semitones - BASELINE_SD_ST) / SCALE_SD_ST, -2, 2),
        "rate": _clip((features.syllable_rate - BASELINE_RATE) / SCALE_RATE, -2, 2),
        "energy": _clip(
            (features.energy_sd_db - BASELINE_ENERGY_SD_DB) / SCALE_ENERGY_SD_DB, -2, 2
        ),
    }
    raw = (
        0.25 * cues["level"]
        + 0.25 * cues["range"]
        + 0.15 * cues["spread"]
        + 0.20 * cues["rate"]
        + 0.15 * cues["energy"]
    )
    return math.tanh(1.2 * raw) * evidence_of(features), cues


def _is_chinese(text: str, language: str | None) -> bool:
    if language:
        tag = language.lower()
        if tag.startswith(("zh", "cmn", "yue")):
            return True
        if tag.startswith("en"):
            return False
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    return cjk > 0 and cjk >= 0.3 * (cjk + latin)


def _is_english(text: str, language: str | None) -> bool:
    if language:
        return language.lower().startswith("en")
    return bool(_LATIN.search(text)) and not _CJK.search(text)


class _Lexicons:
    """VADER and SnowNLP, imported on first use (SnowNLP takes about 2 s to import)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vader: Any = None

    def vader(self, text: str) -> float:
        with self._lock:
            if self._vader is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                self._vader = SentimentIntensityAnalyzer()
            return float(self._vader.polarity_scores(text)["compound"])

    def snownlp(self, text: str) -> float:
        from snownlp import SnowNLP

        return float(SnowNLP(text).sentiments)


_lexicons = _Lexicons()


def _negated(text: str, start: int) -> bool:
    return text[max(0, start - 1) : start] in _ZH_NEGATION_BEFORE or (
        text[max(0, start - 2) : start] in _ZH_NEGATION_PAIRS
    )


def chinese_lexicon_score(text: str) -> tuple[float, int]:
    """(score in [-1, 1], number of sentiment words found), with 不/没 flipping a word."""
    positive = negative = 0
    for words, sign in ((_ZH_POSITIVE, 1), (_ZH_NEGATIVE, -1)):
        for word in words:
            for match in re.finditer(re.escape(word), text):
                # A shorter word inside a longer listed one ("好" in "太好了") counts once.
                if len(word) == 1 and any(
                    longer in text[max(0, match.start() - 2) : match.end() + 2]
                    for longer in words
                    if len(longer) > 1 and word in longer
                ):
                    continue
                polarity = -sign if _negated(text, match.start()) else sign
                if polarity > 0:
                    positive += 1
                else:
                    negative += 1
    hits = positive + negative
    return (positive - negative) / (hits + 1.0), hits


def valence_from_text(text: str | None, language: str | None = None) -> Valence:
    """Valence of what was said, or unknown when there is no text or no lexicon for it."""
    if not text or not text.strip():
        return Valence(None, "none")
    if _is_chinese(text, language):
        score, hits = chinese_lexicon_score(text)
        if hits:
            return Valence(_clip(score * 1.3, -1, 1), "zh-lexicon")
        # No sentiment word: SnowNLP's guess, heavily discounted.
        return Valence(0.25 * (2 * _lexicons.snownlp(text) - 1), "snownlp")
    if _is_english(text, language):
        return Valence(_lexicons.vader(text), "vader")
    return Valence(None, "none")


def emotion_cues(text: str | None) -> set[str]:
    """Labels whose cue words the text contains (negated Chinese cues excluded)."""
    if not text:
        return set()
    lowered = text.lower()
    found = set()
    for label, words in _CUE_WORDS.items():
        for word in words:
            for match in re.finditer(re.escape(word), lowered):
                if _CJK.match(word):
                    if _negated(lowered, match.start()):
                        continue
                elif not _word_boundary(lowered, match.start(), match.end()):
                    continue
                found.add(label)
    return found


def _word_boundary(text: str, start: int, end: int) -> bool:
    before_ok = start == 0 or not text[start - 1].isalpha()
    after_ok = end == len(text) or not text[end].isalpha()
    return before_ok and after_ok


def label_scores(
    arousal: float,
    valence: float | None,
    cues: dict[str, float],
    cue_labels: Collection[str] = (),
    certainty: float = 1.0,
) -> tuple[tuple[str, float], ...]:
    """Soft assignment of (arousal, valence) to the seven labels; sums to 1, sorted.

    ``certainty`` (0–1) says how much evidence stands behind the point: with none, neutral
    dominates, because a clip with nothing to measure is not evidence of any emotion.
    """
    valence_spread = SPREAD if valence is not None else UNKNOWN_VALENCE_SPREAD
    point_valence = valence if valence is not None else 0.0
    weights: dict[str, float] = {}
    for label, (proto_arousal, proto_valence, prior) in PROTOTYPES.items():
        distance = ((arousal - proto_arousal) / SPREAD) ** 2 + (
            (point_valence - proto_valence) / valence_spread
        ) ** 2
        weights[label] = prior * math.exp(-0.5 * distance)
    # Anger is loud and energetic; fear is high-pitched and thinner.
    energy_vs_pitch = _clip(cues.get("energy", 0.0) - cues.get("level", 0.0), -1.5, 1.5)
    weights["angry"] *= math.exp(ANGER_FEAR_CONTRAST * energy_vs_pitch)
    weights["fearful"] *= math.exp(-ANGER_FEAR_CONTRAST * energy_vs_pitch)
    weights["neutral"] *= 1.0 + UNCERTAIN_NEUTRAL_BOOST * (1.0 - _clip(certainty, 0.0, 1.0))
    for label in cue_labels:
        weights[label] *= CUE_BOOST
    total = sum(weights.values())
    if total <= 0 or not math.isfinite(total):
        weights = {label: 1.0 if label == "neutral" else 0.0 for label in EMOTION_LABELS}
        total = 1.0
    scores = [(label, weights[label] / total) for label in EMOTION_LABELS]
    rounded = [(label, round(score, 4)) for label, score in scores]
    # Rounding must not break the sum: give the residue to the top label.
    rounded.sort(key=lambda item: (-item[1], EMOTION_LABELS.index(item[0])))
    residue = round(1.0 - sum(score for _, score in rounded), 4)
    rounded[0] = (rounded[0][0], round(rounded[0][1] + residue, 4))
    return tuple(rounded)


class ProsodyEmotionEngine:
    """``EmotionEngine``: arousal from prosody, valence from the transcript; a heuristic.

    Stateless apart from the lazily created lexicon analysers, so one instance serves every
    thread. About 0.1–0.2 s for a 10 s clip on one core.
    """

    name = ENGINE_NAME

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def analyze(
        self, audio: Pcm, *, transcript: str | None = None, language: str | None = None
    ) -> EmotionResult:
        features = prosody_features(audio)
        arousal, cues = arousal_from(features)
        valence = valence_from_text(transcript, language)
        # A transcript with a clear sentiment is evidence even when the audio says little.
        certainty = evidence_of(features)
        if valence.value is not None:
            certainty = max(certainty, abs(valence.value))
        scores = label_scores(
            arousal, valence.value, cues, emotion_cues(transcript), certainty=certainty
        )
        return EmotionResult(
            scores=scores,
            model=self.name,
            arousal=round(arousal, 4),
            valence=None if valence.value is None else round(valence.value, 4),
            heuristic=True,
        )
