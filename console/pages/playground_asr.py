"""The playground's speech-recognition tab: upload or record, then the transcript with segment
times, the detected language and emotion, copy and txt / srt / vtt downloads."""

from __future__ import annotations

import reflex as rx

from console import styles
from console.components.common import copy_button, empty_state
from console.components.tables import scrolling_table, table_header
from console.i18n import tr
from console.pages.playground_parts import (
    audio_input_card,
    audio_panel,
    figure,
    figures,
    model_picker,
    option,
    plain_picker,
    result_card,
)
from console.state.playground_asr import UPLOAD_ID
from console.state.playground_asr import PlaygroundAsrState as State


def _input_card() -> rx.Component:
    return audio_input_card(
        State,
        rx.grid(
            option(
                tr("Model", "模型"),
                model_picker(State.models, State.model, State.set_model, test_id="asr-model"),
            ),
            option(
                tr("Language", "语言"),
                plain_picker(
                    State.languages,
                    State.language,
                    State.set_language,
                    test_id="asr-language",
                    named={"auto": tr("Detect automatically", "自动检测")},
                ),
            ),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        upload_id=UPLOAD_ID,
        on_drop=State.transcribe_upload(rx.upload_files(upload_id=UPLOAD_ID)),
        prefix="asr",
    )


def _download(kind: str) -> rx.Component:
    return rx.button(
        rx.icon("download", size=13),
        kind,
        on_click=State.download(kind),
        variant="soft",
        color_scheme="gray",
        size="1",
        data_testid=f"asr-download-{kind}",
    )


def _segment_row(segment: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(
                segment["start"], " – ", segment["end"], size="1", font_family=styles.MONO_FAMILY
            ),
            white_space="nowrap",
            color=styles.TEXT_MUTED,
        ),
        rx.table.cell(rx.text(segment["text"], size="2")),
    )


def _result_card() -> rx.Component:
    numbers = figures(
        figure(tr("Language", "语言"), State.detected_language, test_id="asr-detected-language"),
        figure(tr("Emotion", "情感"), tr(State.emotion, State.emotion_zh), test_id="asr-emotion"),
        figure(tr("Duration", "时长"), State.duration, test_id="asr-duration"),
        figure(tr("Cost", "费用"), rx.text.span("¥", State.cost), test_id="asr-cost"),
    )
    transcript = rx.box(
        rx.cond(
            State.text != "",
            rx.text(State.text, size="3", white_space="pre-wrap"),
            rx.text(
                tr("(no speech heard)", "（未识别到语音）"), size="2", color=styles.TEXT_SUBTLE
            ),
        ),
        padding="0.75rem 1rem",
        border_radius="var(--radius-3)",
        background=rx.color("gray", 2),
        border=styles.BORDER,
        width="100%",
        data_testid="asr-text",
    )
    segments = rx.cond(
        State.segments.length() > 0,
        scrolling_table(
            table_header(tr("Time", "时间"), tr("Text", "文本")),
            rx.table.body(rx.foreach(State.segments, _segment_row)),
            size="1",
            variant="surface",
            max_height="18rem",
            test_id="asr-segments",
        ),
    )
    return result_card(
        "captions",
        tr("Transcript", "识别结果"),
        rx.cond(
            State.has_result,
            rx.vstack(
                numbers,
                transcript,
                rx.hstack(
                    copy_button(State.text, data_testid="asr-copy"),
                    _download("txt"),
                    _download("srt"),
                    _download("vtt"),
                    spacing="2",
                    wrap="wrap",
                ),
                segments,
                spacing="3",
                width="100%",
            ),
            empty_state(
                "captions",
                tr("No transcript yet", "暂无识别结果"),
                tr(
                    "Upload a recording or use the microphone; the text appears here with "
                    "segment times.",
                    "上传音频或使用麦克风录音，识别文本及分段时间将显示在这里。",
                ),
            ),
        ),
    )


def asr_panel() -> rx.Component:
    return audio_panel(_input_card(), _result_card(), on_mount=State.load)
