"""The playground page's shared state and the pieces its three tabs (speech, recognition,
emotion) share: friendly errors, the balance, and audio that arrives by upload or from the
microphone (``console.components.recorder`` drops a recording on the upload zone).

Runs are the API's use cases called in-process (``api/speech``), so they are held, charged and
recorded in the history exactly like API calls (with no API key: "the console").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path

import reflex as rx
from reflex.event import EventSpec

from api.billing import ledger
from api.billing.money import format_yuan
from api.catalog.catalog import ModelSpec
from api.db import get_database
from api.errors import DomainError, InsufficientBalanceError, PayloadTooLargeError
from api.http.speech import read_upload
from api.principal import Principal
from console.i18n import language_of, pick
from console.state.speech_access import console_caller, speech_context

__all__ = ["console_caller", "speech_context"]  # the tabs' states take them from here

logger = logging.getLogger("amphion.console")

DEFAULT_UPLOAD_MB = 25


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


class AudioInputMixin(rx.State, mixin=True):
    """Audio that arrives by upload or from the microphone, for a tab to run on in the
    background: the upload is kept in a private temporary file until the run takes it. The
    recorder's clip arrives through the same upload handler."""

    busy: bool = False
    recording: bool = False
    file_name: str = ""
    _pending: str = ""

    async def _accept_upload(self, files: list[rx.UploadFile], limit: int) -> EventSpec | None:
        """Keep the first uploaded file (a toast when it cannot be); None when it was kept."""
        lang = await language_of(self)
        if self.busy:
            return rx.toast.info(_still_busy(lang))
        if not files:
            return rx.toast.error(pick(lang, "Choose an audio file.", "请选择音频文件。"))
        try:
            path = await keep_upload(files[0], limit)
        except DomainError as error:
            return rx.toast.error(friendly_error(error, lang))
        self._pending = str(path)
        self.file_name = display_name(files[0])
        self.busy = True
        return None

    async def _recording_started(self, result: str):
        """The recorder's answer: "recording", or why not ("denied", "unavailable")."""
        self.recording = result == "recording"
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
