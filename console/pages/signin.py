"""``/signin``: e-mail and password; a signed-in visitor is sent on to the dashboard."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.forms import field, form_message
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
        rx.form(
            rx.vstack(
                field(
                    "E-mail",
                    rx.input(
                        id="email",
                        name="email",
                        type="email",
                        placeholder="you@company.com",
                        auto_complete="username",
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
                        placeholder="Your password",
                        auto_complete="current-password",
                        required=True,
                        size="3",
                        width="100%",
                    ),
                    control_id="password",
                    error=AuthState.password_error,
                ),
                rx.button(
                    "Sign in",
                    type="submit",
                    size="3",
                    width="100%",
                    loading=AuthState.submitting,
                    margin_top="0.5rem",
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=AuthState.sign_in,
            reset_on_submit=False,
            width="100%",
        ),
        rx.text(
            "New to Amphion? ",
            rx.link("Create an account", href=routes.SIGNUP, weight="medium"),
            size="2",
            color=styles.TEXT_MUTED,
            text_align="center",
            width="100%",
        ),
    )
