"""``/voices/library``: system voices as cards, with filters, search and a spoken preview."""

from __future__ import annotations

from typing import Any

import reflex as rx

from console import routes, styles
from console.components.audio import audio_player
from console.components.common import card, empty_state
from console.components.filters import clear_filters_button, select_with_all
from console.components.layout import app_shell, page_header, private_page
from console.i18n import tr
from console.state.voice_library import VoiceLibraryState


def _select(
    value: rx.Var[str], on_change: Any, everything: Any, options: Any, test_id: str
) -> rx.Component:
    """One of the library's filters, as wide as its grid column."""
    return select_with_all(
        value, on_change, options, everything=everything, test_id=test_id, width="100%"
    )


def _filters() -> rx.Component:
    plain = lambda option: rx.select.item(option, value=option)  # noqa: E731
    return rx.grid(
        rx.box(
            rx.input(
                rx.input.slot(rx.icon("search", size=15)),
                value=VoiceLibraryState.search,
                on_change=VoiceLibraryState.set_search.debounce(250),
                placeholder=tr("Search name, trait, style…", "搜索名称、特点、风格…"),
                width="100%",
                data_testid="voice-search",
            ),
            grid_column=rx.breakpoints(initial="auto", md="span 2"),
        ),
        _select(
            VoiceLibraryState.model,
            VoiceLibraryState.set_model,
            tr("All models", "全部模型"),
            rx.foreach(
                VoiceLibraryState.model_options,
                lambda model: rx.select.item(model["name"], value=model["id"]),
            ),
            "filter-model",
        ),
        _select(
            VoiceLibraryState.category,
            VoiceLibraryState.set_category,
            tr("All categories", "全部类别"),
            rx.foreach(VoiceLibraryState.category_options, plain),
            "filter-category",
        ),
        _select(
            VoiceLibraryState.language,
            VoiceLibraryState.set_language,
            tr("All languages", "全部语言"),
            rx.foreach(VoiceLibraryState.language_options, plain),
            "filter-language",
        ),
        _select(
            VoiceLibraryState.gender,
            VoiceLibraryState.set_gender,
            tr("Any gender", "全部性别"),
            rx.fragment(
                rx.select.item(tr("Female", "女声"), value="female"),
                rx.select.item(tr("Male", "男声"), value="male"),
                rx.select.item(tr("Neutral", "中性"), value="neutral"),
            ),
            "filter-gender",
        ),
        columns=rx.breakpoints(initial="1", sm="2", md="6"),
        spacing="3",
        width="100%",
    )


def _fact(icon: str, value: Any) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=13, color=styles.TEXT_SUBTLE, flex_shrink="0"),
        rx.text(value, size="1", color=styles.TEXT_MUTED),
        spacing="1",
        align="center",
    )


def _voice_card(voice: rx.Var[dict[str, Any]]) -> rx.Component:
    playing = VoiceLibraryState.preview_voice == voice["voice_id"]
    return card(
        rx.hstack(
            rx.center(
                rx.icon("audio-lines", size=18, color=rx.color("accent", 11)),
                width="2.5rem",
                height="2.5rem",
                min_width="2.5rem",
                border_radius="full",
                background=rx.color("accent", 3),
            ),
            rx.vstack(
                rx.text(voice["name"], size="3", weight="bold", data_testid="voice-name"),
                rx.code(voice["voice_id"], size="1", variant="ghost", color=styles.TEXT_SUBTLE),
                spacing="0",
                min_width="0",
            ),
            rx.spacer(),
            rx.icon_button(
                rx.cond(
                    VoiceLibraryState.preview_loading == voice["voice_id"],
                    rx.spinner(size="2"),
                    rx.icon(rx.cond(playing, "volume-2", "play"), size=16),
                ),
                on_click=VoiceLibraryState.play_preview(voice["voice_id"]),
                variant=rx.cond(playing, "solid", "soft"),
                radius="full",
                aria_label=tr("Play preview", "试听"),
                title=tr("Play preview", "试听"),
                data_testid="play-preview",
            ),
            spacing="3",
            align="center",
            width="100%",
        ),
        rx.text(voice["trait"], size="2", color=rx.color("gray", 12)),
        rx.flex(
            _fact(
                "user",
                rx.text.span(tr(voice["gender_en"], voice["gender_zh"]), " · ", voice["age"]),
            ),
            _fact("tag", voice["category"]),
            _fact("languages", voice["languages"]),
            spacing="3",
            wrap="wrap",
        ),
        rx.flex(
            rx.foreach(
                voice["models"].to(list[str]),
                lambda model: rx.badge(model, variant="soft", color_scheme="gray", radius="full"),
            ),
            rx.cond(
                voice["features_en"] != "",
                rx.badge(
                    tr(voice["features_en"], voice["features_zh"]),
                    variant="soft",
                    color_scheme="indigo",
                    radius="full",
                ),
            ),
            spacing="1",
            wrap="wrap",
        ),
        rx.spacer(),
        rx.link(
            rx.button(
                tr("Use in playground", "在体验中心使用"),
                rx.icon("arrow-right", size=14),
                variant="soft",
                size="1",
            ),
            href=voice["playground"],
            data_testid="use-in-playground",
        ),
        height="100%",
        data_testid="voice-card",
        data_voice_id=voice["voice_id"],
    )


def _player() -> rx.Component:
    return rx.cond(
        VoiceLibraryState.preview_url != "",
        rx.flex(
            rx.hstack(
                rx.icon("volume-2", size=16, color=rx.color("accent", 11), flex_shrink="0"),
                rx.text(
                    VoiceLibraryState.preview_name,
                    size="2",
                    weight="medium",
                    white_space="nowrap",
                    data_testid="preview-name",
                ),
                spacing="2",
                align="center",
            ),
            audio_player(
                VoiceLibraryState.preview_url,
                test_id="preview-audio",
                height="2.25rem",
                min_width="0",
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            spacing="2",
            align=rx.breakpoints(initial="start", sm="center"),
            width="100%",
            padding="0.6rem 1rem",
            background=styles.SURFACE,
            border=styles.BORDER,
            border_radius="var(--radius-4)",
            box_shadow=styles.SHADOW_RAISED,
            position="sticky",
            bottom="1rem",
            z_index="5",
        ),
    )


def _content() -> rx.Component:
    return app_shell(
        page_header(
            tr("Voice library", "音色库"),
            tr(
                "System voices ready to use with the API. Play a preview, then use one in the "
                "playground.",
                "可直接通过 API 使用的系统音色。先试听，再到体验中心使用。",
            ),
        ),
        _filters(),
        rx.hstack(
            rx.text(
                VoiceLibraryState.total,
                tr(" voices", " 个音色"),
                size="2",
                color=styles.TEXT_MUTED,
                data_testid="voice-count",
            ),
            clear_filters_button(VoiceLibraryState.clear_filters, size="1"),
            justify="between",
            align="center",
            width="100%",
        ),
        rx.cond(
            VoiceLibraryState.cards.length() > 0,
            rx.grid(
                rx.foreach(VoiceLibraryState.cards, _voice_card),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="4",
                width="100%",
            ),
            empty_state(
                "search-x",
                tr("No voice matches", "没有匹配的音色"),
                tr("Try fewer filters or another search.", "请减少筛选条件或换个关键词。"),
                rx.button(
                    tr("Clear filters", "清除筛选"),
                    on_click=VoiceLibraryState.clear_filters,
                    variant="soft",
                ),
            ),
        ),
        _player(),
        active_href=routes.VOICE_LIBRARY,
    )


def voice_library_page() -> rx.Component:
    return private_page(VoiceLibraryState, _content())
