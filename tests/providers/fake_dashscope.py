"""A fake DashScope speaking the real wire protocols (see ``api.engines.providers.dashscope``).

- ``wss /api-ws/v1/inference``: CosyVoice duplex TTS (run-task → task-started → continue-task ×N
  → finish-task; result-generated events around binary PCM frames; task-finished or task-failed).
- ``POST /api/v1/services/aigc/multimodal-generation/generation``: qwen3-asr-flash (sync).
- ``POST /api/v1/services/audio/asr/transcription`` (``X-DashScope-Async: enable``) and
  ``GET /api/v1/tasks/{task_id}``: filetrans, PENDING → RUNNING → SUCCEEDED over three polls;
  the result JSON is served at ``/results/{task_id}.json`` (no auth, like an OSS signed URL).
- ``POST /api/v1/services/audio/tts/customization``: voice enrollment CRUD in memory.

Faults: see ``fake_upstream``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.providers.fake_upstream import HANG_SECONDS, FakeState, read_wav, tone

FRAMES_PER_TEXT = 4
FRAME_SECONDS = 0.05
ASR_TEXT = "欢迎使用阿里云。"


def _error(state: FakeState, status: int, code: str, headers: dict[str, str]) -> JSONResponse:
    # DashScope's error shape; the message echoes the caller's credentials on purpose.
    auth = headers.get("authorization", "")
    return JSONResponse(
        {"request_id": str(uuid.uuid4()), "code": code, "message": f"rejected {auth}"},
        status_code=status,
    )


async def _http_gate(state: FakeState, request: Request, body: Any) -> Response | None:
    headers = dict(request.headers)
    state.record(request.method, request.url.path, headers, body)
    if state.fault == "500":
        return _error(state, 500, "InternalError", headers)
    if state.fault == "401" or not state.authorized(headers):
        return _error(state, 401, "InvalidApiKey", headers)
    if state.fault == "hang":
        await asyncio.sleep(HANG_SECONDS)
        return JSONResponse({})
    if state.fault == "invalid_json":
        return Response("{not json", media_type="application/json")
    return None


def create_dashscope_app(state: FakeState) -> Starlette:
    tasks: dict[str, dict[str, Any]] = {}
    voices: dict[str, dict[str, Any]] = {}

    async def tts(websocket: WebSocket) -> None:
        headers = dict(websocket.headers)
        state.record("WS", websocket.url.path, headers)
        if state.fault == "500":
            await websocket.send_denial_response(_error(state, 500, "InternalError", headers))
            return
        if state.fault == "401" or not state.authorized(headers):
            await websocket.send_denial_response(_error(state, 401, "InvalidApiKey", headers))
            return
        await websocket.accept()
        run = json.loads(await websocket.receive_text())
        state.extra.setdefault("commands", []).append(run)
        task_id = run["header"]["task_id"]

        async def event(name: str, payload: dict[str, Any], **header: Any) -> None:
            await websocket.send_text(
                json.dumps(
                    {
                        "header": {"task_id": task_id, "event": name, "attributes": {}, **header},
                        "payload": payload,
                    }
                )
            )

        parameters = run["payload"]["parameters"]
        if (
            run["header"]["action"] != "run-task"
            or run["payload"]["function"] != "SpeechSynthesizer"
            or parameters["format"] != "pcm"
        ):
            await event("task-failed", {}, error_code="InvalidParameter", error_message="bad run")
            return
        if state.fault == "hang":
            await asyncio.sleep(HANG_SECONDS)
            return
        if state.fault == "task_failed":
            auth = headers.get("authorization", "")
            await event(
                "task-failed",
                {},
                error_code="InvalidParameter",
                error_message=f"voice not found for {auth}",
            )
            return
        if state.fault == "invalid_json":
            await websocket.send_text("{not json")
            await asyncio.sleep(0.5)
            return
        await event("task-started", {})
        rate = parameters["sample_rate"]
        characters = 0
        while True:
            command = json.loads(await websocket.receive_text())
            state.extra["commands"].append(command)
            action = command["header"]["action"]
            if action == "continue-task":
                text = command["payload"]["input"]["text"]
                characters += len(text)
                output = {"sentence": {"index": 0, "words": []}}
                await event("result-generated", {"output": {**output, "type": "sentence-begin"}})
                if state.fault != "empty":
                    for _ in range(FRAMES_PER_TEXT):
                        await event(
                            "result-generated", {"output": {**output, "type": "sentence-synthesis"}}
                        )
                        await websocket.send_bytes(tone(rate, FRAME_SECONDS))
                        await state.piece_sent()
                        if state.fault == "truncated" and state.pieces_sent == 2:
                            await websocket.close(code=1011)
                            return
                await event(
                    "result-generated",
                    {
                        "output": {**output, "type": "sentence-end", "original_text": text},
                        "usage": {"characters": characters},
                    },
                )
            elif action == "finish-task":
                usage = {"characters": -5 if state.fault == "negative_usage" else characters}
                await event("task-finished", {"output": {}, "usage": usage})
                state.finished = True
                break
        await websocket.close()

    async def asr(request: Request) -> Response:
        body = await request.json()
        refused = await _http_gate(state, request, body)
        if refused is not None:
            return refused
        audio = body["input"]["messages"][1]["content"][0]["audio"]
        prefix = "data:audio/wav;base64,"
        if body["model"] != state.extra.get("asr_model", "qwen3-asr-flash") or not audio.startswith(
            prefix
        ):
            return _error(state, 400, "InvalidParameter", {})
        rate, frames = read_wav(base64.b64decode(audio[len(prefix) :]))
        seconds = -3 if state.fault == "negative_usage" else math.ceil(frames / rate)
        return JSONResponse(
            {
                "output": {
                    "choices": [
                        {
                            "finish_reason": "stop",
                            "message": {
                                "role": "assistant",
                                "content": [{"text": ASR_TEXT}],
                                "annotations": [
                                    {"type": "audio_info", "language": "zh", "emotion": "Happy"}
                                ],
                            },
                        }
                    ]
                },
                "usage": {"seconds": seconds},
                "request_id": str(uuid.uuid4()),
            }
        )

    async def filetrans_submit(request: Request) -> Response:
        body = await request.json()
        refused = await _http_gate(state, request, body)
        if refused is not None:
            return refused
        if request.headers.get("x-dashscope-async") != "enable":
            return _error(state, 400, "InvalidParameter", {})
        task_id = str(uuid.uuid4())
        tasks[task_id] = {"polls": 0, "body": body}
        return JSONResponse(
            {"request_id": "r", "output": {"task_id": task_id, "task_status": "PENDING"}}
        )

    async def task_query(request: Request) -> Response:
        refused = await _http_gate(state, request, None)
        if refused is not None:
            return refused
        task_id = request.path_params["task_id"]
        if task_id not in tasks:
            return JSONResponse({"output": {"task_id": task_id, "task_status": "UNKNOWN"}})
        task = tasks[task_id]
        task["polls"] += 1
        output: dict[str, Any] = {
            "task_id": task_id,
            "submit_time": "2025-01-01 10:00:00.000",
            "scheduled_time": "2025-01-01 10:00:01.000",
        }
        statuses = state.extra.setdefault("statuses", [])
        if task["polls"] == 1:
            output["task_status"] = "PENDING"
        elif task["polls"] == 2:
            output["task_status"] = "RUNNING"
        elif state.fault == "task_failed":
            auth = request.headers.get("authorization", "")
            output.update(
                task_status="FAILED", code="FILE_DOWNLOAD_FAILED", message=f"no file for {auth}"
            )
        else:
            output.update(
                task_status="SUCCEEDED",
                end_time="2025-01-01 10:00:05.000",
                result={"transcription_url": f"{state.base_url}/results/{task_id}.json"},
            )
        statuses.append(output["task_status"])
        seconds = -4 if state.fault == "negative_usage" else 4
        return JSONResponse({"request_id": "r", "output": output, "usage": {"seconds": seconds}})

    async def task_result(request: Request) -> Response:
        state.record("GET", request.url.path, dict(request.headers))
        task_id = request.path_params["task_id"]
        file_url = tasks[task_id]["body"]["input"]["file_url"]
        return JSONResponse(
            {
                "file_url": file_url,
                "audio_info": {"format": "mp3", "sample_rate": 16000},
                "transcripts": [
                    {
                        "channel_id": 0,
                        "text": "今天天气还行吧。明天见。",
                        "sentences": [
                            {
                                "sentence_id": 0,
                                "begin_time": 100,
                                "end_time": 3820,
                                "text": "今天天气还行吧。",
                                "language": "zh",
                                "emotion": "neutral",
                                "words": [
                                    {
                                        "begin_time": 100,
                                        "end_time": 580,
                                        "text": "今天",
                                        "punctuation": "",
                                    }
                                ],
                            },
                            {
                                "sentence_id": 1,
                                "begin_time": 4000,
                                "end_time": 5200,
                                "text": "明天见。",
                                "language": "zh",
                                "emotion": "happy",
                            },
                        ],
                    }
                ],
            }
        )

    async def customization(request: Request) -> Response:
        body = await request.json()
        refused = await _http_gate(state, request, body)
        if refused is not None:
            return refused
        if body.get("model") != "voice-enrollment":
            return _error(state, 400, "InvalidParameter", {})
        action = body["input"]
        kind = action["action"]
        if kind == "create_voice":
            voice_id = f"{action['target_model']}-{action['prefix']}-{uuid.uuid4().hex[:8]}"
            voices[voice_id] = {
                "voice_id": voice_id,
                "target_model": action["target_model"],
                "resource_link": action["url"],
                "gmt_create": "2025-01-01 10:00:00",
                "gmt_modified": "2025-01-01 10:00:00",
                "status": "DEPLOYING",
            }
            return JSONResponse({"output": {"voice_id": voice_id}, "request_id": "r"})
        if kind == "list_voice":
            listed = [
                {key: voice[key] for key in ("voice_id", "gmt_create", "gmt_modified", "status")}
                for voice in voices.values()
                # voice ids are <target_model>-<prefix>-<random>
                if "prefix" not in action or voice["voice_id"].split("-")[-2] == action["prefix"]
            ]
            start = action["page_index"] * action["page_size"]
            return JSONResponse(
                {"output": {"voice_list": listed[start : start + action["page_size"]]}}
            )
        voice = voices.get(action.get("voice_id", ""))
        if voice is None:
            return _error(state, 400, "ResourceNotFound", {})
        if kind == "query_voice":
            voice["status"] = "OK"  # the review finished
            return JSONResponse(
                {"output": {key: value for key, value in voice.items() if key != "voice_id"}}
            )
        if kind == "update_voice":
            voice["resource_link"] = action["url"]
            voice["status"] = "DEPLOYING"
            return JSONResponse({"output": {}})
        if kind == "delete_voice":
            del voices[voice["voice_id"]]
            return JSONResponse({"output": {}})
        return _error(state, 400, "InvalidParameter", {})

    return Starlette(
        routes=[
            WebSocketRoute("/api-ws/v1/inference", tts),
            Route("/api/v1/services/aigc/multimodal-generation/generation", asr, methods=["POST"]),
            Route("/api/v1/services/audio/asr/transcription", filetrans_submit, methods=["POST"]),
            Route("/api/v1/tasks/{task_id}", task_query, methods=["GET"]),
            Route("/results/{task_id}.json", task_result, methods=["GET"]),
            Route("/api/v1/services/audio/tts/customization", customization, methods=["POST"]),
        ]
    )
