"""Errors that actions raise and the HTTP layer turns into problem+json (RFC 9457).

``type`` is a stable URI slug clients may switch on; ``detail`` is the human reason.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that cannot be done as asked. Raising it rolls the unit of work back."""

    status_code: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, type_slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
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
