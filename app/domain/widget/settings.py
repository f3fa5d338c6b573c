"""A webchat account's widget settings: what the admin chose, read with defaults and checked.

They live in the account's (non-secret) ``config`` JSON, next to ``origins``. Reading never
fails: a value the admin never set, or one an older version wrote in another shape, falls back to
its default, so a widget always loads. Writing goes through the console's widget settings
form, which refuses bad values with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.i18n import N_, is_time_zone
from app.lib.errors import Reason

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WIDGET_LANGUAGES = ("en", "nl")
DEFAULT_COLOR = "#1f6feb"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Position = Literal["right", "left"]


def _texts(value: Any) -> dict[str, str]:
    """``{"en": …, "nl": …}`` from the config, keeping only known languages and non-empty text."""
    if not isinstance(value, Mapping):
        return {}
    return {lang: str(text) for lang, text in value.items() if lang in WIDGET_LANGUAGES and str(text).strip()}


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours per weekday in one time zone; an empty week means "always open"."""

    timezone: str = "UTC"
    days: dict[str, tuple[time, time]] = field(default_factory=dict)

    @property
    def always_open(self) -> bool:
        return not self.days

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls within the hours of its weekday in the account's zone."""
        if self.always_open:
            return True
        local = now.astimezone(self._zone())
        hours = self.days.get(DAYS[local.weekday()])
        return hours is not None and hours[0] <= local.time().replace(tzinfo=None) < hours[1]

    def next_opening(self, now: datetime) -> datetime | None:
        """When the next opening period starts after ``now`` (aware, in the account's zone)."""
        if self.always_open:
            return None
        local = now.astimezone(self._zone())
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            hours = self.days.get(DAYS[day.weekday()])
            if hours is None:
                continue
            start = datetime.combine(day, hours[0], tzinfo=self._zone())
            if start > local:
                return start
        return None


@dataclass(frozen=True, slots=True)
class WidgetSettings:
    """How one site's widget looks and behaves (see ``webchat`` accounts in API.md)."""

    origins: tuple[str, ...] = ()
    """Origins (``https://shop.example``) allowed to embed the widget and open sessions."""
    color: str = DEFAULT_COLOR
    position: Position = "right"
    language: str = "auto"
    """``auto`` (the page's ``lang``, else the browser's) or a fixed ``en`` / ``nl``."""
    greeting: dict[str, str] = field(default_factory=dict)
    prechat_form: bool = False
    """Ask for a name and an email address before the first message."""
    hours: BusinessHours = field(default_factory=BusinessHours)
    away_message: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WidgetSettings:
        origins = tuple(str(o).rstrip("/") for o in config.get("origins") or () if isinstance(o, str))
        color = str(config.get("color") or DEFAULT_COLOR)
        position = config.get("position")
        language = config.get("language")
        return cls(
            origins=origins,
            color=color if _COLOR.match(color) else DEFAULT_COLOR,
            position="left" if position == "left" else "right",
            language=language if language in WIDGET_LANGUAGES else "auto",
            greeting=_texts(config.get("greeting")),
            prechat_form=bool(config.get("prechat_form")),
            hours=_hours(config.get("business_hours")),
            away_message=_texts(config.get("away_message")),
        )

    def text(self, texts: Mapping[str, str], language: str) -> str:
        """The text in ``language``, else in any language the admin wrote it in, else ``""``."""
        return texts.get(language) or next(iter(texts.values()), "")


def _hours(value: Any) -> BusinessHours:
    if not isinstance(value, Mapping):
        return BusinessHours()
    days: dict[str, tuple[time, time]] = {}
    for day, span in (value.get("days") or {}).items():
        if day in DAYS and isinstance(span, list | tuple) and len(span) == 2:
            start, end = (str(part) for part in span)
            if _HHMM.match(start) and _HHMM.match(end) and start < end:
                days[day] = (time.fromisoformat(start), time.fromisoformat(end))
    return BusinessHours(timezone=str(value.get("timezone") or "UTC"), days=days)


def is_valid_origin(origin: str) -> bool:
    """``scheme://host[:port]`` with nothing after it: what browsers send as ``Origin``."""
    return bool(re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin))


# --- writing: the console's form and the CLI --------------------------------------------------------

MAX_TEXT = 500
"""Greetings and away messages are a sentence or two in a small panel."""
MAX_ORIGINS = 20
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class InvalidWidgetSettings(ValueError):
    """Values an admin typed that cannot be saved: one reason per field (form field names as keys)."""

    def __init__(self, errors: Mapping[str, Reason]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in self.errors.items()))


def normal_origin(origin: str) -> str:
    """``origin`` as a browser sends it in ``Origin``: lower-case, no trailing slash, no default port."""
    origin = origin.strip().rstrip("/").lower()
    scheme = origin.partition("://")[0]
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and origin.endswith(default_port):
        origin = origin.removesuffix(default_port)
    return origin


DayHours = tuple[str, str] | None
"""One weekday as typed: ``(open, close)`` as ``HH:MM``, or ``None`` for closed."""


def widget_config(
    *,
    origins: Sequence[str],
    color: str = DEFAULT_COLOR,
    position: str = "right",
    language: str = "auto",
    greeting: Mapping[str, str] | None = None,
    prechat_form: bool = False,
    timezone: str = "UTC",
    days: Mapping[str, DayHours] | None = None,
    away_message: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The config keys of a widget, checked; :class:`InvalidWidgetSettings` names every bad field.

    ``days`` is ``None`` for "always open"; otherwise each weekday of ``DAYS`` is open or closed
    and at least one is open. Error keys: ``origins``, ``color``, ``position``, ``language``,
    ``greeting_en``…, ``timezone``, ``hours``, ``hours_mon``…, ``away_en``….
    """
    errors: dict[str, Reason] = {}
    kept: list[str] = []
    for line in origins:
        if not line.strip():
            continue
        origin = normal_origin(line)
        if not is_valid_origin(origin):
            errors.setdefault(
                "origins",
                Reason(
                    N_(
                        "%(origin)s is not an origin: write scheme://host without a path, such as https://shop.example"
                    ),
                    {"origin": line.strip()},
                ),
            )
        elif origin not in kept:
            kept.append(origin)
    if not kept and "origins" not in errors:
        errors["origins"] = Reason(N_("add at least one origin, such as https://shop.example"))
    elif len(kept) > MAX_ORIGINS:
        errors["origins"] = Reason(N_("at most %(count)s origins"), {"count": str(MAX_ORIGINS)})
    color = color.strip().lower()
    if not _COLOR.match(color):
        errors["color"] = Reason(N_("the color must be #rrggbb, such as #1f6feb"))
    if position not in ("right", "left"):
        errors["position"] = Reason(N_("the position must be right or left"))
    if language not in ("auto", *WIDGET_LANGUAGES):
        errors["language"] = Reason(N_("the language must be auto, en or nl"))
    texts = {"greeting": greeting or {}, "away": away_message or {}}
    for prefix, values in texts.items():
        for lang, value in values.items():
            if lang not in WIDGET_LANGUAGES:
                errors[f"{prefix}_{lang}"] = Reason(N_("the language must be auto, en or nl"))
            elif len(value.strip()) > MAX_TEXT:
                errors[f"{prefix}_{lang}"] = Reason(
                    N_("at most %(count)s characters"), {"count": str(MAX_TEXT)}
                )
    timezone = timezone.strip()
    if not is_time_zone(timezone):
        errors["timezone"] = Reason(
            N_("%(zone)s is not a time zone; use an IANA name such as Europe/Amsterdam"),
            {"zone": timezone or "''"},
        )
    week: dict[str, list[str]] = {}
    if days is not None:
        for day in DAYS:
            span = days.get(day)
            if span is None:
                continue
            start, end = (part.strip() for part in span)
            if not (_HHMM.match(start) and _HHMM.match(end)):
                errors[f"hours_{day}"] = Reason(N_("give an opening and a closing time (HH:MM)"))
            elif start >= end:
                errors[f"hours_{day}"] = Reason(N_("the closing time must be after the opening time"))
            else:
                week[day] = [start, end]
        if not week and not any(key.startswith("hours_") for key in errors):
            errors["hours"] = Reason(N_("open on at least one day, or choose “always open”"))
    if errors:
        raise InvalidWidgetSettings(errors)
    return {
        "origins": kept,
        "color": color,
        "position": position,
        "language": language,
        "greeting": _texts({k: v.strip() for k, v in (greeting or {}).items()}),
        "prechat_form": prechat_form,
        "business_hours": {"timezone": timezone, "days": week},
        "away_message": _texts({k: v.strip() for k, v in (away_message or {}).items()}),
    }
