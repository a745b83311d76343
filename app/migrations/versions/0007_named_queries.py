"""named queries: a customer's own, and the global ones every customer may use

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The global queries that ship with the server (GlobalNamedQuery).
GLOBAL = {
    # The images of a space in the order of their number1: /iiif-resource/{c}/space/{space}
    "space": "space=p1&canvas=n1",
    # The images whose string1 names a book, page by page in number1's order:
    # /iiif-resource/{c}/book/{string1}
    "book": "manifest=s1&s1=p1&canvas=n1",
}


def upgrade() -> None:
    op.create_table(
        "named_queries",
        sa.Column(
            "customer",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("namedQuery", sa.String(length=255), autoincrement=False, nullable=False),
        sa.Column("queryTemplate", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer"],
            ["customers.customer"],
            name=op.f("fk_named_queries_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer", "namedQuery", name=op.f("pk_named_queries")),
    )
    table = op.create_table(
        "global_named_queries",
        sa.Column("globalNamedQuery", sa.String(length=255), autoincrement=False, nullable=False),
        sa.Column("queryTemplate", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("globalNamedQuery", name=op.f("pk_global_named_queries")),
    )
    op.bulk_insert(table, [{"globalNamedQuery": k, "queryTemplate": v} for k, v in GLOBAL.items()])
    # (the field a named query most often chooses by: a book's id, say)
    op.create_index(
        op.f("ix_images_customer_string1"), "images", ["customer", "string1"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_images_customer_string1"), table_name="images")
    op.drop_table("global_named_queries")
    op.drop_table("named_queries")
