"""``/signup``: create an account, which comes with the welcome credit.

Each field is checked when the visitor leaves it (e-mail format, the password rules of
``api.security``, the confirmation), and everything again on submit.
"""

from __future__ import annotations

import reflex as rx

from api.security import PASSWORD_MIN_LENGTH
from console import routes
from console.components.forms import auth_heading, form_message, sign_up_form, switch_link
from console.components.layout import auth_shell
from console.i18n import tr
from console.state.auth import AuthState


def signup_page() -> rx.Component:
    return auth_shell(
        auth_heading(
            tr("Create your account", "创建账户"),
            tr(
                "Get an API key and start building with voice in minutes.",
                "几分钟内拿到 API 密钥，开始构建语音应用。",
            ),
            rx.badge(
                rx.icon("gift", size=13),
                tr("¥100 of free credit to start", "注册即送 ¥100 体验额度"),
                variant="soft",
                radius="full",
                size="2",
            ),
        ),
        form_message(AuthState.form_error, tone="error"),
        sign_up_form(
            on_submit=AuthState.sign_up,
            check_email=AuthState.check_email,
            check_password=AuthState.check_password,
            check_confirmation=AuthState.check_confirmation,
            email_error=AuthState.email_error,
            password_error=AuthState.password_error,
            password_ok=AuthState.password_ok,
            confirm_error=AuthState.confirm_error,
            submitting=AuthState.submitting,
            min_length=PASSWORD_MIN_LENGTH,
        ),
        switch_link(
            tr("Already have an account? ", "已有账户？"),
            tr("Sign in", "登录"),
            routes.SIGNIN,
        ),
    )
