"""Settings: the agent's own preferences, and (admins) agents, channel accounts, canned responses.

``/settings/preferences`` is every agent's; everything else under ``/settings`` sits behind
``requires_admin`` (one router, so no admin page can be added without the guard). Forms post and
get a 303 (or, refused, the page again with the reason and the text typed, 409/422); with HTMX the
same pages are fetched and only ``#settings-content`` is swapped (``hx-select``). A new channel
account's secrets are shown in the answer to the post that created it and never again.
"""

from __future__ import annotations

import secrets as secret_tokens
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Agent, CannedResponse, ChannelAccount
from app.domain.accounts.actions import do_set_agent_active, do_set_preferences
from app.domain.canned.actions import (
    do_create_canned_response,
    do_delete_canned_response,
    do_update_canned_response,
)
from app.domain.canned.queries import list_canned_responses
from app.domain.channels.accounts import (
    do_add_channel_account,
    do_set_channel_account_enabled,
    list_channel_accounts,
    to_config,
)
from app.domain.console import roles
from app.domain.console.forms import FORM
from app.domain.console.telegram_settings import (
    RegisterOutcome,
    TelegramWebhook,
    register_from_console,
    show_telegram_webhooks,
)
from app.domain.console.widget_settings import (
    reveal_identity_secret,
    save_widget_settings,
    widget_settings_page,
)
from app.domain.realtime.writer import Writer
from app.domain.widget.settings import is_valid_origin, normal_origin
from app.i18n import LANGUAGES, N_, time_zone_names
from app.lib.errors import ConflictError, DomainError, InvalidInputError, NotFoundError, Reason
from app.lib.fields import text
from app.settings import Settings

CONSOLE_CHANNELS = ("api", "webchat")
"""Accounts an admin adds here; the others need platform credentials and are added with the CLI."""

SECTIONS = (
    ("preferences", "/settings/preferences", N_("Preferences"), False),
    ("agents", "/settings/agents", N_("Agents"), True),
    ("channels", "/settings/channels", N_("Channel accounts"), True),
    ("canned", "/settings/canned", N_("Canned responses"), True),
    ("audit", "/settings/audit", N_("Audit log"), True),
)
"""(key, path, label, admins only) — the settings navigation, in order."""


@dataclass
class PreferencesForm:
    language: Annotated[str, text(max_length=10)] = ""
    timezone: Annotated[str, text(max_length=64)] = ""


@dataclass
class ActiveForm:
    active: Literal["0", "1"] = "0"


@dataclass
class ChannelAccountForm:
    channel: Annotated[str, text(max_length=20)] = "api"
    name: Annotated[str, text(max_length=200)] = ""
    callback_url: Annotated[str, text(max_length=2048)] = ""
    origin: Annotated[str, text(max_length=2048)] = ""
    # One-time: a reload that posts the form again must not create a second account (see below).
    nonce: Annotated[str, text(max_length=64)] = ""


@dataclass
class CannedForm:
    shortcut: Annotated[str, text(max_length=41)] = ""
    title: Annotated[str, text(max_length=200)] = ""
    text: Annotated[str, text(max_length=10_000)] = ""


@dataclass
class ChannelRow:
    """One account as the channels page shows it (never its secrets)."""

    id: str
    channel: str
    name: str
    enabled: bool
    inbound_url: str | None
    snippet: str | None
    details: dict[str, str | Reason] = field(default_factory=dict)
    telegram: TelegramWebhook | None = None


def _page(
    request: Request[Any, Any, Any],
    template: str,
    section: str,
    status: int = 200,
    **context: Any,
) -> Template:
    agent = request.scope.get("user")
    admin = roles.is_admin(agent)
    nav = [(key, path, label) for key, path, label, admins_only in SECTIONS if admin or not admins_only]
    return Template(
        template_name=f"pages/settings/{template}",
        context={"agent": agent, "settings_section": section, "settings_nav": nav, **context},
        status_code=status,
    )


# --- every agent: own preferences ------------------------------------------------------------------


@get("/settings", include_in_schema=False, name="console:settings")
async def settings_index() -> Redirect:
    return Redirect("/settings/preferences", status_code=303)


def _preferences(agent: Agent, **extra: Any) -> dict[str, Any]:
    """The preferences form: the agent's saved choices, or what they just typed (``form``)."""
    return {
        "languages": LANGUAGES,
        "time_zones": time_zone_names(),
        "form": extra.pop("form", None) or PreferencesForm(language=agent.language, timezone=agent.timezone),
        **extra,
    }


@get("/settings/preferences", include_in_schema=False)
async def preferences_page(request: Request[Any, Any, Any], agent: NamedDependency[Agent]) -> Template:
    """Language (or the browser's) and time zone, for this agent only."""
    saved = request.query_params.get("saved") == "1"
    return _page(request, "preferences.html", "preferences", **_preferences(agent, saved=saved))


@post("/settings/preferences", include_in_schema=False, status_code=303)
async def save_preferences(
    request: Request[Any, Any, Any],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    data: Annotated[PreferencesForm, FORM],
) -> Response[Any]:
    try:
        await do_set_preferences(writer, agent=agent, language=data.language, timezone=data.timezone)
    except InvalidInputError as exc:
        context = _preferences(agent, form=data, error=exc.reason)
        return _page(request, "preferences.html", "preferences", status=exc.status_code, **context)
    # A full page load: the new language applies to the whole page, <html lang> included.
    return Redirect("/settings/preferences?saved=1", status_code=303)


# --- admins: agents --------------------------------------------------------------------------------


async def _agents(session: AsyncSession) -> list[Agent]:
    return list((await session.execute(select(Agent).order_by(col(Agent.name), col(Agent.id)))).scalars())


@get("/agents", include_in_schema=False)
async def agents_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
    """Everyone who can log in (or could), with a way to deactivate; new agents come from the CLI."""
    return _page(request, "agents.html", "agents", agents=await _agents(db_session))


@post("/agents/{agent_id:int}/active", include_in_schema=False, status_code=303)
async def set_agent_active(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    agent_id: FromPath[int],
    data: Annotated[ActiveForm, FORM],
) -> Response[Any]:
    try:
        await do_set_agent_active(writer, actor=agent, agent_id=agent_id, active=data.active == "1")
    except DomainError as exc:
        agents = await _agents(db_session)
        return _page(
            request, "agents.html", "agents", status=exc.status_code, agents=agents, error=exc.reason
        )
    return Redirect("/settings/agents", status_code=303)


# --- admins: channel accounts ----------------------------------------------------------------------


def _email_details(account: ChannelAccount, smtp_listen: str) -> dict[str, str | Reason]:
    """What an admin checks about a mailbox: its address, and each way mail comes and goes."""
    config = to_config(account)
    imap_state = config.config.get("imap_state") or {}
    polling: str | Reason = Reason(N_("off (no IMAP mailbox)"))
    if config.secrets.get("imap_url"):
        polling = Reason(
            N_("every %(seconds)s s; last message read: UID %(uid)s"),
            {
                "seconds": str(config.config.get("poll_interval", 60)),
                "uid": str(imap_state.get("last_uid", "—")),
            },
        )
    return {
        N_("Support address"): str(config.config.get("address") or "—"),
        N_("Mail in by SMTP"): smtp_listen or Reason(N_("off (ONETHREAD_SMTP_LISTEN is not set)")),
        N_("IMAP polling"): polling,
        N_("Replies"): Reason(N_("sent by SMTP"))
        if config.secrets.get("smtp_url")
        else Reason(N_("cannot be sent: no SMTP server set")),
    }


def _channel_row(account: ChannelAccount, public_url: str, smtp_listen: str = "") -> ChannelRow:
    account_id = str(account.id)
    config = account.config or {}
    inbound_url: str | None
    snippet = None
    details: dict[str, str | Reason] = {}
    if account.channel == "email":
        inbound_url = f"{public_url}/webhooks/email/{account_id}"
        details.update(_email_details(account, smtp_listen))
    elif account.channel == "api":
        inbound_url = f"{public_url}/api/v1/channels/{account_id}/inbound"
        details[N_("Callback URL")] = str(config.get("callback_url") or "—")
    elif account.channel == "webchat":
        inbound_url = None
        snippet = f'<script src="{public_url}/widget.js" data-site="{account_id}" async></script>'
        details[N_("Allowed origins")] = ", ".join(str(o) for o in config.get("origins", [])) or "—"
    else:
        inbound_url = f"{public_url}/webhooks/{account.channel}/{account_id}"
    return ChannelRow(
        id=account_id,
        channel=account.channel,
        name=account.name,
        enabled=account.enabled,
        inbound_url=inbound_url,
        snippet=snippet,
        details=details,
    )


async def _channels_page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    settings: Settings,
    *,
    status: int = 200,
    **extra: Any,
) -> Template:
    public_url = settings.public_url.rstrip("/")
    accounts = await list_channel_accounts(session)
    rows = [_channel_row(a, public_url, settings.smtp_listen) for a in accounts]
    await show_telegram_webhooks(rows, accounts, public_url, extra.pop("webhook_outcome", None))
    extra.setdefault("form", ChannelAccountForm())
    extra["nonce"] = _issue_nonce(request)
    return _page(
        request,
        "channels.html",
        "channels",
        status=status,
        accounts=rows,
        channels=CONSOLE_CHANNELS,
        public_url=public_url,
        **extra,
    )


@get("/channels", include_in_schema=False)
async def channels_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    registered: Annotated[str | None, QueryParameter(max_length=64)] = None,
) -> Template:
    """Every connected account: where it receives (webhook URL or embed snippet), enabled or not.
    ``registered`` names the Telegram account whose webhook was just registered (said on the page)."""
    outcome = RegisterOutcome(registered) if registered else None
    return await _channels_page(request, db_session, settings, webhook_outcome=outcome)


# A reload of the page that answered "add account" posts the same form again. Each add form carries
# a nonce the console session remembers as issued; creating an account spends it, and a second post
# with a spent nonce creates nothing. (The session is the agent's own, so no one else can spend it.)
_ISSUED = "channel_form_nonces"
_SPENT = "channel_form_spent"
_KEEP = 20  # open add forms (tabs) remembered; older ones expire

ALREADY_CREATED = N_("this account was already created; its secrets were shown once")
FORM_EXPIRED = N_("this form has expired: check the list of accounts, then add the account again")


def _remembered(request: Request[Any, Any, Any], key: str) -> list[str]:
    value = request.session.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def _issue_nonce(request: Request[Any, Any, Any]) -> str:
    nonce = secret_tokens.token_urlsafe(24)
    request.session[_ISSUED] = [*_remembered(request, _ISSUED), nonce][-_KEEP:]
    return nonce


def _check_nonce(request: Request[Any, Any, Any], nonce: str) -> None:
    """Refuse a form whose nonce was spent (a reload) or never issued to this session."""
    if nonce and nonce in _remembered(request, _SPENT):
        raise ConflictError(ALREADY_CREATED, type_slug="already-created")
    if not nonce or nonce not in _remembered(request, _ISSUED):
        raise InvalidInputError(FORM_EXPIRED, type_slug="form-expired")


def _spend_nonce(request: Request[Any, Any, Any], nonce: str) -> None:
    request.session[_ISSUED] = [n for n in _remembered(request, _ISSUED) if n != nonce]
    request.session[_SPENT] = [*_remembered(request, _SPENT), nonce][-_KEEP:]


def _account_config(data: ChannelAccountForm) -> dict[str, Any]:
    """The same checks as ``onethread channel add`` makes."""
    if data.channel not in CONSOLE_CHANNELS:
        raise InvalidInputError("choose a custom channel (API) or a web chat site")
    if data.channel == "api":
        url = data.callback_url.strip()
        if url and not url.startswith(("http://", "https://")):
            raise InvalidInputError("the callback URL must be an http(s) URL")
        return {"callback_url": url} if url else {}
    origin = normal_origin(data.origin)
    if not is_valid_origin(origin):
        raise InvalidInputError("the origin must look like https://shop.example (no path)")
    return {"origins": [origin]}


@post("/channels", include_in_schema=False, status_code=201)
async def add_channel_account(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    data: Annotated[ChannelAccountForm, FORM],
) -> Template:
    """Connect an API source or a web chat site. The answer shows its secrets, this once: they are
    stored encrypted and no page shows them again (no redirect, so they never sit in a URL). The
    form's nonce makes a reload of that answer create nothing (and show no secrets)."""
    try:
        _check_nonce(request, data.nonce)
        created = await do_add_channel_account(
            writer, channel=data.channel, name=data.name, config=_account_config(data)
        )
    except DomainError as exc:
        # After a reload the account exists: an empty form, so it is not added twice by mistake.
        form = ChannelAccountForm() if exc.type_slug == "already-created" else data
        return await _channels_page(
            request, db_session, settings, status=exc.status_code, form=form, error=exc.reason
        )
    _spend_nonce(request, data.nonce)
    secrets: dict[str, str] = {}
    if created.account.channel == "api":
        secrets = {
            N_("Inbound token"): created.secrets["inbound_token"],
            N_("Signing secret"): created.secrets["signing_secret"],
        }
    else:
        secrets = {N_("Identity secret"): created.secrets["signing_secret"]}
    return await _channels_page(
        request,
        db_session,
        settings,
        status=201,
        created={"id": created.account.id, "name": created.account.name, "secrets": secrets},
    )


@post("/channels/{account_id:str}/enabled", include_in_schema=False, status_code=303)
async def set_channel_enabled(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    agent: NamedDependency[Agent],
    account_id: FromPath[str],
    data: Annotated[ActiveForm, FORM],
) -> Response[Any]:
    """Disable (its webhooks and inbound calls are refused from now on) or enable again."""
    try:
        await do_set_channel_account_enabled(
            writer, account_id=account_id, enabled=data.active == "1", by_agent_id=agent.id
        )
    except NotFoundError as exc:
        return await _channels_page(request, db_session, settings, status=404, list_error=exc.reason)
    return Redirect("/settings/channels", status_code=303)


@post("/channels/{account_id:str}/telegram-webhook", include_in_schema=False, status_code=303)
async def register_telegram_webhook(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    account_id: FromPath[str],
) -> Response[Any]:
    """Point the bot's webhook at this installation, with the account's secret token (what
    ``onethread channel telegram set-webhook`` does); the page then shows what Telegram has."""
    outcome = await register_from_console(db_session, writer, settings.public_url, account_id)
    if outcome.error is None:
        return Redirect(f"/settings/channels?registered={account_id}#account-{account_id}", status_code=303)
    status = 404 if outcome.not_found else 409
    return await _channels_page(request, db_session, settings, status=status, webhook_outcome=outcome)


# --- admins: canned responses ----------------------------------------------------------------------


async def _canned_page(
    request: Request[Any, Any, Any], session: AsyncSession, *, status: int = 200, **extra: Any
) -> Template:
    extra.setdefault("form", CannedForm())
    return _page(
        request, "canned.html", "canned", status=status, canned=await list_canned_responses(session), **extra
    )


@get("/canned", include_in_schema=False)
async def canned_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
    """The team's snippets (typed as ``/shortcut`` in the composer), and a form for a new one."""
    return await _canned_page(request, db_session)


@post("/canned", include_in_schema=False, status_code=303)
async def create_canned(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    data: Annotated[CannedForm, FORM],
) -> Response[Any]:
    try:
        await do_create_canned_response(
            writer, agent=agent, shortcut=data.shortcut, title=data.title, text=data.text
        )
    except DomainError as exc:
        return await _canned_page(request, db_session, status=exc.status_code, form=data, error=exc.reason)
    return Redirect("/settings/canned", status_code=303)


async def _canned_row(session: AsyncSession, canned_id: int) -> CannedResponse:
    canned = await session.get(CannedResponse, canned_id)
    if canned is None:
        raise NotFoundError(f"canned response {canned_id} does not exist", type_slug="canned-not-found")
    return canned


@get("/canned/{canned_id:int}", include_in_schema=False)
async def canned_edit_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], canned_id: FromPath[int]
) -> Template:
    canned = await _canned_row(db_session, canned_id)
    form = CannedForm(shortcut=canned.shortcut, title=canned.title, text=canned.text)
    return _page(request, "canned_edit.html", "canned", canned_id=canned_id, form=form)


@post("/canned/{canned_id:int}", include_in_schema=False, status_code=303)
async def update_canned(
    request: Request[Any, Any, Any],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    canned_id: FromPath[int],
    data: Annotated[CannedForm, FORM],
) -> Response[Any]:
    try:
        await do_update_canned_response(
            writer, agent=agent, canned_id=canned_id, shortcut=data.shortcut, title=data.title, text=data.text
        )
    except DomainError as exc:
        return _page(
            request,
            "canned_edit.html",
            "canned",
            status=exc.status_code,
            canned_id=canned_id,
            form=data,
            error=exc.reason,
        )
    return Redirect("/settings/canned", status_code=303)


@post("/canned/{canned_id:int}/delete", include_in_schema=False, status_code=303)
async def delete_canned(
    writer: NamedDependency[Writer], agent: NamedDependency[Agent], canned_id: FromPath[int]
) -> Redirect:
    await do_delete_canned_response(writer, agent=agent, canned_id=canned_id)
    return Redirect("/settings/canned", status_code=303)


admin_router = Router(
    path="/settings",
    guards=[roles.requires_admin],
    exception_handlers=roles.exception_handlers,
    route_handlers=[
        agents_page,
        set_agent_active,
        channels_page,
        add_channel_account,
        set_channel_enabled,
        register_telegram_webhook,
        widget_settings_page,
        save_widget_settings,
        reveal_identity_secret,
        canned_page,
        create_canned,
        canned_edit_page,
        update_canned,
        delete_canned,
    ],
)
"""Every admin page. The guard is here, on the router, so a new admin route cannot forget it."""


route_handlers: list[ControllerRouterHandler] = [
    settings_index,
    preferences_page,
    save_preferences,
    admin_router,
]
