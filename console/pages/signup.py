"""``/signup``: create an account, which comes with the welcome credit."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.forms import credentials_form, form_message, switch_link
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
        credentials_form(
            on_submit=AuthState.sign_up,
            submit_label="Create account",
            email_error=AuthState.email_error,
            password_error=AuthState.password_error,
            submitting=AuthState.submitting,
            new_password=True,
        ),
        switch_link("Already have an account? ", "Sign in", routes.SIGNIN),
    )
