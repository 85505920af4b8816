"""The playground's emotion tab: upload or record, then a bar chart of the seven emotion scores,
the strongest one, the duration and the cost."""

from __future__ import annotations

import reflex as rx

from console import styles
from console.components.common import empty_state
from console.i18n import tr
from console.pages.playground_parts import (
    audio_input_card,
    audio_panel,
    figure,
    figures,
    model_picker,
    option,
    result_card,
)
from console.state.playground_sed import UPLOAD_ID
from console.state.playground_sed import PlaygroundSedState as State


def _input_card() -> rx.Component:
    return audio_input_card(
        State,
        option(
            tr("Model", "模型"),
            model_picker(State.models, State.model, State.set_model, test_id="sed-model"),
        ),
        upload_id=UPLOAD_ID,
        on_drop=State.analyze_upload(rx.upload_files(upload_id=UPLOAD_ID)),
        prefix="sed",
    )


def _chart() -> rx.Component:
    return rx.box(
        rx.recharts.bar_chart(
            rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
            rx.recharts.x_axis(
                data_key=tr("label", "label_zh"), tick_line=False, font_size=12, interval=0
            ),
            rx.recharts.y_axis(unit="%", width=44, tick_line=False, font_size=12),
            rx.recharts.graphing_tooltip(cursor=False),
            rx.recharts.bar(
                data_key="score",
                name=tr("Score", "得分"),
                unit="%",
                fill=rx.color("accent", 9),
                radius=[4, 4, 0, 0],
                is_animation_active=False,
            ),
            data=State.scores,
            width="100%",
            height=260,
            margin={"top": 10, "right": 8, "left": 0, "bottom": 0},
        ),
        width="100%",
        data_testid="sed-chart",
    )


def _result_card() -> rx.Component:
    return result_card(
        "chart-column",
        tr("Emotion scores", "情感得分"),
        rx.cond(
            State.has_result,
            rx.vstack(
                figures(
                    figure(
                        tr("Strongest", "主要情感"), tr(State.top, State.top_zh), test_id="sed-top"
                    ),
                    figure(tr("Duration", "时长"), State.duration, test_id="sed-duration"),
                    figure(tr("Cost", "费用"), rx.text.span("¥", State.cost), test_id="sed-cost"),
                ),
                _chart(),
                rx.cond(
                    State.heuristic,
                    rx.text(
                        tr(
                            "Offline, emotion comes from prosody and the words: a heuristic, "
                            "not a trained emotion model.",
                            "离线模式下，情感由韵律和文本推断：这是启发式估计，并非训练得到的情感模型。",
                        ),
                        size="1",
                        color=styles.TEXT_SUBTLE,
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            empty_state(
                "chart-column",
                tr("No analysis yet", "暂无分析结果"),
                tr(
                    "Upload a recording or use the microphone to score seven emotions.",
                    "上传音频或使用麦克风录音，即可获得七种情感的得分。",
                ),
            ),
        ),
    )


def sed_panel() -> rx.Component:
    return audio_panel(_input_card(), _result_card(), on_mount=State.load)
