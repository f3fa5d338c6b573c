"""What a client is answered when the database refuses a request: 503 to retry, or 500 for a bug.

The handlers are mounted on a tiny Litestar app whose routes raise the exceptions SQLAlchemy raises
for asyncpg and sqlite3 (the same wrapping the writer sees), so the answer is the real one.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy.exc import IntegrityError

from app.lib.problems import RETRY_AFTER_SECONDS, exception_handlers


def _wrapped(orig: BaseException) -> IntegrityError:
    return IntegrityError("INSERT INTO identities …", {}, orig)


RAISED: dict[str, BaseException] = {
    "pg-unique": _wrapped(asyncpg.UniqueViolationError("duplicate key value violates unique constraint")),
    "sqlite-unique": _wrapped(sqlite3.IntegrityError("UNIQUE constraint failed: identities.channel")),
    "pg-not-null": _wrapped(asyncpg.NotNullViolationError('null value in column "text"')),
    "sqlite-not-null": _wrapped(sqlite3.IntegrityError("NOT NULL constraint failed: messages.text")),
}


@get("/raise/{kind:str}", sync_to_thread=False)
def raise_it(kind: str) -> None:
    raise RAISED[kind]


@pytest.fixture(scope="module")
def client() -> TestClient[Litestar]:
    return TestClient(Litestar([raise_it], exception_handlers=exception_handlers, logging_config=None))


@pytest.mark.parametrize("kind", ["pg-unique", "sqlite-unique"])
def test_a_unique_key_lost_to_a_concurrent_writer_is_a_503_to_retry(
    client: TestClient[Litestar], kind: str
) -> None:
    # The writer already retried the unit of work; what is left is a race a later retry wins.
    answer = client.get(f"/raise/{kind}")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert answer.json()["type"].endswith("unavailable")


@pytest.mark.parametrize("kind", ["pg-not-null", "sqlite-not-null"])
def test_any_other_integrity_error_is_a_bug_and_says_nothing(client: TestClient[Litestar], kind: str) -> None:
    answer = client.get(f"/raise/{kind}")
    assert answer.status_code == 500
    assert "constraint" not in answer.text and "INSERT" not in answer.text
