"""The voice clone wizard: consent and a checked sample → name and model → live status → try it.

The sample is checked the moment it arrives (``api.speech.cloning.assess_upload``) and, when
usable, kept in the object store for its owner (``keep_sample``) until the voice is created;
only its key is held, in a backend var. The voice being made is likewise a backend var: the
status loop and the "try it" step read the voice the server created, never an id from the
browser, and fetch it with its owner every time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import reflex as rx
from reflex.event import EventSpec

from api.billing.money import format_yuan
from api.engines.clone import MAX_SAMPLE_BYTES, SampleAssessment, SampleProblem
from api.errors import DomainError
from api.speech import cloning
from api.speech.synthesis import SpeechOrder, synthesize
from api.voices import service as voices
from api.voices.models import DEPLOYING, OK
from console import routes
from console.i18n import language_of, pick
from console.state.session import signed_in_principal
from console.state.speech_access import audio_link, console_caller, speech_context

logger = logging.getLogger("amphion.console")

SAMPLE_UPLOAD_ID = "clone-sample"
POLL_SECONDS = 1.0
WATCH_LIMIT_SECONDS = 600.0  # enrolment normally takes seconds; stop watching after this
TRY_TEXT = {
    "en": "Hello! This is my new voice, made from a short sample. How does it sound?",
    "zh": "你好！这是用一小段录音复刻出的新声音，听起来怎么样？",
}


def playground_link(model: str, voice_id: str) -> str:
    """``/playground?model=…&voice=…``: the playground with this voice picked."""
    return f"{routes.PLAYGROUND}?{urlencode({'model': model, 'voice': voice_id})}"


# --- the instant check, in both languages ------------------------------------------------------


def _problem_zh(problem: SampleProblem) -> str:
    value = problem.value
    texts = {
        "too_large": f"文件大小为 {value:.1f} MB，样本不能超过 10 MB。",
        "low_sample_rate": f"采样率为 {value:.0f} Hz，请以 16 kHz 或更高的采样率录制。",
        "too_short": f"样本时长 {value:.1f} 秒，需要 10–60 秒（10–20 秒清晰朗读效果最佳）。",
        "too_long": f"样本时长 {value:.1f} 秒，最长 60 秒（10–20 秒清晰朗读效果最佳）。",
        "silent": f"样本没有声音或音量过低（最响处 {value:.0f} dBFS），请靠近麦克风录制。",
        "mostly_silence": (
            f"样本大部分是静音（仅 {value:.0%} 有声音），请剪掉停顿，让语音占满样本。"
        ),
        "noise": "样本听起来像噪声而不是语音，请录制单人朗读，不要有音乐或背景噪音。",
        "background_noise": (
            f"样本背景噪音或嗡嗡声较强（安静处仅比响亮处低 {value:.0f} dB），"
            "请在安静的房间录制，不要有音乐。"
        ),
        "no_continuous_speech": (
            f"样本中没有连续 5 秒的语音（最长 {value:.1f} 秒），请不停顿地读一两句话。"
        ),
        "unreadable": "无法识别这个文件的音频内容，请上传 WAV、MP3 或 M4A 文件。",
    }
    return texts.get(problem.code, problem.message)


@dataclass(frozen=True)
class _Check:
    key: str
    label_en: str
    label_zh: str
    requirement_en: str
    requirement_zh: str
    failing_codes: tuple[str, ...]


# The figures shown for every sample, each with seed 001's rule and the problems that fail it.
_CHECKS = (
    _Check("length", "Length", "时长", "10–60 s", "10–60 秒", ("too_short", "too_long")),
    _Check("rate", "Sample rate", "采样率", "≥ 16 kHz", "≥ 16 kHz", ("low_sample_rate",)),
    _Check(
        "loudness", "Loudness", "响度", "loud parts ≥ −45 dBFS", "响亮处 ≥ −45 dBFS", ("silent",)
    ),
    _Check(
        "speech",
        "Speech, not silence",
        "语音而非静音",
        "sound in ≥ 40 %",
        "有声部分 ≥ 40%",
        ("mostly_silence", "noise", "background_noise"),
    ),
    _Check(
        "continuous",
        "Continuous speech",
        "连续语音",
        "≥ 5 s without a pause",
        "≥ 5 秒不停顿",
        ("no_continuous_speech",),
    ),
)


def _figure(key: str, found: SampleAssessment) -> str:
    if key == "length":
        return f"{found.duration_seconds:.1f} s"
    if key == "rate":
        return f"{found.sample_rate / 1000:g} kHz" if found.sample_rate else "—"
    if key == "loudness":
        return "—" if found.loudness_dbfs is None else f"{found.loudness_dbfs:.0f} dBFS"
    if key == "speech":
        return "—" if found.speech_ratio is None else f"{found.speech_ratio:.0%}"
    longest = found.longest_speech_seconds
    return "—" if longest is None else f"{longest:.1f} s"


def check_rows(found: SampleAssessment) -> list[dict[str, str]]:
    """One display row per rule: label, requirement, measured figure, and "ok", "fail" or
    "skip" (not measured)."""
    codes = {problem.code for problem in found.problems}
    unreadable = bool(codes & {"unreadable", "too_large"})
    rows = []
    for check in _CHECKS:
        figure = "—" if unreadable else _figure(check.key, found)
        failed = bool(codes & set(check.failing_codes))
        # Not measured: the file could not be read, or an earlier problem (silence) stops the
        # analysis before this figure.
        verdict = "fail" if failed else "skip" if figure == "—" else "ok"
        rows.append(
            {
                "key": check.key,
                "label_en": check.label_en,
                "label_zh": check.label_zh,
                "requirement_en": check.requirement_en,
                "requirement_zh": check.requirement_zh,
                "figure": figure,
                "verdict": verdict,
            }
        )
    return rows


def problem_rows(found: SampleAssessment) -> list[dict[str, str]]:
    return [{"en": problem.message, "zh": _problem_zh(problem)} for problem in found.problems]


def clone_model_options() -> list[dict[str, str]]:
    """The models a voice can be cloned for, as the pickers show them."""
    return [
        {"id": model.id, "name": model.name}
        for model in cloning.clone_target_models(speech_context().catalog)
    ]


async def read_sample(upload: rx.UploadFile) -> bytes:
    """An uploaded (or recorded) sample, read up to one byte past the limit: enough to know
    that a file is too big without reading all of it."""
    return await upload.read(MAX_SAMPLE_BYTES + 1)


async def sample_refused(state: rx.State) -> EventSpec:
    """The toast for a file the browser turned down before sending it (not audio, or over
    10 MB): nothing reached the server, so nothing of the account is touched."""
    return rx.toast.error(
        pick(
            await language_of(state),
            "Choose one audio file (WAV, MP3 or M4A) of at most 10 MB.",
            "请选择一个不超过 10 MB 的音频文件（WAV、MP3 或 M4A）。",
        )
    )


class CloneState(rx.State):
    """Wizard steps 1–4 for the signed-in user; only display strings reach the browser."""

    loaded: bool = False
    step: int = 1
    consent: bool = False

    # Step 1: the sample and its instant check.
    checking: bool = False
    recording: bool = False
    sample_name: str = ""
    sample_checked: bool = False
    sample_usable: bool = False
    checks: list[dict[str, str]] = []
    problems: list[dict[str, str]] = []

    # Step 2: name and model.
    models: list[dict[str, str]] = []
    prefix: str = ""
    target_model: str = ""
    form_error: str = ""
    submitting: bool = False

    # Step 3: the voice being made.
    voice_id: str = ""
    voice_model: str = ""
    status: str = ""
    reason: str = ""
    watching: bool = False

    # Step 4: try it.
    try_text: str = ""
    trying: bool = False
    try_audio: str = ""
    try_cost: str = ""
    try_error: str = ""

    _sample_key: str = ""
    _voice_id: str = ""

    @rx.var
    def playground_href(self) -> str:
        return playground_link(self.voice_model, self.voice_id) if self.voice_id else ""

    @rx.var
    def can_continue(self) -> bool:
        return self.consent and self.sample_usable

    @rx.event
    async def load(self):
        """On load: a fresh wizard for the signed-in user, or the sign-in page."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            return rx.redirect(routes.SIGNIN, replace=True)
        await self._drop_kept_sample(principal.user_id)
        self.reset()
        self.models = await asyncio.to_thread(clone_model_options)
        self.target_model = self.models[0]["id"] if self.models else ""
        self.try_text = TRY_TEXT["zh" if await language_of(self) == "zh" else "en"]
        self.loaded = True
        return None

    # --- step 1 -----------------------------------------------------------------------------

    @rx.event
    async def set_consent(self, value: bool):
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.consent = bool(value)
        return None

    @rx.event
    async def recording_started(self, outcome: str):
        """The recorder's answer: ``"recording"``, or the microphone is unavailable."""
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.recording = outcome == "recording"
        if self.recording:
            return None
        return rx.toast.error(
            pick(
                await language_of(self),
                "The microphone is not available. Allow access to it, or upload a file instead.",
                "麦克风不可用。请允许浏览器使用麦克风，或改为上传文件。",
            )
        )

    @rx.event
    async def sample_rejected(self, _rejected: list):
        """The browser turned the file down before sending it (not audio, or over 10 MB)."""
        return await sample_refused(self)

    @rx.event
    def recording_stopped(self):
        """Stop pressed: the clip is on its way through the upload."""
        self.recording = False
        self.checking = True

    @rx.event
    async def handle_sample(self, files: list[rx.UploadFile]):
        """A sample arrived (an uploaded file or a recording): check it at once."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        lang = await language_of(self)
        if not files:
            return
        upload = files[0]
        data = await read_sample(upload)
        self.checking = True
        self.recording = False
        yield
        try:
            found = await asyncio.to_thread(cloning.assess_upload, data)
            key = ""
            if found.usable:
                key = await asyncio.to_thread(
                    cloning.keep_sample, speech_context(), principal.user_id, data
                )
        except DomainError as refused:
            self.checking = False
            yield rx.toast.error(refused.message)
            return
        except Exception:
            logger.exception("checking a voice sample failed")
            self.checking = False
            yield rx.toast.error(
                pick(lang, "The sample could not be checked; try again.", "无法检查样本，请重试。")
            )
            return
        await self._drop_kept_sample(principal.user_id)
        self._sample_key = key
        self.sample_name = (upload.name or pick(lang, "Recording", "录音"))[:80]
        self.sample_checked = True
        self.sample_usable = found.usable
        self.checks = check_rows(found)
        self.problems = problem_rows(found)
        self.checking = False

    async def _drop_kept_sample(self, user_id: int) -> None:
        if self._sample_key:
            key, self._sample_key = self._sample_key, ""
            try:
                await asyncio.to_thread(cloning.forget_sample, speech_context(), user_id, key)
            except Exception:  # a leftover upload is harmless; the new sample matters more
                logger.exception("could not drop a kept voice sample")

    @rx.event
    async def to_details(self):
        """Step 1 → 2, only with consent and a usable sample."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        if self.consent and self.sample_usable and self._sample_key:
            self.step = 2
        return None

    @rx.event
    async def back_to_sample(self):
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        if self.step == 2:
            self.step = 1
        return None

    # --- step 2 -----------------------------------------------------------------------------

    @rx.event
    async def create_voice(self, form: dict):
        """Create the voice from the kept sample, then watch it deploy."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        lang = await language_of(self)
        prefix = str(form.get("prefix", "")).strip()
        model = str(form.get("target_model", "")).strip()
        self.prefix, self.target_model = prefix[:10], model[:64]
        if not voices.PREFIX_PATTERN.match(prefix):
            self.form_error = pick(
                lang,
                "Use 1–10 letters, digits or underscores.",
                "请使用 1–10 个字母、数字或下划线。",
            )
            return
        if not (self.consent and self._sample_key):
            self.step = 1
            return
        self.form_error = ""
        self.submitting = True
        yield
        try:
            submitted = await asyncio.to_thread(
                cloning.create_voice_from_kept_sample,
                speech_context(),
                console_caller(principal),
                self._sample_key,
                prefix=prefix,
                target_model=model,
            )
        except DomainError as refused:
            self.submitting = False
            self.form_error = refused.message
            return
        except Exception:
            logger.exception("creating a cloned voice failed")
            self.submitting = False
            self.form_error = pick(
                lang, "The voice could not be created; try again.", "无法创建音色，请重试。"
            )
            return
        voice = submitted.voice
        self._sample_key = ""  # used up by the new voice
        self._voice_id = voice.voice_id
        self.voice_id, self.voice_model = voice.voice_id, voice.target_model
        self.status, self.reason = voice.status, ""
        self.submitting = False
        self.step = 3
        yield CloneState.watch_status

    # --- step 3 -----------------------------------------------------------------------------

    @rx.event(background=True)
    async def watch_status(self):
        """Poll the voice this wizard created until it leaves DEPLOYING (no page reload)."""
        async with self:
            if self.watching or not self._voice_id:
                return
            principal = await signed_in_principal(self)
            if principal is None:
                return
            self.watching = True
            voice_id, user_id = self._voice_id, principal.user_id
        ctx = speech_context()

        def read_status() -> tuple[str, str]:
            with ctx.db.read() as session:
                voice = voices.get_owned_voice(session, user_id=user_id, voice_id=voice_id)
                return voice.status, voice.reason or ""

        waited = 0.0
        status, reason = DEPLOYING, ""
        while waited < WATCH_LIMIT_SECONDS:
            try:
                status, reason = await asyncio.to_thread(read_status)
            except DomainError:  # deleted meanwhile (e.g. from another tab)
                status, reason = "", ""
            async with self:
                if self._voice_id != voice_id:  # the wizard moved on to another voice
                    self.watching = False
                    return
                self.status, self.reason = status, reason
                if status != DEPLOYING:
                    self.watching = False
                    if status == OK:
                        self.step = 4
                    return
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
        async with self:
            self.watching = False

    # --- step 4 -----------------------------------------------------------------------------

    @rx.event
    async def set_try_text(self, text: str):
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.try_text = str(text)[:500]
        return None

    @rx.event
    async def try_voice(self):
        """Speak the sentence in the new voice (billed like any synthesis) and play it."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        lang = await language_of(self)
        if not self._voice_id or self.status != OK or not self.try_text.strip():
            return
        self.trying, self.try_error = True, ""
        yield
        ctx = speech_context()
        voice_id, text, caller = self._voice_id, self.try_text[:500], console_caller(principal)

        def speak_in_new_voice():
            with ctx.db.read() as session:
                voice = voices.get_owned_voice(
                    session, user_id=principal.user_id, voice_id=voice_id
                )
                model = voice.target_model
            return synthesize(ctx, caller, SpeechOrder(model=model, text=text, voice=voice_id))

        try:
            result = await asyncio.to_thread(speak_in_new_voice)
        except DomainError as refused:
            self.trying, self.try_error = False, refused.message
            return
        except Exception:
            logger.exception("trying a cloned voice failed")
            self.trying = False
            self.try_error = pick(
                lang, "The voice could not speak; try again.", "音色暂时无法合成，请重试。"
            )
            return
        self.try_audio = audio_link(ctx, result.output_key)
        self.try_cost = format_yuan(result.cost_micros)
        self.trying = False

    @rx.event
    async def start_over(self):
        """Another voice: back to step 1 (the consent is asked again)."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        await self._drop_kept_sample(principal.user_id)
        models, try_text = self.models, self.try_text
        self.reset()
        self.models, self.try_text, self.loaded = models, try_text, True
        self.target_model = models[0]["id"] if models else ""
        return None
