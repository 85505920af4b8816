"""Pieces every console page uses: cards, figures, muted text and callouts, empty states,
pagers, badges, icon buttons, copy and confirm, money.

Pages compose these instead of restyling their own, so the console looks like one product.
Text arguments are plain strings or ``tr(...)`` pairs (``console.i18n``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import reflex as rx
from reflex.event import EventType
from reflex.vars.base import VarData

from console import routes, styles
from console.components.dialogs import dialog_footer
from console.i18n import tr


def muted(*text: Any, **props: Any) -> rx.Component:
    """Secondary text in the muted colour: a card's explanation, a note under a figure."""
    return rx.text(*text, size="2", color=styles.TEXT_MUTED, **props)


def card(*children: rx.Component, **props: Any) -> rx.Component:
    """A bordered surface with the console's padding and shadow."""
    return rx.vstack(*children, spacing="3", style=styles.CARD, **props)


def card_title(icon: str, title: Any, *aside: rx.Component) -> rx.Component:
    """A card's small heading with its icon (and optional controls on the right)."""
    return rx.hstack(
        rx.hstack(
            rx.icon(icon, size=16, color=styles.TEXT_SUBTLE),
            rx.text(title, size="2", weight="medium", color=styles.TEXT_MUTED),
            spacing="2",
            align="center",
        ),
        *aside,
        justify="between",
        align="center",
        width="100%",
    )


def stat(icon: str, label: Any, value: Any, *, note: Any = None, test_id: str = "") -> rx.Component:
    """A headline figure (balance, spend, calls) in a card."""
    return card(
        card_title(icon, label),
        rx.text(
            value,
            size="7",
            weight="bold",
            style=styles.NUMERIC,
            color=rx.color("gray", 12),
            **({"data_testid": test_id} if test_id else {}),
        ),
        muted(note) if note is not None else rx.fragment(),
    )


def callout(icon: str, *text: Any, color: str | None = None, **props: Any) -> rx.Component:
    """A full-width note with its ``icon``: ``text`` (strings, ``tr`` pairs, links) tinted
    ``color`` (the accent colour when none)."""
    return rx.callout.root(
        rx.callout.icon(rx.icon(icon, size=16)),
        rx.callout.text(*text),
        **({"color_scheme": color} if color else {}),
        variant="surface",
        width="100%",
        **props,
    )


def empty_state(icon: str, title: Any, text: Any, *actions: rx.Component) -> rx.Component:
    """What a list shows when there is nothing in it yet, with the way to add something."""
    return rx.center(
        rx.vstack(
            rx.center(
                rx.icon(icon, size=22, color=rx.color("accent", 11)),
                width="3rem",
                height="3rem",
                border_radius="full",
                background=rx.color("accent", 3),
            ),
            rx.text(title, size="3", weight="medium", color=rx.color("gray", 12)),
            rx.text(
                text, size="2", color=styles.TEXT_MUTED, text_align="center", max_width="28rem"
            ),
            *actions,
            spacing="2",
            align="center",
        ),
        padding_y="2.5rem",
        width="100%",
        data_testid="empty-state",
    )


def playground_button() -> rx.Component:
    """ "Open the playground": the way out of an empty list of operations."""
    return rx.link(
        rx.button(tr("Open the playground", "打开体验中心"), size="2"), href=routes.PLAYGROUND
    )


def loading_rows(rows: int = 3) -> rx.Component:
    """Placeholder lines while a list loads."""
    return rx.vstack(
        *(rx.skeleton(height="2.25rem", width="100%", loading=True) for _ in range(rows)),
        spacing="2",
        width="100%",
    )


def pager(
    page: rx.Var[int],
    pages: rx.Var[int],
    on_previous: EventType[()],
    on_next: EventType[()],
    *,
    total: rx.Var[int] | None = None,
) -> rx.Component:
    """ "Page 2 of 7" with previous / next buttons (disabled at the ends)."""
    return rx.hstack(
        muted(
            tr("Page ", "第 "),
            page,
            tr(" of ", " / "),
            pages,
            tr("", " 页"),
            *(
                (rx.text.span(tr(" · ", " · 共 "), total, tr(" total", " 条")),)
                if total is not None
                else ()
            ),
        ),
        rx.hstack(
            rx.button(
                rx.icon("chevron-left", size=14),
                tr("Previous", "上一页"),
                on_click=on_previous,
                disabled=page <= 1,
                variant="soft",
                color_scheme="gray",
                size="1",
            ),
            rx.button(
                tr("Next", "下一页"),
                rx.icon("chevron-right", size=14),
                on_click=on_next,
                disabled=page >= pages,
                variant="soft",
                color_scheme="gray",
                size="1",
            ),
            spacing="2",
        ),
        justify="between",
        align="center",
        width="100%",
        data_testid="pager",
    )


def state_pager(state: Any) -> rx.Component:
    """The ``pager`` of a paged list's state: its ``page``, ``pages`` and ``total``, and its
    ``previous_page`` / ``next_page`` handlers."""
    return pager(state.page, state.pages, state.previous_page, state.next_page, total=state.total)


def icon_action(icon: str, label: Any, *, test_id: str, **props: Any) -> rx.Component:
    """A small icon-only button named ``label`` for screen readers and on hover."""
    return rx.icon_button(
        rx.icon(icon, size=14),
        size="1",
        aria_label=label,
        title=label,
        data_testid=test_id,
        **props,
    )


def labelled(label: Any, value: rx.Component, **props: Any) -> rx.Component:
    """A value with its small label above it (a fact in a card, not a form field)."""
    return rx.vstack(rx.text(label, size="1", color=styles.TEXT_SUBTLE), value, **props)


def paged_list(state: Any, *views: rx.Component) -> rx.Component:
    """A list's ``views`` (its table, its narrow-screen blocks) over the pager of ``state``."""
    return rx.vstack(*views, state_pager(state), spacing="3", width="100%")


def copy_button(text: rx.Var[str] | str, *, label: Any = None, **props: Any) -> rx.Component:
    """Copies ``text`` to the clipboard and says so in a toast."""
    return rx.button(
        rx.icon("copy", size=14),
        label if label is not None else tr("Copy", "复制"),
        on_click=[rx.set_clipboard(text), rx.toast.success(tr("Copied", "已复制"), duration=1500)],
        **{"variant": "soft", "size": "1", **props},
    )


def confirm_dialog(
    trigger: rx.Component | None,
    *,
    title: Any,
    text: Any,
    confirm_label: Any,
    on_confirm: EventType[()],
    danger: bool = True,
    **root_props: Any,
) -> rx.Component:
    """An alert dialog that runs ``on_confirm`` only after an explicit second click.

    Without a ``trigger``, one dialog serves many rows: pass ``open`` and ``on_open_change``
    (the row's button records which row asked). A dialog per table row is 20 Radix roots to
    render on every page turn (bench row B10)."""
    parts = [] if trigger is None else [rx.alert_dialog.trigger(trigger)]
    return rx.alert_dialog.root(
        *parts,
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(text, size="2"),
            dialog_footer(
                rx.alert_dialog.cancel(
                    rx.button(tr("Cancel", "取消"), variant="soft", color_scheme="gray")
                ),
                rx.alert_dialog.action(
                    rx.button(
                        confirm_label,
                        on_click=on_confirm,
                        color_scheme="red" if danger else "indigo",
                        data_testid="confirm",
                    )
                ),
                margin_top="1rem",
            ),
            max_width="28rem",
        ),
        **root_props,
    )


def label_badge(
    value: rx.Var, labels: Iterable[tuple[str, str | None, str, str]], **props: Any
) -> rx.Component:
    """``value`` as a soft, round badge named from ``labels``, rows of ``(value, colour or None,
    English, Chinese)``; a value none of them names shows as itself."""
    return rx.match(
        value,
        *(
            (
                known,
                rx.badge(
                    tr(english, chinese),
                    **({"color_scheme": color} if color else {}),
                    variant="soft",
                    radius="full",
                    **props,
                ),
            )
            for known, color, english, chinese in labels
        ),
        rx.badge(value, variant="soft", radius="full"),
    )


def money(value: Any) -> rx.Component:
    """``¥12.3400`` in tabular figures (``value`` is already a formatted yuan string)."""
    return rx.text.span("¥", value, style=styles.NUMERIC)


# Whether the window is narrower than Radix's "sm" breakpoint (768 px), following resizes. A
# list that has a table for wide screens and cards for narrow ones renders only the one that
# shows: both, one hidden by CSS, would cost every update of the list twice the rendering.
_NARROW_QUERY = "(max-width: 767px)"
_NARROW_HOOK = (
    "const isNarrowScreen = useSyncExternalStore("
    "(notify) => { const query = window.matchMedia('" + _NARROW_QUERY + "');"
    " query.addEventListener('change', notify);"
    " return () => query.removeEventListener('change', notify); },"
    " () => window.matchMedia('" + _NARROW_QUERY + "').matches,"
    " () => false);"
)
narrow_screen: rx.Var[bool] = rx.Var(
    _js_expr="isNarrowScreen",
    _var_type=bool,
    _var_data=VarData(imports={"react": "useSyncExternalStore"}, hooks={_NARROW_HOOK: None}),
)


def wide_or_narrow(wide: rx.Component, narrow: rx.Component) -> rx.Component:
    """``wide`` on screens from 768 px, ``narrow`` below: only the one shown is rendered."""
    return rx.cond(narrow_screen, narrow, wide)
