"""Who is calling: bearer tokens (header, or ``?token=`` on websockets) resolved to an agent.

The middleware only identifies; guards decide. Unauthenticated requests to protected routes get a
401 problem from the ``requires_agent`` guard, so public routes (webhooks, the widget, the token
endpoint) simply have no guard.

``/api/v1`` also accepts the console's session cookie (API.md), so the console's own scripts can
call the API. A cookie rides along on requests other sites make, so a cookie-authorized call must
prove it comes from the console: unsafe methods carry the ``X-CSRFToken`` header matching the CSRF
cookie (the double-submit token HTMX already sends), and websockets carry this site's ``Origin``.
Bearer tokens are never sent by a browser on its own, so they need neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from secrets import compare_digest
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash
from litestar.middleware.session.server_side import ServerSideSessionBackend
from litestar.types import ASGIApp
from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, ApiToken
from app.domain.accounts.passwords import verify_password
from app.domain.realtime.writer import Writer
from app.lib.errors import AuthenticationError, ForbiddenError
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


CSRF_COOKIE = "onethread_csrf"
"""The cookie holding the console's CSRF token (Litestar's double-submit token; see ``app.core``)."""

COOKIE_SESSION = "console-session"
"""``connection.auth`` when the caller was identified by the console's session cookie."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_allowed(connection: ASGIConnection[Any, Any, Any, Any], public_url: str) -> bool:
    """Whether the browser says this request comes from a page of this site.

    Same site means the ``Origin`` names the host the browser asked for (``Host``) or the public
    URL (behind a proxy that rewrites ``Host``). No ``Origin``, or ``null``, is refused: browsers
    always send one on websockets and unsafe requests, so only a page hiding it would lack it.
    """
    origin = urlsplit(connection.headers.get("origin", ""))
    if origin.scheme not in ("http", "https") or not origin.netloc:
        return False
    public = urlsplit(public_url)
    if origin.scheme == public.scheme and origin.netloc.lower() == public.netloc.lower():
        return True
    host = connection.headers.get("host", "").lower()
    return bool(host) and origin.netloc.lower() == host


def _csrf_secret_of(token: str, secret: str) -> str | None:
    """The random part of a Litestar CSRF token, if its signature is ours."""
    if len(token) <= CSRF_SECRET_LENGTH:
        return None
    value, signature = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
    return value if compare_digest(signature, generate_csrf_hash(token=value, secret=secret)) else None


def csrf_tokens_match(header: str | None, cookie: str | None, secret: str) -> bool:
    """The console's double-submit check (as Litestar's CSRF middleware does it for forms)."""
    if not header or not cookie:
        return False
    sent, kept = _csrf_secret_of(header, secret), _csrf_secret_of(cookie, secret)
    return sent is not None and kept is not None and compare_digest(sent, kept)


@dataclass(frozen=True)
class CookieSessionRule:
    """How ``/api/`` accepts the console's session cookie (wired in ``app.core``)."""

    backend: ServerSideSessionBackend
    agent_for_session: Callable[[dict[str, Any], ASGIConnection[Any, Any, Any, Any]], Awaitable[Agent | None]]
    csrf_secret: str
    csrf_cookie: str
    public_url: str
    path_prefix: str = "/api/"

    async def agent(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Agent | CookieRefused | None:
        """The session's agent; why it may not act (cross-site); ``None`` without a session."""
        if not connection.scope["path"].startswith(self.path_prefix):
            return None
        if not connection.cookies.get(self.backend.config.key):
            return None
        session = await self.backend.load_from_connection(connection)
        agent = await self.agent_for_session(session, connection) if session else None
        if agent is None:
            return None
        if connection.scope["type"] == ScopeType.WEBSOCKET:
            if not origin_allowed(connection, self.public_url):
                return CookieRefused(
                    "cross-site websocket refused: the Origin is not this site", "cross-origin"
                )
        elif connection.scope.get("method", "GET") not in SAFE_METHODS and not csrf_tokens_match(
            connection.headers.get("x-csrftoken"), connection.cookies.get(self.csrf_cookie), self.csrf_secret
        ):
            return CookieRefused(
                "a request authorized by the console's session cookie must send the X-CSRFToken header "
                "matching the CSRF cookie (or use a bearer token)",
                "csrf-token-missing",
            )
        return agent


@dataclass(frozen=True)
class CookieRefused:
    """``connection.auth`` when a session cookie came without the proof that the console sent it.

    The caller stays anonymous (routes without a guard, like the token endpoint, still answer);
    ``requires_agent`` refuses with this reason instead of "send a token".
    """

    reason: str
    type_slug: str


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``connection.user`` to the agent behind a valid bearer token, else leaves it ``None``.

    Without a bearer token, and given a ``cookie_rule``, the console's session cookie identifies
    the agent on the API's paths (after the rule's CSRF / Origin checks).
    """

    def __init__(
        self,
        app: ASGIApp,
        exclude: str | list[str] | None = None,
        cookie_rule: CookieSessionRule | None = None,
    ) -> None:
        super().__init__(app, exclude=exclude)
        self.cookie_rule = cookie_rule

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection)
        if token:
            writer: Writer = connection.app.state.writer
            agent = await agent_for_token(writer, token)
            return AuthenticationResult(user=agent, auth=token if agent else None)
        if self.cookie_rule is not None:
            found = await self.cookie_rule.agent(connection)
            if isinstance(found, CookieRefused):
                return AuthenticationResult(user=None, auth=found)
            if found is not None:
                return AuthenticationResult(user=found, auth=COOKIE_SESSION)
        return AuthenticationResult(user=None, auth=None)


def requires_agent(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    refused = connection.scope.get("auth")
    if isinstance(refused, CookieRefused):
        raise ForbiddenError(refused.reason, type_slug=refused.type_slug)
    if not isinstance(connection.scope.get("user"), Agent):
        raise AuthenticationError("send an agent token: Authorization: Bearer <token>")
