"""Every error answer is ``application/problem+json`` (RFC 9457) with a stable ``type``.

Domain errors carry their own slug; framework errors (validation, 404 routes, 405, 413) get one by
status; anything unexpected is logged and answered as a bare 500 problem that leaks nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from asyncpg import InterfaceError as AsyncpgInterfaceError
from asyncpg.exceptions import DataError as AsyncpgDataError
from asyncpg.exceptions import InternalClientError as AsyncpgInternalClientError
from asyncpg.exceptions import PostgresError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.lib.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://onethread.dev/problems/"
_SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
    503: "unavailable",
}


def problem(
    status: int, slug: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return problem(exc.status_code, exc.type_slug, exc.title, exc.detail, headers=headers, **exc.extra)


def validation_error_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    detail = exc.detail or "the request is not valid"
    if errors:
        first = errors[0]
        if isinstance(first, dict) and first.get("message"):
            where = first.get("key") or first.get("source") or ""
            detail = f"{first['message']}" + (f" ({where})" if where else "")
    return problem(400, "validation-failed", "Invalid request", detail, errors=errors)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    slug = _SLUG_BY_STATUS.get(status, "http-error")
    title = slug.replace("-", " ").capitalize()
    return problem(status, slug, title, exc.detail or title, headers=exc.headers)


def _is_data_error(exc: BaseException) -> bool:
    """A value the database cannot store (class 22 SQLSTATE, an out-of-range integer, a NUL byte)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OverflowError | AsyncpgDataError):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("22"):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


RETRY_AFTER_SECONDS = 5
"""What a 503 asks the client to wait: about as long as a database restart or failover takes."""
_UNAVAILABLE_SQLSTATES = ("08", "57P", "40001", "40P01", "55P03", "23505")
"""Connection exceptions, the server shutting down or starting up, and lost races (serialization
failure, deadlock, lock timeout, a unique key taken by a concurrent writer — many first messages of
one new customer at once) that outlived the writer's own retries: try again later. A retry then
finds the other writer's rows, so a repeat of the same message is stored once."""
_SQLITE_LOST_RACE = "UNIQUE constraint failed"


def _is_unavailable(exc: BaseException) -> bool:
    """The database (or Redis) cannot be reached or answered "not now": a 503 the client may retry,
    not a bug. Walks the chain of causes (SQLAlchemy wraps the driver's error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            ConnectionError
            | TimeoutError
            | AsyncpgInterfaceError
            | AsyncpgInternalClientError
            | RedisConnectionError
            | RedisTimeoutError
            | PoolTimeoutError,
        ):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(current, sqlite3.IntegrityError) and _SQLITE_LOST_RACE in str(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def unavailable(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    """503 with ``Retry-After``: webhooks' platforms and API clients retry; nothing was half-done
    that a retry would repeat (a unit of work either committed or did not)."""
    log.warning("service unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        503,
        "unavailable",
        "Service unavailable",
        "the database or the message bus cannot take this request right now; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if _is_unavailable(exc):
        return unavailable(request, exc)
    if _is_data_error(exc):
        return problem(
            422,
            "invalid-value",
            "Invalid value",
            "a value in the request is out of range or contains characters that cannot be stored",
        )
    return internal_error_handler(request, exc)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if _is_unavailable(exc):
        return unavailable(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal error",
        "something went wrong on our side; it has been logged",
    )


exception_handlers: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    DBAPIError: database_error_handler,
    PostgresError: database_error_handler,
    AsyncpgDataError: database_error_handler,
    OverflowError: database_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["PROBLEM_MEDIA_TYPE", "MediaType", "exception_handlers", "problem"]
