"""A fake Fish Audio API speaking its real wire formats.

- ``POST /v1/tts``: MessagePack or JSON body, ``model`` header; the audio (raw PCM at the
  requested rate, or WAV) streamed in chunks with pauses, no JSON wrapper.
- ``POST /v1/asr``: MessagePack body with the audio bytes → ``{text, duration, segments}``.
- ``POST /model``: multipart (type, title, train_mode, visibility, voices) → the voice model
  with its ``_id``; ``DELETE /model/{id}``.

Faults: see ``fake_upstream``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgpack
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.providers.fake_upstream import HANG_SECONDS, FakeState, read_wav, tone, wav_file

PIECES = 4
PIECE_SECONDS = 0.1
PAUSE_SECONDS = 0.05
FISH_MODELS = ("s1", "s2-pro", "s2.1-pro", "s2.1-pro-free", "speech-1.5", "speech-1.6")


def _error(status: int, headers: dict[str, str]) -> JSONResponse:
    auth = headers.get("authorization", "")
    return JSONResponse({"status": status, "message": f"Invalid token {auth}"}, status_code=status)


async def _gate(state: FakeState, request: Request, body: Any) -> Response | None:
    headers = dict(request.headers)
    state.record(request.method, request.url.path, headers, body)
    if state.fault == "500":
        return _error(500, headers)
    if state.fault == "401" or not state.authorized(headers):
        return _error(401, headers)
    if state.fault == "hang":
        await asyncio.sleep(HANG_SECONDS)
        return JSONResponse({})
    if state.fault == "invalid_json":
        return Response("{not json", media_type="application/json")
    return None


async def _body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/msgpack"):
            data = msgpack.unpackb(raw, raw=False)
        elif content_type.startswith("application/json"):
            data = json.loads(raw)
        else:
            return None
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def create_fish_app(state: FakeState) -> Starlette:
    models: dict[str, dict[str, Any]] = {}

    async def tts(request: Request) -> Response:
        body = await _body(request)
        refused = await _gate(state, request, body)
        if refused is not None:
            return refused
        if body is None or not body.get("text") or request.headers.get("model") not in FISH_MODELS:
            return JSONResponse(
                [{"loc": ["body", "text"], "type": "missing", "msg": "Field required"}],
                status_code=422,
            )
        reference = body.get("reference_id")
        if reference is not None and reference not in models and reference != "builtin-voice":
            return _error(404, {})
        rate = body.get("sample_rate") or 44100
        if state.fault == "empty":
            return Response(b"", media_type="audio/pcm")
        pcm = tone(rate, PIECE_SECONDS)

        async def pieces() -> AsyncIterator[bytes]:
            if body.get("format") == "wav":
                yield wav_file(b"", rate, streaming_header=True)
            for _ in range(PIECES):
                if state.fault == "truncated" and state.pieces_sent == 2:
                    raise ConnectionAbortedError("the fake breaks the stream off")
                yield pcm
                await state.piece_sent()
                await asyncio.sleep(PAUSE_SECONDS)
            state.finished = True

        media = "audio/wav" if body.get("format") == "wav" else "audio/pcm"
        return StreamingResponse(pieces(), media_type=media)

    async def asr(request: Request) -> Response:
        body = await _body(request)
        recorded = {key: value for key, value in (body or {}).items() if key != "audio"}
        refused = await _gate(state, request, recorded)
        if refused is not None:
            return refused
        try:
            assert body is not None
            rate, frames = read_wav(body["audio"])
        except Exception:
            return _error(400, {})
        duration = frames / rate
        return JSONResponse(
            {
                "text": "你好，世界。",
                "duration": -1.0 if state.fault == "negative_usage" else duration,
                "segments": [
                    {"text": "你好，", "start": 0.0, "end": round(duration / 2, 3)},
                    {"text": "世界。", "start": round(duration / 2, 3), "end": round(duration, 3)},
                ],
            }
        )

    async def create_model(request: Request) -> Response:
        async with request.form() as form:
            upload = form.get("voices")
            sample = None if upload is None or isinstance(upload, str) else await upload.read()
            fields = {key: form.getlist(key) for key in form if key != "voices"}
        refused = await _gate(state, request, fields)
        if refused is not None:
            return refused
        if sample is None or fields.get("type") != ["tts"]:
            return _error(400, {})
        read_wav(sample)
        model_id = uuid.uuid4().hex
        models[model_id] = {
            "_id": model_id,
            "type": "tts",
            "title": fields["title"][0],
            "description": "",
            "cover_image": "",
            "train_mode": fields["train_mode"][0],
            "state": "trained",
            "tags": [],
            "samples": [],
            "visibility": fields["visibility"][0],
        }
        return JSONResponse(models[model_id], status_code=201)

    async def delete_model(request: Request) -> Response:
        refused = await _gate(state, request, None)
        if refused is not None:
            return refused
        if models.pop(request.path_params["model_id"], None) is None:
            return _error(404, {})
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/v1/tts", tts, methods=["POST"]),
            Route("/v1/asr", asr, methods=["POST"]),
            Route("/model", create_model, methods=["POST"]),
            Route("/model/{model_id}", delete_model, methods=["DELETE"]),
        ]
    )
