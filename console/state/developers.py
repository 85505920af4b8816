"""The API guide: ready-to-run examples of each dialect with this server's address and a hint of
the visitor's own newest key.

Only the key's masked form (``sk-ab…wxyz``) exists after it was shown once, so the examples
read the key from ``AMPHION_API_KEY`` and name the masked key beside it: set the variable once
and every snippet runs as copied. The base URL is the operator's ``public_base_url`` when set,
else the address the browser reached this console at (which serves the API too).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import reflex as rx

from api.db import get_database, utcnow
from api.keys.service import list_keys, mask
from api.settings import get_settings
from console import routes
from console.state.session import signed_in_principal

KEY_VARIABLE = "AMPHION_API_KEY"
PLACEHOLDER_KEY = "sk-your-api-key"
LANGUAGES = ("curl", "python", "javascript")
DIALECTS = ("amphion", "audio", "openai", "fish")


@dataclass(frozen=True)
class KeyHint:
    """The newest usable key of a user, as far as it may be shown again."""

    masked: str
    name: str


def newest_key(user_id: int) -> KeyHint | None:
    """The user's newest key that is neither revoked nor expired, masked."""
    now = utcnow()
    with get_database().read() as session:
        for key in list_keys(session, user_id, include_revoked=False):
            if key.expires_at is None or key.expires_at > now:
                return KeyHint(mask(key.head, key.last4), key.name)
    return None


def _json(body: dict[str, object], indent: int = 2) -> str:
    return json.dumps(body, ensure_ascii=False, indent=indent)


def _shell_json(body: dict[str, object]) -> str:
    # Single-quoted for the shell; none of the example bodies contain a single quote.
    return "'" + _json(body).replace("\n", "\n  ") + "'"


def _export(key: str) -> str:
    return f'export {KEY_VARIABLE}="{key}"  # your full key\n\n'


def _curl(key: str, url: str, auth: str, body: dict[str, object], output: str | None) -> str:
    request = (
        _export(key) + f'curl -X POST "{url}" \\\n'
        f'  -H "{auth}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {_shell_json(body)}"
    )
    return request + (f" \\\n  --output {output}" if output else "")


def _python(
    key: str, url: str, auth_name: str, auth_value: str, body: dict, output: str | None
) -> str:
    body_text = _json(body, 4).replace("\n", "\n    ")
    if output:
        answer = f'with open("{output}", "wb") as f:\n    f.write(response.content)\n'
    else:
        answer = 'print(response.json()["data"])\n'
    return (
        "import os\n\nimport requests\n\n"
        f'API_KEY = os.environ.get("{KEY_VARIABLE}", "{key}")  # your full key\n\n'
        "response = requests.post(\n"
        f'    "{url}",\n'
        f'    headers={{"{auth_name}": {auth_value}}},\n'
        f"    json={body_text},\n"
        "    timeout=60,\n"
        ")\n"
        "response.raise_for_status()\n" + answer
    )


def _javascript(
    key: str, url: str, auth_name: str, auth_value: str, body: dict, output: str | None
) -> str:
    body_text = _json(body, 2).replace("\n", "\n  ")
    if output:
        imports = 'import { writeFile } from "node:fs/promises";\n\n'
        answer = f'await writeFile("{output}", Buffer.from(await response.arrayBuffer()));\n'
    else:
        imports, answer = "", "console.log((await response.json()).data);\n"
    return (
        imports + f'const API_KEY = process.env.{KEY_VARIABLE} ?? "{key}"; // your full key\n\n'
        f'const response = await fetch("{url}", {{\n'
        '  method: "POST",\n'
        f'  headers: {{ "{auth_name}": {auth_value}, "Content-Type": "application/json" }},\n'
        f"  body: JSON.stringify({body_text}),\n"
        "});\n"
        "if (!response.ok) throw new Error(await response.text());\n" + answer
    )


def _speech_examples(
    key: str, url: str, body: dict[str, object], output: str | None, *, bearer: bool
) -> dict[str, str]:
    """curl, Python and JavaScript of one JSON POST whose audio answer is saved to ``output``
    (``None``: the answer is a JSON envelope, whose ``data`` is printed)."""
    if bearer:
        shell_auth = f"Authorization: Bearer ${KEY_VARIABLE}"
        name, py_value, js_value = "Authorization", 'f"Bearer {API_KEY}"', "`Bearer ${API_KEY}`"
    else:
        shell_auth = f"X-API-Key: ${KEY_VARIABLE}"
        name, py_value, js_value = "X-API-Key", "API_KEY", "API_KEY"
    return {
        "curl": _curl(key, url, shell_auth, body, output),
        "python": _python(key, url, name, py_value, body, output),
        "javascript": _javascript(key, url, name, js_value, body, output),
    }


def build_examples(base_url: str, key: str) -> dict[str, str]:
    """Every snippet of the guide, keyed ``"<dialect>_<language>"`` (see ``DIALECTS``)."""
    base = base_url.rstrip("/")
    examples: dict[str, str] = {}
    dialects = {
        # Seed 000: the Amphion platform API.
        "amphion": _speech_examples(
            key,
            f"{base}/tts/v1/audio/speech",
            {
                "model": "Qwen3-TTS",
                "input": "你好，欢迎使用 Amphion 开放平台。",
                "voice": "default",
            },
            "output.mp3",
            bearer=False,
        ),
        # Seed 001: the AI voice backend; answers an envelope with the audio's URL.
        "audio": _speech_examples(
            key,
            f"{base}/api/audio/tts/synthesize",
            {
                "model": "cosyvoice-v3-flash",
                "voice": "longanyang",
                "text": "你好，欢迎使用语音合成服务！",
            },
            None,
            bearer=True,
        ),
        # Seeds 002 and 003: OpenAI-compatible speech.
        "openai": _speech_examples(
            key,
            f"{base}/v1/audio/speech",
            {
                "model": "tts-1",
                "voice": "alloy",
                "input": "The quick brown fox jumped over the lazy dog.",
            },
            "speech.mp3",
            bearer=True,
        ),
        # Seed 004: the Fish open API.
        "fish": _speech_examples(
            key,
            f"{base}/api/open/tts",
            {
                "reference_id": "fish-narrator",
                "text": "要转换的文本内容",
                "version": "s1",
                "format": "mp3",
            },
            "output.mp3",
            bearer=True,
        ),
    }
    for dialect, snippets in dialects.items():
        for language, text in snippets.items():
            examples[f"{dialect}_{language}"] = text
    examples["amphion_sed"] = (
        _export(key) + f'curl -X POST "{base}/sed/v1/audio/analyze" \\\n'
        f'  -H "X-API-Key: ${KEY_VARIABLE}" \\\n'
        '  -F "file=@audio.wav"'
    )
    examples["openai_sdk"] = (
        "import os\n\nfrom openai import OpenAI\n\n"
        f'API_KEY = os.environ.get("{KEY_VARIABLE}", "{key}")  # your full key\n'
        f'client = OpenAI(base_url="{base}/v1", api_key=API_KEY)\n'
        "with client.audio.speech.with_streaming_response.create(\n"
        '    model="tts-1", voice="alloy", input="Hello!"\n'
        ") as response:\n"
        '    response.stream_to_file("hello.mp3")\n'
        'with open("hello.mp3", "rb") as audio:\n'
        '    print(client.audio.transcriptions.create(model="whisper-1", file=audio).text)\n'
    )
    return examples


class DevelopersState(rx.State):
    """The guide's figures: base URL, the visitor's key hint, and the filled-in snippets."""

    loaded: bool = False
    base_url: str = ""
    key_hint: str = ""
    key_name: str = ""
    examples: dict[str, str] = {}

    @rx.var
    def has_key(self) -> bool:
        return self.key_hint != ""

    @rx.event
    async def load(self):
        """On load: the signed-in user's newest key and this server's address, or sign-in."""
        principal = await signed_in_principal(self)
        if principal is None:
            self.loaded, self.key_hint, self.key_name, self.examples = False, "", "", {}
            return rx.redirect(routes.SIGNIN, replace=True)
        hint = await asyncio.to_thread(newest_key, principal.user_id)
        self.key_hint = hint.masked if hint else ""
        self.key_name = hint.name if hint else ""
        self.base_url = (get_settings().public_base_url or self.router.url.origin).rstrip("/")
        self.examples = build_examples(self.base_url, self.key_hint or PLACEHOLDER_KEY)
        self.loaded = True
        return None
