"""Logging in and out of the console, and what a request without a session is answered.

Sessions are server-side (see ``sessions``); a login mints a fresh session id, so an id planted
before login never becomes an authenticated one. The login form shares the token endpoint's rate
limit (``app.domain.accounts.login_limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler

from app.domain.accounts.auth import check_credentials
from app.domain.accounts.login_limits import check_login_attempt
from app.domain.console.forms import FORM, PUBLIC
from app.domain.console.sessions import AGENT_KEY, renew_session_id
from app.domain.realtime.writer import Writer
from app.domain.system.services import Services
from app.i18n import N_
from app.lib.errors import AuthenticationError
from app.lib.fields import text
from app.lib.rate_limits import RateLimitedError

WRONG_CREDENTIALS = N_("Wrong email or password.")
TOO_MANY_ATTEMPTS = N_("Too many login attempts. Wait a minute and try again.")


@dataclass
class LoginForm:
    """The login form; the same limits as the token endpoint's body (NUL refused everywhere)."""

    email: Annotated[str, text(max_length=320)] = ""
    password: Annotated[str, text(max_length=1024)] = ""
    next: Annotated[str, text(max_length=2048)] = "/"


def safe_next(target: str | None) -> str:
    """Only same-site paths after login: ``//evil.example`` or ``https://…`` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    *,
    error: str | None = None,
    email: str = "",
    next_: str = "/",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    return Template(
        template_name="pages/login.html",
        context={"error": error, "email": email, "next": safe_next(next_)},
        status_code=status,
        headers=headers,
    )


@get("/login", opt=PUBLIC, include_in_schema=False, name="console:login")
async def login_form(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[Any]:
    """The login form; an agent who is already logged in goes straight on."""
    if request.session.get(AGENT_KEY):
        return Redirect(safe_next(next), status_code=303)
    return _login_page(next_=next or "/")


@post("/login", opt=PUBLIC, include_in_schema=False, status_code=303)
async def login_submit(
    request: Request[Any, Any, Any],
    writer: NamedDependency[Writer],
    services: NamedDependency[Services],
    data: Annotated[LoginForm, FORM],
) -> Response[Any]:
    """Check the credentials, then start a session under a new id (no fixation)."""
    try:
        await check_login_attempt(services, request, data.email)
    except RateLimitedError as exc:
        return _login_page(
            error=TOO_MANY_ATTEMPTS, email=data.email, next_=data.next, status=429, headers=exc.headers
        )
    try:
        agent = await check_credentials(writer, email=data.email, password=data.password)
    except AuthenticationError:
        return _login_page(error=WRONG_CREDENTIALS, email=data.email, next_=data.next, status=400)
    request.set_session({AGENT_KEY: agent.id})
    renew_session_id(request)
    return Redirect(safe_next(data.next), status_code=303)


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    """End the session: the store forgets it and the browser's cookie is cleared."""
    request.clear_session()
    return Redirect("/login", status_code=303)


def login_required(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    """No console session: pages redirect to the login form; HTMX requests get ``HX-Redirect``."""
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        return Response(content="", status_code=401, headers={"HX-Redirect": location})
    return Redirect(location, status_code=303)


exception_handlers: dict[Any, Any] = {
    NotAuthorizedException: login_required,
}

route_handlers: list[ControllerRouterHandler] = [login_form, logout]
"""Everything but ``login_submit``, which core mounts behind the login rate limit."""
