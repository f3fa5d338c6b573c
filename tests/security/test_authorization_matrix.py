"""Who may call what: every route of the app, classified, tried by every role.

``ROUTES`` classifies each (method, path) of the app's route table — HTTP and websockets — and
``test_every_route_is_classified`` fails when the app has a route the table does not name (or the
table names one that is gone), so a new route cannot ship without saying who may call it. Then one
generated test per (route, role) cell calls the route as that role, aimed at the *victim*'s data
(a widget visitor of site A; see ``world.py``), and checks the answer:

- refused means 401/403/404 (or, for a console page, the redirect to the login form), and for the
  webhooks and signed links it means nothing was stored;
- allowed means no refusal and no 5xx; a visitor allowed on a widget route still never receives a
  byte of another thread's text.

Roles: ``anonymous``; ``visitor_other_site`` (a widget visitor of site B); ``visitor_other_thread``
(a visitor of site A with a thread of their own); ``agent``; ``admin``. Agents and admins use their
bearer token on the API and their console session (with its CSRF token) on the console; visitors
hold a visitor token (and, like anyone, a CSRF token from the login page).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.routes import WebSocketRoute

from tests.helpers import PASSWORD
from tests.integration.widget_client import SITE_ORIGIN
from tests.security.world import OTHER_A_TEXT, OTHER_SITE_TEXT, VICTIM_SECRET, World

ROLES = ("anonymous", "visitor_other_site", "visitor_other_thread", "agent", "admin")
VISITORS = ("visitor_other_site", "visitor_other_thread")
STAFF = ("agent", "admin")

# The classes: who is allowed.
PUBLIC = "public"  # anyone (pages, assets, the schema, the login doors)
SIGNED = "signed"  # nobody here: a platform's signature, an account token or a signed link
VISITOR = "widget-visitor"  # a widget visitor, and only about their own conversation
AGENT_API = "agent-api"  # any agent's bearer token
ADMIN_API = "admin-api"  # an admin's bearer token
AGENT_PAGE = "agent-page"  # any agent's console session
ADMIN_PAGE = "admin-page"  # an admin's console session

ALLOWED: dict[str, tuple[str, ...]] = {
    PUBLIC: ROLES,
    SIGNED: (),
    VISITOR: VISITORS,
    AGENT_API: STAFF,
    ADMIN_API: ("admin",),
    AGENT_PAGE: STAFF,
    ADMIN_PAGE: ("admin",),
}

ROUTES: dict[tuple[str, str], str] = {
    # JSON API
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/me"): AGENT_API,
    ("GET", "/api/v1/bot/rules"): AGENT_API,
    ("PUT", "/api/v1/bot/rules"): ADMIN_API,
    ("POST", "/api/v1/bot/try"): AGENT_API,
    ("GET", "/api/v1/contacts"): AGENT_API,
    ("GET", "/api/v1/contacts/{contact_id:int}"): AGENT_API,
    ("PATCH", "/api/v1/contacts/{contact_id:int}"): AGENT_API,
    ("POST", "/api/v1/contacts/{contact_id:int}/merge"): AGENT_API,
    ("POST", "/api/v1/merges/{merge_id:int}/undo"): AGENT_API,
    ("GET", "/api/v1/contacts/{contact_id:int}/export"): ADMIN_API,
    ("POST", "/api/v1/contacts/{contact_id:int}/erase"): ADMIN_API,
    ("GET", "/api/v1/audit-log"): ADMIN_API,
    ("GET", "/api/v1/merge-suggestions"): AGENT_API,
    ("POST", "/api/v1/merge-suggestions/{suggestion_id:int}/dismiss"): AGENT_API,
    ("GET", "/api/v1/threads"): AGENT_API,
    ("GET", "/api/v1/threads/{thread_id:int}"): AGENT_API,
    ("PATCH", "/api/v1/threads/{thread_id:int}"): AGENT_API,
    ("GET", "/api/v1/threads/{thread_id:int}/messages"): AGENT_API,
    ("POST", "/api/v1/threads/{thread_id:int}/messages"): AGENT_API,
    ("POST", "/api/v1/threads/{thread_id:int}/notes"): AGENT_API,
    ("POST", "/api/v1/phone-notes"): AGENT_API,
    ("GET", "/api/v1/search"): AGENT_API,
    ("GET", "/api/v1/attachments/{attachment_id:int}"): AGENT_API,
    ("GET", "/api/v1/reports"): ADMIN_API,
    ("WS", "/api/v1/events"): AGENT_API,
    # Platforms and other programs, each proving itself its own way
    ("POST", "/api/v1/channels/{account_id:str}/inbound"): SIGNED,
    ("GET", "/webhooks/messenger/{account_id:str}"): SIGNED,
    ("POST", "/webhooks/messenger/{account_id:str}"): SIGNED,
    ("POST", "/webhooks/telegram/{account_id:str}"): SIGNED,
    ("POST", "/webhooks/email/{account_id:str}"): SIGNED,
    # The widget
    ("GET", "/widget.js"): PUBLIC,
    ("GET", "/widget/v1/config"): PUBLIC,
    ("GET", "/widget/v1/frame/{site:str}"): PUBLIC,
    ("POST", "/widget/v1/sessions"): PUBLIC,
    ("GET", "/widget/v1/messages"): VISITOR,
    ("POST", "/widget/v1/messages"): VISITOR,
    ("POST", "/widget/v1/read"): VISITOR,
    ("POST", "/widget/v1/email"): VISITOR,
    ("GET", "/widget/v1/attachments/{attachment_id:int}"): SIGNED,
    ("WS", "/widget/v1/ws"): VISITOR,
    ("GET", "/demo/shop"): PUBLIC,
    # Machinery
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # Prometheus scrapes it; keep it off the public proxy (docker/)
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("HEAD", "/static/{file_path:path}"): PUBLIC,
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/swagger"): PUBLIC,
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/oauth2-redirect.html"): PUBLIC,
    ("GET", "/schema/{path:str}"): PUBLIC,
    # The console
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): AGENT_PAGE,
    ("GET", "/"): AGENT_PAGE,
    ("GET", "/threads/{thread_id:int}"): AGENT_PAGE,
    ("GET", "/threads/{thread_id:int}/messages/{message_id:int}"): AGENT_PAGE,
    ("POST", "/threads/{thread_id:int}/phone-notes"): AGENT_PAGE,
    ("POST", "/threads/{thread_id:int}/status"): AGENT_PAGE,
    ("POST", "/threads/{thread_id:int}/assign"): AGENT_PAGE,
    ("POST", "/threads/{thread_id:int}/compose"): AGENT_PAGE,
    ("GET", "/contacts/{contact_id:int}"): AGENT_PAGE,
    ("GET", "/contacts/{contact_id:int}/continue-links"): AGENT_PAGE,
    ("GET", "/contacts/{contact_id:int}/suggestions"): AGENT_PAGE,
    ("POST", "/contacts/{contact_id:int}/edit"): AGENT_PAGE,
    ("POST", "/contacts/{contact_id:int}/identities"): AGENT_PAGE,
    ("GET", "/contacts/{contact_id:int}/candidates"): AGENT_PAGE,
    ("GET", "/contacts/{contact_id:int}/merge-preview"): AGENT_PAGE,
    ("POST", "/contacts/{contact_id:int}/merge"): AGENT_PAGE,
    ("POST", "/contacts/{contact_id:int}/suggestions/{suggestion_id:int}/dismiss"): AGENT_PAGE,
    ("GET", "/contacts/{contact_id:int}/export"): ADMIN_PAGE,
    ("GET", "/contacts/{contact_id:int}/erase"): ADMIN_PAGE,
    ("POST", "/contacts/{contact_id:int}/erase"): ADMIN_PAGE,
    ("GET", "/settings/audit"): ADMIN_PAGE,
    ("POST", "/merges/{merge_id:int}/undo"): AGENT_PAGE,
    ("GET", "/settings"): AGENT_PAGE,
    ("GET", "/settings/preferences"): AGENT_PAGE,
    ("POST", "/settings/preferences"): AGENT_PAGE,
    ("WS", "/live"): AGENT_PAGE,
    ("GET", "/reports"): ADMIN_PAGE,
    ("GET", "/reports/csv/{table:str}"): ADMIN_PAGE,
    ("GET", "/settings/agents"): ADMIN_PAGE,
    ("POST", "/settings/agents/{agent_id:int}/active"): ADMIN_PAGE,
    ("GET", "/settings/channels"): ADMIN_PAGE,
    ("POST", "/settings/channels"): ADMIN_PAGE,
    ("POST", "/settings/channels/{account_id:str}/enabled"): ADMIN_PAGE,
    ("POST", "/settings/channels/{account_id:str}/telegram-webhook"): ADMIN_PAGE,
    ("GET", "/settings/channels/{account_id:str}/widget"): ADMIN_PAGE,
    ("POST", "/settings/channels/{account_id:str}/widget"): ADMIN_PAGE,
    ("POST", "/settings/channels/{account_id:str}/widget/identity-secret"): ADMIN_PAGE,
    ("GET", "/settings/canned"): ADMIN_PAGE,
    ("POST", "/settings/canned"): ADMIN_PAGE,
    ("GET", "/settings/canned/{canned_id:int}"): ADMIN_PAGE,
    ("POST", "/settings/canned/{canned_id:int}"): ADMIN_PAGE,
    ("POST", "/settings/canned/{canned_id:int}/delete"): ADMIN_PAGE,
    ("GET", "/bot"): ADMIN_PAGE,
    ("GET", "/bot/rules"): ADMIN_PAGE,
    ("POST", "/bot/rules"): ADMIN_PAGE,
    ("GET", "/bot/rules/new"): ADMIN_PAGE,
    ("GET", "/bot/rules/{rule_id:str}/edit"): ADMIN_PAGE,
    ("POST", "/bot/rules/{rule_id:str}"): ADMIN_PAGE,
    ("POST", "/bot/rules/{rule_id:str}/enabled"): ADMIN_PAGE,
    ("POST", "/bot/rules/{rule_id:str}/delete"): ADMIN_PAGE,
    ("GET", "/bot/settings"): ADMIN_PAGE,
    ("POST", "/bot/settings"): ADMIN_PAGE,
    ("GET", "/bot/try"): ADMIN_PAGE,
    ("POST", "/bot/try"): ADMIN_PAGE,
    ("GET", "/bot/unanswered"): ADMIN_PAGE,
    ("POST", "/bot/unanswered/dismiss"): ADMIN_PAGE,
    ("POST", "/bot/unanswered/add"): ADMIN_PAGE,
    ("GET", "/bot/stats"): ADMIN_PAGE,
    ("GET", "/bot/transfer"): ADMIN_PAGE,
    ("GET", "/bot/export.yaml"): ADMIN_PAGE,
    ("POST", "/bot/import"): ADMIN_PAGE,
    ("POST", "/bot/import/apply"): ADMIN_PAGE,
}

# Concrete addresses: where a route's parameters point (the victim's thread, a spare agent, …).
PARAMS: dict[str, Callable[[World], Any]] = {
    "{thread_id:int}": lambda w: w.ids["thread"],
    "{contact_id:int}": lambda w: w.ids["contact"],
    "{message_id:int}": lambda w: w.ids["message"],
    "{attachment_id:int}": lambda w: w.ids["attachment"],
    "{agent_id:int}": lambda w: w.ids["spare_agent"],
    "{canned_id:int}": lambda w: w.ids["canned"],
    "{merge_id:int}": lambda _: 999_999,
    "{suggestion_id:int}": lambda _: 999_999,
    "{rule_id:str}": lambda _: "no-such-rule",
    "{site:str}": lambda w: w.ids["site_a"],
    "{file_path:path}": lambda _: "console.css",
    "{path:str}": lambda _: "openapi.yaml",
    "{table:str}": lambda _: "volume",
}
ACCOUNT_FOR = {
    "/api/v1/channels/": "api",
    "/webhooks/messenger/": "messenger",
    "/webhooks/telegram/": "telegram",
    "/webhooks/email/": "email",
    "/settings/channels/": "spare_channel",
}
QUERIES: dict[str, Callable[[World], str]] = {
    "/widget/v1/config": lambda w: f"?site={w.ids['site_a']}",
    "/webhooks/messenger/{account_id:str}": lambda _: (
        "?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"
    ),
    "/api/v1/search": lambda _: "?q=victim",
    "/settings/channels/{account_id:str}/widget": lambda _: "",
}
# Bodies that pass validation where a valid body is harmless; elsewhere an empty body (the check
# of who is calling comes before the body is read).
JSON_BODIES: dict[tuple[str, str], Callable[[World], Any]] = {
    ("POST", "/api/v1/auth/token"): lambda _: {"email": "agent@example.com", "password": PASSWORD},
    ("POST", "/api/v1/bot/try"): lambda _: {"text": "opening hours"},
    ("POST", "/widget/v1/messages"): lambda _: {
        "text": "hello from the matrix",
        "client_id": uuid.uuid4().hex,
    },
    ("POST", "/widget/v1/read"): lambda w: {"message_id": w.ids["message"]},
    ("POST", "/widget/v1/email"): lambda _: {"email": "matrix@example.com"},
    ("POST", "/widget/v1/sessions"): lambda w: {"site": w.ids["site_a"]},
    ("POST", "/api/v1/threads/{thread_id:int}/notes"): lambda _: {"text": "matrix note"},
    ("POST", "/webhooks/telegram/{account_id:str}"): lambda _: {"update_id": 1, "message": {"text": "x"}},
    ("POST", "/webhooks/messenger/{account_id:str}"): lambda _: {"object": "page", "entry": []},
    ("POST", "/api/v1/channels/{account_id:str}/inbound"): lambda _: {
        "external_id": uuid.uuid4().hex,
        "contact": {"external_id": "forger"},
        "text": "forged",
    },
}
REFUSED = (401, 403, 404)
# Routes aimed at something this world does not hold (no merge to undo, no demo loaded): an
# allowed caller gets the 404 of the thing, after being let in.
ABSENT = {
    ("POST", "/api/v1/merges/{merge_id:int}/undo"),
    ("POST", "/api/v1/merge-suggestions/{suggestion_id:int}/dismiss"),
    ("POST", "/contacts/{contact_id:int}/suggestions/{suggestion_id:int}/dismiss"),
    ("POST", "/merges/{merge_id:int}/undo"),
    ("GET", "/bot/rules/{rule_id:str}/edit"),
    ("POST", "/bot/rules/{rule_id:str}"),
    ("POST", "/bot/rules/{rule_id:str}/enabled"),
    ("POST", "/bot/rules/{rule_id:str}/delete"),
    ("GET", "/demo/shop"),
    ("GET", "/schema/{path:str}"),
    ("GET", "/reports/csv/{table:str}"),
    # The first admin erase of the erasable contact succeeds; the other door then finds it gone.
    ("POST", "/api/v1/contacts/{contact_id:int}/erase"),
    ("POST", "/contacts/{contact_id:int}/erase"),
}


def _url(world: World, path: str) -> str:
    url = path
    if path.endswith("/erase"):
        url = url.replace("{contact_id:int}", str(world.ids["erasable_contact"]))
    for placeholder, value in PARAMS.items():
        url = url.replace(placeholder, str(value(world)))
    if "{account_id:str}" in url:
        key = next(v for prefix, v in ACCOUNT_FOR.items() if path.startswith(prefix))
        account = world.ids[key]
        if (key == "spare_channel" and path.endswith("/widget")) or "widget/identity-secret" in path:
            account = world.ids["site_a"]
        if path.endswith("/telegram-webhook"):
            account = world.ids["telegram"]
        url = url.replace("{account_id:str}", getattr(getattr(account, "account", None), "id", account))
    return url + QUERIES.get(path, lambda _: "")(world)


def app_routes(world: World) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in world.client.app.routes:
        if isinstance(route, WebSocketRoute):
            found.add(("WS", route.path))
        else:
            found.update((m, route.path) for m in route.methods if m != "OPTIONS")
    return found


def test_every_route_is_classified(world: World) -> None:
    routes = app_routes(world)
    unclassified = sorted(routes - ROUTES.keys())
    assert not unclassified, f"classify these routes in ROUTES (who may call them?): {unclassified}"
    gone = sorted(ROUTES.keys() - routes)
    assert not gone, f"ROUTES names routes the app no longer has: {gone}"


def _secrets_of_others(role: str) -> list[str]:
    """Texts of threads this role must never receive."""
    own = {"visitor_other_site": OTHER_SITE_TEXT, "visitor_other_thread": OTHER_A_TEXT}.get(role)
    return [t for t in (VICTIM_SECRET, OTHER_A_TEXT, OTHER_SITE_TEXT) if t != own]


@dataclass
class Answer:
    status: int
    body: str
    location: str = ""


def _http(world: World, role: str, method: str, path: str) -> Answer:
    who = world.roles[role]
    url = _url(world, path)
    is_api = path.startswith(("/api/", "/widget/", "/webhooks/"))
    kwargs: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if path.startswith("/widget/v1/sessions"):
        headers["Origin"] = SITE_ORIGIN
    if method in ("POST", "PUT", "PATCH"):
        body = JSON_BODIES.get((method, path))
        if is_api:
            kwargs["content"] = json.dumps(body(world) if body else {}).encode()
            headers["Content-Type"] = "application/json"
        else:
            kwargs["data"] = {"_csrf_token": who.csrf or ""}
            if path == "/login":  # the door is the same for everyone: the right password opens it
                # (with the anonymous cookies: a login renews, and so ends, the role's own session)
                who = world.roles["anonymous"]
                kwargs["data"] = {"_csrf_token": who.csrf, "email": "agent@example.com", "password": PASSWORD}
    if path == "/logout" and role in STAFF:
        # Logging out ends the session: a session of its own, so the role keeps its own.
        from tests.security.world import Role, console_login

        cookies, csrf = console_login(world.client, f"{role}@example.com")
        who = Role(role, cookies=cookies, csrf=csrf)
        kwargs["data"] = {"_csrf_token": csrf}
    response = world.request(
        who, method, url, headers=headers, use_cookies=not is_api or not who.bearer, **kwargs
    )
    answer = Answer(response.status_code, response.text, response.headers.get("location", ""))
    if path == "/logout" and role in STAFF:
        # Logged out means the session is dead on the server, not just a cookie dropped.
        after = world.request(who, "GET", "/")
        assert after.status_code == 303 and "/login" in after.headers["location"], after.status_code
        answer.location = "(logged out)"
    return answer


def _socket(world: World, role: str, path: str) -> Answer:
    """Open the websocket as ``role``; 101 and the first frames when accepted, else why not."""
    who = world.roles[role]
    headers = {"Origin": "http://testserver.local"}
    url = path
    if path in ("/api/v1/events", "/widget/v1/ws"):
        url += f"?token={who.bearer}" if who.bearer else ""
    if path == "/live":
        url += f"?thread={world.ids['thread']}"
        if who.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in who.cookies.items())
    world.client.cookies.clear()
    frames: list[str] = []
    try:
        session = world.client.websocket_connect(url, headers=headers).__enter__()
    except WebSocketDisconnect as exc:
        # Closed before the handshake was accepted: a real server answers the upgrade with 403.
        return Answer(403, exc.detail or "")
    try:
        while True:
            message = session.receive()
            if message["type"] == "websocket.close":
                return Answer(int(message.get("code", 1000)), "\n".join(frames))
            frames.append(message.get("text") or (message.get("bytes") or b"").decode())
            if path == "/live" or '"ready"' in frames[-1] or len(frames) > 50:
                return Answer(101, "\n".join(frames))
    except WebSocketDisconnect as exc:
        return Answer(exc.code or 1000, exc.detail or "")
    finally:
        session.__exit__(None, None, None)


def _refused(answer: Answer, cls: str) -> bool:
    if cls in (AGENT_PAGE, ADMIN_PAGE) and answer.status in (303, 401) and "/login" in answer.location:
        return True
    # Websockets: a refused handshake (403 above), or accepted to be closed with 4401 (bad token).
    return answer.status in REFUSED or answer.status == 4401


CELLS = [(method, path, role) for (method, path) in ROUTES for role in ROLES]


@pytest.mark.parametrize(("method", "path", "role"), CELLS, ids=[f"{m} {p} as {r}" for m, p, r in CELLS])
def test_cell(world: World, method: str, path: str, role: str) -> None:
    cls = ROUTES[(method, path)]
    before = world.counts() if cls == SIGNED else None
    answer = _socket(world, role, path) if method == "WS" else _http(world, role, method, path)
    assert answer.status < 500 or answer.status in (4401,), (answer.status, answer.body[:500])
    if role in ALLOWED[cls]:
        if (method, path) in ABSENT and answer.status == 404:
            return
        assert not _refused(answer, cls), (
            f"{role} refused on a {cls} route: {answer.status} {answer.body[:300]}"
        )
    else:
        assert _refused(answer, cls), f"{role} allowed on a {cls} route: {answer.status} {answer.body[:300]}"
    if role in VISITORS or role == "anonymous":
        # Whatever a visitor (or nobody) is answered, it carries no other conversation's text.
        for secret in _secrets_of_others(role):
            assert secret not in answer.body, f"{role} received another thread's text on {method} {path}"
    if before is not None:
        assert world.counts() == before, "a refused call stored something"
