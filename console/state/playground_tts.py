"""The playground's text-to-speech tab: options, a live estimate, and speech that plays as it
is made.

"Generate" checks and prices the order in-process (``api.speech.tickets.park_order``) and
points the page's ``<audio>`` at ``/api/playground/speech/<ticket>``: the browser plays the
stream as it arrives, and the same session cookie that runs this page authenticates it. A
background event then waits for the stream's outcome and shows the cost, the duration and a
download link of the stored file (which also replaces the stream for replaying and seeking).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import reflex as rx

from api.billing.money import format_yuan
from api.db import get_database
from api.errors import InsufficientBalanceError
from api.history.service import get_owned_record
from api.settings import get_settings
from api.speech.choices import estimate, per_call_limit, voice_choices
from api.speech.synthesis import SAMPLE_RATES, SpeechOrder
from api.speech.tickets import (
    CANCELLED,
    FAILED,
    STREAMING,
    SUCCEEDED,
    Outcome,
    is_pending,
    outcome_of,
    park_order,
    ticket_store_for,
)
from api.storage.service import get_owned_object, object_url
from console import routes
from console.i18n import language_of, pick
from console.state.playground import (
    PlaygroundState,
    console_caller,
    friendly_error,
    low_balance,
    model_entry,
    seconds,
    speech_context,
)
from console.state.session import current_principal, signed_in_principal

# Formats a browser's <audio> plays; raw PCM (no header) is offered by the API only.
FORMATS = ("mp3", "wav", "opus", "aac", "flac")
DEFAULT_RATE = "default"
DEFAULT_MODEL = "cosyvoice-v3-flash"
STREAM_PATH = "/api/playground/speech/"
POLL_SECONDS = 0.4
WATCH_LIMIT_SECONDS = 30 * 60  # 200,000 characters stream for a long while
MAX_TEXT = 200_000


def _ticket_store():
    return ticket_store_for(get_settings().redis_url)


def tts_models() -> list[dict[str, str]]:
    """Every text-to-speech model of the catalog, with its price."""
    return [model_entry(model) for model in speech_context().catalog.models("tts")]


@dataclass(frozen=True)
class SpeechSummary:
    """What the tab shows about a finished run (display strings)."""

    cost: str
    duration: str
    characters: str
    replay_url: str
    download_url: str


def read_summary(user_id: int, record_id: int) -> SpeechSummary:
    """The run's history record and signed links to its stored audio, read with its owner."""
    ctx = speech_context()
    with get_database().read() as session:
        record = get_owned_record(session, user_id=user_id, record_id=record_id)
        stored = get_owned_object(session, user_id=user_id, key=record.output_key or "")
    ext = stored.key.rsplit(".", 1)[-1]
    return SpeechSummary(
        cost=format_yuan(record.cost_micros),
        duration=seconds(record.duration_ms or 0),
        characters=str(record.characters or 0),
        # Relative links: the page and the files share one origin (S3 answers absolute ones).
        replay_url=object_url(ctx.store, stored.key, base_url=""),
        download_url=object_url(
            ctx.store, stored.key, base_url="", filename=f"speech-{record.id}.{ext}"
        ),
    )


def _choices(user_id: int, model_id: str) -> list[dict[str, str]]:
    with get_database().read() as session:
        choices = voice_choices(
            session, speech_context().catalog, user_id=user_id, model_id=model_id
        )
    return [
        {
            "voice_id": choice.voice_id,
            "name": choice.name,
            "detail": choice.detail,
            "own": "1" if choice.own else "",
            "instruct": "1" if choice.instruct else "",
        }
        for choice in choices
    ]


class PlaygroundTtsState(rx.State):
    """Options, estimate and the latest run of the speech tab."""

    models: list[dict[str, str]] = []
    model: str = ""
    # The picker's voices live on the server only; the browser gets them once, split in two.
    _voices: list[dict[str, str]] = []
    voice: str = ""
    text: str = ""
    characters: int = 0
    estimate: str = "0.0000"
    limit: int = 2000
    format: str = "mp3"
    sample_rate: str = DEFAULT_RATE
    speed: float = 1.0
    pitch: float = 1.0
    volume: float = 0.0
    instruction: str = ""

    generating: bool = False
    audio_src: str = ""
    autoplay: bool = True
    done: bool = False
    cost: str = ""
    duration: str = ""
    billed_characters: str = ""
    download_url: str = ""
    _replay_url: str = ""
    _ticket: str = ""

    @rx.var
    def formats(self) -> list[str]:
        return list(FORMATS)

    @rx.var
    def sample_rates(self) -> list[str]:
        return [DEFAULT_RATE, *map(str, SAMPLE_RATES)]

    @rx.var
    def instruct_supported(self) -> bool:
        return any(v["voice_id"] == self.voice and v["instruct"] for v in self._voices)

    @rx.var
    def long_text(self) -> bool:
        return self.characters > self.limit

    @rx.var
    def own_voices(self) -> list[dict[str, str]]:
        return [v for v in self._voices if v["own"]]

    @rx.var
    def system_voices(self) -> list[dict[str, str]]:
        return [v for v in self._voices if not v["own"]]

    @rx.event
    async def load(self):
        """On load: the signed-in check, the balance, the pickers (``?model=&voice=`` preset)."""
        page = await self.get_state(PlaygroundState)
        principal = await signed_in_principal(self)
        if principal is None:
            page.loaded = False
            return rx.redirect(routes.SIGNIN, replace=True)
        await page._refresh_balance(principal)
        if not self.models:
            self.models = await asyncio.to_thread(tts_models)
        query = self.router.url.query_parameters
        wanted_model = query.get("model") or self.model or DEFAULT_MODEL
        if wanted_model not in {m["id"] for m in self.models}:
            wanted_model = DEFAULT_MODEL
        await self._use_model(principal.user_id, wanted_model, query.get("voice") or self.voice)
        if self.audio_src.startswith(STREAM_PATH):  # a stream link works once: not again
            self.audio_src, self.autoplay = self._replay_url, False
        page.loaded = True
        return None

    async def _use_model(self, user_id: int, model_id: str, voice_id: str = "") -> None:
        self.model = model_id
        self._voices = await asyncio.to_thread(_choices, user_id, model_id)
        ids = [v["voice_id"] for v in self._voices]
        self.voice = voice_id if voice_id in ids else (ids[0] if ids else "")
        self.limit = per_call_limit(speech_context().catalog, model_id)
        self._reprice()

    def _reprice(self) -> None:
        self.characters, cost = estimate(speech_context().catalog, self.model, self.text)
        self.estimate = format_yuan(cost)

    @rx.event
    async def set_model(self, model_id: str):
        principal = await signed_in_principal(self)
        if principal is None or model_id not in {m["id"] for m in self.models}:
            return
        await self._use_model(principal.user_id, model_id, self.voice)

    @rx.event
    async def set_voice(self, voice_id: str):
        if await signed_in_principal(self) is None:
            return
        # Only a voice the picker offers (its list was read with the owner).
        if voice_id in {v["voice_id"] for v in self._voices}:
            self.voice = voice_id

    @rx.event
    async def set_text(self, text: str):
        if await signed_in_principal(self) is None:
            return
        self.text = str(text)[:MAX_TEXT]
        self._reprice()

    @rx.event
    async def set_format(self, value: str):
        if await signed_in_principal(self) is not None and value in FORMATS:
            self.format = value

    @rx.event
    async def set_sample_rate(self, value: str):
        if await signed_in_principal(self) is not None and value in self.sample_rates:
            self.sample_rate = value

    @rx.event
    async def set_speed(self, value: list[float]):
        if await signed_in_principal(self) is not None:
            self.speed = _bounded(value, 0.5, 2.0, 1.0)

    @rx.event
    async def set_pitch(self, value: list[float]):
        if await signed_in_principal(self) is not None:
            self.pitch = _bounded(value, 0.5, 2.0, 1.0)

    @rx.event
    async def set_volume(self, value: list[float]):
        if await signed_in_principal(self) is not None:
            self.volume = _bounded(value, -20.0, 10.0, 0.0)

    @rx.event
    async def set_instruction(self, text: str):
        if await signed_in_principal(self) is not None:
            self.instruction = str(text)[:500]

    @rx.event
    async def generate(self):
        """Check, price and park the order, then let the player stream it."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        lang = await language_of(self)
        if not self.text.strip():
            return rx.toast.error(pick(lang, "Type some text first.", "请先输入要合成的文本。"))
        order = SpeechOrder(
            model=self.model,
            text=self.text,
            voice=self.voice or None,
            format=self.format,
            sample_rate=None if self.sample_rate == DEFAULT_RATE else int(self.sample_rate),
            speed=self.speed,
            pitch=self.pitch,
            volume_db=self.volume,
            instruction=self.instruction.strip() or None if self.instruct_supported else None,
        )
        try:
            ticket, _, _ = await asyncio.to_thread(
                park_order, speech_context(), _ticket_store(), console_caller(principal), order
            )
        except Exception as error:
            return rx.toast.error(friendly_error(error, lang))
        self._ticket = ticket.id
        self.generating = True
        self.done = False
        self.autoplay = True
        self.download_url = ""
        self._replay_url = ""
        self.audio_src = STREAM_PATH + ticket.id
        return PlaygroundTtsState.watch

    @rx.event(background=True)
    async def watch(self):
        """Wait for the player's stream to end; then show what it cost, or why it failed."""
        async with self:
            ticket = self._ticket
        principal = await current_principal(self)
        if principal is None or not ticket:
            return
        outcome = await _wait_for_outcome(ticket, principal.user_id)
        summary = None
        if outcome.status == SUCCEEDED and outcome.record_id is not None:
            summary = await asyncio.to_thread(read_summary, principal.user_id, outcome.record_id)
        async with self:
            if self._ticket != ticket:  # a newer run took over
                return
            lang = await language_of(self)
            self.generating = False
            if summary is None:
                self.audio_src = ""
                yield rx.toast.error(_outcome_message(outcome, lang))
                return
            self.done = True
            self.cost = summary.cost
            self.duration = summary.duration
            self.billed_characters = summary.characters
            self.download_url = summary.download_url
            self._replay_url = summary.replay_url
            if not self.audio_src:  # the page was reloaded while the stream ran
                self.audio_src, self.autoplay = summary.replay_url, False
            page = await self.get_state(PlaygroundState)
            await page._refresh_balance(principal)

    @rx.event
    async def playback_ended(self):
        """The stream played to its end: the stored file takes over, for replaying and seeking."""
        if await signed_in_principal(self) is None:
            return
        if self._replay_url and self.audio_src.startswith(STREAM_PATH):
            self.autoplay = False
            self.audio_src = self._replay_url


async def _wait_for_outcome(ticket: str, user_id: int) -> Outcome:
    store = _ticket_store()
    deadline = time.monotonic() + WATCH_LIMIT_SECONDS
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        outcome = await asyncio.to_thread(outcome_of, store, ticket, user_id=user_id)
        if outcome is not None and outcome.status != STREAMING:
            return outcome
        if outcome is None and not await asyncio.to_thread(is_pending, store, ticket):
            break  # never played, and now expired
    return Outcome(FAILED, message="")


def _outcome_message(outcome: Outcome, lang: str) -> str:
    """Why a run shows no result (its message is the domain's own, safe to show)."""
    if outcome.code == InsufficientBalanceError.code:
        return low_balance(lang)
    if outcome.status == CANCELLED:
        return pick(
            lang,
            "Playback stopped before the speech was complete; nothing was charged.",
            "语音尚未生成完毕播放就已停止，本次未扣费。",
        )
    if outcome.message:
        return outcome.message
    return pick(
        lang,
        "The player did not start; nothing was charged. Generate again.",
        "播放器未能开始播放，本次未扣费，请重新生成。",
    )


def _bounded(value: list[float] | float, low: float, high: float, default: float) -> float:
    """A slider's value (Radix sends a list), kept within bounds whatever the browser sent."""
    try:
        number = float(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError, IndexError):
        return default
    return round(min(max(number, low), high), 2)
