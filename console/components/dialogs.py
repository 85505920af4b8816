"""Dialog pieces: the frame of a modal dialog, the line under its title, its form, and the
button rows at its foot.

Every console dialog closes the same way (a grey "Cancel" or "Close" on the right, the action
after it), so a dialog composes these instead of restyling its own footer. Text arguments are
plain strings or ``tr(...)`` pairs (``console.i18n``).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventType

from console import styles
from console.i18n import tr


def dialog(
    title: Any,
    *children: rx.Component,
    open: rx.Var[bool],
    on_open_change: EventType[bool],
    max_width: str,
    **content_props: Any,
) -> rx.Component:
    """A modal dialog headed ``title``, shown while ``open``; ``content_props`` style its panel."""
    return rx.dialog.root(
        rx.dialog.content(rx.dialog.title(title), *children, max_width=max_width, **content_props),
        open=open,
        on_open_change=on_open_change,
    )


def dialog_text(*text: Any, **props: Any) -> rx.Component:
    """The muted line under a dialog's title that says what it does."""
    return rx.dialog.description(*text, size="2", color=styles.TEXT_MUTED, **props)


def dialog_form(*children: rx.Component, on_submit: EventType[Any], **props: Any) -> rx.Component:
    """A dialog's form: its fields over its footer (``props`` place the stack). What was typed
    stays when the server refuses it, so it can be corrected."""
    return rx.form(
        rx.vstack(*children, spacing="4", **props), on_submit=on_submit, reset_on_submit=False
    )


def close_button() -> rx.Component:
    """A grey "Close" that closes its dialog."""
    return rx.dialog.close(rx.button(tr("Close", "关闭"), variant="soft", color_scheme="gray"))


def cancel_button() -> rx.Component:
    """ "Cancel" inside a dialog's form: closes the dialog and never submits the form."""
    return rx.dialog.close(
        rx.button(tr("Cancel", "取消"), type="button", variant="soft", color_scheme="gray")
    )


def dialog_footer(*buttons: rx.Component, **props: Any) -> rx.Component:
    """A dialog's buttons, in a row on the right."""
    return rx.hstack(*buttons, spacing="3", justify="end", **props)


def form_footer(
    submit_label: Any,
    *,
    test_id: str,
    loading: rx.Var[bool] | None = None,
    **props: Any,
) -> rx.Component:
    """ "Cancel" and the submit button of a dialog's form (``loading`` while it is sent)."""
    busy = {"loading": loading} if loading is not None else {}
    return dialog_footer(
        cancel_button(),
        rx.button(submit_label, type="submit", data_testid=test_id, **busy),
        width="100%",
        **props,
    )
