"""money path indexes: drop the user_id indexes of holds and ledger_entries

Each table's unique ``(user_id, idempotency_key)`` index already answers every lookup by
``user_id`` (its leftmost column), and a foreign key's cascade uses it as well. The single-column
index only cost a second index insert for every hold and every ledger entry: with it dropped,
8 PostgreSQL writers (``bench.ledger_writers``, row B4) made 2,960-3,400 transactions a second
against 2,680-2,850 with it, in alternating runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain DROP/CREATE INDEX, not a batch migration: a batch rebuild of ``holds`` on SQLite would
# drop its ``holds_record_owner`` trigger (migration 0004).
REDUNDANT = (("ix_holds_user_id", "holds"), ("ix_ledger_entries_user_id", "ledger_entries"))


def upgrade() -> None:
    for index, table in REDUNDANT:
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for index, table in REDUNDANT:
        op.create_index(index, table, ["user_id"], unique=False)
