"""Audio pieces: the box a single audio file is dropped in, the list of what is wrong with a
sample, and the player.

Text arguments are plain strings or ``tr(...)`` pairs (``console.i18n``).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventType

from console.i18n import tr


def drop_zone(
    upload_id: str,
    *content: rx.Component,
    accept: dict[str, list[str]],
    on_drop: EventType[Any],
    **props: Any,
) -> rx.Component:
    """A box that takes one audio file, dropped on it or chosen with a click; ``content`` (an
    icon and a few words) is centred in it, ``props`` style it."""
    return rx.upload(
        rx.vstack(*content, spacing="2", align="center"),
        id=upload_id,
        multiple=False,
        max_files=1,
        accept=accept,
        on_drop=on_drop,
        border_radius="var(--radius-4)",
        cursor="pointer",
        width="100%",
        **props,
    )


def upload_icon(checking: rx.Var[bool], *, size: int) -> rx.Component:
    """The drop zone's upload icon, a spinner while the dropped sample is being checked."""
    return rx.cond(
        checking, rx.spinner(size="3"), rx.icon("upload", size=size, color=rx.color("accent", 11))
    )


def sample_problems(problems: rx.Var, *, test_id: str, **props: Any) -> rx.Component:
    """Why a sample was refused (rows of ``en`` and ``zh``), in a red callout while there is
    any reason."""
    return rx.cond(
        problems.length() > 0,
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert", size=16)),
            rx.vstack(
                rx.foreach(
                    problems, lambda problem: rx.text(tr(problem["en"], problem["zh"]), size="2")
                ),
                spacing="1",
            ),
            color_scheme="red",
            variant="surface",
            role="alert",
            data_testid=test_id,
            **props,
        ),
    )


def audio_player(src: rx.Var[str], *, test_id: str, **style: Any) -> rx.Component:
    """The browser's audio player, full width, playing ``src`` as soon as it is set; ``style``
    adds to its look."""
    return rx.el.audio(
        src=src,
        controls=True,
        auto_play=True,
        preload="auto",
        style={"width": "100%", **style},
        data_testid=test_id,
    )
