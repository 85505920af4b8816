"""Money as integers: micro-yuan (µ¥) in storage and arithmetic, 4-decimal strings on the wire.

No floats anywhere: ``parse_yuan("0.0100") == 10_000`` and ``format_yuan(10_000) == "0.0100"``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from api.errors import InvalidInputError

MICROS_PER_YUAN = 1_000_000
MAX_AMOUNT_MICROS = 10**15  # ¥1,000,000,000: bounds every amount a caller can ask for


def format_yuan(micros: int, places: int = 4) -> str:
    """``10_000 → "0.0100"``; rounds half up at the last shown place."""
    quantum = Decimal(1).scaleb(-places)
    value = (Decimal(micros) / MICROS_PER_YUAN).quantize(quantum, rounding=ROUND_HALF_UP)
    return f"{value:.{places}f}"


def parse_yuan(text: str | int, *, param: str = "amount", allow_negative: bool = False) -> int:
    """``"1.5" → 1_500_000``; refuses more than 6 decimals, non-numbers and absurd amounts."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise InvalidInputError(f"{param} must be a decimal string such as '1.50'", param=param)
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidInputError(f"{param} must be a decimal number", param=param) from None
    if not value.is_finite():
        raise InvalidInputError(f"{param} must be a finite number", param=param)
    micros = value * MICROS_PER_YUAN
    if micros != micros.to_integral_value():
        raise InvalidInputError(f"{param} has more than 6 decimal places", param=param)
    result = int(micros)
    if abs(result) > MAX_AMOUNT_MICROS:
        raise InvalidInputError(f"{param} is too large", param=param)
    if result < 0 and not allow_negative:
        raise InvalidInputError(f"{param} must not be negative", param=param)
    return result
