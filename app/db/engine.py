"""The database configuration shared by the web app, the worker and the CLI."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy import event
from sqlmodel import SQLModel

from app.db import models  # noqa: F401 - registers the tables on SQLModel.metadata
from app.settings import Settings


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens a transaction only before the first write, so a unit of work's reads
    # would see data from before a concurrent unit's commit. With the driver's own transaction
    # handling off, the writer opens every unit with BEGIN IMMEDIATE (one writer at a time, reads
    # included); plain queries run without a transaction, each on the latest data.
    dbapi_connection.isolation_level = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes concurrent writers wait
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def build_db_config(settings: Settings) -> SQLAlchemyAsyncConfig:
    """An Advanced Alchemy config for ``settings.database_url``, with our migrations attached."""
    from pathlib import Path

    migrations = Path(__file__).parent / "migrations"
    if settings.is_sqlite:
        db_path = settings.database_url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine_config = EngineConfig(connect_args={"timeout": 30})
    else:
        # No pool_pre_ping: with asyncpg it costs three round trips per checkout. Connections are
        # recycled instead, and a request that meets a dead one fails once and is retried by
        # its client (webhooks) or the writer's unit of work.
        engine_config = EngineConfig(
            pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow, pool_recycle=1800
        )
    config = SQLAlchemyAsyncConfig(
        connection_string=settings.database_url,
        engine_config=engine_config,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        metadata=SQLModel.metadata,
        create_all=False,
        # We store no FileObject and stamp updated_at ourselves; both listeners inspect every
        # instance on every flush.
        enable_file_object_listener=False,
        enable_touch_updated_timestamp_listener=False,
        before_send_handler="autocommit",
        alembic_config=AlembicAsyncConfig(
            script_location=str(migrations),
            render_as_batch=True,
            version_table_name="alembic_version",
        ),
    )
    if settings.is_sqlite:
        event.listen(config.get_engine().sync_engine, "connect", _sqlite_pragmas)
        event.listen(config.get_engine().sync_engine, "connect", _sqlite_manual_transactions)
    return config
