"""Choosing the console's language and showing times: what an agent in Amsterdam or Auckland sees."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from jinja2 import Environment

from app import i18n


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", ["nl", "nl", "en", "en"]),
        ("en;q=0.5, nl-BE;q=0.8", ["nl", "en"]),
        ("*;q=0.1, de", ["de"]),
        ("fr;q=0, nl", ["nl"]),
        ("nl;q=abc, en", ["en"]),
        ("", []),
        (None, []),
    ],
)
def test_accept_language_is_read_best_first(header: str | None, expected: list[str]) -> None:
    assert i18n.parse_accept_language(header) == expected


def test_the_agents_preference_wins_over_the_browser() -> None:
    assert i18n.negotiate("nl", "en-GB,en") == "nl"
    assert i18n.negotiate("en", "nl") == "en"


def test_without_a_preference_the_browser_decides_and_english_is_the_fallback() -> None:
    assert i18n.negotiate("", "de-DE,nl;q=0.5") == "nl"
    assert i18n.negotiate(None, "de-DE,fr") == "en"
    assert i18n.negotiate("xx", None) == "en"


def _render(source: str, **context: object) -> str:
    environment = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    environment.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["local_time"] = i18n.local_time
    environment.filters["t"] = i18n.translate
    return environment.from_string(source).render(**context)


MOMENT = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)


def test_times_are_shown_in_the_agents_zone_and_language() -> None:
    amsterdam = SimpleNamespace(language="nl", timezone="Europe/Amsterdam")
    auckland = SimpleNamespace(language="en", timezone="Pacific/Auckland")
    assert _render("{{ t | local_time }}", t=MOMENT, agent=amsterdam) == "30 nov 2026, 09:05"
    assert _render("{{ t | local_time }}", t=MOMENT, agent=auckland) == "Nov 30, 2026, 9:05\u202fPM"
    assert _render("{{ t | local_time('medium') }}", t=MOMENT, agent=amsterdam) == "30 nov 2026, 09:05:00"


def test_an_unknown_time_zone_falls_back_to_utc_rather_than_failing_the_page() -> None:
    agent = SimpleNamespace(language="en", timezone="Mars/Olympus_Mons")
    assert _render("{{ t | local_time('short') }}", t=MOMENT, agent=agent) == "11/30/26, 8:05\u202fAM"


def test_translated_text_stays_escaped() -> None:
    agent = SimpleNamespace(language="nl", timezone="UTC")
    rendered = _render('{{ _("Hello %(name)s", name=who) }}', who="<script>x</script>", agent=agent)
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered


def test_time_zone_names_are_validated() -> None:
    assert i18n.is_time_zone("Europe/Amsterdam")
    assert not i18n.is_time_zone("Europe/Atlantis")
    assert "America/New_York" in i18n.time_zone_names()


def test_a_refusal_reads_in_english_on_the_api_and_in_the_agents_language_in_the_console() -> None:
    from app.lib.errors import ConflictError, Reason

    refused = ConflictError(
        Reason(
            "the customer has not written on %(channel)s, so there is no address to reply to",
            {"channel": Reason("web chat"), "ignored": "web chat"},
        )
    )
    assert refused.detail == "the customer has not written on web chat, so there is no address to reply to"
    dutch = i18n.say(i18n.translations("nl"), refused.reason)
    assert dutch == "de klant heeft niet via webchat geschreven, dus er is geen adres om op te antwoorden"


def test_plain_values_in_a_reason_are_never_translated() -> None:
    from app.lib.errors import Reason

    # A customer whose name happens to be a word the catalog knows keeps their name.
    reason = Reason(
        "contact %(other)s is already merged into contact %(into)s", {"other": "Open", "into": "7"}
    )
    assert i18n.say(i18n.translations("nl"), reason) == "contact Open is al samengevoegd met contact 7"
