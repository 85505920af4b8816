"""``/developers``: the API guide — each dialect's endpoints and examples with this server's
address and the visitor's own key hint, in curl, Python and JavaScript, with copy buttons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from console import routes, styles
from console.components.common import callout, card, card_title, copy_button, muted
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import scrolling_table
from console.i18n import tr
from console.state.developers import KEY_VARIABLE, DevelopersState


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    english: str
    chinese: str


@dataclass(frozen=True)
class Dialect:
    key: str
    title: str
    title_zh: str
    seed: str
    auth: str
    english: str
    chinese: str
    endpoints: tuple[Endpoint, ...]
    # (example key, its title, its language) of snippets shown below the tabs.
    extra: tuple[tuple[str, Any, str], ...] = ()


DIALECTS = (
    Dialect(
        "amphion",
        "Amphion platform",
        "Amphion 平台",
        "000",
        "X-API-Key",
        'Binary audio from TTS, emotion scores from SED. Errors are {"detail": …}.',
        'TTS 直接返回音频，SED 返回情感得分。错误格式为 {"detail": …}。',
        (
            Endpoint(
                "POST",
                "/tts/v1/audio/speech",
                "Text to speech (mp3 or wav)",
                "文本转语音（mp3 或 wav）",
            ),
            Endpoint(
                "POST",
                "/sed/v1/audio/analyze",
                "Speech emotion detection (multipart file)",
                "语音情感检测（multipart 文件）",
            ),
        ),
        (("amphion_sed", tr("Emotion detection", "情感检测"), "curl"),),
    ),
    Dialect(
        "audio",
        "AI voice backend",
        "AI 语音后端",
        "001",
        "Authorization: Bearer",
        'JSON envelopes {"code", "message", "data"} with audio URLs, tasks and voices.',
        '统一的 {"code", "message", "data"} 响应，包含音频 URL、异步任务和音色管理。',
        (
            Endpoint(
                "POST",
                "/api/audio/tts/synthesize",
                "Synthesize (or stream: true)",
                "语音合成（或 stream: true 流式）",
            ),
            Endpoint("POST", "/api/audio/tts/synthesize-long", "Long text", "长文本合成"),
            Endpoint(
                "WS", "/api/audio/tts/stream", "Streaming over WebSocket", "WebSocket 流式合成"
            ),
            Endpoint("GET", "/api/audio/tts/models", "TTS models", "TTS 模型列表"),
            Endpoint(
                "POST",
                "/api/audio/asr/recognize",
                "Recognize a file, base64 or URL",
                "识别文件、base64 或 URL",
            ),
            Endpoint(
                "POST", "/api/audio/asr/transcribe", "Async transcription task", "异步转写任务"
            ),
            Endpoint("GET", "/api/audio/asr/task/{task_id}", "Task status", "任务状态"),
            Endpoint("GET", "/api/audio/asr/models", "ASR models", "ASR 模型列表"),
            Endpoint("POST", "/api/audio/voice/create", "Clone a voice", "复刻音色"),
            Endpoint("GET", "/api/audio/voice/list", "Your voices", "我的音色"),
            Endpoint("GET", "/api/audio/voice/system", "System voices", "系统音色"),
            Endpoint("GET", "/api/audio/history", "Your history", "调用记录"),
        ),
    ),
    Dialect(
        "openai",
        "OpenAI-compatible",
        "OpenAI 兼容",
        "002 / 003",
        "Authorization: Bearer",
        'Works with the official openai SDK. Errors are {"error": {…}}.',
        '可直接使用官方 openai SDK。错误格式为 {"error": {…}}。',
        (
            Endpoint(
                "POST",
                "/v1/audio/speech",
                "Speech (streamed; SSE with stream_format)",
                "语音合成（流式；stream_format 可选 SSE）",
            ),
            Endpoint(
                "POST",
                "/v1/audio/transcriptions",
                "Transcription (json, text, srt, vtt, verbose_json)",
                "语音转写（json、text、srt、vtt、verbose_json）",
            ),
            Endpoint("POST", "/v1/audio/translations", "Translation to English", "翻译为英文"),
            Endpoint("GET", "/v1/models", "Models", "模型列表"),
        ),
        (("openai_sdk", tr("The openai SDK", "使用 openai SDK"), "Python"),),
    ),
    Dialect(
        "fish",
        "Fish open API",
        "Fish 开放 API",
        "004",
        "Authorization: Bearer",
        "JSON or MessagePack bodies; binary audio, or a URL with cache: true.",
        "支持 JSON 或 MessagePack 请求体；返回音频，或在 cache: true 时返回 URL。",
        (
            Endpoint(
                "POST",
                "/api/open/tts",
                "Text to speech (versions v1, v2, s1, v3-turbo, v3-hd)",
                "文本转语音（版本 v1、v2、s1、v3-turbo、v3-hd）",
            ),
        ),
    ),
)
LANGUAGE_TABS = (("curl", "curl"), ("python", "Python"), ("javascript", "JavaScript"))


def code_panel(text: rx.Var[str], test_id: str, label: Any = "") -> rx.Component:
    """A snippet in a scrolling monospace box, under a bar with its copy button."""
    return rx.box(
        rx.hstack(
            rx.text(label, size="1", color=styles.TEXT_SUBTLE),
            copy_button(text, data_testid=f"copy-{test_id}"),
            justify="between",
            align="center",
            padding="0.375rem 0.5rem 0.375rem 1rem",
            border_bottom=styles.BORDER,
            width="100%",
        ),
        rx.el.pre(
            rx.el.code(text),
            margin="0",
            padding="1rem",
            overflow_x="auto",
            font_family=styles.MONO_FAMILY,
            font_size="0.8125rem",
            line_height="1.6",
            white_space="pre",
            data_testid=test_id,
        ),
        width="100%",
        border=styles.BORDER,
        border_radius="var(--radius-3)",
        background=rx.color("gray", 2),
        overflow="hidden",
    )


def _key_callout() -> rx.Component:
    return rx.cond(
        DevelopersState.has_key,
        callout(
            "key-round",
            tr(
                rx.fragment(
                    "Examples use your newest key “",
                    DevelopersState.key_name,
                    "” (",
                    rx.code(DevelopersState.key_hint, data_testid="key-hint"),
                    "). Its full value was shown once when you created it: set ",
                    rx.code(f"{KEY_VARIABLE}"),
                    " to it and every snippet runs as copied.",
                ),
                rx.fragment(
                    "示例使用你最新的密钥“",
                    DevelopersState.key_name,
                    "”（",
                    rx.code(DevelopersState.key_hint, data_testid="key-hint"),
                    "）。完整密钥只在创建时显示一次：把它设为环境变量 ",
                    rx.code(f"{KEY_VARIABLE}"),
                    "，示例即可直接运行。",
                ),
            ),
        ),
        callout(
            "key-round",
            tr(
                "You have no API key yet. ",
                "你还没有 API 密钥。",
            ),
            rx.link(
                tr("Create a key", "创建密钥"),
                href=routes.KEYS,
                weight="medium",
                data_testid="create-key-link",
            ),
            tr(" and the examples will name it.", "，示例中会显示它。"),
            color="amber",
        ),
    )


def _basics() -> rx.Component:
    return card(
        card_title("server", tr("Base URL", "服务地址")),
        rx.hstack(
            rx.code(
                DevelopersState.base_url,
                size="3",
                variant="ghost",
                color=rx.color("gray", 12),
                overflow_wrap="anywhere",
                data_testid="base-url",
            ),
            copy_button(DevelopersState.base_url),
            justify="between",
            align="center",
            width="100%",
            wrap="wrap",
            gap="2",
        ),
        muted(
            tr(
                rx.fragment(
                    "Authenticate every request with ",
                    rx.code("X-API-Key: sk-…"),
                    " or ",
                    rx.code("Authorization: Bearer sk-…"),
                    ". Every billable answer carries X-Cost and X-Balance-Remaining headers.",
                ),
                rx.fragment(
                    "每个请求用 ",
                    rx.code("X-API-Key: sk-…"),
                    " 或 ",
                    rx.code("Authorization: Bearer sk-…"),
                    " 认证。计费的响应会带上 X-Cost 和 X-Balance-Remaining 响应头。",
                ),
            )
        ),
        rx.link(
            rx.hstack(
                rx.text(tr("Full API reference", "完整 API 参考"), size="2", weight="medium"),
                rx.icon("arrow-up-right", size=14),
                spacing="1",
                align="center",
            ),
            href=routes.API_DOCS,
            is_external=True,
        ),
    )


def _endpoint_row(endpoint: Endpoint) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.badge(
                endpoint.method, variant="soft", color_scheme="gray", font_family=styles.MONO_FAMILY
            )
        ),
        rx.table.cell(rx.code(endpoint.path, variant="ghost", size="1"), white_space="nowrap"),
        rx.table.cell(tr(endpoint.english, endpoint.chinese), min_width="12rem"),
    )


def _dialect_panel(dialect: Dialect) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.badge(tr(f"Seed {dialect.seed}", f"规范 {dialect.seed}"), variant="surface"),
            rx.badge(dialect.auth, variant="soft", color_scheme="gray"),
            spacing="2",
            wrap="wrap",
        ),
        muted(tr(dialect.english, dialect.chinese)),
        scrolling_table(
            rx.table.body(*(_endpoint_row(endpoint) for endpoint in dialect.endpoints)),
            size="1",
        ),
        rx.tabs.root(
            rx.tabs.list(
                *(rx.tabs.trigger(label, value=language) for language, label in LANGUAGE_TABS),
                size="1",
            ),
            *(
                rx.tabs.content(
                    code_panel(
                        DevelopersState.examples[f"{dialect.key}_{language}"],
                        f"example-{dialect.key}-{language}",
                        label,
                    ),
                    value=language,
                    padding_top="0.75rem",
                )
                for language, label in LANGUAGE_TABS
            ),
            default_value="curl",
            width="100%",
        ),
        *(
            rx.vstack(
                rx.text(title, size="2", weight="medium"),
                code_panel(
                    DevelopersState.examples[key],
                    f"example-{key}",
                    language,
                ),
                spacing="2",
                width="100%",
            )
            for key, title, language in dialect.extra
        ),
        spacing="3",
        width="100%",
        padding_top="1rem",
    )


def _dialects() -> rx.Component:
    return card(
        card_title("code-xml", tr("Dialects", "接口风格")),
        rx.tabs.root(
            rx.box(
                rx.tabs.list(
                    *(
                        rx.tabs.trigger(
                            tr(dialect.title, dialect.title_zh),
                            value=dialect.key,
                            data_testid=f"dialect-{dialect.key}",
                        )
                        for dialect in DIALECTS
                    ),
                    flex_wrap="wrap",
                ),
                width="100%",
            ),
            *(rx.tabs.content(_dialect_panel(dialect), value=dialect.key) for dialect in DIALECTS),
            default_value="amphion",
            width="100%",
        ),
    )


def _guide() -> rx.Component:
    return app_shell(
        page_header(
            tr("API guide", "API 指南"),
            tr(
                "Four API dialects, one platform: pick the one your client speaks.",
                "四种接口风格，同一个平台：选择你的客户端使用的那一种。",
            ),
        ),
        _key_callout(),
        _basics(),
        _dialects(),
        active_href=routes.DEVELOPERS,
    )


def developers_page() -> rx.Component:
    return private_page(DevelopersState, _guide())
