"""Settings: one web chat site's widget (admins), at ``/settings/channels/{id}/widget``.

The form covers what ``WidgetSettings`` reads: allowed origins, look, language, texts, the
pre-chat form and business hours. A refused form comes back (422) with a reason beside each field
it concerns and nothing saved; a saved one redirects (303) to the page again. The identity secret
is in no page until the admin asks for it with a POST (so it never sits in a URL, a link preview or
a page fetched by accident); the answer is not cached, like every console page.

The routes sit on ``settings_pages.admin_router``, whose guard lets only admins through.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, ChannelAccount
from app.domain.channels.accounts import do_update_channel_account_config, to_config
from app.domain.console import roles
from app.domain.console.forms import FORM
from app.domain.realtime.writer import Writer
from app.domain.widget.settings import (
    DAYS,
    DayHours,
    InvalidWidgetSettings,
    WidgetSettings,
    widget_config,
)
from app.i18n import N_, time_zone_names
from app.lib.errors import NotFoundError, Reason
from app.lib.fields import text
from app.settings import Settings

log = logging.getLogger(__name__)

DAY_NAMES = {
    "mon": N_("Monday"),
    "tue": N_("Tuesday"),
    "wed": N_("Wednesday"),
    "thu": N_("Thursday"),
    "fri": N_("Friday"),
    "sat": N_("Saturday"),
    "sun": N_("Sunday"),
}
WIDGET_LANGUAGE_CHOICES = (
    ("auto", N_("The website's language (else the visitor's browser)")),
    ("en", "English"),
    ("nl", "Nederlands"),
)
NO_SUCH_SITE = N_("no such web chat site")

# Generous bounds: the real limits (MAX_TEXT, MAX_ORIGINS) are checked by ``widget_config`` so the
# form says which field is too long; these only stop absurd bodies before the handler runs.
_Long = Annotated[str, text(max_length=5_000)]
_Short = Annotated[str, text(max_length=64)]


@dataclass
class WidgetForm:
    """The widget settings form as typed (every field a string, as browsers send them)."""

    origins: Annotated[str, text(max_length=20_000)] = ""
    color: _Short = ""
    position: _Short = "right"
    language: _Short = "auto"
    greeting_en: _Long = ""
    greeting_nl: _Long = ""
    prechat_form: _Short = ""
    hours: _Short = "always"
    """``always`` (no business hours) or ``set`` (the weekdays below)."""
    timezone: _Short = "UTC"
    away_en: _Long = ""
    away_nl: _Long = ""
    mon_on: _Short = ""
    mon_open: _Short = ""
    mon_close: _Short = ""
    tue_on: _Short = ""
    tue_open: _Short = ""
    tue_close: _Short = ""
    wed_on: _Short = ""
    wed_open: _Short = ""
    wed_close: _Short = ""
    thu_on: _Short = ""
    thu_open: _Short = ""
    thu_close: _Short = ""
    fri_on: _Short = ""
    fri_open: _Short = ""
    fri_close: _Short = ""
    sat_on: _Short = ""
    sat_open: _Short = ""
    sat_close: _Short = ""
    sun_on: _Short = ""
    sun_open: _Short = ""
    sun_close: _Short = ""

    @classmethod
    def from_settings(cls, widget: WidgetSettings) -> WidgetForm:
        """The saved settings as the form shows them; closed days get office hours to start from."""
        values: dict[str, str] = {
            "origins": "\n".join(widget.origins),
            "color": widget.color,
            "position": widget.position,
            "language": widget.language,
            "greeting_en": widget.greeting.get("en", ""),
            "greeting_nl": widget.greeting.get("nl", ""),
            "prechat_form": "1" if widget.prechat_form else "",
            "hours": "always" if widget.hours.always_open else "set",
            "timezone": widget.hours.timezone,
            "away_en": widget.away_message.get("en", ""),
            "away_nl": widget.away_message.get("nl", ""),
        }
        for day in DAYS:
            span = widget.hours.days.get(day)
            values[f"{day}_on"] = "1" if span else ""
            values[f"{day}_open"] = span[0].strftime("%H:%M") if span else "09:00"
            values[f"{day}_close"] = span[1].strftime("%H:%M") if span else "17:00"
        return cls(**values)

    def value(self, name: str) -> str:
        return str(getattr(self, name))

    def days(self) -> dict[str, DayHours] | None:
        """``None`` for "always open", else each weekday's typed hours (``None`` when closed)."""
        if self.hours != "set":
            return None
        return {
            day: (self.value(f"{day}_open"), self.value(f"{day}_close")) if self.value(f"{day}_on") else None
            for day in DAYS
        }

    def config(self) -> dict[str, Any]:
        """The account's config keys; :class:`InvalidWidgetSettings` names each bad field."""
        return widget_config(
            origins=self.origins.splitlines(),
            color=self.color,
            position=self.position,
            language=self.language,
            greeting={"en": self.greeting_en, "nl": self.greeting_nl},
            prechat_form=self.prechat_form == "1",
            timezone=self.timezone,
            days=self.days(),
            away_message={"en": self.away_en, "nl": self.away_nl},
        )


@dataclass
class DayRow:
    """One weekday's line of the business hours table."""

    key: str
    label: str
    on: bool
    open: str
    close: str
    error: Reason | None


async def _webchat_account(session: AsyncSession, account_id: str) -> ChannelAccount:
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        raise NotFoundError(Reason(NO_SUCH_SITE), type_slug="account-not-found") from None
    account = await session.get(ChannelAccount, key)
    if account is None or account.channel != "webchat":
        raise NotFoundError(Reason(NO_SUCH_SITE), type_slug="account-not-found")
    return account


def snippet(public_url: str, account_id: str) -> str:
    """What the admin pastes into the website (the same as ``channel add webchat`` prints)."""
    return f'<script src="{public_url}/widget.js" data-site="{account_id}" async></script>'


def _page(
    request: Request[Any, Any, Any],
    settings: Settings,
    account: ChannelAccount,
    form: WidgetForm,
    *,
    status: int = 200,
    errors: dict[str, Reason] | None = None,
    **extra: Any,
) -> Template:
    # Imported here: settings_pages imports this module to put these routes on its admin router.
    from app.domain.console.settings_pages import SECTIONS

    errors = errors or {}
    agent = request.scope.get("user")
    nav = [
        (key, path, label)
        for key, path, label, admins_only in SECTIONS
        if roles.is_admin(agent) or not admins_only
    ]
    days = [
        DayRow(
            key=day,
            label=DAY_NAMES[day],
            on=bool(form.value(f"{day}_on")),
            open=form.value(f"{day}_open"),
            close=form.value(f"{day}_close"),
            error=errors.get(f"hours_{day}"),
        )
        for day in DAYS
    ]
    account_id = str(account.id)
    return Template(
        template_name="pages/settings/widget.html",
        context={
            "agent": agent,
            "settings_section": "channels",
            "settings_nav": nav,
            "account": {"id": account_id, "name": account.name, "enabled": account.enabled},
            "form": form,
            "errors": errors,
            "days": days,
            "languages": WIDGET_LANGUAGE_CHOICES,
            "time_zones": time_zone_names(),
            "snippet": snippet(settings.public_url.rstrip("/"), account_id),
            **extra,
        },
        status_code=status,
    )


@get("/channels/{account_id:str}/widget", include_in_schema=False)
async def widget_settings_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    account_id: FromPath[str],
) -> Template:
    """The site's widget settings, its embed snippet and how to verify signed-in customers."""
    account = await _webchat_account(db_session, account_id)
    form = WidgetForm.from_settings(WidgetSettings.from_config(account.config or {}))
    saved = request.query_params.get("saved") == "1"
    return _page(request, settings, account, form, saved=saved)


@post("/channels/{account_id:str}/widget", include_in_schema=False, status_code=303)
async def save_widget_settings(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    account_id: FromPath[str],
    data: Annotated[WidgetForm, FORM],
) -> Response[Any]:
    """Check every field, then save them all at once (or none: the form comes back with reasons)."""
    account = await _webchat_account(db_session, account_id)
    try:
        changes = data.config()
    except InvalidWidgetSettings as exc:
        return _page(request, settings, account, data, status=422, errors=exc.errors)
    await do_update_channel_account_config(writer, account_id=str(account.id), changes=changes)
    return Redirect(f"/settings/channels/{account.id}/widget?saved=1", status_code=303)


@post("/channels/{account_id:str}/widget/identity-secret", include_in_schema=False, status_code=200)
async def reveal_identity_secret(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    agent: NamedDependency[Agent],
    account_id: FromPath[str],
) -> Template:
    """The page again, with the site's identity secret in it (only in this answer)."""
    account = await _webchat_account(db_session, account_id)
    secret = to_config(account).secrets.get("signing_secret", "")
    # Who looked at a secret, for whoever investigates a leak (the secret itself is never logged).
    log.info("identity secret of web chat site %s shown to agent %s", account.id, agent.id)
    form = WidgetForm.from_settings(WidgetSettings.from_config(account.config or {}))
    return _page(request, settings, account, form, identity_secret=secret)
