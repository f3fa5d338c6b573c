"""A widget's business hours and settings: when the site counts as open, and what an admin may save."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from app.domain.widget.settings import (
    BusinessHours,
    InvalidWidgetSettings,
    WidgetSettings,
    normal_origin,
    widget_config,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
OFFICE = {day: (time(9), time(17)) for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_no_hours_is_always_open() -> None:
    hours = BusinessHours()
    assert hours.always_open and hours.is_open(utc(2026, 1, 4, 3, 0))  # a Sunday night
    assert hours.next_opening(utc(2026, 1, 4, 3, 0)) is None


def test_weekdays_open_from_opening_up_to_closing_in_the_sites_zone() -> None:
    hours = BusinessHours(timezone="Europe/Amsterdam", days=OFFICE)
    # Monday 5 January 2026; Amsterdam is UTC+1 in winter.
    assert not hours.is_open(utc(2026, 1, 5, 7, 59))  # 08:59 there
    assert hours.is_open(utc(2026, 1, 5, 8, 0))  # 09:00 there: opens
    assert hours.is_open(utc(2026, 1, 5, 15, 59))
    assert not hours.is_open(utc(2026, 1, 5, 16, 0))  # 17:00 there: closed
    assert not hours.is_open(utc(2026, 1, 10, 10, 0))  # Saturday
    # The same instant given in another zone is the same answer.
    assert hours.is_open(datetime(2026, 1, 5, 3, 30, tzinfo=ZoneInfo("America/New_York")))  # 09:30 there


def test_the_weekday_is_the_sites_not_utcs() -> None:
    hours = BusinessHours(timezone="America/New_York", days={"fri": (time(9), time(20))})
    saturday_in_utc = utc(2026, 1, 10, 0, 30)  # Friday 19:30 in New York
    assert hours.is_open(saturday_in_utc)
    tokyo = BusinessHours(timezone="Asia/Tokyo", days={"mon": (time(9), time(17))})
    sunday_in_utc = utc(2026, 1, 4, 23, 30)  # Monday 08:30 in Tokyo
    assert not tokyo.is_open(sunday_in_utc)
    assert tokyo.next_opening(sunday_in_utc) == utc(2026, 1, 5, 0, 0)
    assert tokyo.is_open(utc(2026, 1, 5, 0, 0))


def test_next_opening_skips_closed_days_and_crosses_a_dst_change() -> None:
    hours = BusinessHours(timezone="Europe/Amsterdam", days=OFFICE)
    # Friday 27 March 2026 after closing; clocks go forward on Sunday the 29th (UTC+1 -> UTC+2).
    friday_evening = utc(2026, 3, 27, 17, 0)
    opening = hours.next_opening(friday_evening)
    assert opening is not None
    assert opening.astimezone(AMSTERDAM).strftime("%a %H:%M") == "Mon 09:00"
    assert opening == utc(2026, 3, 30, 7, 0)  # 09:00 summer time, not 08:00 UTC
    assert not hours.is_open(utc(2026, 3, 30, 6, 30))  # would be 09:30 with the winter offset
    assert hours.is_open(utc(2026, 3, 30, 7, 0))
    # And back in October (UTC+2 -> UTC+1 on Sunday the 25th).
    assert hours.next_opening(utc(2026, 10, 23, 16, 0)) == utc(2026, 10, 26, 8, 0)


def test_next_opening_before_and_during_hours_and_a_week_ahead() -> None:
    hours = BusinessHours(timezone="UTC", days={"wed": (time(10), time(12))})
    assert hours.next_opening(utc(2026, 1, 7, 9, 0)) == utc(2026, 1, 7, 10, 0)  # later today
    assert hours.next_opening(utc(2026, 1, 7, 11, 0)) == utc(2026, 1, 14, 10, 0)  # open now: next one
    assert hours.next_opening(utc(2026, 1, 7, 12, 0)) == utc(2026, 1, 14, 10, 0)  # same weekday next week


def test_reading_never_fails_a_widget() -> None:
    widget = WidgetSettings.from_config(
        {
            "origins": ["https://shop.example/", 42],
            "color": "red",
            "position": "top",
            "language": "fr",
            "greeting": {"en": "Hi", "de": "Hallo", "nl": "  "},
            "business_hours": {
                "timezone": "Mars/Olympus",
                "days": {"mon": ["17:00", "09:00"], "tue": ["09:00", "17:00"], "xyz": ["1", "2"]},
            },
        }
    )
    assert widget.origins == ("https://shop.example",)
    assert (widget.color, widget.position, widget.language) == ("#1f6feb", "right", "auto")
    assert widget.greeting == {"en": "Hi"}
    assert list(widget.hours.days) == ["tue"]
    assert widget.hours.is_open(utc(2026, 1, 6, 9, 30))  # an unknown zone counts as UTC
    assert WidgetSettings.from_config({}) == WidgetSettings()


def test_a_saved_config_reads_back_as_typed() -> None:
    config = widget_config(
        origins=["https://Shop.Example:443/", "http://localhost:8080", "https://shop.example"],
        color="#AA3300",
        position="left",
        language="nl",
        greeting={"en": " Hi ", "nl": ""},
        prechat_form=True,
        timezone="Europe/Amsterdam",
        days={"mon": ("09:00", "17:00"), "tue": None},
        away_message={"nl": "Morgen weer"},
    )
    assert config["origins"] == ["https://shop.example", "http://localhost:8080"]
    widget = WidgetSettings.from_config(config)
    assert (widget.color, widget.position, widget.language, widget.prechat_form) == (
        "#aa3300",
        "left",
        "nl",
        True,
    )
    assert widget.greeting == {"en": "Hi"} and widget.away_message == {"nl": "Morgen weer"}
    assert widget.hours == BusinessHours(timezone="Europe/Amsterdam", days={"mon": (time(9), time(17))})
    always = widget_config(origins=["https://shop.example"], days=None)
    assert WidgetSettings.from_config(always).hours.always_open


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"origins": ["ftp://shop.example"]}, "origins"),
        ({"origins": ["https://shop.example/path"]}, "origins"),
        ({"origins": ["", " "]}, "origins"),
        ({"origins": [f"https://s{i}.example" for i in range(21)]}, "origins"),
        ({"color": "#abc"}, "color"),
        ({"position": "center"}, "position"),
        ({"language": "de"}, "language"),
        ({"greeting": {"en": "x" * 501}}, "greeting_en"),
        ({"away_message": {"nl": "x" * 501}}, "away_nl"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"days": {"mon": ("9:00", "17:00")}}, "hours_mon"),
        ({"days": {"fri": ("17:00", "17:00")}}, "hours_fri"),
        ({"days": {"sun": None}}, "hours"),
    ],
)
def test_each_bad_value_is_refused_with_its_field(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"origins": ["https://shop.example"], **changes}
    with pytest.raises(InvalidWidgetSettings) as refused:
        widget_config(**values)  # type: ignore[arg-type]
    assert list(refused.value.errors) == [field]


def test_origins_are_written_as_browsers_send_them() -> None:
    assert normal_origin(" HTTPS://Shop.Example/ ") == "https://shop.example"
    assert normal_origin("http://shop.example:80") == "http://shop.example"
    assert normal_origin("https://shop.example:8443") == "https://shop.example:8443"
