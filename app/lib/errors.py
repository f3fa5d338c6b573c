"""Errors that actions raise and the HTTP layer turns into problem+json (RFC 9457).

``type`` is a stable URI slug clients may switch on; ``detail`` is the human reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reason:
    """A reason as its English template and values, so a reader's language can be applied later.

    The API shows ``str(reason)`` (English); the console translates ``template`` through its
    catalog and fills in the values, translating those that are themselves a ``Reason`` (a channel's
    name, say) and leaving plain strings (a customer's address) as they are. Templates are marked
    with ``N_`` where they are written so ``make messages`` finds them.
    """

    template: str
    values: Mapping[str, str | Reason] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.values:
            return self.template
        return self.template % {name: str(value) for name, value in self.values.items()}


class DomainError(Exception):
    """A request that cannot be done as asked. Raising it rolls the unit of work back.

    ``detail`` is a plain English sentence or a :class:`Reason` (for refusals agents read in the
    console, in their language); ``reason`` is always the latter, ``detail`` always the former.
    """

    status_code: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str | Reason, *, type_slug: str | None = None, **extra: Any) -> None:
        self.reason = detail if isinstance(detail, Reason) else Reason(detail)
        self.detail = str(self.reason)
        super().__init__(self.detail)
        if type_slug:
            self.type_slug = type_slug
        self.extra = extra


class NotFoundError(DomainError):
    status_code = 404
    type_slug = "not-found"
    title = "Not found"


class ConflictError(DomainError):
    status_code = 409
    type_slug = "conflict"
    title = "Conflict"


class InvalidInputError(DomainError):
    status_code = 422
    type_slug = "invalid-input"
    title = "Invalid input"


class AuthenticationError(DomainError):
    status_code = 401
    type_slug = "unauthenticated"
    title = "Authentication required"


class ForbiddenError(DomainError):
    status_code = 403
    type_slug = "forbidden"
    title = "Forbidden"


class PayloadTooLargeError(DomainError):
    status_code = 413
    type_slug = "body-too-large"
    title = "Request body too large"
