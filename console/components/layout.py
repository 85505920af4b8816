"""Page frames: the signed-in app shell (sidebar, top bar, account menu) and the auth frame.

The shell reads only ``SessionState``'s display values; pages pass their own content in.
Navigation lists only pages that exist: more entries arrive with the pages they lead to.
"""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from console import routes, styles
from console.state.session import SessionState

LOGO = "/logo.svg"
PRODUCT = "Amphion"


@dataclass(frozen=True)
class NavEntry:
    """One sidebar link; ``external`` entries are API pages outside the console's router."""

    label: str
    icon: str
    href: str
    external: bool = False


NAV_MAIN = (NavEntry("Overview", "layout-dashboard", routes.DASHBOARD),)
NAV_RESOURCES = (NavEntry("API reference", "book-open", routes.API_DOCS, external=True),)


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
            rx.text(entry.label, size="2", weight="medium" if active else "regular"),
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


def _nav_section(title: str, entries: tuple[NavEntry, ...], active_href: str) -> rx.Component:
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
                    rx.text("Signed in as", size="1", color=styles.TEXT_SUBTLE),
                    rx.text(
                        SessionState.email,
                        size="2",
                        weight="medium",
                        color=rx.color("gray", 12),
                        trim="both",
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
            aria_label="Account menu",
        )
    return rx.menu.root(
        rx.menu.trigger(trigger),
        rx.menu.content(
            rx.box(
                rx.text("Account", size="1", color=styles.TEXT_SUBTLE),
                rx.text(SessionState.email, size="2", weight="medium"),
                padding_x="0.75rem",
                padding_y="0.5rem",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.hstack(rx.icon("log-out", size=14), rx.text("Sign out"), spacing="2"),
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
        rx.vstack(
            _nav_section("Console", NAV_MAIN, active_href),
            _nav_section("Resources", NAV_RESOURCES, active_href),
            spacing="5",
            width="100%",
            margin_top="1.75rem",
        ),
        rx.box(
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


def _topbar() -> rx.Component:
    """The small-screen header that stands in for the sidebar."""
    return rx.flex(
        brand(),
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


def page_header(title: str, description: rx.Component | str | None = None) -> rx.Component:
    """A page's title and one line about it."""
    return rx.vstack(
        rx.heading(title, size="7", weight="bold", letter_spacing="-0.025em"),
        (
            rx.text(description, size="3", color=styles.TEXT_MUTED)
            if isinstance(description, str)
            else description or rx.fragment()
        ),
        spacing="1",
        width="100%",
    )


def app_shell(*children: rx.Component, active_href: str) -> rx.Component:
    """The signed-in frame: sidebar (or top bar on small screens) around the page content."""
    return rx.flex(
        _sidebar(active_href),
        rx.box(
            _topbar(),
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


def _brand_panel() -> rx.Component:
    def point(icon: str, title: str, text: str) -> rx.Component:
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
                "Voice AI on your own terms.",
                size="8",
                weight="bold",
                color="white",
                letter_spacing="-0.03em",
                line_height="1.15",
            ),
            rx.text(
                "Speech synthesis, recognition and emotion analysis behind one API, "
                "running on infrastructure you control.",
                size="3",
                color="rgba(226, 232, 240, 0.8)",
                max_width="26rem",
            ),
            rx.vstack(
                point("audio-lines", "Text to speech", "Natural voices in many languages."),
                point("mic", "Speech recognition", "Transcripts with word timings."),
                point("wallet", "Pay as you go", "Prepaid credit, billed per request."),
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
        ),
        min_height="100vh",
    )
