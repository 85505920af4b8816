"""espeak-ng 1.52 through ctypes: every language the data has, Mandarin and Cantonese included.

The library and its data come from the ``espeakng-loader`` wheel (espeak-ng 1.52). Debian's
1.51 reads Mandarin tone digits out in English (research/engines.md §1), so the system library is
never used. Piper carries its own statically linked espeak-ng for phonemes; the two copies do
not share state, because each is loaded with local symbol binding.

The C API keeps global state (current voice, parameters, the one synth callback, the wave
generator), so the library is initialised once per process and every call into it runs under
one process-wide lock. The library runs in synchronous mode: ``espeak_Synth`` calls our callback
with 16-bit PCM at 22 050 Hz as it goes and returns when the text is spoken.

- Voices: one per voice the data lists (``espeak_ListVoices``) and has a dictionary for (the wheel
  lacks three: Faroese, Karakalpak, Xextam), named by its language code
  (``en-us``, ``en-gb``, ``cmn``, ``yue``, ``fr-fr`` …), and any of those plus a variant from the
  data's ``voices/!v`` folder (``en-us+f3`` is a female voice, ``cmn+m3`` a male one). A few
  variants are listed; the rest are accepted by name.
- Speed: native. The rate parameter is words per minute, 175 being normal, so a factor ``s`` is
  ``175·s`` wpm. espeak-ng cannot go below 80 wpm (factor 0.457); slower speech is made at 80 wpm
  and stretched by the library's own sonic time-stretcher, so factors 0.25–4.0 all work.
- Pitch: native. The pitch parameter 0–100 scales the voice's base pitch by ``2**((p-50)/50)``
  (the library's ``pitch_adjust_tab``), so a factor ``f`` in 0.5–2.0 is ``p = 50 + 50·log2 f``.
  The range parameter is scaled by ``f`` too, so the intonation contour moves with the base and
  the median F0 follows the factor (measured ×0.59 at 0.5, ×1.8 at 2.0).
- Streaming: a worker thread runs the synthesis and hands over one chunk per sentence (espeak's
  own sentence events, so abbreviations and CJK punctuation are split the way espeak speaks them),
  so the first sentence is playable after a few milliseconds.
- Long text is spoken in pieces of at most ``PIECE_CHARS`` characters cut at sentence ends, and
  the lock is released between pieces, so one long request never holds the library for long.

Not bit-exact: espeak-ng's wave generator keeps a pitch-flutter phase in a static that nothing
resets (not even re-initialising), so the same text can come out a few samples different from
one call to the next in a process. It sounds the same; compare envelopes, not samples.
"""

from __future__ import annotations

import ctypes
import math
import queue
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from api.engines.base import EngineVoice, Int16Array, Pcm, SynthesisRequest
from api.errors import InvalidInputError, ServiceUnavailableError

SAMPLE_RATE = 22050
DEFAULT_VOICE = "en-us"
NORMAL_RATE = 175  # words per minute at speed 1.0 (espeakRATE_NORMAL)
MIN_RATE = 80  # espeakRATE_MINIMUM: the library clamps anything slower
MAX_SPEED = 4.0
MIN_SPEED = 0.25
MIN_PITCH, MAX_PITCH = 0.5, 2.0  # the span of the library's pitch table
PIECE_CHARS = 1000
# Language codes that are not voice ids resolve to the voice espeak ranks first for them
# ("zh" → cmn, "fr" → fr-fr), except where the product prefers another ("en" is US English).
ALIASES = {"en": "en-us", "zh-cn": "cmn", "zh-hk": "yue", "zh-tw": "cmn"}
# Variants the voice list shows; any other "<voice>+<variant>" from voices/!v is accepted too.
LISTED_VARIANTS: dict[str, tuple[str, ...]] = {
    "en-us": ("f3", "m3"),
    "en-gb": ("f3",),
    "cmn": ("f3", "m3"),
    "yue": ("f3",),
}

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_EVENT_LIST_TERMINATED, _EVENT_SENTENCE = 0, 2
_PHONEMES_IPA = 0x02
_EE_OK = 0
_CALLBACK_CONTINUE, _CALLBACK_ABORT = 0, 1
_GENDERS: dict[int, Literal["female", "male", "neutral"]] = {1: "male", 2: "female"}


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),  # a union of int / const char* / char[8]
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated code)*, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
_ShortPointer = ctypes.POINTER(ctypes.c_short)


@dataclass(frozen=True)
class _Parameters:
    """Everything one synthesis needs, resolved and validated before the library is touched."""

    espeak_name: str  # what espeak_SetVoiceByName takes: "gmw/en-US+f3"
    rate: int
    pitch: int
    range: int
    stretch: float  # sonic speed applied after synthesis; 1.0 = none


class _Sink:
    """Receives one synthesis's audio from the callback and cuts it at sentence starts.

    The callback may learn of a sentence start only after the audio before it has arrived, so
    cutting works on sample positions, not on callback boundaries.
    """

    def __init__(self, on_audio: Callable[[Int16Array], None], cancelled: Callable[[], bool]):
        self.on_audio = on_audio
        self.cancelled = cancelled
        self.pending: list[Int16Array] = []
        self.pending_samples = 0
        self.emitted = 0  # samples handed on so far
        self.sentence_starts: list[int] = []
        self.error: BaseException | None = None

    def receive(self, samples: Int16Array | None, events: list[tuple[int, int]]) -> None:
        for event_type, sample in events:
            if event_type == _EVENT_SENTENCE and sample > 0:
                self.sentence_starts.append(sample)
        if samples is not None and len(samples):
            self.pending.append(samples)
            self.pending_samples += len(samples)
        total = self.emitted + self.pending_samples
        while self.sentence_starts and self.sentence_starts[0] <= total:
            self._emit(self.sentence_starts.pop(0) - self.emitted)

    def finish(self) -> None:
        self._emit(self.pending_samples)

    def _emit(self, count: int) -> None:
        if count <= 0:
            return
        joined = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        head, tail = joined[:count], joined[count:]
        self.pending = [tail] if len(tail) else []
        self.pending_samples = len(tail)
        self.emitted += len(head)
        self.on_audio(head)


class _Library:
    """The process's one handle on libespeak-ng: initialised once, every call under ``lock``."""

    def __init__(self) -> None:
        import espeakng_loader  # imported here so a missing wheel is a 503, not an ImportError

        self.lock = threading.Lock()
        self.data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.sonicCreateStream.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.sonicCreateStream.restype = ctypes.c_void_p
        lib.sonicDestroyStream.argtypes = [ctypes.c_void_p]
        lib.sonicDestroyStream.restype = None
        lib.sonicSetSpeed.argtypes = [ctypes.c_void_p, ctypes.c_float]
        lib.sonicSetSpeed.restype = None
        lib.sonicWriteShortToStream.argtypes = [ctypes.c_void_p, _ShortPointer, ctypes.c_int]
        lib.sonicWriteShortToStream.restype = ctypes.c_int
        lib.sonicReadShortFromStream.argtypes = [ctypes.c_void_p, _ShortPointer, ctypes.c_int]
        lib.sonicReadShortFromStream.restype = ctypes.c_int
        lib.sonicFlushStream.argtypes = [ctypes.c_void_p]
        lib.sonicFlushStream.restype = ctypes.c_int
        self.lib = lib

        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), _INITIALIZE_DONT_EXIT
        )
        if sample_rate != SAMPLE_RATE:
            raise ServiceUnavailableError("espeak-ng failed to initialise")
        # Kept on the instance: ctypes frees a callback whose Python object is collected.
        self._callback = _SynthCallback(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)
        self._sink: _Sink | None = None

    def _on_synth(
        self, wav: ctypes._Pointer[ctypes.c_short], count: int, events_ptr: ctypes._Pointer[_Event]
    ) -> int:
        # Runs inside espeak_Synth, under the lock. An exception here could not cross the C
        # frame, so it is parked on the sink and synthesis is aborted.
        sink = self._sink
        if sink is None:
            return _CALLBACK_ABORT
        try:
            if sink.cancelled():
                return _CALLBACK_ABORT
            events: list[tuple[int, int]] = []
            if events_ptr:
                index = 0
                while (event := events_ptr[index]).type != _EVENT_LIST_TERMINATED:
                    events.append((event.type, event.sample))
                    index += 1
            samples = (
                np.ctypeslib.as_array(wav, shape=(count,)).copy() if wav and count > 0 else None
            )
            sink.receive(samples, events)
        except BaseException as error:  # noqa: BLE001 - re-raised by speak()
            sink.error = error
            return _CALLBACK_ABORT
        return _CALLBACK_CONTINUE

    def speak(self, text: str, parameters: _Parameters, sink: _Sink) -> None:
        """Synthesize ``text`` (one piece) into ``sink``; the lock is held for exactly this call."""
        encoded = text.encode("utf-8") + b"\0"
        with self.lock:
            if self.lib.espeak_SetVoiceByName(parameters.espeak_name.encode()) != _EE_OK:
                raise ServiceUnavailableError(
                    f"espeak-ng could not load voice '{parameters.espeak_name}'"
                )
            self.lib.espeak_SetParameter(_PARAM_RATE, parameters.rate, 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, parameters.pitch, 0)
            self.lib.espeak_SetParameter(_PARAM_RANGE, parameters.range, 0)
            self._sink = sink
            try:
                status = self.lib.espeak_Synth(
                    encoded, len(encoded), 0, 0, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
                )
                self.lib.espeak_Synchronize()
            finally:
                self._sink = None
        if sink.error is not None:
            raise sink.error
        if status != _EE_OK and not sink.cancelled():
            raise ServiceUnavailableError("espeak-ng failed to synthesize the text")
        sink.finish()

    def phonemes(self, text: str, espeak_name: str) -> str:
        """IPA for ``text``, clause by clause as espeak reads it."""
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses: list[str] = []
        with self.lock:
            if self.lib.espeak_SetVoiceByName(espeak_name.encode()) != _EE_OK:
                raise ServiceUnavailableError(f"espeak-ng could not load voice '{espeak_name}'")
            while pointer.value:
                clause = self.lib.espeak_TextToPhonemes(
                    ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA
                )
                if clause:
                    clauses.append(clause.decode("utf-8", errors="replace").strip())
        return " ".join(part for part in clauses if part)

    def list_voices(self) -> list[tuple[str, str, int, list[tuple[int, str]]]]:
        """(name, identifier, gender, (priority, language code)s) of every voice in the data."""
        found: list[tuple[str, str, int, list[tuple[int, str]]]] = []
        with self.lock:
            voices = self.lib.espeak_ListVoices(None)
            index = 0
            while voices[index]:
                voice = voices[index].contents
                found.append(
                    (
                        (voice.name or b"").decode(),
                        (voice.identifier or b"").decode(),
                        voice.gender,
                        _languages(voice.languages),
                    )
                )
                index += 1
        return found

    def stretch(self, samples: Int16Array, speed: float) -> Int16Array:
        """Time-stretch with the library's sonic (no global state: a stream per call)."""
        stream = self.lib.sonicCreateStream(SAMPLE_RATE, 1)
        if not stream:
            raise ServiceUnavailableError("espeak-ng could not allocate a time-stretcher")
        try:
            self.lib.sonicSetSpeed(stream, speed)
            source = np.ascontiguousarray(samples, dtype=np.int16)
            self.lib.sonicWriteShortToStream(
                stream, source.ctypes.data_as(_ShortPointer), len(source)
            )
            self.lib.sonicFlushStream(stream)
            out: list[Int16Array] = []
            buffer = np.empty(8192, dtype=np.int16)
            while (
                count := self.lib.sonicReadShortFromStream(
                    stream, buffer.ctypes.data_as(_ShortPointer), len(buffer)
                )
            ) > 0:
                out.append(buffer[:count].copy())
        finally:
            self.lib.sonicDestroyStream(stream)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def _languages(pointer: int | None) -> list[tuple[int, str]]:
    if not pointer:
        return []
    codes: list[tuple[int, str]] = []
    offset = 0
    while (priority := ctypes.c_ubyte.from_address(pointer + offset).value) != 0:  # 0 ends
        code = ctypes.string_at(pointer + offset + 1)
        codes.append((priority, code.decode().lower()))
        offset += 1 + len(code) + 1
    return codes


_library: _Library | None = None
_library_lock = threading.Lock()


def _get_library() -> _Library:
    global _library
    with _library_lock:
        if _library is None:
            try:
                _library = _Library()
            except ServiceUnavailableError:
                raise
            except (ImportError, OSError, AttributeError) as error:
                raise ServiceUnavailableError("espeak-ng is not available") from error
        return _library


# --- text ------------------------------------------------------------------------------------

_CONTROL = {codepoint: " " for codepoint in range(0x20) if chr(codepoint) not in "\n\t"}
# A sentence runs to its end punctuation (plus closing quotes) before a space or the end of the
# text; CJK end punctuation needs no space after it.
_SENTENCE = re.compile(
    r".+?(?:[.!?;\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f\uff1b]+[\u201d\u300d\u300f]*|$)",
    re.DOTALL,
)


def _clean(text: str) -> str:
    # NUL would end the C string early; other control bytes are espeak's embedded commands.
    return unicodedata.normalize("NFC", text).translate(_CONTROL).strip()


def _pieces(text: str, limit: int = PIECE_CHARS) -> list[str]:
    """Cut text into pieces of at most ``limit`` characters, at sentence ends where possible.

    Only the lock-holding granularity depends on this (espeak still finds the sentences), so a
    simple rule is enough: pack whole sentences; a sentence longer than ``limit`` is cut at its
    last space or comma before the limit, or hard at the limit.
    """
    sentences = [match.group().strip() for match in _SENTENCE.finditer(text)]
    sentences = [sentence for sentence in sentences if sentence]
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > limit:
            cut = max(
                sentence.rfind(" ", 0, limit),
                sentence.rfind(",", 0, limit),
                sentence.rfind("，", 0, limit),
            )
            cut = cut + 1 if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


# --- the engine ------------------------------------------------------------------------------


def _variant_files(data_path: Path) -> dict[str, Literal["female", "male", "neutral"]]:
    """Variant name → gender, from the data's voices/!v folder."""
    variants: dict[str, Literal["female", "male", "neutral"]] = {}
    folder = data_path / "voices" / "!v"
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if not path.is_file():
            continue
        gender: Literal["female", "male", "neutral"] = "neutral"
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "gender" and words[1] in ("female", "male"):
                gender = "female" if words[1] == "female" else "male"
                break
        variants[path.name] = gender
    return variants


def _has_dictionary(data_path: Path, identifier: str) -> bool:
    """Whether the voice's dictionary is in the data (espeak's rule: a ``dictionary`` line, else
    the first ``language`` code up to its first hyphen)."""
    voice_file = data_path / "lang" / identifier
    if not voice_file.is_file():
        return True  # not where 1.52 keeps voices: let the library decide
    dictionary = ""
    for line in voice_file.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "dictionary":
            dictionary = words[1]
            break
        if len(words) >= 2 and words[0] == "language" and not dictionary:
            dictionary = words[1].split("-")[0]
    return not dictionary or (data_path / f"{dictionary}_dict").is_file()


class EspeakEngine:
    """espeak-ng 1.52 as a ``TTSEngine``: every language, native speed and pitch, 22 050 Hz."""

    name = "espeak-ng"
    sample_rate = SAMPLE_RATE
    native_speed = True
    native_pitch = True

    def __init__(self) -> None:
        self._library = _get_library()
        self._variants = _variant_files(self._library.data_path)
        # voice id → (espeak identifier, display name, gender, language)
        self._bases: dict[str, tuple[str, str, Literal["female", "male", "neutral"], str]] = {}
        # other language code → (priority, voice id): espeak's own fallbacks ("zh" → cmn)
        fallbacks: dict[str, tuple[int, str]] = {}
        for display_name, identifier, gender, languages in self._library.list_voices():
            if not identifier or not languages:
                continue
            if not _has_dictionary(self._library.data_path, identifier):
                continue  # fo, kaa, xex: listed, but the wheel ships no dictionary (silence)
            voice_id = languages[0][1]
            if voice_id in self._bases:  # e.g. both Cantonese voices list "yue" first
                voice_id = identifier.rsplit("/", 1)[-1].lower()
            self._bases[voice_id] = (
                identifier,
                display_name,
                _GENDERS.get(gender, "neutral"),
                languages[0][1],
            )
            for priority, code in languages:
                if code not in fallbacks or priority < fallbacks[code][0]:
                    fallbacks[code] = (priority, voice_id)
        self._aliases = {code: voice_id for code, (_, voice_id) in fallbacks.items()}
        self._aliases.update(ALIASES)
        self._voices = self._list_voices()

    def _list_voices(self) -> list[EngineVoice]:
        voices: list[EngineVoice] = []
        for voice_id, (_, display_name, gender, language) in sorted(self._bases.items()):
            voices.append(EngineVoice(voice_id, language, gender, display_name))
            for variant in LISTED_VARIANTS.get(voice_id, ()):
                if variant in self._variants:
                    variant_gender = self._variants[variant]
                    voices.append(
                        EngineVoice(
                            f"{voice_id}+{variant}",
                            language,
                            variant_gender,
                            f"{display_name}, variant {variant} ({variant_gender})",
                        )
                    )
        return voices

    def voices(self) -> list[EngineVoice]:
        return list(self._voices)

    def phonemes(self, text: str, voice: str = DEFAULT_VOICE) -> str:
        """What espeak-ng would say, in IPA (useful to check a language is read as itself)."""
        cleaned = _clean(text)
        if not cleaned:
            raise InvalidInputError("Text is empty", param="text")
        return self._library.phonemes(cleaned, self._espeak_name(voice))

    def synthesize(self, request: SynthesisRequest) -> Pcm:
        parameters, pieces = self._prepare(request)
        chunks: list[Int16Array] = []
        for piece in pieces:
            self._library.speak(piece, parameters, _Sink(chunks.append, lambda: False))
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        if parameters.stretch != 1.0 and len(samples):
            samples = self._library.stretch(samples, parameters.stretch)
        return Pcm(samples, SAMPLE_RATE)

    def stream(self, request: SynthesisRequest) -> Iterator[Pcm]:
        """One chunk per sentence, made on a worker thread so the first arrives quickly.

        Validation happens here, before the iterator is returned, so bad input fails at the
        call rather than at the first ``next()``. Closing the iterator early cancels the rest.
        """
        parameters, pieces = self._prepare(request)
        return self._stream(parameters, pieces)

    def _stream(self, parameters: _Parameters, pieces: list[str]) -> Iterator[Pcm]:
        handoff: queue.SimpleQueue[Int16Array | BaseException | None] = queue.SimpleQueue()
        cancelled = threading.Event()

        def produce() -> None:
            try:
                for piece in pieces:
                    if cancelled.is_set():
                        break
                    self._library.speak(piece, parameters, _Sink(handoff.put, cancelled.is_set))
            except BaseException as error:  # noqa: BLE001 - handed to the consumer
                handoff.put(error)
            else:
                handoff.put(None)

        threading.Thread(target=produce, name="espeak-stream", daemon=True).start()
        try:
            while (item := handoff.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if parameters.stretch != 1.0:
                    item = self._library.stretch(item, parameters.stretch)
                if len(item):
                    yield Pcm(item, SAMPLE_RATE)
        finally:
            cancelled.set()

    # --- request → library parameters --------------------------------------------------------

    def _prepare(self, request: SynthesisRequest) -> tuple[_Parameters, list[str]]:
        text = _clean(request.text)
        if not text:
            raise InvalidInputError("Text is empty", param="text")
        if not (MIN_SPEED <= request.speed <= MAX_SPEED) or not math.isfinite(request.speed):
            raise InvalidInputError(
                f"speed must be between {MIN_SPEED} and {MAX_SPEED}", param="speed"
            )
        if not (MIN_PITCH <= request.pitch <= MAX_PITCH) or not math.isfinite(request.pitch):
            raise InvalidInputError(
                f"pitch must be between {MIN_PITCH} and {MAX_PITCH}", param="pitch"
            )
        voice = request.voice or request.language or DEFAULT_VOICE
        rate = max(MIN_RATE, round(NORMAL_RATE * request.speed))
        parameters = _Parameters(
            espeak_name=self._espeak_name(voice),
            rate=rate,
            pitch=min(100, max(0, round(50 + 50 * math.log2(request.pitch)))),
            range=min(100, max(0, round(50 * request.pitch))),
            # Below 80 wpm espeak cannot slow down further: sonic does the rest.
            stretch=min(1.0, NORMAL_RATE * request.speed / rate),
        )
        return parameters, _pieces(text)

    def _espeak_name(self, voice: str) -> str:
        base, plus, variant = voice.strip().lower().partition("+")
        base = base.replace("_", "-")  # "en_US" as locales spell it
        base = base if base in self._bases else self._aliases.get(base, base)
        if base not in self._bases:
            raise InvalidInputError(f"espeak-ng has no voice '{voice}'", param="voice")
        identifier = self._bases[base][0]
        if not plus:
            return identifier
        # Variant names are file names in voices/!v; match them case-insensitively but only
        # against that listing, so nothing else (paths, "..") reaches the library.
        matches = [name for name in self._variants if name.lower() == variant]
        if not matches:
            raise InvalidInputError(f"espeak-ng has no voice variant '{variant}'", param="voice")
        return f"{identifier}+{matches[0]}"
