"""Text to speech: ``synthesize`` (one request), ``synthesize_long`` (split, merged) and
``open_stream`` (audio handed out as it is made).

Every path reads the same way: validate the order → resolve model and voice in the catalog →
price the characters → hold → render segment by segment on the engine the voice names for each
segment's language → effects (volume; speed and pitch where the engine cannot) → resample →
encode → store → capture + history in one transaction. Any failure releases the hold.
Blocking work: the doors call these from worker threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from api import audio
from api.billing.pricing import Usage
from api.catalog.catalog import ModelSpec, text_language
from api.engines.base import Pcm, SynthesisRequest, TTSEngine
from api.engines.timing import engine_time, timed_iteration
from api.errors import InvalidInputError, NotFoundError
from api.speech.common import Caller, Charge, put_audio
from api.speech.context import SpeechContext
from api.voices import service as voices

FORMATS = ("mp3", "wav", "pcm", "opus", "aac", "flac")
SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
LONG_TEXT_LIMIT = 200_000  # characters one synthesize_long call may take
SEGMENT_LIMIT = 2000  # seed 001: one synthesis call takes at most 2000 characters
PAUSE_MS = 250  # between merged segments: a short, natural breath
CLONE_ENGINE = "world-styling"


@dataclass(frozen=True)
class SpeechOrder:
    """What to say and how. ``volume_db`` 0 = unchanged; ``speed``/``pitch`` are factors."""

    model: str
    text: str
    voice: str | None = None
    format: str = "mp3"
    sample_rate: int | None = None
    speed: float = 1.0
    pitch: float = 1.0
    volume_db: float = 0.0
    instruction: str | None = None


@dataclass(frozen=True)
class SpeechResult:
    audio: bytes
    format: str
    content_type: str
    sample_rate: int
    duration_ms: int
    characters: int
    segments: int
    cost_micros: int
    record_id: int
    output_key: str
    balance_micros: int | None = None  # after the charge; None when it is not known


@dataclass(frozen=True)
class Rendition:
    """How one piece of text becomes audio: engine, its voice, and any styling after it."""

    engine: str
    voice: str
    pitch: float = 1.0
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    model: ModelSpec
    order: SpeechOrder
    voice_id: str
    characters: int
    cost_micros: int
    renditions: dict[str, Rendition]  # "zh" / "en" → how that language is spoken

    def rendition_for(self, text: str) -> Rendition:
        return self._rendition_in(text_language(text))

    def _rendition_in(self, language: str) -> Rendition:
        return self.renditions.get(language) or next(iter(self.renditions.values()))

    def runs(self, text: str) -> list[tuple[Rendition, str]]:
        """``text`` as runs of consecutive sentences one rendition speaks: in mixed Chinese and
        English, each language gets its own engine voice instead of one reading the other.

        Text without a single Chinese character is English in every sentence: one run, the text as
        it came (as for a voice with one rendition, paragraph breaks included), without cutting
        it into sentences first."""
        if len(self.renditions) == 1:
            return [(next(iter(self.renditions.values())), text)]
        if text_language(text) == "en":
            return [(self._rendition_in("en"), text)]
        runs: list[tuple[Rendition, str]] = []
        for sentence in audio.split_sentences(text):
            rendition = self.rendition_for(sentence)
            if runs and runs[-1][0] == rendition:
                runs[-1] = (rendition, f"{runs[-1][1]} {sentence}")
            else:
                runs.append((rendition, sentence))
        return runs


def _check_order(order: SpeechOrder) -> None:
    if not isinstance(order.text, str) or not order.text.strip():
        raise InvalidInputError("text must not be empty", param="text")
    if order.format not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}", param="format")
    if order.sample_rate is not None and order.sample_rate not in SAMPLE_RATES:
        raise InvalidInputError(
            f"sample_rate must be one of {', '.join(map(str, SAMPLE_RATES))}", param="sample_rate"
        )
    if not 0.25 <= order.speed <= 4.0:
        raise InvalidInputError("speed must be between 0.25 and 4.0", param="speed")
    if not 0.5 <= order.pitch <= 2.0:
        raise InvalidInputError("pitch must be between 0.5 and 2.0", param="pitch")
    if not -60.0 <= order.volume_db <= 20.0:
        raise InvalidInputError("volume is out of range", param="volume")


def plan(ctx: SpeechContext, caller: Caller, order: SpeechOrder, *, long: bool = False) -> Plan:
    """Validate and price an order without spending anything."""
    caller.require("tts")
    _check_order(order)
    model = ctx.catalog.model(order.model, kind="tts")
    characters = audio.count_characters(order.text)
    limit = LONG_TEXT_LIMIT if long else (model.limits.max_characters or SEGMENT_LIMIT)
    if characters > limit:
        hint = "" if long else "; use the long-text endpoint"
        raise InvalidInputError(
            f"Text has {characters} characters; the limit is {limit}{hint}",
            code="TEXT_TOO_LONG",
            param="text",
        )
    renditions, voice_id = _renditions(ctx, caller, model, order.voice)
    for rendition in renditions.values():  # an engine that cannot load is a 503 before any hold
        ctx.engines.tts(rendition.engine)
    cost = model.price.cost(Usage(characters=characters))
    return Plan(model, order, voice_id, characters, cost, renditions)


def _renditions(
    ctx: SpeechContext, caller: Caller, model: ModelSpec, voice_id: str | None
) -> tuple[dict[str, Rendition], str]:
    system = ctx.catalog.find_voice(voice_id) if voice_id else None
    if (system is not None or not voice_id) and model.hosted:  # the provider has the voice
        voice = ctx.catalog.voice_for_model(model, voice_id)
        return {"*": Rendition(model.engine_name, voice.voice_id)}, voice.voice_id
    if system is not None or not voice_id:
        voice = ctx.catalog.voice_for_model(model, voice_id)
        pitch = voice.style.get("pitch", 1.0)
        renditions = {
            language: Rendition(ref.engine, ref.voice, pitch)
            for language, ref in voice.engine_voices.items()
        }
        return renditions, voice.voice_id
    try:
        with ctx.db.write() as session:
            cloned = voices.usable_voice(
                session, user_id=caller.user_id, voice_id=voice_id, model=model.id
            )
            base, profile = cloned.base_voice, dict(cloned.profile)
    except NotFoundError as missing:  # neither a system voice nor one of the caller's own
        raise InvalidInputError(
            f"Unknown voice: {voice_id[:80]}", code="INVALID_VOICE", param="voice"
        ) from missing
    engine, _, engine_voice = base.partition(":")
    return {"*": Rendition(engine, engine_voice, 1.0, profile)}, voice_id


def _engine_pitches(engine: TTSEngine, rendition: Rendition) -> bool:
    """Whether the engine shifts the pitch itself. Not for a cloned voice: its styling maps
    the speech's F0 onto the sample's, which would undo a shift made before it."""
    return engine.native_pitch and not rendition.profile


def _engine_request(
    engine: TTSEngine, rendition: Rendition, text: str, order: SpeechOrder
) -> SynthesisRequest:
    """What the engine is asked: speed and pitch only where it does them itself."""
    return SynthesisRequest(
        text=text,
        voice=rendition.voice,
        speed=order.speed if engine.native_speed else 1.0,
        pitch=order.pitch * rendition.pitch if _engine_pitches(engine, rendition) else 1.0,
        instruction=order.instruction,
        profile=rendition.profile or None,
    )


def render(ctx: SpeechContext, rendition: Rendition, text: str, order: SpeechOrder) -> Pcm:
    """Speak one segment: engine, then styling, then what the engine could not do itself."""
    engine = ctx.engines.tts(rendition.engine)
    with engine_time():
        pcm = engine.synthesize(_engine_request(engine, rendition, text, order))
    return _finish_segment(ctx, engine, pcm, rendition, order)


def render_stream(
    ctx: SpeechContext, rendition: Rendition, text: str, order: SpeechOrder
) -> Iterator[Pcm]:
    """``render`` chunk by chunk, as the engine makes them."""
    engine = ctx.engines.tts(rendition.engine)
    chunks = engine.stream(_engine_request(engine, rendition, text, order))
    for pcm in timed_iteration(iter(chunks)):
        yield _finish_segment(ctx, engine, pcm, rendition, order)


def speak(ctx: SpeechContext, speech: Plan, text: str) -> Pcm:
    """Speak a segment, switching engine voice where its language changes."""
    pcms = [render(ctx, rendition, run, speech.order) for rendition, run in speech.runs(text)]
    rate = pcms[0].sample_rate
    if len(pcms) == 1:
        return pcms[0]
    joined = [audio.resample(pcm, rate).samples for pcm in pcms]
    return Pcm(np.concatenate(joined), rate)


def _finish_segment(
    ctx: SpeechContext, engine: TTSEngine, pcm: Pcm, rendition: Rendition, order: SpeechOrder
) -> Pcm:
    if rendition.profile:
        with engine_time():
            pcm = ctx.engines.clone(CLONE_ENGINE).apply(pcm, rendition.profile)
    if not engine.native_speed and order.speed != 1.0:
        pcm = audio.change_speed(pcm, order.speed)
    pitch = order.pitch * rendition.pitch
    if not _engine_pitches(engine, rendition) and pitch != 1.0:
        pcm = audio.change_pitch(pcm, pitch)
    return pcm


def _deliver(pcm: Pcm, order: SpeechOrder) -> Pcm:
    if order.volume_db:
        pcm = audio.apply_volume(pcm, order.volume_db)
    if order.sample_rate and order.sample_rate != pcm.sample_rate:
        pcm = audio.resample(pcm, order.sample_rate)
    return pcm


def _segments(text: str, long: bool) -> list[str]:
    return audio.split_text(text, max_chars=SEGMENT_LIMIT) if long else [text]


def _render_to_file(ctx: SpeechContext, speech: Plan, long: bool) -> tuple[bytes, int, int, int]:
    """(encoded audio, sample rate, duration ms, segments) for the whole order.

    One segment is encoded as a whole file (MP3 then carries its exact-length tag). Several are
    rendered and encoded one at a time, with a short pause between them, so memory holds one
    segment's PCM and the encoded output, never the whole text's PCM: 10,000 characters are
    about 20 minutes of speech, 50 MB as 16-bit PCM and four times that as floats.
    """
    order = speech.order
    parts = _segments(order.text, long)
    first = _deliver(speak(ctx, speech, parts[0]), order)
    if len(parts) == 1:
        return audio.encode(first, order.format), first.sample_rate, first.duration_ms, 1
    rate = first.sample_rate
    pause = audio.silence(PAUSE_MS, rate)
    encoder = audio.open_stream_encoder(order.format, rate)
    chunks: list[bytes] = []
    samples = 0
    try:
        pcm: Pcm | None = first
        for index in range(len(parts)):
            if pcm is None:
                part = parts[index]
                pcm = _deliver(speak(ctx, speech, part), order)
                pcm = audio.resample(pcm, rate) if pcm.sample_rate != rate else pcm
                chunks.append(encoder.feed(pause))
                samples += len(pause.samples)
            chunks.append(encoder.feed(pcm))
            samples += len(pcm.samples)
            pcm = None
        chunks.append(encoder.finish())
    finally:
        encoder.close()
    return b"".join(chunks), rate, round(samples * 1000 / rate), len(parts)


def synthesize(
    ctx: SpeechContext, caller: Caller, order: SpeechOrder, *, long: bool = False
) -> SpeechResult:
    """Speak ``order`` in one piece (``long``: split at sentences, merged with short pauses)."""
    ctx = ctx.for_caller(caller.user_id)
    speech = plan(ctx, caller, order, long=long)
    charge = Charge.hold(ctx.db, caller, "tts", speech.cost_micros)
    summary = {"text": order.text[:500], "voice": speech.voice_id}
    try:
        encoded, sample_rate, duration_ms, segments = _render_to_file(ctx, speech, long)
        record_id, output_key = _keep_and_settle(ctx, speech, charge, encoded, duration_ms, summary)
    except BaseException as error:
        charge.fail(error, model=speech.model.id, voice=speech.voice_id, input_summary=summary)
        raise
    return SpeechResult(
        audio=encoded,
        format=order.format,
        content_type=audio.content_type(order.format),
        sample_rate=sample_rate,
        duration_ms=duration_ms,
        characters=speech.characters,
        segments=segments,
        cost_micros=speech.cost_micros,
        record_id=record_id,
        output_key=output_key,
        balance_micros=charge.balance_after_micros,
    )


def render_unbilled(ctx: SpeechContext, caller: Caller, order: SpeechOrder) -> bytes:
    """``order``'s audio without what ``synthesize`` guarantees around it: no hold, no stored
    file, no settlement or history row. Only the bench's relay calls it (``/bench/relay``, the
    floor of row B6: what the gateway adds here before the money and the storage)."""
    ctx = ctx.for_caller(caller.user_id)
    speech = plan(ctx, caller, order)
    encoded, _rate, _duration_ms, _segments = _render_to_file(ctx, speech, long=False)
    return encoded


def _keep_and_settle(
    ctx: SpeechContext,
    speech: Plan,
    charge: Charge,
    encoded: bytes,
    duration_ms: int,
    summary: dict[str, Any],
) -> tuple[int, str]:
    """Store the audio for replay and capture the cost with its history row, in one go: the
    row's id and the audio's key.

    The file is written before the transaction (not under SQLite's writer lock) and only
    recorded inside it; if the transaction fails, the file is removed again."""
    put = put_audio(ctx.store, kind="tts", data=encoded, fmt=speech.order.format)
    try:
        record_id = charge.settle(
            output=put,
            model=speech.model.id,
            voice=speech.voice_id,
            input_summary=summary,
            duration_ms=duration_ms,
            characters=speech.characters,
        )
    except BaseException:
        with contextlib.suppress(Exception):  # the settlement's error is the one to report
            ctx.store.delete(put.key)  # no row points at it
        raise
    return record_id, put.key


class SpeechStream:
    """Encoded audio handed out as the engine makes it; settles when it ends.

    The hold is taken when the stream is opened (so a short balance is refused before any byte
    is sent). Running to the end captures the cost and records the history (with the audio
    stored for replay); stopping early — a client that hangs up, an engine that fails — releases
    the hold: nothing is charged for audio that was not delivered whole.
    """

    def __init__(self, ctx: SpeechContext, caller: Caller, speech: Plan, charge: Charge) -> None:
        self._ctx, self._caller, self._speech, self._charge = ctx, caller, speech, charge
        self.format = speech.order.format
        self.content_type = audio.content_type(self.format)
        self.record_id: int | None = None
        self._started = False

    @property
    def characters(self) -> int:
        """Billable characters (known before any audio is made)."""
        return self._speech.characters

    @property
    def cost_micros(self) -> int:
        """What the stream costs when it runs to the end (held since it was opened)."""
        return self._speech.cost_micros

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            raise RuntimeError("a speech stream can be read once")
        self._started = True
        speech, order = self._speech, self._speech.order
        summary = {"text": order.text[:500], "voice": speech.voice_id, "stream": True}
        kept: list[bytes] = []
        duration_ms = 0
        encoder = None
        completed = False
        try:
            for pcm in self._pcm_chunks():
                pcm = _deliver(pcm, order)
                if encoder is None:
                    encoder = audio.open_stream_encoder(order.format, pcm.sample_rate)
                duration_ms += pcm.duration_ms
                for chunk in encoder.feed_as_ready(pcm):
                    kept.append(chunk)
                    yield chunk
            if encoder is None:  # no audio at all: an engine fault, not a silent success
                raise InvalidInputError("Nothing to synthesize in this text", param="text")
            tail = encoder.finish()
            if tail:
                kept.append(tail)
                yield tail
            completed = True
        except BaseException as error:
            if encoder is not None:
                encoder.close()
            self._charge.fail(
                error if not isinstance(error, GeneratorExit) else None,
                model=speech.model.id,
                voice=speech.voice_id,
                input_summary=summary,
            )
            if isinstance(error, GeneratorExit):
                return
            raise
        if completed:
            self._settle(b"".join(kept), duration_ms, summary)

    def _pcm_chunks(self) -> Iterator[Pcm]:
        speech, order = self._speech, self._speech.order
        rate = order.sample_rate
        for sentence in audio.split_sentences(order.text):
            for pcm in render_stream(self._ctx, speech.rendition_for(sentence), sentence, order):
                rate = rate or pcm.sample_rate
                yield audio.resample(pcm, rate) if pcm.sample_rate != rate else pcm

    def _settle(self, encoded: bytes, duration_ms: int, summary: dict[str, Any]) -> None:
        self.record_id, _ = _keep_and_settle(
            self._ctx, self._speech, self._charge, encoded, duration_ms, summary
        )

    def close(self) -> None:
        """Give up before reading (e.g. the response was never sent): release the hold."""
        if not self._started:
            self._charge.fail(None)


def open_stream(
    ctx: SpeechContext, caller: Caller, order: SpeechOrder, *, long: bool = False
) -> SpeechStream:
    """Validate, price and hold now; the audio comes when the stream is read."""
    ctx = ctx.for_caller(caller.user_id)
    speech = plan(ctx, caller, order, long=long)
    charge = Charge.hold(ctx.db, caller, "tts", speech.cost_micros)
    return SpeechStream(ctx, caller, speech, charge)
