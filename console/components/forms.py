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


def credentials_form(
    *,
    on_submit: rx.EventHandler,
    submit_label: str,
    email_error: rx.Var[str],
    password_error: rx.Var[str],
    submitting: rx.Var[bool],
    new_password: bool,
) -> rx.Component:
    """The e-mail + password form of sign-in and sign-up; ``new_password`` picks the browser
    hints (a password manager offers to generate one) and the length rule shown."""
    password_rules: dict[str, object] = {"min_length": 8} if new_password else {}
    return rx.form(
        rx.vstack(
            field(
                "E-mail",
                rx.input(
                    id="email",
                    name="email",
                    type="email",
                    placeholder="you@company.com",
                    auto_complete="email" if new_password else "username",
                    auto_focus=True,
                    required=True,
                    size="3",
                    width="100%",
                ),
                control_id="email",
                error=email_error,
            ),
            field(
                "Password",
                rx.input(
                    id="password",
                    name="password",
                    type="password",
                    placeholder="Create a password" if new_password else "Your password",
                    auto_complete="new-password" if new_password else "current-password",
                    required=True,
                    size="3",
                    width="100%",
                    **password_rules,
                ),
                control_id="password",
                error=password_error,
                hint="At least 8 characters. Avoid common passwords." if new_password else "",
            ),
            rx.button(
                submit_label,
                type="submit",
                size="3",
                width="100%",
                loading=submitting,
                margin_top="0.5rem",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=on_submit,
        reset_on_submit=False,
        width="100%",
    )


def switch_link(prompt: str, label: str, href: str) -> rx.Component:
    """ "New to Amphion? Create an account" under a form."""
    return rx.text(
        prompt,
        rx.link(label, href=href, weight="medium"),
        size="2",
        color=styles.TEXT_MUTED,
        text_align="center",
        width="100%",
    )
