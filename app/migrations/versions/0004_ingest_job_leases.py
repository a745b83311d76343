"""ingest jobs: a lease's end (expires) instead of when it was taken (claimed_at)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 01:20:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A holder's lease now lasts as long as its kind of work needs (a fetch's deadline, a
    # request publishing to the broker): each row carries when it ends. Leases taken under
    # the old meaning end at once, so their jobs are taken up again.
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.alter_column("claimed_at", new_column_name="expires")


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.alter_column("expires", new_column_name="claimed_at")
