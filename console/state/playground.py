"""The playground page's shared state and the pieces its three tabs (speech, recognition,
emotion) share: friendly errors, the balance, and, for the two tabs that take audio in, the
model picker and audio that arrives by upload or from the microphone
(``console.components.recorder`` drops a recording on the upload zone), run in the background.

Runs are the API's use cases called in-process (``api/speech``), so they are held, charged and
recorded in the history exactly like API calls (with no API key: "the console").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar, TypeVar

import reflex as rx
from reflex.event import EventHandler, EventSpec

from api.billing import ledger
from api.billing.money import format_yuan
from api.catalog.catalog import ModelSpec
from api.db import get_database
from api.errors import (
    AuthenticationError,
    DomainError,
    InsufficientBalanceError,
    PayloadTooLargeError,
)
from api.http.speech import read_upload
from api.principal import Principal
from api.speech.common import Caller
from api.speech.context import SpeechContext
from api.speech.recognition import DEFAULT_MAX_FILE_MB
from console import routes
from console.i18n import language_of, pick
from console.state.session import current_principal, signed_in_principal
from console.state.speech_access import console_caller, speech_context

__all__ = ["console_caller", "speech_context"]  # the tabs' states take them from here

logger = logging.getLogger("amphion.console")

Order = TypeVar("Order")
Result = TypeVar("Result")


def low_balance(lang: str) -> str:
    return pick(
        lang,
        "Your balance is too low for this request. Top up in Billing and try again.",
        "余额不足，无法完成本次请求。请前往费用中心充值后重试。",
    )


def friendly_error(error: BaseException, lang: str) -> str:
    """What a toast says about a failed run: the domain's own words, never internals."""
    if isinstance(error, InsufficientBalanceError):
        return low_balance(lang)
    if isinstance(error, PayloadTooLargeError):
        return pick(lang, f"The file is too large: {error.message}", f"文件过大：{error.message}")
    if isinstance(error, DomainError):
        return error.message
    logger.exception("playground run failed", exc_info=error)
    return pick(
        lang,
        "Something went wrong on our side and nothing was charged. Please try again.",
        "服务暂时出现问题，本次未扣费，请稍后重试。",
    )


_UNITS_ZH = {"call": "次", "1k characters": "千字符", "10k characters": "万字符", "second": "秒"}
# The seven labels of seeds 000/001, as the console shows them in Chinese.
EMOTIONS_ZH = {
    "happy": "高兴",
    "neutral": "平静",
    "sad": "悲伤",
    "angry": "愤怒",
    "fearful": "恐惧",
    "surprised": "惊讶",
    "disgusted": "厌恶",
}


def model_entry(model: ModelSpec) -> dict[str, str]:
    """A model as a picker shows it: id, name, and its price in English and Chinese."""
    price = model.price.describe()  # "¥0.005 / call"
    amount, _, unit = price.partition(" / ")
    return {
        "id": model.id,
        "name": model.name,
        "price": price,
        "price_zh": f"{amount} / {_UNITS_ZH.get(unit, unit)}",
    }


def read_balance(user_id: int) -> str:
    with get_database().read() as session:
        return format_yuan(ledger.balance_of(session, user_id))


def seconds(duration_ms: int) -> str:
    """``"3.42 s"``."""
    return f"{duration_ms / 1000:.2f} s"


async def keep_upload(upload: rx.UploadFile, limit: int) -> Path:
    """The uploaded file in a private temporary file (for a background run to read and delete);
    refused as soon as it passes ``limit`` bytes."""
    data = await read_upload(upload, limit)

    def write() -> Path:
        handle, name = tempfile.mkstemp(prefix="amphion-playground-", suffix=".audio")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return Path(name)

    return await asyncio.to_thread(write)


def take_upload(path: str) -> bytes:
    """Read a kept upload and delete it (blocking: call from a worker thread)."""
    try:
        return Path(path).read_bytes()
    finally:
        with contextlib.suppress(OSError):
            Path(path).unlink()


def display_name(upload: rx.UploadFile) -> str:
    """A file name fit to show (the recorder's blob is "recording.webm")."""
    name = (upload.name or "audio").replace("\\", "/").rsplit("/", 1)[-1]
    return name[:80]


class PlaygroundState(rx.State):
    """The page frame: whether this visit's sign-in check has answered, and the balance."""

    loaded: bool = False
    balance: str = ""

    async def _refresh_balance(self, principal: Principal) -> None:
        self.balance = await asyncio.to_thread(read_balance, principal.user_id)


def _still_busy(lang: str) -> str:
    return pick(lang, "Still working on the last file…", "上一个文件仍在处理中…")


def audio_upload_limit(kind: str, model_id: str) -> int:
    """The largest file ``model_id`` (of catalog ``kind``) takes, as the API allows it."""
    model = speech_context().catalog.model(model_id, kind=kind)
    return model.limits.max_file_bytes or DEFAULT_MAX_FILE_MB * 1024 * 1024


class AudioInputMixin(rx.State, mixin=True):
    """A tab that runs one of its catalog kind's models on audio that arrives by upload or from
    the microphone (recognition, emotion). The upload is kept in a private temporary file until
    the tab's background run takes it; the recorder's clip arrives through the same upload
    handler. The tab names its ``catalog_kind`` and lists its models in ``_list_models``."""

    catalog_kind: ClassVar[str]

    models: list[dict[str, str]] = []
    model: str = ""
    busy: bool = False
    recording: bool = False
    file_name: str = ""
    has_result: bool = False
    duration: str = ""
    cost: str = ""
    _pending: str = ""

    @staticmethod
    def _list_models() -> list[dict[str, str]]:
        """The models the tab's picker offers (blocking: read in a worker thread)."""
        raise NotImplementedError

    @rx.event
    async def load(self):
        """The model list (the page's on-load check has run already)."""
        if await signed_in_principal(self) is not None and not self.models:
            self.models = await asyncio.to_thread(self._list_models)

    @rx.event
    async def set_model(self, model_id: str):
        if await signed_in_principal(self) is None:
            return
        if model_id in {m["id"] for m in self.models}:
            self.model = model_id

    @rx.event
    async def recording_started(self, result: str):
        """The recorder's answer: "recording", or why not ("denied", "unavailable")."""
        if await signed_in_principal(self) is None:
            return None
        self.recording = str(result) == "recording"
        if self.recording:
            return None
        lang = await language_of(self)
        return rx.toast.error(
            pick(
                lang,
                "The microphone is not available. Allow access to it in the browser, "
                "or upload a file instead.",
                "无法使用麦克风。请在浏览器中允许麦克风权限，或改为上传文件。",
            )
        )

    @rx.event
    async def recording_stopped(self):
        """The clip is on its way through the upload zone."""
        if await signed_in_principal(self) is not None:
            self.recording = False

    async def _keep_upload_for(self, files: list[rx.UploadFile], run: EventHandler):
        """An upload handler's work: keep the first file and answer ``run`` (the tab's
        background run), a toast when the file cannot be kept, or the sign-in page."""
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        lang = await language_of(self)
        if self.busy:
            return rx.toast.info(_still_busy(lang))
        if not files:
            return rx.toast.error(pick(lang, "Choose an audio file.", "请选择音频文件。"))
        try:
            path = await keep_upload(files[0], audio_upload_limit(self.catalog_kind, self.model))
        except DomainError as error:
            return rx.toast.error(friendly_error(error, lang))
        self._pending = str(path)
        self.file_name = display_name(files[0])
        self.busy = True
        return run

    async def _run_on_kept_file(
        self,
        read_order: Callable[[], Order],
        run: Callable[[SpeechContext, Caller, bytes, Order], Result],
        show: Callable[[Result], None],
        done: tuple[str, str],
    ) -> AsyncIterator[EventSpec]:
        """A background run's work: ``run`` on the kept file for the signed-in caller in a
        worker thread (held, charged and recorded like an API call), ``show`` its result, then
        a toast with the cost, whose words start with ``done`` (English, Chinese)."""
        principal = await current_principal(self)
        async with self:
            path, self._pending = self._pending, ""
            order = read_order()
            lang = await language_of(self)
        if not path:
            return
        data = await asyncio.to_thread(take_upload, path)
        try:
            if principal is None:
                raise AuthenticationError("Sign in again to continue")
            result = await asyncio.to_thread(
                run, speech_context(), console_caller(principal), data, order
            )
        except Exception as error:
            async with self:
                self.busy = False
            yield rx.toast.error(friendly_error(error, lang))
            return
        async with self:
            self.busy = False
            self.has_result = True
            show(result)
            page = await self.get_state(PlaygroundState)
            await page._refresh_balance(principal)
        english, chinese = done
        yield rx.toast.success(
            pick(lang, f"{english} · ¥{self.cost}", f"{chinese} · ¥{self.cost}"), duration=2500
        )
