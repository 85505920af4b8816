"""``/signin``: e-mail and password; a signed-in visitor is sent on to the dashboard."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.forms import credentials_form, form_message, switch_link
from console.components.layout import auth_shell
from console.state.auth import AuthState


def signin_page() -> rx.Component:
    return auth_shell(
        rx.vstack(
            rx.heading("Sign in to Amphion", size="7", weight="bold", letter_spacing="-0.025em"),
            rx.text("Welcome back. Enter your details to continue.", color=styles.TEXT_MUTED),
            spacing="2",
        ),
        form_message(AuthState.notice, tone="info"),
        form_message(AuthState.form_error, tone="error"),
        credentials_form(
            on_submit=AuthState.sign_in,
            submit_label="Sign in",
            email_error=AuthState.email_error,
            password_error=AuthState.password_error,
            submitting=AuthState.submitting,
            new_password=False,
        ),
        switch_link("New to Amphion? ", "Create an account", routes.SIGNUP),
    )
