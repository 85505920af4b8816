"""``/``: no content of its own; sends the visitor to the dashboard or to sign-in."""

from __future__ import annotations

import reflex as rx

from console.components.layout import page_loading


def index_page() -> rx.Component:
    return page_loading()
