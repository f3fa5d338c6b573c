"""Token login for scripts and the console's API calls."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.types import ControllerRouterHandler

from app.db.models import Agent
from app.domain.accounts.actions import do_issue_token
from app.domain.accounts.auth import requires_agent
from app.domain.accounts.login_limits import check_login_attempt
from app.domain.realtime.writer import Writer
from app.domain.system.services import Services
from app.lib.fields import text


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, text(max_length=320)]
    password: Annotated[str, text(max_length=1024)]


class TokenOut(msgspec.Struct):
    token: str


class AgentOut(msgspec.Struct):
    id: int
    email: str
    name: str
    role: str


@post("/api/v1/auth/token", status_code=200, tags=["auth"], summary="Exchange email and password for a token")
async def issue_token(
    writer: NamedDependency[Writer],
    services: NamedDependency[Services],
    request: Request,  # type: ignore[type-arg]
    data: JSONBody[TokenIn],
) -> TokenOut:
    await check_login_attempt(services, request, data.email)
    return TokenOut(token=await do_issue_token(writer, email=data.email, password=data.password))


@get("/api/v1/me", guards=[requires_agent], tags=["auth"])
async def me(agent: NamedDependency[Agent]) -> AgentOut:
    return AgentOut(id=agent.id or 0, email=agent.email, name=agent.name, role=agent.role)


route_handlers: list[ControllerRouterHandler] = [issue_token, me]
