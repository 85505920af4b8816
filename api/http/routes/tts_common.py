"""What every text-to-speech route does once it has parsed its dialect into a ``SpeechOrder``.

- ``speak``: run ``synthesize`` off the event loop and gather what the response needs (the
  result, the balance after the charge, the usage headers).
- ``audio_response``: the audio itself as the body, with its Content-Type, a download file name
  and the usage headers.
- ``stored_audio_url``: an absolute, signed download link of the audio the use case stored.

Dialects differ only in how they name things and shape errors; the translation to and from
the use case is here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from api import audio
from api.http.routes.files import public_base_url
from api.http.speech import SpeechCall
from api.speech.synthesis import SpeechOrder, SpeechResult, synthesize
from api.storage.base import attachment_disposition
from api.storage.service import object_url


@dataclass(frozen=True)
class Spoken:
    """A finished synthesis, the balance left after its charge, and its usage headers."""

    result: SpeechResult
    balance_micros: int
    headers: dict[str, str]


async def speak(call: SpeechCall, order: SpeechOrder, *, long: bool = False) -> Spoken:
    """Synthesize ``order`` for the caller (charged on success) and price the response."""
    result = await call.run(synthesize, call.ctx, call.caller, order, long=long)
    balance = result.balance_micros
    if balance is None:
        balance = await call.run(call.balance_micros)
    headers = await call.usage_headers(
        cost_micros=result.cost_micros, characters=result.characters, balance_micros=balance
    )
    return Spoken(result, balance, headers)


def file_name(spoken: Spoken, stem: str = "speech") -> str:
    """``speech-42.mp3``: the history record's id and the format's extension."""
    result = spoken.result
    return f"{stem}-{result.record_id}.{audio.file_extension(result.format)}"


def audio_response(
    spoken: Spoken, *, filename: str | None = None, extra_headers: dict[str, str] | None = None
) -> Response:
    """The audio as the whole body, named for download, with the usage headers."""
    headers = {
        **spoken.headers,
        "Content-Disposition": attachment_disposition(filename or file_name(spoken)),
        **(extra_headers or {}),
    }
    return Response(spoken.result.audio, media_type=spoken.result.content_type, headers=headers)


def stored_audio_url(
    request: Request, call: SpeechCall, spoken: Spoken, *, filename: str | None = None
) -> str:
    """An absolute signed link to the stored audio (valid for the configured link lifetime)."""
    return object_url(
        call.ctx.store,
        spoken.result.output_key,
        base_url=public_base_url(request),
        filename=filename,
    )
