"""sessions of roles and grants of them, kept in the database (ended at once, used once)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.BigInteger(), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token", name=op.f("uq_auth_sessions_token")),
    )
    op.create_table(
        "auth_grants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.BigInteger(), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_grants")),
    )
    for name in ("auth_sessions", "auth_grants"):
        op.create_index(op.f(f"ix_{name}_expires"), name, ["expires"], unique=False)


def downgrade() -> None:
    for name in ("auth_grants", "auth_sessions"):
        op.drop_index(op.f(f"ix_{name}_expires"), table_name=name)
        op.drop_table(name)
