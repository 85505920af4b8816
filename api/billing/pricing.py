"""Pricing rules: how a model's usage turns into a cost in µ¥.

A rule is a unit and a price per unit. Every unit the seeds use is here: per call (seed 000),
per 10k characters (seed 001 TTS), per 1k characters (OpenAI-style TTS) and per second of audio
(ASR). Costs round up to a whole µ¥, so nothing is ever served for free by rounding.
Which model has which rule is the catalog's business (``api/catalog/default.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from api.billing.money import format_yuan, parse_yuan


class PriceUnit(StrEnum):
    CALL = "call"
    PER_1K_CHARACTERS = "1k_characters"
    PER_10K_CHARACTERS = "10k_characters"
    PER_SECOND = "second"


@dataclass(frozen=True)
class Usage:
    """What a call consumed, measured by the server (never taken from the client)."""

    characters: int = 0
    audio_ms: int = 0


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclass(frozen=True)
class PriceRule:
    """A price of ``micros`` µ¥ per ``unit``."""

    unit: PriceUnit
    micros: int

    def cost(self, usage: Usage) -> int:
        """The charge for ``usage`` in whole µ¥, rounded up."""
        if self.unit is PriceUnit.CALL:
            return self.micros
        if self.unit is PriceUnit.PER_1K_CHARACTERS:
            return _ceil_div(usage.characters * self.micros, 1_000)
        if self.unit is PriceUnit.PER_10K_CHARACTERS:
            return _ceil_div(usage.characters * self.micros, 10_000)
        return _ceil_div(usage.audio_ms * self.micros, 1_000)

    def yuan(self) -> str:
        """The price per unit in yuan without trailing zeros: ``"0.01"``, ``"0.14335"``."""
        return format_yuan(self.micros, places=6).rstrip("0").rstrip(".") or "0"

    def describe(self) -> str:
        """``"¥0.01 / call"``, for price lists."""
        per = {
            PriceUnit.CALL: "call",
            PriceUnit.PER_1K_CHARACTERS: "1k characters",
            PriceUnit.PER_10K_CHARACTERS: "10k characters",
            PriceUnit.PER_SECOND: "second",
        }[self.unit]
        return f"¥{self.yuan()} / {per}"

    @classmethod
    def parse(cls, unit: str, price_yuan: str) -> PriceRule:
        return cls(PriceUnit(unit), parse_yuan(price_yuan, param="price"))
