"""Every string the console shows has its Dutch translation, with the same placeholders.

The strings are extracted from the sources now (the same mapping as ``make messages``), so a new
``_("…")`` without its translation fails here instead of showing English in a Dutch console.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app import i18n

ROOT = Path(__file__).resolve().parents[2]


def _source_messages() -> set[str | tuple[str, ...]]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str | tuple[str, ...]] = set()
    for folder in ("app", "integrations", "templates"):
        for _, _, message, _, _ in extract_from_dir(
            ROOT / folder, method_map, options_map, keywords=keywords
        ):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


@pytest.mark.parametrize("language", sorted(set(i18n.LANGUAGES) - {i18n.DEFAULT_LANGUAGE}))
def test_every_console_string_is_translated(language: str) -> None:
    po = i18n.LOCALES_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    translated = {
        (m.id if isinstance(m.id, str) else tuple(m.id))
        for m in catalog
        if m.id and all(m.string if isinstance(m.string, tuple) else (m.string,)) and not m.fuzzy
    }
    untranslated = sorted(map(str, _source_messages() - translated))
    assert untranslated == [], f"run `make messages` and translate these in {po.name}"


@pytest.mark.parametrize("language", sorted(set(i18n.LANGUAGES) - {i18n.DEFAULT_LANGUAGE}))
def test_translations_keep_their_placeholders(language: str) -> None:
    po = i18n.LOCALES_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert problems == []


def test_a_dutch_agent_reads_dutch() -> None:
    dutch = i18n.translations("nl")
    assert dutch.gettext("Log out") == "Uitloggen"
    assert (
        dutch.ngettext("%(num)d remote image blocked.", "%(num)d remote images blocked.", 2) % {"num": 2}
        == "2 externe afbeeldingen geblokkeerd."
    )
