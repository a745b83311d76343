"""Which classes do more than the generic resource, and what: one table of their behaviours.

Each behaviour is declared beside the code it names (:mod:`app.api.creation` for customers,
spaces and keys; :mod:`app.api.ingest` for images, the queue and batches; :mod:`app.api.access`
for grants; :mod:`app.api.queries` for named queries); every other class is served by the
generic resource alone (:data:`app.resources.PLAIN`).
"""

from __future__ import annotations

from app.api import access, creation, ingest, queries
from app.resources import PLAIN, Behaviour
from vocab.model import Class

BEHAVIOURS: dict[str, Behaviour] = {
    "Customer": creation.CUSTOMER,
    "Space": creation.SPACE,
    "Key": creation.KEY,
    "Image": ingest.IMAGES,
    "Reingest": ingest.REINGEST,
    "Queue": ingest.QUEUES,
    "Batch": ingest.BATCHES,
    "AuthGrant": access.AUTH_GRANTS,
    "NamedQuery": queries.NAMED_QUERIES,
}


def behaviour_of(cls: Class) -> Behaviour:
    """Return what the resources of ``cls`` do beyond the generic ones."""
    return BEHAVIOURS.get(cls.name, PLAIN)
