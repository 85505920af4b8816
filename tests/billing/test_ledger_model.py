"""A Hypothesis state machine drives the ledger with grants, holds, captures, releases and replays.

After every step: ``balance == sum(entries) >= 0``, the balance matches a plain-Python model,
and no idempotency key was ever settled twice.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from api.billing import ledger
from api.billing.models import HOLD_HELD, Hold, LedgerEntry
from api.db import Database
from api.errors import ConflictError, InsufficientBalanceError
from api.settings import Settings
from tests.conftest import BACKENDS, TEST_DATABASE_URL, TEST_SECRET, empty_postgres
from tests.helpers import make_user

AMOUNTS = st.integers(min_value=0, max_value=3_000_000)
KEYS = st.sampled_from([f"k{i}" for i in range(8)])


class LedgerMachine(RuleBasedStateMachine):
    backend = "sqlite"
    template: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        if self.backend == "sqlite":
            assert self.template is not None
            target = self.tmp / "ledger.db"
            shutil.copyfile(self.template, target)
            self.db = Database(f"sqlite:///{target}")
        else:
            self.db = Database(TEST_DATABASE_URL)
            empty_postgres(self.db)
        settings_ = Settings(environment="test", secret_key=TEST_SECRET, data_dir=self.tmp)
        self.user_id = make_user(self.db, settings_, balance_micros=0)
        self.expected = 0
        self.holds: dict[str, tuple[int, int]] = {}  # key → (hold id, amount)
        self.settled: dict[str, str] = {}

    def teardown(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(amount=st.integers(min_value=1, max_value=5_000_000))
    def grant(self, amount: int) -> None:
        with self.db.write() as session:
            ledger.credit(session, self.user_id, amount, kind="grant")
        self.expected += amount

    @rule(amount=AMOUNTS, key=KEYS)
    def hold(self, amount: int, key: str) -> None:
        try:
            with self.db.write() as session:
                hold = ledger.hold(session, self.user_id, amount, idempotency_key=key)
                hold_id, held = hold.id, hold.amount_micros
        except InsufficientBalanceError:
            assert amount > self.expected and key not in self.holds
            return
        assert hold_id is not None
        if key in self.holds:
            assert self.holds[key][0] == hold_id  # a replayed hold reserves nothing new
            return
        self.holds[key] = (hold_id, held)
        self.expected -= held

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), fraction=st.fractions(min_value=0, max_value=1))
    def capture(self, data: st.DataObject, fraction) -> None:  # noqa: ANN001
        key = data.draw(st.sampled_from(sorted(self.holds)))
        hold_id, held = self.holds[key]
        charge = int(held * fraction)
        try:
            with self.db.write() as session:
                result = ledger.capture(session, hold_id, charge)
        except ConflictError:
            assert self.settled.get(key) == "released"
            return
        if key in self.settled:
            assert not result.settled_now
            return
        assert result.settled_now
        self.settled[key] = "captured"
        self.expected += held - charge

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.holds)))
        hold_id, held = self.holds[key]
        try:
            with self.db.write() as session:
                result = ledger.release(session, hold_id)
        except ConflictError:
            assert self.settled.get(key) == "captured"
            return
        if key in self.settled:
            assert not result.settled_now
            return
        self.settled[key] = "released"
        self.expected += held

    @invariant()
    def balance_is_the_sum_of_entries_and_never_negative(self) -> None:
        with self.db.read() as session:
            balance = ledger.balance_of(session, self.user_id)
            total = session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount_micros), 0)).where(
                    LedgerEntry.user_id == self.user_id
                )
            ).scalar_one()
            settlements = session.execute(
                select(LedgerEntry.hold_id, func.count())
                .where(LedgerEntry.kind.in_(["capture", "release"]))  # type: ignore[attr-defined]
                .group_by(LedgerEntry.hold_id)
            ).all()
            open_holds = session.execute(
                select(func.count()).select_from(Hold).where(Hold.status == HOLD_HELD)
            ).scalar_one()
        assert balance == total == self.expected
        assert balance >= 0
        assert all(count == 1 for _, count in settlements)
        assert open_holds == len(self.holds) - len(self.settled)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ledger_state_machine(backend: str, sqlite_template: Path) -> None:
    machine = type(
        f"LedgerMachine_{backend}",
        (LedgerMachine,),
        {"backend": backend, "template": sqlite_template},
    )
    budget = settings(
        max_examples=40 if backend == "sqlite" else 15,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run_state_machine_as_test(machine, settings=budget)
