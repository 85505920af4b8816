"""hold owners: which process took each hold, and process heartbeats (the stale-hold sweeper)

A trigger on ``holds`` records the taking process (``api.db.process_instance_id``, passed by every
connection: the ``amphion.instance`` setting on PostgreSQL, the ``amphion_instance()`` function on
SQLite) in ``hold_owners``; ``process_instances`` holds each live process's heartbeat on the
database's clock. ``api.billing.sweeper`` releases the holds of processes whose heartbeat stopped.
A connection that names no process (a one-off tool) records nothing, and its holds are never swept.

SQLite drops a table's triggers when a batch migration rebuilds it: a later migration that
rebuilds ``holds`` must create ``holds_record_owner`` again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION amphion_record_hold_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hold_owners (hold_id, instance_id)
    VALUES (NEW.id, current_setting('amphion.instance', true));
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER holds_record_owner AFTER INSERT ON holds FOR EACH ROW
WHEN (coalesce(current_setting('amphion.instance', true), '') <> '')
EXECUTE FUNCTION amphion_record_hold_owner()
"""
SQLITE_TRIGGER = """
CREATE TRIGGER holds_record_owner AFTER INSERT ON holds
WHEN coalesce(amphion_instance(), '') <> ''
BEGIN
    INSERT INTO hold_owners (hold_id, instance_id) VALUES (NEW.id, amphion_instance());
END
"""


def upgrade() -> None:
    op.create_table(
        "process_instances",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("beat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_instances")),
    )
    op.create_table(
        "hold_owners",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["holds.id"],
            name=op.f("fk_hold_owners_hold_id_holds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_hold_owners")),
    )
    with op.batch_alter_table("hold_owners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hold_owners_instance_id"), ["instance_id"], unique=False
        )
    # The sweeper asks "is this hold a job's?" for each candidate.
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_hold_id"), ["hold_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS holds_record_owner" + _on_holds())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS amphion_record_hold_owner()")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_hold_id"))
    with op.batch_alter_table("hold_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hold_owners_instance_id"))
    op.drop_table("hold_owners")
    op.drop_table("process_instances")


def _on_holds() -> str:
    return " ON holds" if op.get_bind().dialect.name == "postgresql" else ""
