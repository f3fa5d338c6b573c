"""ASGI entry point: ``uvicorn --factory app.asgi:create_app`` (what ``onethread serve`` runs)."""

from __future__ import annotations

from litestar import Litestar

from app.core import create_app as _create_app


def create_app() -> Litestar:
    return _create_app()
