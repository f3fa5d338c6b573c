"""Applying migrations (Alembic through Advanced Alchemy's command wrapper)."""

from __future__ import annotations

from advanced_alchemy.alembic.commands import AlembicCommands

from app.core import configure
from app.db.engine import build_db_config
from app.settings import Settings


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to ``revision``. Blocking: call it outside a running event loop."""
    configure(settings)
    config = build_db_config(settings)
    AlembicCommands(sqlalchemy_config=config).upgrade(revision=revision)
