"""images: what ingest made of audio and video (transcodes) and kept of files, for delivery;
what video-max and audio-max make here

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DETAILS = sa.table(
    "image_optimisation_policies_technicalDetails",
    sa.column("imageOptimisationPolicy"),
    sa.column("position"),
    sa.column("value"),
)
MADE = {
    "video-max": "FFmpeg (libx264, aac): H.264 (CRF 23, veryfast) and AAC 128 kbit/s in an MP4, "
    "at most 720 lines, the aspect ratio kept, never enlarged, its index first (fast start)",
    "audio-max": "FFmpeg (libmp3lame): MP3, 128 kbit/s constant, 44.1 kHz",
}
SEEDED = {"video-max": "mp4: h264 at the source resolution", "audio-max": "mp3: 320 kbit/s"}


def _details(policy: str, value: str) -> None:
    op.execute(DETAILS.delete().where(DETAILS.c.imageOptimisationPolicy == policy))
    op.bulk_insert(DETAILS, [{"imageOptimisationPolicy": policy, "position": 0, "value": value}])


def _key(name: str) -> sa.Column:
    return sa.Column(
        name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False,
        nullable=False,
    )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "image_media",
        _key("customer"),
        _key("space"),
        sa.Column("image", sa.String(length=255), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("policy", sa.String(length=255), nullable=True),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("duration", sa.BigInteger(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer", "space", "image"],
            ["images.customer", "images.space", "images.image"],
            name=op.f("fk_image_media_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "customer", "space", "image", "channel", name=op.f("pk_image_media")
        ),
    )
    for policy, value in MADE.items():
        _details(policy, value)


def downgrade() -> None:
    for policy, value in SEEDED.items():
        _details(policy, value)
    op.drop_table("image_media")
