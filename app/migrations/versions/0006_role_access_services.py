"""roles: what their IIIF Auth 2 access services show and do

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = {
    "accessProfile": "clickthrough",
    "heading": "",
    "note": "",
    "confirmLabel": "",
    "signInUrl": "",
}


def upgrade() -> None:
    with op.batch_alter_table("roles") as batch_op:
        for name, default in COLUMNS.items():
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=default))
    # (the defaults filled the rows there were; new rows get theirs from the vocabulary)
    with op.batch_alter_table("roles") as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("roles") as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)
