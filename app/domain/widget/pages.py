"""What the browser loads: ``/widget.js`` (the loader), the iframe page, and the public config.

The loader runs on the customer's site (another origin) and only draws a launcher; everything the
visitor reads and types lives in the frame, a page of ours with a strict CSP that only the
account's own origins may embed. Both learn how to look from ``GET /widget/v1/config``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from litestar import MediaType, Request, Response, get, route
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select
from sqlmodel import col

from app.db.models import ChannelAccount
from app.domain.channels.accounts import cached_account
from app.domain.system.services import Services
from app.domain.widget.settings import WIDGET_LANGUAGES, WidgetSettings
from app.i18n import N_, translations
from app.lib.assets import STATIC_DIR
from app.lib.problems import problem
from app.settings import Settings
from integrations.types import AccountConfig
from integrations.webchat.inbound import ALLOWED_FILE_TYPES

WIDGET_JS = STATIC_DIR / "widget" / "widget.js"
ACCEPT = ",".join(ALLOWED_FILE_TYPES)
"""What the file picker offers: exactly what the server takes (an SVG is an "image" to a browser)."""
CONFIG_MAX_AGE = 60
"""Seconds a browser may keep a site's config: settings and opening hours show up within a minute."""

# What the loader says on the customer's page (served in the config, in the visitor's language).
LOADER_STRINGS: dict[str, str] = {
    "open": N_("Open chat"),
    "close": N_("Close chat"),
    "unread": N_("%(count)s unread"),
}

# Everything the frame says, rendered into the page as JSON for frame.js.
FRAME_STRINGS: dict[str, str] = {
    "sound_on": N_("Sound on"),
    "sound_off": N_("Sound off"),
    "too_large": N_("This file is too large (at most %(size)s)."),
    "wrong_type": N_("Only images and PDF files can be sent."),
    "sending": N_("Sending…"),
    "sent": N_("Sent"),
    "seen": N_("Seen"),
    "failed": N_("Not sent."),
    "waiting": N_("Waiting for the connection…"),
    "retry": N_("Retry"),
    "typing": N_("%(name)s is typing…"),
    "someone": N_("Someone"),
    "you": N_("You"),
    "back_at": N_("We're back %(when)s."),
    "email_saved": N_("Thanks! We'll reply to %(email)s."),
    "email_invalid": N_("Please enter a valid email address."),
    "name_missing": N_("Please enter your name."),
    "offline": N_("Connection lost. Reconnecting…"),
    "load_failed": N_("The chat could not be loaded. Please try again later."),
    "send_failed": N_("That did not work. Please try again."),
    "attachment": N_("Attachment"),
    "in_other": N_("You wrote us %(how)s · %(date)s"),
    "out_other": N_("We replied %(how)s · %(date)s"),
    "in_phone": N_("You called us · %(date)s"),
    "out_phone": N_("We called you · %(date)s"),
    "via_email": N_("by email"),
    "via_telegram": N_("on Telegram"),
    "via_messenger": N_("on Messenger"),
    "via_api": N_("through another channel"),
    "new_message": N_("New message from %(name)s"),
}


def _reduce_language(value: str | None) -> str | None:
    code = (value or "").strip().split("-")[0].split("_")[0].lower()
    return code if code in WIDGET_LANGUAGES else None


def widget_language(settings: WidgetSettings, requested: str | None) -> str:
    """A fixed language wins; else the one the loader asked for (the page's), else English."""
    if settings.language in WIDGET_LANGUAGES:
        return settings.language
    return _reduce_language(requested) or "en"


def _translated(strings: Mapping[str, str], language: str) -> dict[str, str]:
    catalog = translations(language)
    return {key: catalog.gettext(text) for key, text in strings.items()}


async def _site(services: Services, site: str) -> tuple[AccountConfig, WidgetSettings] | None:
    account = await cached_account(services.writer, site)
    if account is None or account.channel != "webchat":
        return None
    return account, WidgetSettings.from_config(account.config)


async def telegram_url(services: Services) -> str | None:
    """``https://t.me/<bot>`` of the first enabled Telegram account that has a username."""
    async with services.writer.sessionmaker() as session:
        rows = await session.execute(
            select(ChannelAccount)
            .where(col(ChannelAccount.channel) == "telegram", col(ChannelAccount.enabled).is_(True))
            .order_by(col(ChannelAccount.name), col(ChannelAccount.id))
        )
        for account in rows.scalars():
            username = str((account.config or {}).get("username") or "").lstrip("@").strip()
            if username:
                return f"https://t.me/{username}"
    return None


def site_config(
    account: AccountConfig,
    widget: WidgetSettings,
    language: str,
    *,
    settings: Settings,
    telegram: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The public description of one site's widget (``GET /widget/v1/config``), in ``language``."""
    now = now or datetime.now(UTC)
    is_open = widget.hours.is_open(now)
    next_open = None if is_open else widget.hours.next_opening(now)
    return {
        "site": account.id,
        "name": account.name,
        "color": widget.color,
        "position": widget.position,
        "language": widget.language,
        "lang": language,
        "greeting": widget.text(widget.greeting, language),
        "prechat_form": widget.prechat_form,
        "open": is_open,
        "away_message": widget.text(widget.away_message, language),
        "next_open_at": next_open.isoformat() if next_open else None,
        "telegram_url": telegram,
        "max_attachment_bytes": settings.max_attachment_bytes,
        "accept": ACCEPT,
        "strings": _translated(LOADER_STRINGS, language),
    }


def _allowed_origin(origin: str | None, widget: WidgetSettings, settings: Settings) -> bool:
    """The same rule as the session call's: one of the site's origins, or our own (the frame)."""
    if origin is None:
        return False
    origin = origin.rstrip("/").lower()
    allowed = {o.lower() for o in widget.origins} | {_origin_of(settings.public_url).lower()}
    return origin in allowed


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _site_not_found() -> Response[Any]:
    return problem(404, "site-not-found", "Not found", "no widget site with this id")


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


@route(
    "/widget/v1/config",
    http_method=["GET", "OPTIONS"],
    tags=["widget"],
    summary="How a site's widget looks and whether anyone is there (CORS: the site's origins)",
)
async def widget_config(
    request: Request,  # type: ignore[type-arg]
    services: NamedDependency[Services],
    site: FromQuery[str],
    lang: FromQuery[str | None] = None,
) -> Response[Any]:
    found = await _site(services, site)
    if found is None:
        return _site_not_found()
    account, widget = found
    origin = request.headers.get("origin")
    if origin is not None and not _allowed_origin(origin, widget, services.settings):
        # Readable by the refused page (the reason is no secret), so the loader can say why in the
        # site's console instead of a bare CORS failure.
        return problem(
            403,
            "origin-not-allowed",
            "Forbidden",
            f"the widget is not allowed on {origin[:200]}: add this origin to the site's allowed "
            "origins (console: Settings → Channel accounts → Widget settings)",
            headers=_cors(origin),
        )
    headers = _cors(origin)
    if request.method == "OPTIONS":
        # A simple GET needs no preflight; this answers the browsers and proxies that send one anyway.
        headers.update({"Access-Control-Allow-Methods": "GET", "Access-Control-Max-Age": "600"})
        return Response(None, status_code=204, headers=headers)
    body = site_config(
        account,
        widget,
        widget_language(widget, lang),
        settings=services.settings,
        telegram=await telegram_url(services),
    )
    headers["Cache-Control"] = f"public, max-age={CONFIG_MAX_AGE}"
    return Response(body, media_type=MediaType.JSON, headers=headers)


@functools.cache
def _loader_source() -> bytes:
    return WIDGET_JS.read_bytes()


@get("/widget.js", tags=["widget"], summary="The embed script", include_in_schema=False)
async def widget_js() -> Response[bytes]:
    return Response(
        _loader_source(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def frame_headers(widget: WidgetSettings, settings: Settings) -> dict[str, str]:
    """The frame's CSP: our own scripts only, and only the account's origins may embed it."""
    public = urlsplit(settings.public_url)
    socket = f"{'wss' if public.scheme == 'https' else 'ws'}://{public.netloc}"
    ancestors = " ".join([*widget.origins, "'self'"])
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self' {socket}; frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # The page carries "open now" and the strings of one language: never reuse a stale copy.
        "Cache-Control": "no-cache",
    }


@get("/widget/v1/frame/{site:str}", tags=["widget"], summary="The chat itself (inside the iframe)")
async def widget_frame(
    services: NamedDependency[Services],
    site: FromPath[str],
    lang: FromQuery[str | None] = None,
) -> Template:
    found = await _site(services, site)
    if found is None:
        language = _reduce_language(lang) or "en"
        return Template(
            template_name="widget/not_found.html",
            context={"language": language},
            status_code=404,
            headers={
                "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors *",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
    account, widget = found
    language = widget_language(widget, lang)
    config = site_config(
        account, widget, language, settings=services.settings, telegram=await telegram_url(services)
    )
    frame = {
        **config,
        "origins": list(widget.origins),
        "strings": _translated(FRAME_STRINGS, language),
    }
    return Template(
        template_name="widget/frame.html",
        context={"language": language, "config": frame, "account_name": account.name, "widget": widget},
        headers=frame_headers(widget, services.settings),
    )


route_handlers: list[Any] = [widget_js, widget_config, widget_frame]
