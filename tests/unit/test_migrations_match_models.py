"""The migrations build exactly the schema the models describe: a model change without its
migration (or the reverse) fails here rather than on someone's production upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import app.db.models  # noqa: F401 - registers the tables on SQLModel.metadata

# Full-text search lives outside the models (an FTS5 table and its shadow tables on SQLite).
NOT_MODELLED = ("messages_fts", "alembic_version")


def _is_modelled(diff: object) -> bool:
    text = repr(diff)
    return not any(name in text for name in NOT_MODELLED)


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_the_migrated_schema_has_no_difference_from_the_models(sqlite_template: Path) -> None:
    engine = create_engine(f"sqlite:///{sqlite_template}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, SQLModel.metadata) if _is_modelled(d)]
    engine.dispose()
    assert differences == []


def test_every_modelled_table_is_created(sqlite_template: Path) -> None:
    with sqlite3.connect(sqlite_template) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(SQLModel.metadata.tables) <= tables
