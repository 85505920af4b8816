"""Money parsing/formatting, pricing rules, and redemption codes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.billing import codes, ledger
from api.billing.money import format_yuan, parse_yuan
from api.billing.pricing import PriceRule, PriceUnit, Usage
from api.db import Database
from api.errors import InvalidInputError
from api.settings import Settings
from tests.helpers import make_user


def test_format_and_parse() -> None:
    assert format_yuan(100_000_000) == "100.0000"
    assert format_yuan(10_000) == "0.0100"
    assert format_yuan(215) == "0.0002"
    assert format_yuan(-2_500_000) == "-2.5000"
    assert parse_yuan("0.0100") == 10_000
    assert parse_yuan("100") == 100_000_000
    assert parse_yuan("-1.5", allow_negative=True) == -1_500_000
    for bad in ["abc", "1.0000001", "NaN", "Infinity", "1e30", "-1", ""]:
        with pytest.raises(InvalidInputError):
            parse_yuan(bad)


def test_price_rule_description() -> None:
    assert PriceRule.parse("10k_characters", "0.14335").describe() == "¥0.14335 / 10k characters"
    assert PriceRule.parse("call", "0.0100").cost(Usage(characters=999)) == 10_000


@given(
    characters=st.integers(0, 100_000),
    audio_ms=st.integers(0, 10_000_000),
    micros=st.integers(0, 10_000_000),
    unit=st.sampled_from(list(PriceUnit)),
)
def test_cost_is_the_exact_ceiling(characters: int, audio_ms: int, micros: int, unit: PriceUnit):
    rule = PriceRule(unit, micros)
    cost = rule.cost(Usage(characters=characters, audio_ms=audio_ms))
    assert isinstance(cost, int)
    exact = {
        PriceUnit.CALL: micros,
        PriceUnit.PER_1K_CHARACTERS: characters * micros / 1000,
        PriceUnit.PER_10K_CHARACTERS: characters * micros / 10_000,
        PriceUnit.PER_SECOND: audio_ms * micros / 1000,
    }[unit]
    assert cost >= exact and cost - exact < 1 + 1e-9 * max(1, exact)
    assert cost == math.ceil(round(exact, 6)) or cost - exact < 1


def test_redeem_each_code_once(db: Database, settings: Settings) -> None:
    alice = make_user(db, settings, balance_micros=0)
    bob = make_user(db, settings, balance_micros=0)
    with db.write() as session:
        minted = codes.create_codes(
            session, amount_micros=5_000_000, count=3, secret_key=settings.secret_key
        )
    assert len(set(minted)) == 3 and all(c.startswith("AMP-") for c in minted)
    with db.write() as session:
        # Lower case and O-for-0 typos are forgiven.
        entry = codes.redeem(
            session, user_id=alice, code=minted[0].lower(), secret_key=settings.secret_key
        )
    assert entry.kind == "redeem" and entry.amount_micros == 5_000_000
    for user_id in (alice, bob):
        with pytest.raises(InvalidInputError), db.write() as session:
            codes.redeem(session, user_id=user_id, code=minted[0], secret_key=settings.secret_key)
    with pytest.raises(InvalidInputError), db.write() as session:
        codes.redeem(session, user_id=bob, code="AMP-0000-0000-0000-0000", secret_key="x" * 20)
    with db.read() as session:
        assert ledger.balance_of(session, alice) == 5_000_000
        assert ledger.balance_of(session, bob) == 0


def test_codes_are_stored_only_as_digests(db: Database, settings: Settings) -> None:
    with db.write() as session:
        minted = codes.create_codes(
            session, amount_micros=1_000_000, count=2, secret_key=settings.secret_key
        )
    raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("amphion.db*"))
    for code in minted:
        assert code.encode() not in raw
