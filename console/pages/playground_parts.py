"""Pieces the playground's three tabs share: option pickers, the upload-or-record box and the
card and frame of the two tabs that work on a recording, result figures and cards."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventType

from console import styles
from console.components.audio import drop_zone
from console.components.common import card, card_title, muted
from console.components.recorder import recorder_buttons, zone_id
from console.i18n import tr

AUDIO_ACCEPT = {
    "audio/*": [".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".webm", ".aiff"]
}


def option(label: Any, control: rx.Component, *, hint: Any = None) -> rx.Component:
    """A labelled control in an options card."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium", color=rx.color("gray", 12)),
        control,
        rx.text(hint, size="1", color=styles.TEXT_SUBTLE) if hint is not None else rx.fragment(),
        spacing="1",
        width="100%",
    )


def model_picker(
    models: rx.Var, value: rx.Var[str], on_change: EventType[str], *, test_id: str
) -> rx.Component:
    """A select of catalog models, each with its price."""
    return rx.select.root(
        rx.select.trigger(width="100%", data_testid=test_id),
        rx.select.content(
            rx.foreach(
                models,
                lambda model: rx.select.item(
                    rx.text.span(model["name"], " · ", tr(model["price"], model["price_zh"])),
                    value=model["id"],
                ),
            ),
        ),
        value=value,
        on_change=on_change,
    )


def plain_picker(
    values: rx.Var,
    value: rx.Var[str],
    on_change: EventType[str],
    *,
    test_id: str,
    named: dict[str, Any] | None = None,
) -> rx.Component:
    """A select of plain values (formats, rates, languages); ``named`` gives some of them a
    display name (e.g. ``{"default": tr("Default", "默认")}``)."""

    def label(item: rx.Var) -> Any:
        shown: Any = item
        for special, name in (named or {}).items():
            shown = rx.cond(item == special, name, shown)
        return shown

    return rx.select.root(
        rx.select.trigger(width="100%", data_testid=test_id),
        rx.select.content(rx.foreach(values, lambda item: rx.select.item(label(item), value=item))),
        value=value,
        on_change=on_change,
    )


def figure(label: Any, value: Any, *, test_id: str) -> rx.Component:
    """A small result figure (cost, duration) under a run."""
    return rx.vstack(
        rx.text(label, size="1", color=styles.TEXT_SUBTLE),
        rx.text(value, size="3", weight="bold", style=styles.NUMERIC, data_testid=test_id),
        spacing="0",
        min_width="5.5rem",
    )


def audio_input(
    *,
    upload_id: str,
    on_drop: EventType[Any],
    busy: rx.Var[bool],
    recording: rx.Var[bool],
    file_name: rx.Var[str],
    on_record_started: EventType[Any],
    on_record_stopped: EventType[()],
    prefix: str,
) -> rx.Component:
    """Drop or choose an audio file, or record one from the microphone."""
    zone = drop_zone(
        upload_id,
        rx.center(
            rx.icon("upload", size=20, color=rx.color("accent", 11)),
            width="2.75rem",
            height="2.75rem",
            border_radius="full",
            background=rx.color("accent", 3),
        ),
        rx.text(
            tr("Drop an audio file here, or click to choose", "拖放音频文件到此处，或点击选择"),
            size="2",
            weight="medium",
            text_align="center",
        ),
        rx.text(
            tr(
                "WAV, MP3, M4A, FLAC, OGG or WebM, checked by content",
                "支持 WAV、MP3、M4A、FLAC、OGG、WebM，按内容识别格式",
            ),
            size="1",
            color=styles.TEXT_SUBTLE,
            text_align="center",
        ),
        accept=AUDIO_ACCEPT,
        on_drop=on_drop,
        disabled=busy,
        border=f"1px dashed {rx.color('gray', 7)}",
        padding="1.5rem 1rem",
        _hover={"background": rx.color("gray", 2)},
        data_testid=f"{prefix}-upload",
    )
    record = recorder_buttons(
        upload_id,
        recording=recording,
        on_started=on_record_started,
        on_stopped=on_record_stopped,
        disabled=busy,
    )
    return rx.vstack(
        rx.box(zone, id=zone_id(upload_id), width="100%"),
        rx.hstack(
            record,
            rx.cond(
                busy,
                rx.hstack(
                    rx.spinner(size="2"),
                    rx.text(tr("Working on ", "正在处理 "), file_name, "…", size="2"),
                    spacing="2",
                    align="center",
                    data_testid=f"{prefix}-busy",
                ),
                rx.cond(
                    file_name != "",
                    muted(tr("Last file: ", "上一个文件："), file_name),
                ),
            ),
            spacing="3",
            align="center",
            wrap="wrap",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def audio_input_card(
    state: Any, *options: rx.Component, upload_id: str, on_drop: EventType[Any], prefix: str
) -> rx.Component:
    """The "Audio" card of a tab that works on a recording: its ``options``, then the
    upload-or-record box wired to ``state`` (an ``AudioInputMixin`` state)."""
    return result_card(
        "mic",
        tr("Audio", "音频"),
        *options,
        audio_input(
            upload_id=upload_id,
            on_drop=on_drop,
            busy=state.busy,
            recording=state.recording,
            file_name=state.file_name,
            on_record_started=state.recording_started,
            on_record_stopped=state.recording_stopped,
            prefix=prefix,
        ),
        spacing="4",
    )


def figures(*items: rx.Component, **props: Any) -> rx.Component:
    """A run's result figures in a row that wraps."""
    return rx.flex(*items, gap="4", wrap="wrap", width="100%", **props)


def audio_panel(input_card: rx.Component, result: rx.Component, *, on_mount: Any) -> rx.Component:
    """A recording tab: the input card beside its result (stacked on a narrow screen)."""
    return rx.grid(
        input_card,
        result,
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="4",
        width="100%",
        on_mount=on_mount,
    )


def result_card(
    icon: str, title: Any, *children: rx.Component, spacing: str = "3", **props: Any
) -> rx.Component:
    """A card of a tab (options, input, result), its children ``spacing`` apart."""
    return card(
        card_title(icon, title), rx.vstack(*children, spacing=spacing, width="100%"), **props
    )
