"""The widget's browser files: small enough for every site, and never parsing text as HTML."""

from __future__ import annotations

import gzip
import re

import pytest

from app.domain.widget.pages import FRAME_STRINGS, LOADER_STRINGS, widget_language
from app.domain.widget.settings import WidgetSettings
from app.i18n import translations
from app.lib.assets import STATIC_DIR

WIDGET = STATIC_DIR / "widget"


def test_the_loader_stays_under_10_kb_gzipped() -> None:
    source = (WIDGET / "widget.js").read_bytes()
    assert len(gzip.compress(source, compresslevel=9)) < 10 * 1024


@pytest.mark.parametrize("name", ["widget.js", "frame.js"])
def test_no_text_reaches_the_page_as_html(name: str) -> None:
    """Customer and agent text is set with textContent; nothing is ever parsed as markup."""
    code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", (WIDGET / name).read_text(), flags=re.S | re.M)
    assert not re.search(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function", code
    )


@pytest.mark.parametrize(
    ("fixed", "requested", "expected"),
    [
        ("auto", "nl-NL", "nl"),
        ("auto", "de", "en"),
        ("auto", None, "en"),
        ("nl", "en", "nl"),
        ("en", "nl", "en"),
    ],
)
def test_the_widgets_language(fixed: str, requested: str | None, expected: str) -> None:
    assert widget_language(WidgetSettings.from_config({"language": fixed}), requested) == expected


def test_every_widget_string_has_its_dutch_and_keeps_its_placeholders() -> None:
    dutch = translations("nl")
    for text in [*LOADER_STRINGS.values(), *FRAME_STRINGS.values()]:
        translated = dutch.gettext(text)
        assert translated != text or text in {"Online"}, text
        assert sorted(re.findall(r"%\(\w+\)s", translated)) == sorted(re.findall(r"%\(\w+\)s", text))
