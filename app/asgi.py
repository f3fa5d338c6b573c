"""ASGI entry point: ``uvicorn --factory app.asgi:create_app`` (what ``onethread serve`` runs)."""

from __future__ import annotations

from litestar import Litestar

from app.core import create_app as _create_app
from app.lib.logs import install_redaction


def create_app() -> Litestar:
    # uvicorn has configured its loggers by the time it calls this factory.
    install_redaction()
    return _create_app()
