"""Console sessions: server-side, resolved to an agent, with a fresh id at every login.

The browser holds only a random session id (an HttpOnly cookie); what it stands for lives in a
store: Redis in production (shared by every app process), a file store under ``var/`` when
embedded (so a restart keeps agents logged in). The JSON API accepts this cookie too, but only with
an ``X-CSRFToken`` header on writes and a same-site ``Origin`` on its websocket (see
``app.domain.accounts.auth``), so a cookie alone never authorizes a cross-site request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import Empty, Message, ScopeSession

from app.db.models import Agent
from app.domain.accounts.auth import agent_by_id
from app.domain.realtime.writer import Writer

SESSION_COOKIE = "onethread_session"
SESSION_STORE = "console_sessions"
AGENT_KEY = "agent_id"
_RENEW = "onethread.renew_session_id"
_RENEWED_ID = "onethread.renewed_session_id"


def renew_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask for a new session id when this response is sent (login: no session fixation).

    Litestar's server-side backend keeps whatever id the browser sent, so an id planted before
    login would otherwise become an authenticated one.
    """
    connection.state[_RENEW] = True


class RenewingSessionBackend(ServerSideSessionBackend):
    """The stock backend, plus: drop the old id and mint a new one when asked to."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        renewed = connection.state.get(_RENEWED_ID)
        if isinstance(renewed, str):
            return renewed
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if isinstance(scope_session, dict) and not scope_session:
            # Nothing in the session: the stock backend would still store ``{}`` under a new id, a
            # store write (and a cookie) for every anonymous visit to the login page.
            if not connection.cookies.get(self.config.key):
                return
            scope_session = Empty
        if connection.state.get(_RENEW) and not connection.state.get(_RENEWED_ID):
            old = connection.cookies.get(self.config.key)
            if old:
                await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
            connection.state[_RENEWED_ID] = self.generate_session_id()
        await super().store_in_message(scope_session, message, connection)


@dataclass
class ConsoleSessionConfig(ServerSideSessionConfig):
    """``ServerSideSessionConfig`` whose backend renews the id on request."""

    _backend_class: type[ServerSideSessionBackend] = field(default=RenewingSessionBackend, init=False)


def session_config(*, secure: bool, max_age_seconds: int = 14 * 24 * 3600) -> ConsoleSessionConfig:
    """The console's cookie: HttpOnly, SameSite=Lax, Secure when served over HTTPS."""
    return ConsoleSessionConfig(
        key=SESSION_COOKIE,
        store=SESSION_STORE,
        max_age=max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=secure,
        renew_on_access=True,
    )


async def agent_from_session(
    session: dict[str, Any], connection: ASGIConnection[Any, Any, Any, Any]
) -> Agent | None:
    """``SessionAuth``'s user lookup: the session's agent, if it still exists and is active."""
    agent_id = session.get(AGENT_KEY)
    if not isinstance(agent_id, int):
        return None
    writer: Writer = connection.app.state.writer
    return await agent_by_id(writer, agent_id)
