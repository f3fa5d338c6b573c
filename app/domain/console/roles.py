"""Who may open what in the console: every agent works the inbox; only admins change the installation.

``requires_admin`` is a Litestar guard for console routes (put it on a handler or a router); a
refused agent gets a page saying so (403), never a bare error body. The check is server-side on
every request: hiding a link is not the protection, only a convenience.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from app.db.models import Agent

ADMIN = "admin"


def is_admin(agent: object) -> bool:
    return isinstance(agent, Agent) and agent.role == ADMIN and agent.is_active


class AdminsOnly(PermissionDeniedException):
    """Refused for the role, not for a missing CSRF token (that stays Litestar's own 403)."""


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let only admins through. Runs after ``SessionAuth``, so ``user`` is the session's agent."""
    if not is_admin(connection.scope.get("user")):
        raise AdminsOnly("this page is for admins")


def admins_only_page(request: Request[Any, Any, Any], _: AdminsOnly) -> Response[Any]:
    """The refusal as a page in the console's frame, so the agent can find their way back."""
    return Template(
        template_name="pages/settings/forbidden.html",
        context={"agent": request.scope.get("user"), "settings_section": None},
        status_code=403,
    )


exception_handlers: dict[Any, Any] = {AdminsOnly: admins_only_page}
