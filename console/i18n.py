"""Chinese and English: the visitor's language, and how pages and handlers speak it.

Every visible string is written in place as a pair, English first: ``tr("Balance", "余额")`` in
a component (a Var that follows the language switch without a reload), and
``pick(lang, "Saved", "已保存")`` in an event handler (a toast, an error message), where ``lang``
comes from :func:`language_of`. Keeping the pair at the place of use means no catalog drifts
out of step with the page, and each page module owns its own words.

The language is the visitor's choice (the ``amphion_lang`` cookie, set by the switch in the
app shell and on the sign-in pages) and, until they choose, the browser's preference: Chinese
when ``Accept-Language`` ranks any ``zh`` variant above English, English otherwise.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

ENGLISH = "en"
CHINESE = "zh"
LANGUAGES = (ENGLISH, CHINESE)
LANGUAGE_COOKIE = "amphion_lang"
_YEAR_SECONDS = 365 * 24 * 3600


def prefers_chinese(accept_language: str) -> bool:
    """Whether an ``Accept-Language`` header ranks Chinese above English (and above nothing)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-", 1)[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return bool(ranked) and min(ranked)[2] == CHINESE


def pick(lang: str, english: str, chinese: str) -> str:
    """The string of ``lang`` (for handlers: toasts, messages set into state)."""
    return chinese if lang == CHINESE else english


class LocaleState(rx.State):
    """The console's language: the visitor's choice, else their browser's preference."""

    chosen: str = rx.Cookie("", name=LANGUAGE_COOKIE, max_age=_YEAR_SECONDS, same_site="lax")

    @rx.var(cache=False)
    def lang(self) -> str:
        """``"zh"`` or ``"en"``."""
        if self.chosen in LANGUAGES:
            return self.chosen
        accept = self.router.headers.accept_language
        return CHINESE if prefers_chinese(accept) else ENGLISH

    @rx.var(cache=False)
    def is_zh(self) -> bool:
        return self.lang == CHINESE

    @rx.event
    def set_language(self, lang: str) -> None:
        """Switch the language (remembered in a cookie for a year)."""
        if lang in LANGUAGES:
            self.chosen = lang

    @rx.event
    def toggle_language(self) -> None:
        self.chosen = ENGLISH if self.lang == CHINESE else CHINESE


async def language_of(state: rx.State) -> str:
    """The language of the tab that sent the event (for strings made in a handler)."""
    locale = await state.get_state(LocaleState)
    return locale.lang


def tr(english: Any, chinese: Any) -> Any:
    """A string (or component) in the visitor's language, switching live."""
    return rx.cond(LocaleState.is_zh, chinese, english)


def language_switch(**props: Any) -> rx.Component:
    """The "中文 / EN" toggle (shows the language it switches to)."""
    return rx.button(
        rx.icon("languages", size=15),
        tr("中文", "EN"),
        on_click=LocaleState.toggle_language,
        variant="ghost",
        color_scheme="gray",
        size="2",
        aria_label=tr("Switch to Chinese", "切换到英文"),
        data_testid="language-switch",
        **props,
    )


def color_mode_switch(**props: Any) -> rx.Component:
    """Light / dark toggle (Radix's appearance follows Reflex's colour mode)."""
    return rx.icon_button(
        rx.color_mode_cond(light=rx.icon("moon", size=15), dark=rx.icon("sun", size=15)),
        on_click=rx.toggle_color_mode,
        variant="ghost",
        color_scheme="gray",
        size="2",
        aria_label=tr("Toggle dark mode", "切换深色模式"),
        data_testid="color-mode-switch",
        **props,
    )
