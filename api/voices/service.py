"""Cloned voices: create (DEPLOYING), deploy (OK) or refuse (UNDEPLOYED), list, rename, delete.

Functions take a Session and never commit. A voice is always fetched with its owner, so another
user's voice id is a 404 (seed 001's VOICE_NOT_FOUND). Voice ids follow seed 001:
``{target_model}-{prefix}-{8 hex}``; prefixes are letters, digits and underscores, at most 10.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from api.db import utcnow
from api.errors import InvalidInputError, NotFoundError
from api.voices.models import DEPLOYING, OK, UNDEPLOYED, ClonedVoice

VOICE_QUOTA = 1000
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,10}$")
LANGUAGE_HINTS = ("zh", "en", "fr", "de", "ja", "ko", "ru", "yue", "es", "it", "pt")


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix):
        raise InvalidInputError(
            "prefix must be 1–10 letters, digits or underscores", param="prefix"
        )
    return prefix


def check_language_hints(hints: list[str] | None) -> list[str]:
    chosen = []
    for hint in hints or []:
        if hint not in LANGUAGE_HINTS:
            raise InvalidInputError(
                f"language hint must be one of {', '.join(LANGUAGE_HINTS)}", param="language_hints"
            )
        if hint not in chosen:
            chosen.append(hint)
    return chosen


def count_voices(session: Session, user_id: int) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(ClonedVoice).where(col(ClonedVoice.user_id) == user_id)
        ).scalar_one()
    )


def create_voice(
    session: Session,
    *,
    user_id: int,
    prefix: str,
    target_model: str,
    sample_key: str | None,
    language_hints: list[str] | None = None,
) -> ClonedVoice:
    """A new DEPLOYING voice; refuses past the quota (seed 001's VOICE_LIMIT_EXCEEDED)."""
    check_prefix(prefix)
    if count_voices(session, user_id) >= VOICE_QUOTA:
        raise InvalidInputError(
            f"Voice limit reached ({VOICE_QUOTA} per account); delete unused voices first",
            code="VOICE_LIMIT_EXCEEDED",
        )
    voice = ClonedVoice(
        voice_id=f"{target_model}-{prefix}-{secrets.token_hex(4)}",
        user_id=user_id,
        prefix=prefix,
        target_model=target_model,
        sample_key=sample_key,
        language_hints=check_language_hints(language_hints),
    )
    session.add(voice)
    session.flush()
    return voice


def get_owned_voice(session: Session, *, user_id: int, voice_id: str) -> ClonedVoice:
    voice = session.execute(
        select(ClonedVoice).where(
            col(ClonedVoice.voice_id) == voice_id, col(ClonedVoice.user_id) == user_id
        )
    ).scalar_one_or_none()
    if voice is None:
        raise NotFoundError("Voice not found", code="VOICE_NOT_FOUND")
    return voice


def list_voices(
    session: Session,
    *,
    user_id: int,
    prefix: str | None = None,
    model: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[ClonedVoice], int]:
    """A page of the user's voices, newest first, filtered by prefix, target model, status."""
    conditions = [col(ClonedVoice.user_id) == user_id]
    if prefix:
        conditions.append(col(ClonedVoice.prefix) == prefix)
    if model:
        conditions.append(col(ClonedVoice.target_model) == model)
    if status:
        conditions.append(col(ClonedVoice.status) == status)
    total = session.execute(
        select(func.count()).select_from(ClonedVoice).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(ClonedVoice)
        .where(*conditions)
        .order_by(col(ClonedVoice.created_at).desc(), col(ClonedVoice.id).desc())
        .offset(offset)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)


def _touch(voice: ClonedVoice, session: Session) -> ClonedVoice:
    voice.updated_at = utcnow()
    session.add(voice)
    session.flush()
    return voice


def mark_deployed(
    session: Session, voice: ClonedVoice, *, base_voice: str, profile: dict[str, Any]
) -> ClonedVoice:
    voice.status, voice.reason = OK, None
    voice.base_voice, voice.profile = base_voice, profile
    return _touch(voice, session)


def mark_undeployed(session: Session, voice: ClonedVoice, *, reason: str) -> ClonedVoice:
    voice.status, voice.reason = UNDEPLOYED, reason[:500]
    return _touch(voice, session)


def restart_deployment(
    session: Session, voice: ClonedVoice, *, sample_key: str, job_id: str | None = None
) -> ClonedVoice:
    """A new sample: back to DEPLOYING until the new enrolment is checked."""
    voice.status, voice.reason, voice.sample_key = DEPLOYING, None, sample_key
    voice.job_id = job_id
    return _touch(voice, session)


def set_job(session: Session, voice: ClonedVoice, job_id: str) -> ClonedVoice:
    voice.job_id = job_id
    return _touch(voice, session)


def delete_voice(session: Session, voice: ClonedVoice) -> None:
    session.delete(voice)
    session.flush()


def usable_voice(session: Session, *, user_id: int, voice_id: str, model: str) -> ClonedVoice:
    """A cloned voice that may speak now with ``model`` (seed 001: models must match)."""
    voice = get_owned_voice(session, user_id=user_id, voice_id=voice_id)
    if voice.status != OK:
        raise InvalidInputError(
            f"Voice {voice_id} is {voice.status} and cannot be used yet",
            code="INVALID_VOICE",
            param="voice",
        )
    if voice.target_model != model:
        raise InvalidInputError(
            f"Voice {voice_id} was created for {voice.target_model}, not {model}",
            code="MODEL_VOICE_MISMATCH",
            param="voice",
        )
    voice.last_used_at = utcnow()
    session.add(voice)
    return voice


__all__ = [
    "DEPLOYING",
    "OK",
    "UNDEPLOYED",
    "VOICE_QUOTA",
    "count_voices",
    "create_voice",
    "delete_voice",
    "get_owned_voice",
    "list_voices",
    "mark_deployed",
    "mark_undeployed",
    "restart_deployment",
    "usable_voice",
]
