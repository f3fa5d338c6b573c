"""Cache-busted static URLs: the hash follows the bytes, and a missing file fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.lib.assets import STATIC_DIR, AssetManifest


def test_url_carries_a_hash_of_the_file_that_changes_with_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "app.js").write_text("one")
    first = AssetManifest(tmp_path).url("vendor/app.js")
    assert first.startswith("/static/vendor/app.js?v=") and len(first.split("=")[1]) == 12
    assert AssetManifest(tmp_path).url("/vendor/app.js") == first
    (tmp_path / "vendor" / "app.js").write_text("two")
    assert AssetManifest(tmp_path).url("vendor/app.js") != first


def test_a_missing_file_is_an_error_not_a_broken_link(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=r"nope\.css"):
        AssetManifest(tmp_path).url("nope.css")


def test_the_vendored_files_are_there_with_their_licences() -> None:
    manifest = AssetManifest(STATIC_DIR)
    for name in ("vendor/htmx.min.js", "vendor/htmx-ext-ws.min.js", "console.css"):
        assert manifest.url(name)
    assert (STATIC_DIR / "vendor" / "htmx.LICENSE").is_file()
    assert (STATIC_DIR / "vendor" / "htmx-ext-ws.LICENSE").is_file()
    assert "2.0.11" in (STATIC_DIR / "vendor" / "README.md").read_text()
