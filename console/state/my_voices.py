"""My voices: the signed-in user's cloned voices, a page at a time, and what they can do to one.

Every action takes a voice id from the browser and hands it to ``api.speech.cloning`` with the
signed-in user as the owner: someone else's id is "not found" there and nothing changes. The
list is re-read after each action; while a voice is DEPLOYING a background loop refreshes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import reflex as rx

from api.errors import DomainError, NotFoundError
from api.principal import Principal
from api.speech import cloning
from api.voices import service as voices
from api.voices.models import DEPLOYING, ClonedVoice
from console import routes
from console.i18n import language_of, pick
from console.state.clone import (
    check_rows,
    clone_model_options,
    playground_link,
    problem_rows,
    read_sample,
    sample_refused,
)
from console.state.session import signed_in_principal
from console.state.speech_access import console_caller, speech_context

logger = logging.getLogger("amphion.console")

PAGE_SIZE = 20
REPLACE_UPLOAD_ID = "replace-sample"
POLL_SECONDS = 1.5
WATCH_LIMIT_SECONDS = 600.0


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else ""


def voice_row(voice: ClonedVoice) -> dict[str, str]:
    """What the list shows of one voice (display strings only)."""
    return {
        "voice_id": voice.voice_id,
        "prefix": voice.prefix,
        "model": voice.target_model,
        "status": voice.status,
        "reason": voice.reason or "",
        "created": _when(voice.created_at),
        "last_used": _when(voice.last_used_at),
        "playground": playground_link(voice.target_model, voice.voice_id),
    }


def read_voices(user_id: int, model: str, page: int) -> tuple[list[dict[str, str]], int, int]:
    """(rows of the page, voices matching the filter, voices in the account)."""
    with speech_context().db.read() as session:
        rows, total = voices.list_voices(
            session,
            user_id=user_id,
            model=model or None,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        used = voices.count_voices(session, user_id)
    return [voice_row(row) for row in rows], total, used


class MyVoicesState(rx.State):
    """The list, its filter and page, and the rename / replace dialogs."""

    loaded: bool = False
    rows: list[dict[str, str]] = []
    total: int = 0
    used: int = 0
    quota: int = voices.VOICE_QUOTA
    page: int = 1
    model_filter: str = "all"
    model_options: list[dict[str, str]] = []
    watching: bool = False

    rename_open: bool = False
    rename_voice: str = ""
    rename_value: str = ""
    rename_error: str = ""

    replace_open: bool = False
    replace_voice: str = ""
    replace_checking: bool = False
    replace_checks: list[dict[str, str]] = []
    replace_problems: list[dict[str, str]] = []

    @rx.var
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    async def _refresh(self, principal: Principal) -> None:
        model = "" if self.model_filter == "all" else self.model_filter
        self.rows, self.total, self.used = await asyncio.to_thread(
            read_voices, principal.user_id, model, self.page
        )
        if self.page > self.pages:
            self.page = self.pages
            self.rows, self.total, self.used = await asyncio.to_thread(
                read_voices, principal.user_id, model, self.page
            )

    def _any_deploying(self) -> bool:
        return any(row["status"] == DEPLOYING for row in self.rows)

    @rx.event
    async def load(self):
        """On load: the first page of the user's voices, or the sign-in page."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            return rx.redirect(routes.SIGNIN, replace=True)
        self.model_options = await asyncio.to_thread(clone_model_options)
        self.page, self.model_filter = 1, "all"
        self.rename_open = self.replace_open = False
        await self._refresh(principal)
        self.loaded = True
        return MyVoicesState.watch_deploying if self._any_deploying() else None

    @rx.event
    async def set_model_filter(self, model: str):
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        known = {option["id"] for option in self.model_options}
        self.model_filter = model if model in known else "all"
        self.page = 1
        await self._refresh(principal)
        return None

    @rx.event
    async def previous_page(self):
        await self._turn(-1)

    @rx.event
    async def next_page(self):
        await self._turn(1)

    async def _turn(self, step: int) -> None:
        principal = await signed_in_principal(self)
        if principal is None:
            return
        self.page = min(max(1, self.page + step), self.pages)
        await self._refresh(principal)

    @rx.event(background=True)
    async def watch_deploying(self):
        """Refresh the list while a voice on it is DEPLOYING (after a new sample, say)."""
        async with self:
            if self.watching:
                return
            self.watching = True
        waited = 0.0
        try:
            while waited < WATCH_LIMIT_SECONDS:
                await asyncio.sleep(POLL_SECONDS)
                waited += POLL_SECONDS
                async with self:
                    principal = await signed_in_principal(self)
                    if principal is None:
                        return
                    await self._refresh(principal)
                    if not self._any_deploying():
                        return
        finally:
            async with self:
                self.watching = False

    # --- actions on one voice ---------------------------------------------------------------

    async def _act(
        self, principal: Principal, action: Callable[[], Any], done: tuple[str, str]
    ) -> Any:
        """Run a cloning action off the event loop; a toast says how it went."""
        lang = await language_of(self)
        try:
            await asyncio.to_thread(action)
        except NotFoundError:  # deleted meanwhile, or never this user's: the same answer
            await self._refresh(principal)
            return rx.toast.error(
                pick(
                    lang,
                    "Voice not found: it may have been deleted.",
                    "找不到该音色，可能已被删除。",
                )
            )
        except DomainError as refused:
            await self._refresh(principal)
            return rx.toast.error(refused.message)
        except Exception:
            logger.exception("a voice action failed")
            return rx.toast.error(
                pick(lang, "That did not work; try again.", "操作没有成功，请重试。")
            )
        await self._refresh(principal)
        return rx.toast.success(pick(lang, *done))

    @rx.event
    async def delete_voice(self, voice_id: str):
        """Delete one of the user's voices (after the confirmation dialog)."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        ctx, caller = speech_context(), console_caller(principal)
        return await self._act(
            principal,
            lambda: cloning.delete_voice(ctx, caller, str(voice_id)),
            ("Voice deleted", "音色已删除"),
        )

    @rx.event
    async def open_rename(self, voice_id: str, prefix: str):
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.rename_voice, self.rename_value = str(voice_id)[:96], str(prefix)[:10]
        self.rename_error, self.rename_open = "", True
        return None

    @rx.event
    def set_rename_open(self, value: bool):
        self.rename_open = bool(value)

    @rx.event
    async def save_rename(self, form: dict):
        """Give the voice a new name prefix (its id stays: callers have it in their code)."""
        principal = await signed_in_principal(self)
        if principal is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        lang = await language_of(self)
        prefix = str(form.get("prefix", "")).strip()
        self.rename_value = prefix[:10]
        if not voices.PREFIX_PATTERN.match(prefix):
            self.rename_error = pick(
                lang,
                "Use 1–10 letters, digits or underscores.",
                "请使用 1–10 个字母、数字或下划线。",
            )
            return None
        ctx, caller, voice_id = speech_context(), console_caller(principal), self.rename_voice
        self.rename_open = False
        return await self._act(
            principal,
            lambda: cloning.rename_voice(ctx, caller, voice_id, prefix),
            ("Voice renamed", "音色已重命名"),
        )

    @rx.event
    async def open_replace(self, voice_id: str):
        if await signed_in_principal(self) is None:
            return rx.redirect(routes.SIGNIN, replace=True)
        self.replace_voice = str(voice_id)[:96]
        self.replace_checks, self.replace_problems = [], []
        self.replace_checking, self.replace_open = False, True
        return None

    @rx.event
    def set_replace_open(self, value: bool):
        self.replace_open = bool(value)

    @rx.event
    async def replace_sample(self, files: list[rx.UploadFile]):
        """A new sample for a voice: checked at once, then enrolled again (DEPLOYING)."""
        principal = await signed_in_principal(self)
        if principal is None:
            yield rx.redirect(routes.SIGNIN, replace=True)
            return
        if not files:
            return
        data = await read_sample(files[0])
        self.replace_checking = True
        yield
        found = await asyncio.to_thread(cloning.assess_upload, data)
        self.replace_checks, self.replace_problems = check_rows(found), problem_rows(found)
        self.replace_checking = False
        if not found.usable:
            return
        ctx, caller, voice_id = speech_context(), console_caller(principal), self.replace_voice
        outcome = await self._act(
            principal,
            lambda: cloning.replace_sample(ctx, caller, voice_id, data),
            (
                "New sample received: the voice is being deployed again",
                "已收到新样本，音色正在重新部署",
            ),
        )
        self.replace_open = False
        yield outcome
        if self._any_deploying():
            yield MyVoicesState.watch_deploying

    @rx.event
    async def sample_rejected(self, _rejected: list):
        return await sample_refused(self)
