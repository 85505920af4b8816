"""``/bench/counter``: the trivial Reflex counter that ``bench.console_roundtrip`` compares with.

One button, one number, no database, no app shell: the floor of what a click costs through
Reflex's websocket on this machine. It is imported (its state
joins the state tree) and registered only when ``AMPHION_BENCH_PAGES=1`` (see
console/console.py), so a production console never serves it.
"""

from __future__ import annotations

import reflex as rx

ROUTE = "/bench/counter"


class BenchCounterState(rx.State):
    """A number that one click increments."""

    count: int = 0

    @rx.event
    def increment(self) -> None:
        self.count += 1


def bench_counter_page() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.heading(BenchCounterState.count, data_testid="bench-count"),
            rx.button("+1", on_click=BenchCounterState.increment, data_testid="bench-increment"),
            align="center",
        ),
        padding="4rem",
    )
