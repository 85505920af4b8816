"""Form pieces: a labelled input with its own error line, and the form-level messages."""

from __future__ import annotations

import reflex as rx

from console import styles


def field(
    label: str,
    control: rx.Component,
    *,
    control_id: str,
    error: rx.Var[str] | str,
    hint: str = "",
    aside: rx.Component | None = None,
) -> rx.Component:
    """``label`` above ``control`` (whose ``id`` is ``control_id``); below, the error or hint."""
    below = rx.cond(
        error != "",
        rx.hstack(
            rx.icon("circle-alert", size=14, flex_shrink="0"),
            rx.text(error, size="2"),
            spacing="1",
            align="center",
            color=rx.color("red", 11),
            role="alert",
        ),
        rx.text(hint, size="1", color=styles.TEXT_SUBTLE) if hint else rx.fragment(),
    )
    return rx.vstack(
        rx.hstack(
            rx.el.label(
                rx.text(label, as_="span", size="2", weight="medium", color=rx.color("gray", 12)),
                html_for=control_id,
            ),
            aside or rx.fragment(),
            justify="between",
            width="100%",
        ),
        control,
        below,
        spacing="2",
        width="100%",
    )


def form_message(message: rx.Var[str] | str, *, tone: str) -> rx.Component:
    """A callout shown only while ``message`` is set; ``tone`` is "error" or "info"."""
    color, icon = ("red", "circle-alert") if tone == "error" else ("blue", "info")
    return rx.cond(
        message != "",
        rx.callout.root(
            rx.callout.icon(rx.icon(icon, size=16)),
            rx.callout.text(message),
            color_scheme=color,
            variant="surface",
            size="1",
            width="100%",
            role="alert" if tone == "error" else "status",
        ),
    )
