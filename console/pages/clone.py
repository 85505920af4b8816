"""``/voices/clone``: the voice clone wizard (sample → name and model → deploying → try it)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from console import routes, styles
from console.components.audio import audio_player, drop_zone, sample_problems, upload_icon
from console.components.common import callout, card, card_title, money, muted
from console.components.forms import field, form_message, input_field, stacked_form
from console.components.layout import app_shell, page_header, private_page
from console.components.recorder import recorder_buttons, zone_id
from console.i18n import tr
from console.state.clone import SAMPLE_UPLOAD_ID, CloneState

_ACCEPTED_AUDIO = {
    "audio/*": [".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".webm"],
}
_STEPS = (
    ("Sample", "样本"),
    ("Name and model", "名称与模型"),
    ("Deploying", "部署"),
    ("Try it", "试听"),
)


def _stepper() -> rx.Component:
    def step(number: int, label: tuple[str, str]) -> rx.Component:
        reached = CloneState.step >= number
        return rx.hstack(
            rx.center(
                rx.cond(
                    CloneState.step > number,
                    rx.icon("check", size=14),
                    rx.text(str(number), size="1", weight="bold"),
                ),
                width="1.6rem",
                height="1.6rem",
                min_width="1.6rem",
                border_radius="full",
                background=rx.cond(reached, rx.color("accent", 9), rx.color("gray", 4)),
                color=rx.cond(reached, "white", rx.color("gray", 11)),
            ),
            rx.text(
                tr(*label),
                size="2",
                weight=rx.cond(CloneState.step == number, "bold", "regular"),
                color=rx.cond(reached, rx.color("gray", 12), styles.TEXT_MUTED),
                display=["none", "block"] if number != 1 else "block",
                white_space="nowrap",
            ),
            spacing="2",
            align="center",
        )

    steps: list[rx.Component] = []
    for index, label in enumerate(_STEPS):
        if index:
            steps.append(
                rx.icon("chevron-right", size=14, color=styles.TEXT_SUBTLE, flex_shrink="0")
            )
        steps.append(step(index + 1, label))
    return rx.hstack(
        *steps,
        spacing="3",
        wrap="wrap",
        align="center",
        width="100%",
        data_testid="clone-steps",
    )


def _guidance() -> rx.Component:
    """Seed 001's audio requirements, as the user needs them before recording."""

    def rule(icon: str, title: tuple[str, str], text: tuple[str, str]) -> rx.Component:
        return rx.hstack(
            rx.icon(icon, size=16, color=rx.color("accent", 11), flex_shrink="0", margin_top="2px"),
            rx.vstack(
                rx.text(tr(*title), size="2", weight="medium"),
                muted(tr(*text)),
                spacing="0",
            ),
            spacing="3",
            align="start",
        )

    return card(
        card_title("list-checks", tr("What makes a good sample", "好样本的要求")),
        rule(
            "timer",
            ("10–20 seconds is best", "推荐 10–20 秒"),
            ("At least 10 s, at most 60 s.", "最短 10 秒，最长 60 秒。"),
        ),
        rule(
            "audio-lines",
            ("5 s of continuous, clear reading", "至少 5 秒连续清晰朗读"),
            (
                "One person only: no background music, noise or other voices.",
                "只有一个人的声音，没有背景音乐、噪音或其他人声。",
            ),
        ),
        rule(
            "file-audio",
            ("WAV (16-bit), MP3 or M4A", "WAV（16 位）、MP3 或 M4A"),
            ("Up to 10 MB; mono or stereo.", "不超过 10 MB，单声道或双声道均可。"),
        ),
        rule(
            "gauge",
            ("16 kHz or more", "采样率 ≥ 16 kHz"),
            (
                "Record close to the microphone in a quiet room.",
                "在安静的房间里，靠近麦克风录制。",
            ),
        ),
        height="fit-content",
    )


def _check_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.hstack(
        rx.match(
            row["verdict"],
            ("ok", rx.icon("circle-check", size=16, color=rx.color("grass", 10), flex_shrink="0")),
            ("fail", rx.icon("circle-x", size=16, color=rx.color("red", 10), flex_shrink="0")),
            rx.icon("circle-minus", size=16, color=styles.TEXT_SUBTLE, flex_shrink="0"),
        ),
        rx.vstack(
            rx.text(tr(row["label_en"], row["label_zh"]), size="2", weight="medium"),
            rx.text(
                tr(row["requirement_en"], row["requirement_zh"]), size="1", color=styles.TEXT_SUBTLE
            ),
            spacing="0",
            flex="1",
        ),
        rx.text(row["figure"], size="2", weight="medium", style=styles.NUMERIC),
        spacing="3",
        align="center",
        width="100%",
        padding_y="0.4rem",
        border_bottom=styles.BORDER,
        data_testid="sample-check",
        data_verdict=row["verdict"],
    )


def _sample_report() -> rx.Component:
    return rx.cond(
        CloneState.sample_checked,
        rx.vstack(
            rx.hstack(
                rx.icon("file-audio", size=16, color=styles.TEXT_SUBTLE),
                rx.text(CloneState.sample_name, size="2", weight="medium", trim="both"),
                rx.cond(
                    CloneState.sample_usable,
                    rx.badge(tr("Usable", "可以使用"), color_scheme="grass", radius="full"),
                    rx.badge(tr("Refused", "不可用"), color_scheme="red", radius="full"),
                ),
                spacing="2",
                align="center",
                data_testid="sample-verdict",
            ),
            rx.vstack(rx.foreach(CloneState.checks, _check_row), spacing="0", width="100%"),
            sample_problems(CloneState.problems, test_id="sample-problems", width="100%"),
            spacing="3",
            width="100%",
        ),
    )


def _sample_step() -> rx.Component:
    zone = rx.box(
        drop_zone(
            SAMPLE_UPLOAD_ID,
            upload_icon(CloneState.checking, size=22),
            rx.text(
                rx.cond(
                    CloneState.checking,
                    tr("Checking the sample…", "正在检查样本…"),
                    tr(
                        "Drop an audio file here, or click to choose",
                        "将音频文件拖到这里，或点击选择",
                    ),
                ),
                size="2",
                weight="medium",
                text_align="center",
            ),
            rx.text(
                tr(
                    "WAV, MP3 or M4A · 10–60 s · up to 10 MB",
                    "WAV、MP3 或 M4A · 10–60 秒 · 不超过 10 MB",
                ),
                size="1",
                color=styles.TEXT_SUBTLE,
                text_align="center",
            ),
            accept=_ACCEPTED_AUDIO,
            on_drop=CloneState.handle_sample(rx.upload_files(upload_id=SAMPLE_UPLOAD_ID)),
            on_drop_rejected=CloneState.sample_rejected,
            padding="1.75rem 1rem",
            border=f"1.5px dashed {rx.color('gray', 7)}",
            background=rx.color("gray", 2),
            _hover={"border_color": rx.color("accent", 8), "background": rx.color("accent", 2)},
            data_testid="sample-upload",
        ),
        id=zone_id(SAMPLE_UPLOAD_ID),
        width="100%",
    )
    consent = rx.el.label(
        rx.hstack(
            rx.checkbox(
                checked=CloneState.consent,
                on_change=CloneState.set_consent,
                size="2",
                data_testid="consent",
                margin_top="2px",
            ),
            rx.text(
                tr(
                    "I own this voice or have permission to clone it.",
                    "我是该声音的所有者，或已获得复刻该声音的许可。",
                ),
                size="2",
            ),
            spacing="2",
            align="start",
        ),
        cursor="pointer",
    )
    return rx.grid(
        card(
            card_title("mic-vocal", tr("Your voice sample", "你的声音样本")),
            zone,
            rx.hstack(
                rx.text(tr("or", "或"), size="2", color=styles.TEXT_SUBTLE),
                recorder_buttons(
                    SAMPLE_UPLOAD_ID,
                    recording=CloneState.recording,
                    on_started=CloneState.recording_started,
                    on_stopped=CloneState.recording_stopped,
                    disabled=CloneState.checking,
                ),
                spacing="3",
                align="center",
            ),
            _sample_report(),
            rx.separator(size="4"),
            consent,
            rx.hstack(
                rx.button(
                    tr("Continue", "下一步"),
                    rx.icon("arrow-right", size=15),
                    on_click=CloneState.to_details,
                    disabled=~CloneState.can_continue,
                    data_testid="continue",
                ),
                justify="end",
                width="100%",
            ),
        ),
        _guidance(),
        columns=rx.breakpoints(initial="1", md="3"),
        spacing="4",
        width="100%",
        style={"& > :first-child": {"grid_column": rx.breakpoints(initial="auto", md="span 2")}},
    )


def _details_step() -> rx.Component:
    return card(
        card_title("tag", tr("Name and model", "名称与模型")),
        stacked_form(
            input_field(
                tr("Name prefix", "名称前缀"),
                "prefix",
                hint=tr(
                    "1–10 letters, digits or underscores; it becomes part of the voice id.",
                    "1–10 个字母、数字或下划线，将成为音色 ID 的一部分。",
                ),
                name="prefix",
                default_value=CloneState.prefix,
                placeholder="myvoice",
                max_length=10,
                required=True,
                auto_focus=True,
                data_testid="prefix",
            ),
            field(
                tr("Target model", "目标模型"),
                rx.select.root(
                    rx.select.trigger(width="100%", id="target_model", data_testid="target-model"),
                    rx.select.content(
                        rx.foreach(
                            CloneState.models,
                            lambda model: rx.select.item(
                                model["name"], " · ", model["id"], value=model["id"]
                            ),
                        )
                    ),
                    name="target_model",
                    default_value=CloneState.target_model,
                ),
                control_id="target_model",
                error="",
                hint=tr(
                    "The voice speaks only with this model: model and voice must match.",
                    "复刻音色只能配合此模型使用（模型与音色必须一致）。",
                ),
            ),
            form_message(CloneState.form_error, tone="error"),
            rx.hstack(
                rx.button(
                    rx.icon("arrow-left", size=15),
                    tr("Back", "上一步"),
                    on_click=CloneState.back_to_sample,
                    variant="soft",
                    color_scheme="gray",
                    type="button",
                ),
                rx.button(
                    rx.icon("wand-sparkles", size=15),
                    tr("Create voice", "创建音色"),
                    type="submit",
                    loading=CloneState.submitting,
                    data_testid="create-voice",
                ),
                justify="between",
                width="100%",
            ),
            on_submit=CloneState.create_voice,
        ),
        max_width="36rem",
    )


def status_badge(status: rx.Var[str], **props: Any) -> rx.Component:
    """DEPLOYING / OK / UNDEPLOYED as a coloured badge (the seed's own words)."""
    return rx.badge(
        rx.cond(status == "DEPLOYING", rx.spinner(size="1"), rx.fragment()),
        rx.match(
            status,
            ("OK", tr("Ready · OK", "可用 · OK")),
            ("DEPLOYING", tr("Deploying · DEPLOYING", "部署中 · DEPLOYING")),
            ("UNDEPLOYED", tr("Refused · UNDEPLOYED", "未通过 · UNDEPLOYED")),
            status,
        ),
        color_scheme=rx.match(status, ("OK", "grass"), ("UNDEPLOYED", "red"), "amber"),
        radius="full",
        data_status=status,
        **{"size": "2", **props},
    )


def _voice_card() -> rx.Component:
    return card(
        card_title(
            "mic-vocal",
            tr("Your new voice", "你的新音色"),
            status_badge(CloneState.status, data_testid="voice-status"),
        ),
        rx.code(
            CloneState.voice_id,
            size="3",
            variant="ghost",
            overflow_wrap="anywhere",
            data_testid="voice-id",
        ),
        rx.match(
            CloneState.status,
            (
                "DEPLOYING",
                muted(
                    tr(
                        "We are profiling your sample and running a listening test on the new "
                        "voice. This usually takes under a minute; this page updates by itself.",
                        "正在分析样本并对新音色进行听辨测试，通常不到一分钟。本页面会自动更新。",
                    )
                ),
            ),
            (
                "UNDEPLOYED",
                rx.vstack(
                    callout(
                        "circle-alert",
                        tr("The voice was refused: ", "音色未通过："),
                        CloneState.reason,
                        color="red",
                        data_testid="voice-reason",
                    ),
                    rx.button(
                        rx.icon("rotate-ccw", size=15),
                        tr("Try another sample", "换一个样本"),
                        on_click=CloneState.start_over,
                        variant="soft",
                    ),
                    spacing="3",
                    width="100%",
                ),
            ),
            rx.fragment(),
        ),
    )


def _try_step() -> rx.Component:
    return card(
        card_title("play", tr("Try your voice", "试听你的音色")),
        rx.text_area(
            value=CloneState.try_text,
            on_change=CloneState.set_try_text.debounce(300),
            max_length=500,
            rows="3",
            width="100%",
            data_testid="try-text",
        ),
        rx.flex(
            rx.button(
                rx.icon("audio-lines", size=15),
                tr("Speak", "合成试听"),
                on_click=CloneState.try_voice,
                loading=CloneState.trying,
                data_testid="try-voice",
            ),
            rx.link(
                rx.button(
                    tr("Use in playground", "在体验中心使用"),
                    rx.icon("arrow-right", size=15),
                    variant="soft",
                ),
                href=CloneState.playground_href,
                data_testid="use-in-playground",
            ),
            rx.button(
                rx.icon("plus", size=15),
                tr("Clone another voice", "再复刻一个"),
                on_click=CloneState.start_over,
                variant="ghost",
                color_scheme="gray",
            ),
            spacing="3",
            wrap="wrap",
            align="center",
        ),
        form_message(CloneState.try_error, tone="error"),
        rx.cond(
            CloneState.try_audio != "",
            rx.vstack(
                audio_player(CloneState.try_audio, test_id="try-audio"),
                rx.text(
                    tr("Charged ", "本次扣费 "),
                    money(CloneState.try_cost),
                    size="1",
                    color=styles.TEXT_SUBTLE,
                    data_testid="try-cost",
                ),
                spacing="2",
                width="100%",
            ),
        ),
    )


def _wizard() -> rx.Component:
    return app_shell(
        page_header(
            tr("Clone a voice", "声音复刻"),
            tr(
                "Make a voice of your own from a short recording, then use it with the API.",
                "用一小段录音打造专属音色，然后通过 API 使用它。",
            ),
            rx.link(
                rx.button(
                    rx.icon("mic-vocal", size=15), tr("My voices", "我的音色"), variant="soft"
                ),
                href=routes.MY_VOICES,
            ),
        ),
        _stepper(),
        rx.match(
            CloneState.step,
            (1, _sample_step()),
            (2, _details_step()),
            (3, rx.box(_voice_card(), max_width="40rem", width="100%")),
            rx.vstack(_voice_card(), _try_step(), spacing="4", max_width="40rem", width="100%"),
        ),
        active_href=routes.CLONE,
    )


def clone_page() -> rx.Component:
    return private_page(CloneState, _wizard())
