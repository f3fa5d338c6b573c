"""Who is calling: bearer tokens (header, or ``?token=`` on websockets) resolved to an agent.

The middleware only identifies; guards decide. Unauthenticated requests to protected routes get a
401 problem from the ``requires_agent`` guard, so public routes (webhooks, the widget, the token
endpoint) simply have no guard.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, ApiToken
from app.domain.accounts.passwords import verify_password
from app.domain.realtime.writer import Writer
from app.lib.errors import AuthenticationError
from app.lib.secrets import token_digest


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if connection.scope["type"] == ScopeType.WEBSOCKET:
        return connection.query_params.get("token") or None
    return None


async def agent_for_token(writer: Writer, token: str) -> Agent | None:
    async with writer.sessionmaker() as session:
        row = (
            await session.execute(
                select(Agent)
                .join(ApiToken, col(ApiToken.agent_id) == col(Agent.id))
                .where(col(ApiToken.token_hash) == token_digest(token), col(ApiToken.revoked_at).is_(None))
            )
        ).scalar_one_or_none()
    if row is None or not row.is_active:
        return None
    return row


async def check_credentials(writer: Writer, *, email: str, password: str) -> Agent:
    """The active agent with these credentials; the same error for unknown email and wrong password.

    Shared by the token endpoint and the console's login form so both refuse alike. Argon2 runs in a
    thread (it is CPU-heavy by design) and runs even for an unknown email, so timing says nothing.
    """
    address = email.strip().lower()
    async with writer.sessionmaker() as session:
        agent = (await session.execute(select(Agent).where(col(Agent.email) == address))).scalar_one_or_none()
    ok = await asyncio.to_thread(verify_password, agent.password_hash if agent else None, password)
    if agent is None or not ok or not agent.is_active:
        raise AuthenticationError("wrong email or password", type_slug="bad-credentials")
    return agent


async def agent_by_id(writer: Writer, agent_id: int) -> Agent | None:
    """The agent a console session names, if it still exists and may still log in."""
    async with writer.sessionmaker() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None or not agent.is_active:
        return None
    return agent


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``connection.user`` to the agent behind a valid bearer token, else leaves it ``None``."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection)
        agent = None
        if token:
            writer: Writer = connection.app.state.writer
            agent = await agent_for_token(writer, token)
        return AuthenticationResult(user=agent, auth=token if agent else None)


def requires_agent(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not isinstance(connection.scope.get("user"), Agent):
        raise AuthenticationError("send an agent token: Authorization: Bearer <token>")
