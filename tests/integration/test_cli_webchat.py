"""``onethread channel add webchat`` with widget settings, and ``channel webchat show``, on both shapes."""

from __future__ import annotations

import json

import pytest

from app.settings import Settings
from tests.integration.test_cli import run


def test_add_a_site_with_its_widget_settings_and_show_them(settings: Settings) -> None:
    added = run(
        settings,
        *("channel", "add", "webchat", "--name", "Shop site"),
        *("--origin", "https://Shop.example/", "--origin", "http://localhost:8080"),
        *("--color", "#AA3300", "--position", "left", "--language", "nl"),
        *("--greeting-en", "Hi!", "--greeting-nl", "Hoi!", "--json"),
    )
    assert added.returncode == 0, added.stderr
    out = json.loads(added.stdout)
    assert set(out) == {
        "id",
        "channel",
        "name",
        "snippet",
        "identity_secret",
        "note",
    }  # the keys scripts read
    # Run without ONETHREAD_PUBLIC_URL: the snippet's address is the local default, and it says so.
    assert "ONETHREAD_PUBLIC_URL" in out["note"] and "http://127.0.0.1:8000/widget.js" in out["snippet"]
    assert f'data-site="{out["id"]}"' in out["snippet"] and out["identity_secret"].startswith("ot_sig_")

    shown = run(settings, "channel", "webchat", "show", out["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    widget = json.loads(shown.stdout)
    assert widget["origins"] == ["https://shop.example", "http://localhost:8080"]
    assert (widget["color"], widget["position"], widget["language"]) == ("#aa3300", "left", "nl")
    assert widget["greeting"] == {"en": "Hi!", "nl": "Hoi!"}
    assert widget["business_hours"] is None and widget["open_now"] is True
    assert out["identity_secret"] not in shown.stdout

    plain = run(settings, "channel", "webchat", "show", out["id"])
    assert "origins: https://shop.example, http://localhost:8080" in plain.stdout
    assert "business_hours: always open" in plain.stdout

    defaults = run(
        settings, "channel", "add", "webchat", "--name", "Blog", "--origin", "https://blog.example"
    )
    assert defaults.returncode == 0, defaults.stderr
    site = defaults.stdout.split("id: ", 1)[1].split("\n", 1)[0]
    widget = json.loads(run(settings, "channel", "webchat", "show", site, "--json").stdout)
    assert (widget["color"], widget["position"], widget["language"]) == ("#1f6feb", "right", "auto")


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (("--origin", "shop.example"), "--origin: shop.example is not an origin"),
        (("--origin", "https://shop.example/cart"), "--origin: https://shop.example/cart is not an origin"),
        (("--origin", "https://shop.example", "--color", "red"), "--color: the color must be #rrggbb"),
        (("--origin", "https://shop.example", "--position", "top"), "--position: the position must be"),
        (("--origin", "https://shop.example", "--language", "fr"), "--language: the language must be"),
        (("--origin", "https://shop.example", "--greeting-nl", "x" * 501), "--greeting-nl: at most 500"),
    ],
)
def test_bad_widget_settings_exit_2_with_one_line(
    embedded: Settings, flags: tuple[str, ...], reason: str
) -> None:
    refused = run(embedded, "channel", "add", "webchat", "--name", "Shop", *flags)
    assert refused.returncode == 2
    said = [line for line in refused.stderr.splitlines() if line.startswith("onethread:")]
    assert len(said) == 1 and reason in said[0], refused.stderr
    assert "Traceback" not in refused.stderr


def test_show_refuses_what_is_not_a_web_chat_site(embedded: Settings) -> None:
    api = json.loads(run(embedded, "channel", "add", "api", "--name", "Orders", "--json").stdout)
    for account, reason in ((api["id"], "no web chat account"), ("nope", "must be a channel account id")):
        refused = run(embedded, "channel", "webchat", "show", account)
        assert refused.returncode == 2 and reason in refused.stderr, account
