"""Speech for engine tests, made on the spot: espeak-ng (the wheel's 1.52) and Piper's joe voice.

The platform's own TTS engines live in ``api/engines/espeak.py`` and ``piper.py``; these helpers
stay independent of them so the ASR, emotion and clone tests exercise only their own engine.

espeak-ng keeps global state in its C library (voice, parameters, the synth callback). Another
module in the same test session may drive the library too, so this helper loads a private copy
of the ``.so`` (a separate ``dlopen`` handle, therefore separate globals) and serialises its own
calls with a lock. Its output is not bit-identical from call to call (the same text differs
slightly after the first few hundred samples), so tests on espeak speech allow for that.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import espeakng_loader
import numpy as np

from api.engines.base import Pcm
from api.settings import Settings

ESPEAK_RATE = 1
ESPEAK_VOLUME = 2
ESPEAK_PITCH = 3
ESPEAK_RANGE = 4

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

ENGLISH_SENTENCE = (
    "The weather was lovely this morning, so we walked to the market and bought fresh bread."
)
ENGLISH_PARAGRAPH = (
    "Welcome to the voice platform. This message was generated entirely offline, on a small "
    "server, without any help from the internet. Please listen carefully to the following "
    "instructions. After the tone, say your name and the reason for your call, then press the "
    "pound key. Thank you for your patience, and have a wonderful day."
)
MANDARIN_SENTENCE = "欢迎使用语音识别服务。今天天气很好，我们一起去公园散步吧。"
MANDARIN_PARAGRAPH = (
    "欢迎使用语音合成服务。今天天气很好，我们一起去公园散步吧。请在提示音后说出您的姓名和来电原因，"
    "然后按井号键。感谢您的耐心等待，祝您生活愉快。"
)
# A different speaker for cloning: a story read by espeak's female variant (about 12 s).
REFERENCE_STORY = (
    "My grandmother kept a small garden behind the house, with roses, tomatoes and a crooked "
    "apple tree. Every summer we picked the apples together and baked pies for the neighbours."
)


class _Espeak:
    """A private espeak-ng instance: synthesis to int16 PCM at the library's 22 050 Hz."""

    def __init__(self) -> None:
        private_dir = Path(tempfile.mkdtemp(prefix="espeak-test-"))
        library_copy = private_dir / "libespeak-ng-test.so"
        shutil.copyfile(espeakng_loader.get_library_path(), library_copy)
        self._lib = ctypes.CDLL(str(library_copy))
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()

        @_CALLBACK
        def collect(wav: Any, count: int, _events: Any) -> int:
            if wav and count > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        self._callback = collect  # keep a reference: the C side holds only a raw pointer
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = int(self._lib.espeak_Initialize(2, 0, data_path, 0))  # synchronous
        self._lib.espeak_SetSynthCallback(self._callback)

    def synthesize(
        self,
        text: str,
        voice: str = "en-us",
        *,
        rate: int = 165,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
    ) -> Pcm:
        with self._lock:
            self._chunks.clear()
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            for parameter, value in (
                (ESPEAK_RATE, rate),
                (ESPEAK_VOLUME, volume),
                (ESPEAK_PITCH, pitch),
                (ESPEAK_RANGE, pitch_range),
            ):
                self._lib.espeak_SetParameter(parameter, value, 0)
            encoded = text.encode() + b"\0"
            self._lib.espeak_Synth(encoded, len(encoded), 0, 0, 0, 1, None, None)  # 1 = UTF-8
            self._lib.espeak_Synchronize()
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return Pcm(samples.astype(np.int16), self.sample_rate)


@functools.cache
def _espeak() -> _Espeak:
    return _Espeak()


def espeak(
    text: str,
    voice: str = "en-us",
    *,
    rate: int = 165,
    pitch: int = 50,
    pitch_range: int = 50,
    volume: int = 100,
) -> Pcm:
    """Speak ``text`` with espeak-ng (voice e.g. "en-us", "en-us+f3", "cmn"); 22 050 Hz."""
    return _espeak().synthesize(
        text, voice, rate=rate, pitch=pitch, pitch_range=pitch_range, volume=volume
    )


@functools.cache
def _piper_voice() -> Any:
    from piper import PiperVoice

    from api.engines.weights import PIPER_JOE, weights_path

    # Piper's joe ships whole inside its package: data_dir is never written for it.
    return PiperVoice.load(str(weights_path(PIPER_JOE, Path(tempfile.gettempdir()))))


_piper_lock = threading.Lock()


def piper(text: str) -> Pcm:
    """Speak ``text`` with Piper's joe (22 050 Hz), noise off so repeated runs are identical."""
    from piper import SynthesisConfig

    voice = _piper_voice()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    with _piper_lock:
        chunks = [chunk.audio_int16_array for chunk in voice.synthesize(text, config)]
    return Pcm(np.concatenate(chunks).astype(np.int16), voice.config.sample_rate)


def silence(seconds: float, sample_rate: int = 16000) -> Pcm:
    return Pcm(np.zeros(round(seconds * sample_rate), dtype=np.int16), sample_rate)


def concatenate(parts: list[Pcm], gap_seconds: float = 0.0) -> Pcm:
    """Join clips of one sample rate, with ``gap_seconds`` of silence between them."""
    rate = parts[0].sample_rate
    gap = np.zeros(round(gap_seconds * rate), dtype=np.int16)
    pieces: list[np.ndarray] = []
    for index, part in enumerate(parts):
        if part.sample_rate != rate:
            raise ValueError("concatenate needs one sample rate")
        if index and len(gap):
            pieces.append(gap)
        pieces.append(part.samples)
    return Pcm(np.concatenate(pieces).astype(np.int16), rate)


@functools.cache
def engine_settings() -> Settings:
    """One Settings for the whole session, so the joined Whisper base model is made once."""
    data_dir = Path(tempfile.mkdtemp(prefix="amphion-engines-"))
    return Settings(
        environment="test", secret_key="test-secret-key-that-is-long-enough", data_dir=data_dir
    )
