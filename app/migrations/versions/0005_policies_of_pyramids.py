"""image optimisation policies: what fast-higher makes here, and use-original

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DETAILS = sa.table(
    "image_optimisation_policies_technicalDetails",
    sa.column("imageOptimisationPolicy"),
    sa.column("position"),
    sa.column("value"),
)
POLICIES = sa.table(
    "image_optimisation_policies", sa.column("imageOptimisationPolicy"), sa.column("name")
)
MADE = "libvips: a pyramidal TIFF of 256 px JPEG tiles (quality 85), every level down to one tile"
KAKADU = "kdu_max: Clevels=7 Clayers=6 Cprecincts={256,256}"
ORIGINAL = "an origin that is such a pyramid already (256 px JPEG tiles, each level half) as it is"


def _details(policy: str, value: str) -> None:
    op.execute(DETAILS.delete().where(DETAILS.c.imageOptimisationPolicy == policy))
    op.bulk_insert(DETAILS, [{"imageOptimisationPolicy": policy, "position": 0, "value": value}])


def upgrade() -> None:
    # The seed named Kakadu (the real DLCS's JPEG 2000 encoder); this server makes pyramids
    # with libvips, and keeps an origin that is one already.
    _details("fast-higher", MADE)
    op.bulk_insert(POLICIES, [{"imageOptimisationPolicy": "use-original", "name": "Use original"}])
    _details("use-original", ORIGINAL)


def downgrade() -> None:
    op.execute(DETAILS.delete().where(DETAILS.c.imageOptimisationPolicy == "use-original"))
    op.execute(POLICIES.delete().where(POLICIES.c.imageOptimisationPolicy == "use-original"))
    _details("fast-higher", KAKADU)
