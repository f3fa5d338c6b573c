"""ASGI entry point: ``uvicorn --factory app.asgi:create_app`` (what ``onethread serve`` runs)."""

from __future__ import annotations

import gc

from litestar import Litestar

from app.core import create_app as _create_app
from app.lib.logs import install_redaction


def create_app() -> Litestar:
    # uvicorn has configured its loggers by the time it calls this factory.
    install_redaction()
    app = _create_app()
    # What exists now (modules, templates, mappers, the app) lives as long as the process. Frozen,
    # it is out of the collector's reach, so a full collection no longer walks all of it in the
    # middle of a request (~100 ms stalls at p99 without; see bench/README.md). Only here, in the
    # server process: tests build many apps and must be able to free them.
    gc.collect()
    gc.freeze()
    return app
