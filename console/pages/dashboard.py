"""``/dashboard``: the welcome, the balance and the account, for signed-in visitors only."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.layout import app_shell, page_header, page_loading
from console.state.dashboard import DashboardState
from console.state.session import SessionState


def _card(*children: rx.Component, **props) -> rx.Component:
    return rx.vstack(*children, spacing="3", style=styles.CARD, **props)


def _card_title(icon: str, title: str) -> rx.Component:
    return rx.hstack(
        rx.center(
            rx.icon(icon, size=16),
            width="2rem",
            height="2rem",
            border_radius="var(--radius-3)",
            background=rx.color("accent", 3),
            color=rx.color("accent", 11),
        ),
        rx.text(title, size="2", weight="medium", color=styles.TEXT_MUTED),
        spacing="3",
        align="center",
    )


def _welcome() -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.hstack(
                rx.icon("party-popper", size=18),
                rx.text("Welcome to Amphion", size="4", weight="bold"),
                spacing="2",
                align="center",
            ),
            rx.text(
                "Your account is ready. We have added ",
                rx.text.strong("¥", DashboardState.welcome_credit),
                " of starter credit, so you can make your first requests right away.",
                size="2",
                color="rgba(238, 242, 255, 0.9)",
            ),
            spacing="2",
        ),
        rx.link(
            rx.button(
                "Read the API reference",
                rx.icon("arrow-up-right", size=14),
                size="2",
                variant="solid",
                background="white",
                color=rx.color("accent", 11),
                _hover={"background": rx.color("accent", 2)},
            ),
            href=routes.API_DOCS,
            is_external=True,
            flex_shrink="0",
        ),
        direction=rx.breakpoints(initial="column", md="row"),
        gap="4",
        justify="between",
        align=rx.breakpoints(initial="start", md="center"),
        padding="1.5rem",
        border_radius="var(--radius-4)",
        background=styles.BRAND_GRADIENT,
        color="white",
        box_shadow=styles.SHADOW_RAISED,
        width="100%",
        data_testid="welcome",
    )


def _balance_card() -> rx.Component:
    return _card(
        _card_title("wallet", "Available balance"),
        rx.text(
            "¥",
            DashboardState.balance,
            size="8",
            weight="bold",
            style=styles.NUMERIC,
            color=rx.color("gray", 12),
            data_testid="balance",
        ),
        rx.text(
            "Prepaid credit in CNY. Requests are charged as they complete.",
            size="2",
            color=styles.TEXT_MUTED,
        ),
    )


def _account_card() -> rx.Component:
    return _card(
        _card_title("circle-user", "Account"),
        rx.vstack(
            rx.text(
                SessionState.email,
                size="3",
                weight="bold",
                color=rx.color("gray", 12),
                # Long addresses end in an ellipsis (full text on hover), not a broken word.
                title=SessionState.email,
                white_space="nowrap",
                overflow="hidden",
                text_overflow="ellipsis",
                max_width="100%",
            ),
            rx.text(
                "Member since ",
                DashboardState.member_since,
                size="2",
                color=styles.TEXT_MUTED,
            ),
            spacing="1",
        ),
        rx.hstack(
            rx.badge("Pay as you go", variant="soft", radius="full"),
            rx.badge("E-mail sign-in", variant="soft", color_scheme="gray", radius="full"),
            spacing="2",
            wrap="wrap",
        ),
    )


def _api_card() -> rx.Component:
    return _card(
        _card_title("code-xml", "API endpoint"),
        rx.code(
            DashboardState.api_base,
            size="3",
            variant="ghost",
            color=rx.color("gray", 12),
            font_family=styles.MONO_FAMILY,
            overflow_wrap="anywhere",
        ),
        rx.text(
            "Authenticate with an API key in the ",
            rx.code("X-API-Key", size="1", white_space="nowrap"),
            " header.",
            size="2",
            color=styles.TEXT_MUTED,
        ),
        rx.link(
            rx.hstack(
                rx.text("API reference", size="2", weight="medium"),
                rx.icon("arrow-up-right", size=14),
                spacing="1",
                align="center",
            ),
            href=routes.API_DOCS,
            is_external=True,
        ),
    )


def _overview() -> rx.Component:
    return app_shell(
        page_header("Overview", "Your balance and account at a glance."),
        rx.cond(DashboardState.just_joined, _welcome()),
        rx.grid(
            _balance_card(),
            _account_card(),
            _api_card(),
            columns=rx.breakpoints(initial="1", md="2", lg="3"),
            spacing="4",
            width="100%",
        ),
        active_href=routes.DASHBOARD,
    )


def dashboard_page() -> rx.Component:
    # Nothing account-specific renders before this visit's on-load check has answered.
    return rx.cond(
        rx.State.is_hydrated & DashboardState.loaded & SessionState.signed_in,
        _overview(),
        page_loading(),
    )
