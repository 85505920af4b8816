"""A fake OpenAI-compatible speech server (``/v1`` root), speaking the real wire formats.

- ``POST /v1/audio/speech``: JSON in; raw PCM (24 kHz) or WAV out, chunked with pauses and at
  odd byte boundaries (so a sample is split across chunks), or Server-Sent Events with
  ``speech.audio.delta`` / ``speech.audio.done`` when ``stream_format`` is ``sse``.
- ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``: multipart in, ``verbose_json``
  out (segments, and words when ``timestamp_granularities[]`` asks for them).

Faults: see ``fake_upstream``; ``"nonsense_timestamps"`` makes a segment end before it starts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.providers.fake_upstream import HANG_SECONDS, FakeState, read_wav, tone, wav_file

RATE = 24000
PIECES = 5
PIECE_SECONDS = 0.1
PAUSE_SECONDS = 0.05
TRANSCRIPT = "Hello there. General Kenobi."


def _error(status: int, code: str, headers: dict[str, str]) -> JSONResponse:
    auth = headers.get("authorization", "")
    return JSONResponse(
        {
            "error": {
                "message": f"Incorrect API key provided: {auth}",
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
        status_code=status,
    )


async def _gate(state: FakeState, request: Request, body: Any) -> Response | None:
    headers = dict(request.headers)
    state.record(request.method, request.url.path, headers, body)
    if state.fault == "500":
        return _error(500, "server_error", headers)
    if state.fault == "401" or not state.authorized(headers):
        return _error(401, "invalid_api_key", headers)
    if state.fault == "hang":
        await asyncio.sleep(HANG_SECONDS)
        return JSONResponse({})
    return None


def create_openai_app(state: FakeState) -> Starlette:
    async def speech(request: Request) -> Response:
        body = await request.json()
        refused = await _gate(state, request, body)
        if refused is not None:
            return refused
        if not body.get("input") or not body.get("voice") or "model" not in body:
            return _error(400, "invalid_value", {})
        if state.fault == "invalid_json":
            return Response("{not json", media_type="application/json")
        if state.fault == "empty":
            return Response(b"", media_type="audio/pcm")
        pcm = tone(RATE, PIECE_SECONDS)

        async def pieces() -> AsyncIterator[bytes]:
            # Odd piece sizes: every other boundary splits a sample in two.
            stream = pcm * PIECES
            size = len(pcm) + 1
            for start in range(0, len(stream), size):
                if state.fault == "truncated" and state.pieces_sent == 2:
                    raise ConnectionAbortedError("the fake breaks the stream off")
                yield stream[start : start + size]
                await state.piece_sent()
                await asyncio.sleep(PAUSE_SECONDS)
            state.finished = True

        if body.get("stream_format") == "sse":

            async def events() -> AsyncIterator[str]:
                for index in range(PIECES):
                    if state.fault == "truncated" and index == 2:
                        return  # ends without speech.audio.done
                    delta = {"type": "speech.audio.delta", "audio": base64.b64encode(pcm).decode()}
                    yield f"data: {json.dumps(delta)}\n\n"
                    await state.piece_sent()
                    await asyncio.sleep(PAUSE_SECONDS)
                tokens = -1 if state.fault == "negative_usage" else 12
                usage = {"input_tokens": 5, "output_tokens": tokens, "total_tokens": 17}
                yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n"
                state.finished = True

            return StreamingResponse(events(), media_type="text/event-stream")
        if body["response_format"] == "wav":

            async def wav_pieces() -> AsyncIterator[bytes]:
                yield wav_file(b"", RATE, streaming_header=True)
                async for piece in pieces():
                    yield piece

            return StreamingResponse(wav_pieces(), media_type="audio/wav")
        return StreamingResponse(pieces(), media_type="audio/pcm")

    async def transcribe(request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            assert not isinstance(upload, str)
            audio = await upload.read()
            fields = {key: form.getlist(key) for key in form if key != "file"}
        refused = await _gate(state, request, fields)
        if refused is not None:
            return refused
        try:
            rate, frames = read_wav(audio)
        except Exception:
            return _error(400, "invalid_value", {})
        if state.fault == "invalid_json":
            return Response("{not json", media_type="application/json")
        duration = frames / rate
        translate = request.url.path.endswith("/translations")
        half = round(duration / 2, 2)
        segments = [
            {"id": 0, "seek": 0, "start": 0.0, "end": half, "text": " Hello there.",
             "avg_logprob": -0.2, "no_speech_prob": 0.01},
            {"id": 1, "seek": 0, "start": half, "end": round(duration, 2),
             "text": " General Kenobi.", "avg_logprob": -0.3, "no_speech_prob": 0.02},
        ]  # fmt: skip
        if state.fault == "nonsense_timestamps":
            segments[1]["end"] = -1.0
        answer: dict[str, Any] = {
            "task": "translate" if translate else "transcribe",
            "language": "english",
            "duration": duration,
            "text": TRANSCRIPT,
            "segments": segments,
            "usage": {
                "type": "duration",
                "seconds": -2 if state.fault == "negative_usage" else math.ceil(duration),
            },
        }
        if "word" in fields.get("timestamp_granularities[]", []):
            answer["words"] = [
                {"word": "Hello", "start": 0.0, "end": 0.1},
                {"word": "there", "start": 0.1, "end": 0.2},
                {"word": "General", "start": half, "end": half + 0.1},
                {"word": "Kenobi", "start": half + 0.1, "end": half + 0.2},
            ]
        return JSONResponse(answer)

    return Starlette(
        routes=[
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/audio/transcriptions", transcribe, methods=["POST"]),
            Route("/v1/audio/translations", transcribe, methods=["POST"]),
        ]
    )
