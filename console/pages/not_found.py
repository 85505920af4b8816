"""The 404 page, in the product's look rather than Reflex's bare default."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.layout import brand


def not_found_page() -> rx.Component:
    return rx.center(
        rx.vstack(
            brand(),
            rx.text("404", size="9", weight="bold", color=rx.color("accent", 9), margin_top="2rem"),
            rx.heading("Page not found", size="6", weight="bold"),
            rx.text(
                "The page you are looking for does not exist or has moved.",
                color=styles.TEXT_MUTED,
                text_align="center",
            ),
            rx.link(
                rx.button("Back to the console", rx.icon("arrow-right", size=14), size="3"),
                href=routes.INDEX,
                margin_top="1rem",
            ),
            spacing="3",
            align="center",
            padding="2rem",
        ),
        min_height="100vh",
        background=styles.PAGE_BACKGROUND,
    )
