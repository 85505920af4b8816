"""The playground's text-to-speech tab: text with a live count and estimate, the options, and a
player that starts while the speech is still being made."""

from __future__ import annotations

import reflex as rx
from reflex.event import no_args_event_spec

from console import styles
from console.components.common import empty_state
from console.i18n import tr
from console.pages.playground_parts import (
    figure,
    figures,
    model_picker,
    option,
    plain_picker,
    result_card,
)
from console.state.playground_tts import PlaygroundTtsState as State


class StreamingPlayer(rx.el.Audio):
    """``<audio>`` that also reports the end of playback (the stream then hands over to the
    stored file)."""

    on_ended: rx.EventHandler[no_args_event_spec]


def _voice_picker() -> rx.Component:
    def item(voice: rx.Var) -> rx.Component:
        return rx.select.item(
            rx.text.span(voice["name"], rx.text.span(" · ", voice["detail"], opacity="0.6")),
            value=voice["voice_id"],
        )

    return rx.select.root(
        rx.select.trigger(width="100%", data_testid="tts-voice"),
        rx.select.content(
            rx.select.group(
                rx.select.label(tr("System voices", "系统音色")),
                rx.foreach(State.system_voices, item),
            ),
            rx.cond(
                State.own_voices.length() > 0,
                rx.select.group(
                    rx.select.separator(),
                    rx.select.label(tr("My cloned voices", "我的复刻音色")),
                    rx.foreach(State.own_voices, item),
                ),
            ),
        ),
        value=State.voice,
        on_change=State.set_voice,
    )


def _slider(
    label, value, on_commit, *, low: float, high: float, step: float, unit: str, test_id: str
):
    return option(
        rx.hstack(
            rx.text(label),
            rx.text(value, unit, style=styles.NUMERIC, color=styles.TEXT_MUTED, weight="regular"),
            justify="between",
            width="100%",
        ),
        rx.slider(
            default_value=[value],
            min=low,
            max=high,
            step=step,
            on_value_commit=on_commit,
            size="1",
            data_testid=test_id,
        ),
    )


def _options() -> rx.Component:
    return result_card(
        "sliders-horizontal",
        tr("Options", "参数"),
        option(
            tr("Model", "模型"),
            model_picker(State.models, State.model, State.set_model, test_id="tts-model"),
        ),
        option(tr("Voice", "音色"), _voice_picker()),
        rx.grid(
            option(
                tr("Format", "格式"),
                plain_picker(State.formats, State.format, State.set_format, test_id="tts-format"),
            ),
            option(
                tr("Sample rate", "采样率"),
                plain_picker(
                    State.sample_rates,
                    State.sample_rate,
                    State.set_sample_rate,
                    test_id="tts-rate",
                    named={"default": tr("Default", "默认")},
                ),
            ),
            columns="2",
            spacing="3",
            width="100%",
        ),
        _slider(
            tr("Speed", "语速"),
            State.speed,
            State.set_speed,
            low=0.5,
            high=2.0,
            step=0.05,
            unit="×",
            test_id="tts-speed",
        ),
        _slider(
            tr("Pitch", "音调"),
            State.pitch,
            State.set_pitch,
            low=0.5,
            high=2.0,
            step=0.05,
            unit="×",
            test_id="tts-pitch",
        ),
        _slider(
            tr("Volume", "音量"),
            State.volume,
            State.set_volume,
            low=-20,
            high=10,
            step=1,
            unit=" dB",
            test_id="tts-volume",
        ),
        rx.cond(
            State.instruct_supported,
            option(
                tr("Instruction", "风格指令"),
                rx.text_area(
                    value=State.instruction,
                    on_change=State.set_instruction,
                    debounce_timeout=300,
                    placeholder=tr(
                        "e.g. Speak warmly and a little slower", "例如：语气温柔，语速稍慢"
                    ),
                    rows="2",
                    max_length=500,
                    width="100%",
                    data_testid="tts-instruction",
                ),
                hint=tr("This voice follows style instructions.", "该音色支持风格指令。"),
            ),
        ),
        spacing="4",
    )


def _text_card() -> rx.Component:
    counter = rx.hstack(
        rx.text(
            rx.text.span(State.characters, data_testid="tts-characters"),
            tr(" characters", " 字符"),
            size="2",
            color=styles.TEXT_MUTED,
            style=styles.NUMERIC,
        ),
        rx.text("·", color=styles.TEXT_SUBTLE),
        rx.text(
            tr("Estimated ¥", "预计 ¥"),
            rx.text.span(State.estimate, data_testid="tts-estimate"),
            size="2",
            color=styles.TEXT_MUTED,
            style=styles.NUMERIC,
        ),
        rx.cond(
            State.long_text,
            rx.badge(
                rx.icon("layers", size=12),
                tr("Long text: split and merged", "长文本：自动分段合成"),
                color_scheme="amber",
                variant="soft",
                data_testid="tts-long",
            ),
        ),
        spacing="2",
        align="center",
        wrap="wrap",
    )
    return result_card(
        "type",
        tr("Text", "文本"),
        rx.text_area(
            value=State.text,
            on_change=State.set_text,
            debounce_timeout=250,
            placeholder=tr(
                "Type what the voice should say, in Chinese or English…",
                "输入要朗读的文字，中文或英文均可…",
            ),
            rows="8",
            width="100%",
            resize="vertical",
            data_testid="tts-text",
        ),
        rx.flex(
            counter,
            rx.button(
                rx.icon("play", size=15),
                tr("Generate", "生成语音"),
                on_click=State.generate,
                loading=State.generating,
                size="3",
                data_testid="tts-generate",
            ),
            justify="between",
            align="center",
            gap="3",
            wrap="wrap",
            width="100%",
        ),
    )


def _result_card() -> rx.Component:
    player = StreamingPlayer.create(
        src=State.audio_src,
        controls=True,
        auto_play=State.autoplay,
        preload="auto",
        on_ended=State.playback_ended,
        width="100%",
        data_testid="tts-player",
    )
    return result_card(
        "audio-lines",
        tr("Result", "结果"),
        rx.cond(
            State.audio_src != "",
            rx.vstack(
                player,
                rx.cond(
                    State.generating,
                    rx.hstack(
                        rx.spinner(size="1"),
                        rx.text(
                            tr("Streaming, playing as it arrives…", "流式生成中，边生成边播放…"),
                            size="2",
                        ),
                        spacing="2",
                        align="center",
                        color=styles.TEXT_MUTED,
                    ),
                ),
                rx.cond(
                    State.done,
                    figures(
                        figure(
                            tr("Cost", "费用"), rx.text.span("¥", State.cost), test_id="tts-cost"
                        ),
                        figure(tr("Duration", "时长"), State.duration, test_id="tts-duration"),
                        figure(
                            tr("Characters", "字符数"),
                            State.billed_characters,
                            test_id="tts-billed",
                        ),
                        rx.link(
                            rx.button(
                                rx.icon("download", size=14),
                                tr("Download", "下载"),
                                variant="soft",
                                size="2",
                            ),
                            href=State.download_url,
                            is_external=False,
                            margin_left="auto",
                            data_testid="tts-download",
                        ),
                        align="center",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            empty_state(
                "audio-lines",
                tr("Nothing generated yet", "尚未生成"),
                tr(
                    "Type some text, pick a voice and press Generate: playback starts as soon as "
                    "the first audio arrives.",
                    "输入文字、选择音色后点击“生成语音”，首段音频到达即开始播放。",
                ),
            ),
        ),
    )


def tts_panel() -> rx.Component:
    return rx.grid(
        rx.vstack(_text_card(), _result_card(), spacing="4", width="100%"),
        _options(),
        columns=rx.breakpoints(initial="1", lg="3fr 2fr"),
        spacing="4",
        width="100%",
    )
