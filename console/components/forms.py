"""Form pieces: a labelled input with its own error line, the form-level messages, and the
e-mail + password forms of sign-in and sign-up.

Labels, hints and placeholders are plain strings or ``tr(...)`` pairs (``console.i18n``).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventType

from console import styles
from console.components.common import callout
from console.i18n import tr

# The value of another input of the same form, read in the browser when an event fires: lets a
# check of one field see another without keeping either in state.
_EMAIL_IN_FORM = rx.Var("(document.getElementById('email')?.value ?? '')").to(str)
_PASSWORD_IN_FORM = rx.Var("(document.getElementById('password')?.value ?? '')").to(str)


def field(
    label: Any,
    control: rx.Component,
    *,
    control_id: str,
    error: rx.Var[str] | str,
    hint: Any = "",
    aside: rx.Component | None = None,
    success: rx.Var[str] | str = "",
) -> rx.Component:
    """``label`` above ``control`` (whose ``id`` is ``control_id``); below, the error, a
    ``success`` note (a check that passed) or the hint."""
    has_hint = isinstance(hint, rx.Var) or bool(hint)
    hint_line = rx.text(hint, size="1", color=styles.TEXT_SUBTLE) if has_hint else rx.fragment()
    below = rx.cond(
        error != "",
        rx.hstack(
            rx.icon("circle-alert", size=14, flex_shrink="0"),
            rx.text(error, size="2"),
            spacing="1",
            align="center",
            color=rx.color("red", 11),
            role="alert",
            data_testid=f"{control_id}-error",
        ),
        rx.cond(
            success != "",
            rx.hstack(
                rx.icon("circle-check", size=14, flex_shrink="0"),
                rx.text(success, size="2"),
                spacing="1",
                align="center",
                color=rx.color("green", 11),
                data_testid=f"{control_id}-ok",
            ),
            hint_line,
        ),
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


def input_field(
    label: Any,
    control_id: str,
    *,
    error: rx.Var[str] | str = "",
    hint: Any = "",
    area: bool = False,
    **input_props: Any,
) -> rx.Component:
    """``field`` around a full-width text input (a text area with ``area``) whose id is
    ``control_id``; ``input_props`` configure the input."""
    control = (rx.text_area if area else rx.input)(id=control_id, width="100%", **input_props)
    return field(label, control, control_id=control_id, error=error, hint=hint)


def stacked_form(
    *children: rx.Component,
    on_submit: EventType[dict[str, Any]],
    spacing: str = "4",
    max_width: str | None = None,
    **form_props: Any,
) -> rx.Component:
    """A full-width form of ``children`` stacked ``spacing`` apart (no wider than
    ``max_width``). What was typed stays when the server refuses it, so it can be corrected."""
    width = {"max_width": max_width} if max_width is not None else {}
    return rx.form(
        rx.vstack(*children, spacing=spacing, width="100%", **width),
        on_submit=on_submit,
        reset_on_submit=False,
        # A submit before the page's scripts run is a native one: POST keeps what was typed
        # (a password) out of the URL, the address bar, the history and access logs.
        method="post",
        width="100%",
        **form_props,
    )


def form_message(message: rx.Var[str] | str, *, tone: str) -> rx.Component:
    """A callout shown only while ``message`` is set; ``tone`` is "error" or "info"."""
    color, icon = ("red", "circle-alert") if tone == "error" else ("blue", "info")
    return rx.cond(
        message != "",
        callout(
            icon,
            message,
            color=color,
            size="1",
            role="alert" if tone == "error" else "status",
            data_testid=f"form-{tone}",
        ),
    )


def _email_field(error: rx.Var[str], *, new_account: bool, on_blur: EventType[str] | None):
    events: dict[str, Any] = {"on_blur": on_blur} if on_blur is not None else {}
    return field(
        tr("E-mail", "电子邮箱"),
        rx.input(
            id="email",
            name="email",
            type="email",
            placeholder="you@company.com",
            auto_complete="email" if new_account else "username",
            auto_focus=True,
            required=True,
            size="3",
            width="100%",
            **events,
        ),
        control_id="email",
        error=error,
    )


def _password_field(
    label: Any,
    control_id: str,
    *,
    placeholder: Any,
    new: bool,
    error: rx.Var[str],
    min_length: int | None = None,
    on_blur: Any = None,
    **field_props: Any,
) -> rx.Component:
    """A password input (a new one, or the current one for the password manager to fill)."""
    extra: dict[str, Any] = {}
    if min_length is not None:
        extra["min_length"] = min_length
    if on_blur is not None:
        extra["on_blur"] = on_blur
    return field(
        label,
        rx.input(
            id=control_id,
            name=control_id,
            type="password",
            placeholder=placeholder,
            auto_complete="new-password" if new else "current-password",
            required=True,
            size="3",
            width="100%",
            **extra,
        ),
        control_id=control_id,
        error=error,
        **field_props,
    )


def _account_form(
    *fields: rx.Component,
    submit_label: Any,
    submitting: rx.Var[bool],
    on_submit: EventType[dict[str, Any]],
) -> rx.Component:
    """The fields of a sign-in or sign-up form over its full-width submit button."""
    return stacked_form(
        *fields,
        rx.button(
            submit_label,
            type="submit",
            size="3",
            width="100%",
            loading=submitting,
            margin_top="0.5rem",
        ),
        on_submit=on_submit,
    )


def sign_in_form(
    *,
    on_submit: EventType[dict[str, Any]],
    email_error: rx.Var[str],
    password_error: rx.Var[str],
    submitting: rx.Var[bool],
) -> rx.Component:
    """E-mail and current password (no checks while typing: sign-in reveals nothing early)."""
    return _account_form(
        _email_field(email_error, new_account=False, on_blur=None),
        _password_field(
            tr("Password", "密码"),
            "password",
            placeholder=tr("Your password", "你的密码"),
            new=False,
            error=password_error,
        ),
        submit_label=tr("Sign in", "登录"),
        submitting=submitting,
        on_submit=on_submit,
    )


def sign_up_form(
    *,
    on_submit: EventType[dict[str, Any]],
    check_email: Any,
    check_password: Any,
    check_confirmation: Any,
    email_error: rx.Var[str],
    password_error: rx.Var[str],
    password_ok: rx.Var[str],
    confirm_error: rx.Var[str],
    submitting: rx.Var[bool],
    min_length: int,
) -> rx.Component:
    """E-mail, new password and its confirmation, each checked when the visitor leaves it.

    ``check_password`` gets the password and the e-mail typed so far (a password may not be
    the address); ``check_confirmation`` gets the confirmation and the password. Neither is
    kept in state: only the verdicts are.
    """
    return _account_form(
        _email_field(email_error, new_account=True, on_blur=check_email),
        _password_field(
            tr("Password", "密码"),
            "password",
            placeholder=tr("Create a password", "设置密码"),
            new=True,
            error=password_error,
            min_length=min_length,
            on_blur=lambda value: check_password(value, _EMAIL_IN_FORM),
            success=password_ok,
            hint=tr(
                f"At least {min_length} characters. Avoid common passwords.",
                f"至少 {min_length} 个字符，避免使用常见密码。",
            ),
        ),
        _password_field(
            tr("Confirm password", "确认密码"),
            "confirm",
            placeholder=tr("Type it again", "再输入一次"),
            new=True,
            error=confirm_error,
            on_blur=lambda value: check_confirmation(value, _PASSWORD_IN_FORM),
        ),
        submit_label=tr("Create account", "创建账户"),
        submitting=submitting,
        on_submit=on_submit,
    )


def auth_heading(title: Any, text: Any, *above: rx.Component) -> rx.Component:
    """The title of a sign-in or sign-up page and the line under it (``above``: a badge)."""
    return rx.vstack(
        *above,
        rx.heading(title, size="7", weight="bold", letter_spacing="-0.025em"),
        rx.text(text, color=styles.TEXT_MUTED),
        spacing="2",
    )


def switch_link(prompt: Any, label: Any, href: str) -> rx.Component:
    """ "New to Amphion? Create an account" under a form."""
    return rx.text(
        prompt,
        rx.link(label, href=href, weight="medium"),
        size="2",
        color=styles.TEXT_MUTED,
        text_align="center",
        width="100%",
    )
