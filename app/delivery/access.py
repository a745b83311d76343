"""Who may see what of an image: its roles and ``maxUnauthorised``.

An image without roles is open. An image with roles is open only for a request for the whole
image whose longest side is at most its ``maxUnauthorised`` (when that is above 0): anything
else needs a session of the image's customer (:mod:`app.web.sessions`) that holds one of the
image's roles, else 401 (no session) or 403 (a session without such a role).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.web.errors import ApiError

# (what a 401 of delivery says a client may send: the probe's tokens are bearer tokens)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="DLCS"'}


@dataclass(frozen=True)
class Rule:
    """What an image's registration says of who may see it."""

    max_unauthorised: int
    roles: frozenset[str]

    @property
    def restricted(self) -> bool:
        """Whether the image has roles (so not all of it is open)."""
        return bool(self.roles)

    def opens(self, whole: bool, longest: int) -> bool:
        """Whether a request is open to anyone: for the whole image (``whole``) whose longest
        side is ``longest``."""
        return not self.roles or (whole and 0 < longest <= self.max_unauthorised)

    def largest_open(self) -> int:
        """Return the longest side of the whole image that anyone may see (0: none)."""
        return max(0, self.max_unauthorised)


OPEN = Rule(max_unauthorised=-1, roles=frozenset())


def check(rule: Rule, held: frozenset[str] | None, what: str) -> None:
    """Fail with 401 (no session) or 403 (no role of the image) for a request not open to
    anyone; ``what`` names the image in the error."""
    if held is None:
        raise ApiError(
            401,
            f"The {what} needs a session holding one of its roles for this request; "
            "sign in through its access service.",
            headers=CHALLENGE,
        )
    if not held & rule.roles:
        raise ApiError(403, f"This session holds none of the roles the {what} needs.")
