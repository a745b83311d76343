"""What goes wrong with an origin, in words for the image's ``error``."""

from __future__ import annotations


class IngestError(Exception):
    """Why an origin could not be ingested, in words for the image's ``error``."""
