"""Filter controls above a list: a select whose first choice is "all", a from–to date range, the
"Clear filters" button, and the bar that lines them up.

Text arguments are plain strings or ``tr(...)`` pairs (``console.i18n``).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventType

from console import styles
from console.i18n import tr

# The select value that stands for "no filter" (a select item cannot have an empty value).
ALL = "all"


def all_when_blank(value: rx.Var[str]) -> rx.Var[str]:
    """A filter kept as "" when unset, as the value of a select that shows "all" for it."""
    return rx.cond(value == "", ALL, value)


def select_with_all(
    value: rx.Var[str],
    on_change: EventType[str],
    *options: rx.Component,
    everything: Any,
    test_id: str,
    **trigger_props: Any,
) -> rx.Component:
    """A select offering ``everything`` (value ``"all"``) and then ``options`` (select items,
    or an ``rx.foreach`` of them); ``trigger_props`` size its button."""
    return rx.select.root(
        rx.select.trigger(data_testid=test_id, **trigger_props),
        rx.select.content(rx.select.item(everything, value=ALL), *options),
        value=value,
        on_change=on_change,
    )


def date_range(
    since: rx.Var[str],
    on_since: EventType[str],
    until: rx.Var[str],
    on_until: EventType[str],
    *,
    test_id: str,
) -> rx.Component:
    """From and to dates (``{test_id}-since``, ``{test_id}-until``) with a dash between."""
    return rx.hstack(
        rx.input(
            type="date",
            value=since,
            on_change=on_since,
            aria_label=tr("From date", "开始日期"),
            data_testid=f"{test_id}-since",
        ),
        rx.text("–", color=styles.TEXT_SUBTLE),
        rx.input(
            type="date",
            value=until,
            on_change=on_until,
            aria_label=tr("To date", "结束日期"),
            data_testid=f"{test_id}-until",
        ),
        spacing="2",
        align="center",
    )


def clear_filters_button(on_click: EventType[()], *, size: str = "2") -> rx.Component:
    """A quiet "Clear filters" with a cross, for the bar above a list."""
    return rx.button(
        rx.icon("x", size=13 if size == "1" else 14),
        tr("Clear filters", "清除筛选"),
        on_click=on_click,
        variant="ghost",
        color_scheme="gray",
        size=size,
    )


def filter_bar(*controls: rx.Component) -> rx.Component:
    """Filter controls in a row that wraps on a narrow screen."""
    return rx.flex(*controls, gap="3", wrap="wrap", align="center", width="100%")
