"""Page frames: the signed-in app shell (sidebar, top bar, account menu) and the auth frame.

The shell reads only ``SessionState``'s display values; pages pass their own content in.
Navigation lists only pages that exist: more entries arrive with the pages they lead to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from console import routes, styles
from console.i18n import color_mode_switch, language_switch, tr
from console.state.session import SessionState

LOGO = "/logo.svg"
PRODUCT = "Amphion"


@dataclass(frozen=True)
class NavEntry:
    """One sidebar link; ``external`` entries are API pages outside the console's router."""

    label: str
    label_zh: str
    icon: str
    href: str
    external: bool = False


NAV_MAIN = (
    NavEntry("Overview", "概览", "layout-dashboard", routes.DASHBOARD),
    NavEntry("Playground", "体验中心", "audio-waveform", routes.PLAYGROUND),
    NavEntry("Voice cloning", "声音复刻", "wand-sparkles", routes.CLONE),
    NavEntry("My voices", "我的音色", "mic-vocal", routes.MY_VOICES),
    NavEntry("Voice library", "音色库", "library", routes.VOICE_LIBRARY),
    NavEntry("History", "调用记录", "history", routes.HISTORY),
)
NAV_ACCOUNT = (
    NavEntry("API keys", "API 密钥", "key-round", routes.KEYS),
    NavEntry("Billing", "费用中心", "wallet", routes.BILLING),
    NavEntry("Settings", "设置", "settings", routes.SETTINGS),
)
NAV_RESOURCES = (
    NavEntry("API guide", "API 指南", "code-xml", routes.DEVELOPERS),
    NavEntry("API reference", "API 参考", "book-open", routes.API_DOCS, external=True),
)
# Shown to admins only; the admin page and its handlers check the role again on the server.
NAV_ADMIN = (NavEntry("Admin", "管理后台", "shield-check", routes.ADMIN),)


def brand(*, inverted: bool = False, size: str = "md") -> rx.Component:
    """The logo mark and the product name."""
    mark = "2.25rem" if size == "lg" else "1.75rem"
    return rx.hstack(
        rx.image(src=LOGO, alt="", width=mark, height=mark, flex_shrink="0"),
        rx.text(
            PRODUCT,
            size="6" if size == "lg" else "4",
            weight="bold",
            letter_spacing="-0.02em",
            color="white" if inverted else rx.color("gray", 12),
        ),
        spacing="2",
        align="center",
    )


def _nav_link(entry: NavEntry, active_href: str) -> rx.Component:
    active = entry.href == active_href
    return rx.link(
        rx.hstack(
            rx.icon(entry.icon, size=16, stroke_width=2 if active else 1.75),
            rx.text(
                tr(entry.label, entry.label_zh), size="2", weight="medium" if active else "regular"
            ),
            (
                rx.icon("arrow-up-right", size=13, margin_left="auto", opacity="0.6")
                if entry.external
                else rx.fragment()
            ),
            spacing="3",
            align="center",
            width="100%",
            padding_x="0.75rem",
            padding_y="0.5rem",
            border_radius="var(--radius-3)",
            color=rx.color("accent", 11) if active else rx.color("gray", 11),
            background=rx.color("accent", 3) if active else "transparent",
            _hover={
                "background": rx.color("accent", 3) if active else rx.color("gray", 3),
                "color": rx.color("accent", 11) if active else rx.color("gray", 12),
            },
            transition="background 120ms ease, color 120ms ease",
        ),
        href=entry.href,
        is_external=entry.external,
        underline="none",
        width="100%",
        **({"aria_current": "page"} if active else {}),
    )


def _nav_section(
    title: Any, entries: tuple[NavEntry, ...], active_href: str, **props: Any
) -> rx.Component:
    return rx.vstack(
        rx.text(
            title,
            size="1",
            weight="medium",
            color=styles.TEXT_SUBTLE,
            text_transform="uppercase",
            letter_spacing="0.06em",
            padding_x="0.75rem",
            padding_bottom="0.25rem",
        ),
        *(_nav_link(entry, active_href) for entry in entries),
        spacing="1",
        width="100%",
        **props,
    )


def _navigation(active_href: str) -> rx.Component:
    """Every section of the console (the admin section for admins only)."""
    return rx.vstack(
        _nav_section(tr("Console", "控制台"), NAV_MAIN, active_href),
        _nav_section(tr("Account", "账户"), NAV_ACCOUNT, active_href),
        _nav_section(tr("Developers", "开发者"), NAV_RESOURCES, active_href),
        rx.cond(
            SessionState.is_admin,
            _nav_section(tr("Operator", "运营"), NAV_ADMIN, active_href),
            rx.fragment(),
        ),
        spacing="5",
        width="100%",
    )


def account_menu(*, compact: bool = False) -> rx.Component:
    """Avatar (and e-mail) opening a menu with the account and "Sign out"."""
    avatar = rx.avatar(
        fallback=SessionState.initial,
        size="2",
        radius="full",
        variant="solid",
        color_scheme="indigo",
        flex_shrink="0",
    )
    if compact:
        trigger = rx.button(avatar, variant="ghost", radius="full", padding="0")
    else:
        trigger = rx.button(
            rx.hstack(
                avatar,
                rx.vstack(
                    rx.text(tr("Signed in as", "当前账户"), size="1", color=styles.TEXT_SUBTLE),
                    rx.text(
                        SessionState.email,
                        size="2",
                        weight="medium",
                        color=rx.color("gray", 12),
                        max_width="9.5rem",
                        overflow="hidden",
                        text_overflow="ellipsis",
                        white_space="nowrap",
                    ),
                    spacing="0",
                    align="start",
                ),
                rx.icon("chevrons-up-down", size=14, color=styles.TEXT_SUBTLE, margin_left="auto"),
                spacing="3",
                align="center",
                width="100%",
            ),
            variant="ghost",
            color_scheme="gray",
            width="100%",
            height="auto",
            padding="0.5rem",
            aria_label=tr("Account menu", "账户菜单"),
        )
    return rx.menu.root(
        rx.menu.trigger(trigger),
        rx.menu.content(
            rx.box(
                rx.text(tr("Account", "账户"), size="1", color=styles.TEXT_SUBTLE),
                rx.text(SessionState.email, size="2", weight="medium"),
                padding_x="0.75rem",
                padding_y="0.5rem",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.hstack(
                    rx.icon("log-out", size=14), rx.text(tr("Sign out", "退出登录")), spacing="2"
                ),
                on_click=SessionState.sign_out,
                color_scheme="red",
            ),
            min_width="14rem",
            side="top" if not compact else "bottom",
            align="start" if not compact else "end",
        ),
    )


def _sidebar(active_href: str) -> rx.Component:
    return rx.flex(
        rx.box(brand(), padding_x="0.75rem", padding_y="0.25rem"),
        rx.box(_navigation(active_href), margin_top="1.75rem", width="100%", overflow_y="auto"),
        rx.box(
            rx.hstack(language_switch(), color_mode_switch(), spacing="2", padding_bottom="0.5rem"),
            account_menu(),
            margin_top="auto",
            padding_top="1rem",
            border_top=styles.BORDER,
            width="100%",
        ),
        direction="column",
        width=styles.SIDEBAR_WIDTH,
        min_width=styles.SIDEBAR_WIDTH,
        height="100vh",
        position="sticky",
        top="0",
        padding="1.25rem 0.75rem 1rem",
        background=styles.SURFACE,
        border_right=styles.BORDER,
        display=["none", "none", "flex"],
    )


def _mobile_menu(active_href: str) -> rx.Component:
    """The small-screen navigation: a drawer behind a menu button."""
    return rx.drawer.root(
        rx.drawer.trigger(
            rx.icon_button(
                rx.icon("menu", size=18),
                variant="ghost",
                color_scheme="gray",
                aria_label=tr("Open navigation", "打开导航"),
            )
        ),
        rx.drawer.overlay(z_index="40"),
        rx.drawer.portal(
            rx.drawer.content(
                rx.vstack(
                    rx.hstack(
                        brand(),
                        rx.drawer.close(
                            rx.icon_button(
                                rx.icon("x", size=18),
                                variant="ghost",
                                color_scheme="gray",
                                aria_label=tr("Close navigation", "关闭导航"),
                            )
                        ),
                        justify="between",
                        align="center",
                        width="100%",
                    ),
                    _navigation(active_href),
                    rx.hstack(language_switch(), color_mode_switch(), spacing="2"),
                    spacing="5",
                    width="100%",
                ),
                width="17rem",
                height="100%",
                padding="1rem 0.75rem",
                background=styles.SURFACE,
                overflow_y="auto",
                z_index="50",
            )
        ),
        direction="left",
    )


def _topbar(active_href: str) -> rx.Component:
    """The small-screen header that stands in for the sidebar."""
    return rx.flex(
        rx.hstack(_mobile_menu(active_href), brand(), spacing="2", align="center"),
        account_menu(compact=True),
        justify="between",
        align="center",
        height=styles.TOPBAR_HEIGHT,
        padding_x="1rem",
        background=styles.SURFACE,
        border_bottom=styles.BORDER,
        position="sticky",
        top="0",
        z_index="10",
        display=["flex", "flex", "none"],
    )


def page_header(title: Any, description: Any = None, *actions: rx.Component) -> rx.Component:
    """A page's title, one line about it (strings or ``tr`` pairs), and optional actions."""
    heading = rx.vstack(
        rx.heading(title, size="7", weight="bold", letter_spacing="-0.025em"),
        (
            rx.text(description, size="3", color=styles.TEXT_MUTED)
            if description is not None and not isinstance(description, rx.Component)
            else description or rx.fragment()
        ),
        spacing="1",
    )
    if not actions:
        return rx.box(heading, width="100%")
    return rx.flex(
        heading,
        rx.hstack(*actions, spacing="2", wrap="wrap"),
        justify="between",
        align="end",
        gap="3",
        wrap="wrap",
        width="100%",
    )


def app_shell(*children: rx.Component, active_href: str) -> rx.Component:
    """The signed-in frame: sidebar (or top bar on small screens) around the page content."""
    return rx.flex(
        _sidebar(active_href),
        rx.box(
            _topbar(active_href),
            rx.box(
                rx.vstack(*children, spacing="6", width="100%"),
                max_width=styles.CONTENT_MAX_WIDTH,
                margin_x="auto",
                padding_x=["1rem", "1.5rem", "2.5rem"],
                padding_y=["1.5rem", "2rem", "2.5rem"],
            ),
            flex="1",
            min_width="0",
        ),
        min_height="100vh",
        background=styles.PAGE_BACKGROUND,
    )


def page_loading() -> rx.Component:
    """What a private page shows until its on-load check has answered."""
    return rx.center(
        rx.vstack(
            rx.image(src=LOGO, alt="", width="2.5rem", height="2.5rem"),
            rx.spinner(size="2"),
            spacing="4",
            align="center",
        ),
        height="100vh",
        background=styles.PAGE_BACKGROUND,
    )


def private_page(state: Any, content: rx.Component, *, admin: bool = False) -> rx.Component:
    """``content`` for a signed-in visitor (an administrator, with ``admin``) once this visit's
    on-load check of ``state`` has answered; the loading screen until then, so nothing
    account-specific renders before that answer."""
    allowed = SessionState.is_admin if admin else SessionState.signed_in
    return rx.cond(rx.State.is_hydrated & state.loaded & allowed, content, page_loading())


def _brand_panel() -> rx.Component:
    def point(icon: str, title: Any, text: Any) -> rx.Component:
        return rx.hstack(
            rx.center(
                rx.icon(icon, size=16, color="white"),
                width="2rem",
                height="2rem",
                min_width="2rem",
                border_radius="var(--radius-3)",
                background="rgba(255, 255, 255, 0.12)",
                border="1px solid rgba(255, 255, 255, 0.18)",
            ),
            rx.vstack(
                rx.text(title, size="2", weight="medium", color="white"),
                rx.text(text, size="2", color="rgba(226, 232, 240, 0.75)"),
                spacing="0",
            ),
            spacing="3",
            align="start",
        )

    return rx.flex(
        brand(inverted=True, size="lg"),
        rx.vstack(
            rx.heading(
                tr("Voice AI on your own terms.", "语音 AI，尽在掌控。"),
                size="8",
                weight="bold",
                color="white",
                letter_spacing="-0.03em",
                line_height="1.15",
            ),
            rx.text(
                tr(
                    "Speech synthesis, recognition and emotion analysis behind one API, "
                    "running on infrastructure you control.",
                    "语音合成、语音识别与情感分析，一个 API 全部提供，运行在你自己的基础设施上。",
                ),
                size="3",
                color="rgba(226, 232, 240, 0.8)",
                max_width="26rem",
            ),
            rx.vstack(
                point(
                    "audio-lines",
                    tr("Text to speech", "语音合成"),
                    tr("Natural voices in many languages.", "多语言的自然音色。"),
                ),
                point(
                    "mic",
                    tr("Speech recognition", "语音识别"),
                    tr("Transcripts with word timings.", "带逐词时间戳的转写。"),
                ),
                point(
                    "wallet",
                    tr("Pay as you go", "按量付费"),
                    tr("Prepaid credit, billed per request.", "预付费额度，按请求计费。"),
                ),
                spacing="4",
                margin_top="1.5rem",
            ),
            spacing="4",
        ),
        rx.text("© Amphion Open Platform", size="1", color="rgba(226, 232, 240, 0.55)"),
        direction="column",
        justify="between",
        padding="2.5rem 3rem",
        background=styles.BRAND_GRADIENT,
        color="white",
        width="44%",
        max_width="36rem",
        min_height="100vh",
        display=["none", "none", "flex"],
    )


def auth_shell(*children: rx.Component) -> rx.Component:
    """The sign-in / sign-up frame: brand panel on the left, the form centred on the right."""
    return rx.flex(
        _brand_panel(),
        rx.center(
            rx.hstack(
                language_switch(),
                color_mode_switch(),
                spacing="2",
                position="absolute",
                top="1rem",
                right="1rem",
            ),
            rx.vstack(
                rx.box(brand(), display=["block", "block", "none"], margin_bottom="1rem"),
                *children,
                spacing="5",
                width="100%",
                max_width=styles.AUTH_FORM_WIDTH,
            ),
            flex="1",
            padding="2rem 1.5rem",
            min_height="100vh",
            background=styles.SURFACE,
            position="relative",
        ),
        min_height="100vh",
    )
