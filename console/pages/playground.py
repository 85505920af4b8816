"""``/playground``: try speech synthesis, recognition and emotion analysis in three tabs.

Each run is billed and recorded like an API call; the balance in the header follows it. The
tabs live in ``playground_tts``, ``playground_asr`` and ``playground_sed``; this module holds the
frame; ``playground_parts`` the pieces the tabs share.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from console import routes
from console.components.layout import app_shell, page_header, private_page
from console.i18n import tr
from console.pages.playground_asr import asr_panel
from console.pages.playground_sed import sed_panel
from console.pages.playground_tts import tts_panel
from console.state.playground import PlaygroundState


def _balance_badge() -> rx.Component:
    return rx.badge(
        rx.icon("wallet", size=13),
        rx.text.span(
            tr("Balance ", "余额 "),
            rx.text.span("¥", PlaygroundState.balance, data_testid="playground-balance"),
        ),
        size="2",
        variant="soft",
        radius="full",
    )


def _tab(value: str, icon: str, label: Any) -> rx.Component:
    return rx.tabs.trigger(
        rx.hstack(rx.icon(icon, size=15), rx.text(label), spacing="2", align="center"),
        value=value,
        data_testid=f"tab-{value}",
    )


def _panel(content: rx.Component, value: str) -> rx.Component:
    # Kept mounted while another tab shows: a stream keeps playing, a recording keeps going.
    return rx.tabs.content(
        content,
        value=value,
        force_mount=True,
        padding_top="1.25rem",
        style={"&[data-state='inactive']": {"display": "none"}},
    )


def _playground() -> rx.Component:
    return app_shell(
        page_header(
            tr("Playground", "体验中心"),
            tr(
                "Try every model before you write a line of code. Runs are billed like API calls.",
                "无需写代码即可体验所有模型，按 API 调用同样计费。",
            ),
            _balance_badge(),
        ),
        rx.tabs.root(
            rx.tabs.list(
                _tab("tts", "audio-lines", tr("Text to speech", "语音合成")),
                _tab("asr", "captions", tr("Speech to text", "语音识别")),
                _tab("sed", "smile", tr("Emotion", "情感分析")),
                size="2",
                overflow_x="auto",
            ),
            _panel(tts_panel(), "tts"),
            _panel(asr_panel(), "asr"),
            _panel(sed_panel(), "sed"),
            default_value="tts",
            width="100%",
        ),
        active_href=routes.PLAYGROUND,
    )


def playground_page() -> rx.Component:
    return private_page(PlaygroundState, _playground())
