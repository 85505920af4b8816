"""``/signup``: create an account, which comes with the welcome credit."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.forms import field, form_message
from console.components.layout import auth_shell
from console.state.auth import AuthState


def signup_page() -> rx.Component:
    return auth_shell(
        rx.vstack(
            rx.badge(
                rx.icon("gift", size=13),
                "¥100 of free credit to start",
                variant="soft",
                radius="full",
                size="2",
            ),
            rx.heading("Create your account", size="7", weight="bold", letter_spacing="-0.025em"),
            rx.text(
                "Get an API key and start building with voice in minutes.",
                color=styles.TEXT_MUTED,
            ),
            spacing="2",
            align="start",
        ),
        form_message(AuthState.form_error, tone="error"),
        rx.form(
            rx.vstack(
                field(
                    "E-mail",
                    rx.input(
                        id="email",
                        name="email",
                        type="email",
                        placeholder="you@company.com",
                        auto_complete="email",
                        auto_focus=True,
                        required=True,
                        size="3",
                        width="100%",
                    ),
                    control_id="email",
                    error=AuthState.email_error,
                ),
                field(
                    "Password",
                    rx.input(
                        id="password",
                        name="password",
                        type="password",
                        placeholder="Create a password",
                        auto_complete="new-password",
                        required=True,
                        min_length=8,
                        size="3",
                        width="100%",
                    ),
                    control_id="password",
                    error=AuthState.password_error,
                    hint="At least 8 characters. Avoid common passwords.",
                ),
                rx.button(
                    "Create account",
                    type="submit",
                    size="3",
                    width="100%",
                    loading=AuthState.submitting,
                    margin_top="0.5rem",
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=AuthState.sign_up,
            reset_on_submit=False,
            width="100%",
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Sign in", href=routes.SIGNIN, weight="medium"),
            size="2",
            color=styles.TEXT_MUTED,
            text_align="center",
            width="100%",
        ),
    )
