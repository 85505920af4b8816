"""Tables of the console's lists: the header row, the table in a box that scrolls sideways, and
the stacked blocks that stand in for rows on a phone.

Header labels are plain strings or ``tr(...)`` pairs (``console.i18n``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from console import styles


def table_header(*labels: Any, **cell_props: Any) -> rx.Component:
    """A header row of ``labels``; a label that is already a header cell is kept as it is."""
    return rx.table.header(
        rx.table.row(
            *(
                label
                if isinstance(label, rx.Component)
                else rx.table.column_header_cell(label, **cell_props)
                for label in labels
            )
        )
    )


def scrolling_table(
    *parts: rx.Component,
    display: Any = None,
    max_height: str | None = None,
    test_id: str | None = None,
    **table_props: Any,
) -> rx.Component:
    """A full-width table (``parts``: its header and body) that scrolls sideways rather than
    widen the page; ``max_height`` also lets it scroll down, ``display`` hides it by width."""
    box_props: dict[str, Any] = {}
    if display is not None:
        box_props["display"] = display
    if max_height is not None:
        box_props.update(max_height=max_height, overflow_y="auto")
    if test_id is not None:
        box_props["data_testid"] = test_id
    return rx.box(
        rx.table.root(*parts, width="100%", **table_props),
        overflow_x="auto",
        width="100%",
        **box_props,
    )


def narrow_list(rows: rx.Var, render: Callable[[rx.Var], rx.Component]) -> rx.Component:
    """``rows`` as ``render``'s blocks: a table's phone layout (pair them with
    ``common.wide_or_narrow``, which renders only the one the screen shows)."""
    return rx.box(rx.foreach(rows, render), width="100%")


def narrow_item(*children: rx.Component, spacing: str = "2", **props: Any) -> rx.Component:
    """One row of a list as a block with a rule under it, for screens too narrow for the
    table."""
    return rx.vstack(
        *children,
        spacing=spacing,
        width="100%",
        padding_y="0.75rem",
        border_bottom=styles.BORDER,
        **props,
    )
