"""Design tokens: the console's colours, type, spacing and surfaces in one place.

Colours come from the Radix scales the theme defines (``rx.color("gray", 4)``), never hex
literals in pages, so the palette can change here alone. Sizes use Radix's spacing steps
("1"–"9") in components and plain CSS lengths only for layout dimensions.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

# The Radix Themes configuration (rxconfig.py hands it to RadixThemesPlugin).
THEME: dict[str, Any] = {
    "appearance": "inherit",  # follows the colour-mode switch
    "accent_color": "indigo",
    "gray_color": "slate",
    "radius": "large",
    "scaling": "100%",
    "has_background": True,
}

# Inter is bundled with the frontend (console/plugins.py); the rest are fallbacks, with CJK
# faces for Chinese e-mail addresses and names.
FONT_FAMILY = (
    "'Inter Variable', 'Inter', ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, "
    "'Helvetica Neue', Arial, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif"
)
MONO_FAMILY = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"

# Layout.
SIDEBAR_WIDTH = "15.5rem"
CONTENT_MAX_WIDTH = "72rem"
AUTH_FORM_WIDTH = "24rem"
TOPBAR_HEIGHT = "3.5rem"

# Surfaces.
BORDER = f"1px solid {rx.color('gray', 4)}"
PAGE_BACKGROUND = rx.color("gray", 2)
SURFACE = rx.color("gray", 1)
SHADOW_CARD = "0 1px 2px rgba(15, 23, 42, 0.04), 0 1px 3px rgba(15, 23, 42, 0.06)"
SHADOW_RAISED = "0 10px 30px -12px rgba(15, 23, 42, 0.25), 0 4px 12px -6px rgba(15, 23, 42, 0.1)"

# Text.
TEXT_MUTED = rx.color("gray", 11)
TEXT_SUBTLE = rx.color("gray", 10)

# The brand panel of the sign-in and sign-up pages.
BRAND_GRADIENT = (
    "radial-gradient(circle at 15% 20%, rgba(129, 140, 248, 0.35), transparent 45%), "
    "radial-gradient(circle at 85% 75%, rgba(56, 189, 248, 0.25), transparent 40%), "
    "linear-gradient(160deg, #1e1b4b 0%, #312e81 55%, #3730a3 100%)"
)

# Applied to the whole app (rx.App(style=...)).
GLOBAL_STYLE: dict[Any, Any] = {
    "font_family": FONT_FAMILY,
    "-webkit-font-smoothing": "antialiased",
    "-moz-osx-font-smoothing": "grayscale",
    "::selection": {"background": rx.color("accent", 5)},
}

# Numbers that should line up (balances, amounts).
NUMERIC: dict[str, Any] = {"font_variant_numeric": "tabular-nums", "letter_spacing": "-0.02em"}

CARD: dict[str, Any] = {
    "background": SURFACE,
    "border": BORDER,
    "border_radius": "var(--radius-4)",
    "box_shadow": SHADOW_CARD,
    "padding": "1.5rem",
    "width": "100%",
}
