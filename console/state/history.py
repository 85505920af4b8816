"""History: the signed-in user's operations, a page at a time, with replay, transcripts, delete.

The browser only ever holds one page of small display rows. Every handler that acts on a
record takes its id from the browser as a mere hint: the record is fetched again together with
its owner, so another user's id finds nothing and changes nothing. Audio is reached through
short-lived signed links made at the moment of the click, never stored in the page state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import reflex as rx

from api.billing.money import format_yuan
from api.db import get_database
from api.errors import DomainError, NotFoundError
from api.history import service as history
from api.history.models import RECORD_TYPES, HistoryRecord
from api.keys.models import ApiKey
from api.keys.service import list_keys, mask
from api.settings import get_settings
from api.storage import get_object_store
from api.storage.service import get_owned_object, object_url
from console import routes
from console.i18n import language_of, pick
from console.state.dated_pages import PAGE_SIZE, DatedPagesMixin, day_range, page_count
from console.state.session import signed_in_principal

logger = logging.getLogger("amphion.console")

# A transcript longer than this is cut in the dialog (the download has all of it).
TRANSCRIPT_PREVIEW_CHARS = 20_000
AUDIO_LINK_SECONDS = 15 * 60
# What a toast says when a record (or what it made) is not the caller's, or no longer there.
AUDIO_GONE = ("That audio is not available.", "该音频不可用。")
TRANSCRIPT_GONE = ("That transcript is not available.", "该转写文本不可用。")


def key_label(key_id: int | None, keys: dict[int, ApiKey]) -> tuple[str, str]:
    """(name, masked key) of the key that made a call; ("", "") for the console."""
    if key_id is None:
        return "", ""
    key = keys.get(key_id)
    if key is None:
        return "", "…"  # a deleted key: the call was still made with a key
    return key.name, mask(key.head, key.last4)


def display_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _usage(row: HistoryRecord) -> tuple[str, str]:
    """What the operation was measured by: characters for speech, seconds for audio in."""
    if row.type == "tts" and row.characters is not None:
        return f"{row.characters:,}", "chars"
    if row.duration_ms is not None:
        return f"{row.duration_ms / 1000:.1f}", "s"
    return "", ""


def record_row(row: HistoryRecord, keys: dict[int, ApiKey]) -> dict[str, str]:
    """One table row of display strings."""
    usage, unit = _usage(row)
    key_name, key_mask = key_label(row.api_key_id, keys)
    return {
        "id": str(row.id),
        "type": row.type,
        "status": row.status,
        "model": row.model,
        "voice": row.voice,
        "usage": usage,
        "unit": unit,
        "cost": format_yuan(row.cost_micros),
        "time": display_time(row.created_at),
        "request_id": row.request_id,
        "via_key": "1" if row.api_key_id is not None else "",
        "key_name": key_name,
        "key_mask": key_mask,
        "has_audio": "1" if row.type == "tts" and row.output_key else "",
        "has_transcript": "1" if row.type == "asr" and row.output_text else "",
        "result": (row.output_text or "")[:40] if row.type in ("sed", "voice") else "",
        "error": (row.error or "")[:200],
    }


@dataclass(frozen=True)
class HistoryPage:
    rows: list[dict[str, str]]
    total: int


def read_history_page(
    user_id: int, *, record_type: str, since: str, until: str, page: int
) -> HistoryPage:
    """One page of the user's operations under the filters, newest first."""
    start, end = day_range(since, until)
    with get_database().read() as session:
        rows, total = history.list_records(
            session,
            user_id=user_id,
            types=(record_type,) if record_type in RECORD_TYPES else (),
            since=start,
            until=end,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        keys = {k.id: k for k in list_keys(session, user_id) if k.id is not None}
    return HistoryPage([record_row(r, keys) for r in rows], total)


def _record_id(text: str) -> int | None:
    try:
        value = int(text)
    except (TypeError, ValueError):
        return None
    # Ids are 32-bit integer columns: anything else cannot be a record (and must not reach SQL).
    return value if 0 < value < 2**31 else None


def audio_link(user_id: int, record_id: int, *, download: bool) -> str:
    """A signed link to a record's audio, for its owner only (NotFoundError otherwise)."""
    settings = get_settings()
    store = get_object_store(settings)
    with get_database().read() as session:
        row = history.get_owned_record(session, user_id=user_id, record_id=record_id)
        if row.type != "tts" or not row.output_key:
            raise NotFoundError("This operation has no audio", code="NO_AUDIO")
        get_owned_object(session, user_id=user_id, key=row.output_key)
        key = row.output_key
    extension = key.rpartition(".")[2] or "audio"
    return object_url(
        store,
        key,
        base_url=settings.public_base_url,
        filename=f"amphion-{record_id}.{extension}" if download else None,
        expires_in=AUDIO_LINK_SECONDS,
    )


def read_transcript(user_id: int, record_id: int) -> str:
    """An ASR record's transcript, for its owner only (NotFoundError otherwise)."""
    with get_database().read() as session:
        row = history.get_owned_record(session, user_id=user_id, record_id=record_id)
        if row.type != "asr" or row.output_text is None:
            raise NotFoundError("This operation has no transcript", code="NO_TRANSCRIPT")
        return row.output_text


def delete_owned_record(user_id: int, record_id: int) -> None:
    with get_database().write() as session:
        history.delete_record(
            session, user_id=user_id, record_id=record_id, store=get_object_store()
        )


class HistoryState(DatedPagesMixin, rx.State):
    """One page of operations, the filters, and the open player or transcript."""

    loaded: bool = False
    loading: bool = False
    rows: list[dict[str, str]] = []
    # "" = every type.
    record_type: str = ""

    player_open: bool = False
    player_url: str = ""
    player_record: str = ""
    player_title: str = ""
    transcript_open: bool = False
    transcript_text: str = ""
    transcript_cut: bool = False
    # The record whose transcript is open, re-checked for ownership when it is downloaded.
    _transcript_record: int = 0
    # The record a row's delete button asked about; deleted only on the dialog's confirm (and
    # only if the signed-in user owns it, checked then).
    delete_open: bool = False
    _delete_record: str = ""

    @rx.var
    def filtered(self) -> bool:
        return bool(self.record_type or self.since or self.until)

    async def _read_list(self, user_id: int) -> None:
        self.loading = True
        found = await self._read_page(user_id)
        # A delete (or a narrower filter) can leave the page past the end: step back.
        if not found.rows and found.total and self.page > 1:
            self.page = page_count(found.total)
            found = await self._read_page(user_id)
        self.rows = found.rows
        self.total = found.total
        self.loading = False

    async def _read_page(self, user_id: int) -> HistoryPage:
        return await asyncio.to_thread(
            read_history_page,
            user_id,
            record_type=self.record_type,
            since=self.since,
            until=self.until,
            page=self.page,
        )

    @rx.event
    async def load(self):
        """On load: the first page of the signed-in user's history, or the sign-in page."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded = False
            self.rows = []
            return rx.redirect(routes.SIGNIN, replace=True)
        self.page = 1
        self.player_open = self.transcript_open = False
        await self._read_list(principal.user_id)
        self.loaded = True
        return None

    @rx.event
    async def set_record_type(self, value: str):
        """Show one type of operation ("all" shows every type)."""
        self.record_type = value if value in RECORD_TYPES else ""
        return await self._show_page(1)

    @rx.event
    async def clear_filters(self):
        self.record_type = self.since = self.until = ""
        return await self._show_page(1)

    async def _not_found(self, english: str, chinese: str):
        lang = await language_of(self)
        return rx.toast.error(pick(lang, english, chinese))

    async def _signed_in_record(self, record_id: str) -> tuple[int, int] | None:
        """(user id, record id) when someone is signed in and ``record_id`` can be a record id;
        the record itself is then read with its owner, so another user's id finds nothing."""
        principal = await signed_in_principal(self)
        number = _record_id(record_id)
        if principal is None or number is None:
            return None
        return principal.user_id, number

    @rx.event
    async def play(self, record_id: str):
        """Open the player on a record's audio (the caller's own records only)."""
        found = await self._signed_in_record(record_id)
        if found is None:
            return None
        user_id, number = found
        try:
            url = await asyncio.to_thread(audio_link, user_id, number, download=False)
        except NotFoundError:
            return await self._not_found(*AUDIO_GONE)
        self.player_url = url
        self.player_record = str(number)
        # Display only: the row the browser already shows, if it is on this page.
        shown = next((r for r in self.rows if r["id"] == str(number)), None)
        self.player_title = f"{shown['model']} · {shown['time']} UTC" if shown else ""
        self.player_open = True
        return None

    @rx.event
    async def set_player_open(self, value: bool) -> None:
        """Closing the dialog stops the audio (the element goes away with the link)."""
        # Only opened by ``play``; anyone signed out loses the link as well.
        if not value or await signed_in_principal(self) is None:
            self.player_open, self.player_url = False, ""

    @rx.event
    async def download_audio(self, record_id: str):
        """Download a record's audio file through a fresh signed link."""
        found = await self._signed_in_record(record_id)
        if found is None:
            return None
        user_id, number = found
        try:
            url = await asyncio.to_thread(audio_link, user_id, number, download=True)
        except NotFoundError:
            return await self._not_found(*AUDIO_GONE)
        # A relative link (local storage) or a full one (S3): the browser fetches either.
        return rx.download(url=rx.Var.create(url), filename=f"amphion-{number}")

    @rx.event
    async def show_transcript(self, record_id: str):
        """Open the transcript of a recognition record (the caller's own records only)."""
        found = await self._signed_in_record(record_id)
        if found is None:
            return None
        user_id, number = found
        try:
            text = await asyncio.to_thread(read_transcript, user_id, number)
        except NotFoundError:
            return await self._not_found(*TRANSCRIPT_GONE)
        self.transcript_text = text[:TRANSCRIPT_PREVIEW_CHARS]
        self.transcript_cut = len(text) > TRANSCRIPT_PREVIEW_CHARS
        self._transcript_record = number
        self.transcript_open = True
        return None

    @rx.event
    async def set_transcript_open(self, value: bool) -> None:
        """Closing the dialog forgets the transcript (only ``show_transcript`` opens it)."""
        if not value or await signed_in_principal(self) is None:
            self.transcript_open, self.transcript_text = False, ""
            self._transcript_record = 0

    @rx.event
    async def download_transcript(self):
        """The open transcript as a text file (read again, for its owner)."""
        principal = await signed_in_principal(self)
        if principal is None or not self._transcript_record:
            return None
        try:
            text = await asyncio.to_thread(
                read_transcript, principal.user_id, self._transcript_record
            )
        except NotFoundError:
            return await self._not_found(*TRANSCRIPT_GONE)
        return rx.download(
            data=text,
            filename=f"transcript-{self._transcript_record}.txt",
            mime_type="text/plain;charset=utf-8",
        )

    @rx.event
    def ask_delete(self, record_id: str) -> None:
        self._delete_record, self.delete_open = record_id, True

    @rx.event
    def set_delete_open(self, value: bool) -> None:
        self.delete_open = bool(value)

    @rx.event
    async def confirm_delete(self):
        self.delete_open = False
        return await self._delete(self._delete_record)

    @rx.event
    async def delete(self, record_id: str):
        """Delete one of the caller's records (its charges stay in the ledger)."""
        return await self._delete(record_id)

    async def _delete(self, record_id: str):
        found = await self._signed_in_record(record_id)
        if found is None:
            return None
        user_id, number = found
        lang = await language_of(self)
        try:
            await asyncio.to_thread(delete_owned_record, user_id, number)
        except NotFoundError:
            return rx.toast.error(pick(lang, "That record was not found.", "未找到该记录。"))
        except DomainError as error:
            if error.code == "RECORD_IN_PROGRESS":
                return rx.toast.error(
                    pick(
                        lang,
                        "This operation is still running; delete it when it has finished.",
                        "该操作仍在进行中，请在完成后再删除。",
                    )
                )
            return rx.toast.error(error.message)
        except Exception:
            logger.exception("deleting history record %s failed", number)
            return rx.toast.error(
                pick(lang, "The record could not be deleted. Try again.", "删除失败，请重试。")
            )
        if self.player_record == str(number):
            self.player_open, self.player_url = False, ""
        await self._read_list(user_id)
        return rx.toast.success(pick(lang, "Record deleted", "记录已删除"))
