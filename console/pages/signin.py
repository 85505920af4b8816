"""``/signin``: e-mail and password; a signed-in visitor is sent on to the dashboard."""

from __future__ import annotations

import reflex as rx

from console import routes
from console.components.forms import auth_heading, form_message, sign_in_form, switch_link
from console.components.layout import auth_shell
from console.i18n import tr
from console.state.auth import AuthState


def signin_page() -> rx.Component:
    return auth_shell(
        auth_heading(
            tr("Sign in to Amphion", "登录 Amphion"),
            tr("Welcome back. Enter your details to continue.", "欢迎回来，请输入账户信息。"),
        ),
        form_message(AuthState.notice, tone="info"),
        form_message(AuthState.form_error, tone="error"),
        sign_in_form(
            on_submit=AuthState.sign_in,
            email_error=AuthState.email_error,
            password_error=AuthState.password_error,
            submitting=AuthState.submitting,
        ),
        switch_link(
            tr("New to Amphion? ", "还没有账户？"),
            tr("Create an account", "免费注册"),
            routes.SIGNUP,
        ),
    )
