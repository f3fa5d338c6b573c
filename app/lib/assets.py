"""Cache-busted URLs for the files under ``static/``.

Browsers may keep a static file for a year because its URL changes whenever its bytes do: each URL
carries ``?v=`` and a short hash of the file, computed once when the app is built (files do not
change under a running process; a deploy restarts it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = PROJECT_ROOT / "static"
TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_PREFIX = "/static"


class AssetManifest:
    """The hash of every file under one folder, for ``static_url()`` in templates."""

    def __init__(self, directory: Path = STATIC_DIR, prefix: str = STATIC_PREFIX) -> None:
        self.directory = directory
        self.prefix = prefix.rstrip("/")
        self.hashes: dict[str, str] = {}
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
                    self.hashes[path.relative_to(directory).as_posix()] = digest

    def url(self, path: str) -> str:
        """``/static/<path>?v=<hash>``; a name that is not there fails loudly, not as a broken page."""
        name = path.lstrip("/")
        try:
            digest = self.hashes[name]
        except KeyError:
            raise LookupError(f"no static file {name!r} under {self.directory}") from None
        return f"{self.prefix}/{name}?v={digest}"
