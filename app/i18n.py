"""The console's languages and time zones: gettext catalogs read with Babel, chosen per request.

A page is in the agent's preferred language (``Agent.language``), else the first language of the
browser's ``Accept-Language`` we have, else English. Catalogs are the ``.po`` files under
``app/locales`` compiled in memory on first use, so there is no build step and no binary ``.mo``
in git. Times are shown in the agent's time zone (``Agent.timezone``), formatted for the language.

Templates call ``_("text")`` / ``_("%(n)s open", n=3)`` (Jinja's new-style gettext, autoescape
safe); Python code marks strings that templates translate later with :func:`N_`.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.core import Locale
from babel.dates import format_date, format_datetime, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import pass_context
from jinja2.runtime import Context

from app.lib.errors import Reason

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
LANGUAGES: dict[str, str] = {"en": "English", "nl": "Nederlands"}
"""Every language the console speaks, by code, named in itself (for the preference picker)."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalog for ``language`` (English, the source language, needs none)."""
    po = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def parse_accept_language(header: str | None) -> list[str]:
    """Primary language codes from ``Accept-Language``, best first (``nl-BE;q=0.8`` → ``nl``)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = tag.strip().split("-")[0].lower()
        if code and code != "*" and quality > 0:
            ranked.append((-quality, position, code))
    return [code for _, _, code in sorted(ranked)]


def negotiate(preference: str | None, accept_language: str | None) -> str:
    """The language for one request: the agent's choice, else the browser's, else English."""
    if preference in LANGUAGES:
        return preference  # type: ignore[return-value]
    for code in parse_accept_language(accept_language):
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def is_time_zone(name: str) -> bool:
    return name in _time_zones()


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_names() -> list[str]:
    """Every IANA zone name, sorted, for the preference picker."""
    return sorted(_time_zones())


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- what a template's context says about its reader ----------------------------------------------

_SCOPE_LANGUAGE = "onethread.language"

Reader = Context | Mapping[str, Any]
"""A template context (or a plain mapping standing in for one in Python)."""


def _agent(context: Reader) -> Any:
    agent = context.get("agent")
    if agent is not None:
        return agent
    request = context.get("request")
    return request.scope.get("user") if request is not None else None


def language_of(context: Reader) -> str:
    """The reader's language: an explicit ``language`` in the context (live fragments), else the request's.

    Worked out once per request (a page asks a few hundred times) and kept in the ASGI scope.
    """
    explicit = context.get("language")
    if isinstance(explicit, str) and explicit in LANGUAGES:
        return explicit
    request = context.get("request")
    if request is None:
        return negotiate(getattr(_agent(context), "language", None), None)
    cached = request.scope.get(_SCOPE_LANGUAGE)
    if cached is None:
        header = request.headers.get("accept-language")
        cached = request.scope[_SCOPE_LANGUAGE] = negotiate(
            getattr(_agent(context), "language", None), header
        )
    return cached  # type: ignore[no-any-return]


def time_zone_of(context: Reader) -> ZoneInfo:
    return zone(getattr(_agent(context), "timezone", None))


@pass_context
def gettext(context: Context, message: str) -> str:
    return translations(language_of(context)).gettext(message)


@pass_context
def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(language_of(context)).ngettext(singular, plural, n)


@pass_context
def local_time(context: Context, value: datetime | None, format: str = "minutes") -> str:
    """``value`` in the reader's time zone and language: ``Nov 30, 2026, 9:05 AM`` / ``30 nov 2026, 09:05``.

    ``minutes`` (the default: a timeline needs no seconds) is the locale's medium date with its
    short time, joined as the locale joins them; any other value is a Babel format name or pattern.
    """
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    tz, locale = time_zone_of(context), _locale(language_of(context))
    if format != "minutes":
        return format_datetime(value, format, tzinfo=tz, locale=locale)
    local = value.astimezone(tz)
    joined = str(get_datetime_format("medium", locale=locale))
    return joined.replace("{1}", format_date(local, "medium", locale=locale)).replace(
        "{0}", format_time(local, "short", locale=locale)
    )


@pass_context
def translate(context: Context, message: str | Reason | None) -> str:
    """A filter for labels marked with :func:`N_` and for refusals' reasons: ``{{ label | t }}``."""
    if not message:
        return ""
    return say(translations(language_of(context)), message)


def say(catalog: NullTranslations, message: str | Reason) -> str:
    """``message`` in ``catalog``'s language; strings the catalog lacks stay as they are."""
    if isinstance(message, str):
        return catalog.gettext(message)
    template = catalog.gettext(message.template)
    if not message.values:
        return template
    values = {name: say(catalog, v) if isinstance(v, Reason) else v for name, v in message.values.items()}
    return template % values


@pass_context
def current_language(context: Context) -> str:
    """``<html lang="{{ current_language() }}">``."""
    return language_of(context)
