"""A Reflex plugin that bundles the Inter typeface into the frontend build.

The font comes from the npm package at build time (``build_console``) and is then served by
the console itself, so pages render the same with no internet and no system-wide font install.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reflex_base.plugins.base import Plugin

INTER_PACKAGE = "@fontsource-variable/inter@5.3.0"
INTER_STYLESHEET = "@fontsource-variable/inter/index.css"


class InterFontPlugin(Plugin):
    """Adds the Inter variable font package and its stylesheet to the compiled app."""

    def get_frontend_dependencies(self, **context: Any) -> tuple[str, ...]:
        return (INTER_PACKAGE,)

    def get_stylesheet_paths(self, **context: Any) -> Sequence[str]:
        return (INTER_STYLESHEET,)
