"""The layering rules of DESIGN.md, held by walking every module's imports.

- ``integrations`` imports nothing from ``app`` or ``litestar`` (adapters stay testable alone);
- ``app.lib`` imports no domain;
- only ``app.core`` (and the process entry points built on it) imports every domain;
- a domain's controllers never write: they call ``do_*`` actions, which run their work through the
  ``Writer`` (``actions.py`` and the modules it delegates to: resolution, merging, delivery,
  fast_ingest, channel accounts).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_under(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_integrations_import_no_app_and_no_web_framework() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in {"app", "litestar"}
        )
        for path in modules_under("integrations")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_lib_imports_no_domain() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in imported_modules(path) if n.startswith("app.domain"))
        for path in modules_under("app/lib")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_controllers_do_not_commit_or_add_rows() -> None:
    writes = (
        ".commit(",
        ".add(",
        ".add_all(",
        ".delete(",
        "insert(",
        "update(",
        "writer.run(",
        "run_statement(",
        ".emit(",
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.glob("app/domain/*/controllers.py")
        if any(marker in path.read_text() for marker in writes)
    ]
    assert offenders == []


def test_only_writer_users_write() -> None:
    """Every module that opens a unit of work is one of the writers the design names."""
    writers = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if "writer.run(" in path.read_text() or "run_statement(" in path.read_text()
    }
    allowed = {
        "app/domain/realtime/writer.py",
        "app/domain/inbox/actions.py",
        "app/domain/inbox/attachments.py",
        "app/domain/inbox/fast_ingest.py",
        "app/domain/inbox/reads.py",
        "app/domain/inbox/edits.py",
        "app/domain/contacts/actions.py",
        "app/domain/accounts/actions.py",
        "app/domain/channels/accounts.py",
        "app/domain/channels/delivery.py",
        "app/domain/channels/deep_links.py",
        "app/domain/canned/actions.py",
        "app/domain/widget/actions.py",
        "app/domain/bot/actions.py",
        "app/domain/bot/rule_actions.py",
        "app/domain/bot/review_actions.py",
        "app/domain/privacy/actions.py",
        "app/domain/reports/actions.py",
    }
    assert writers <= allowed, writers - allowed


def test_every_domain_with_routes_is_wired_in_core() -> None:
    """A domain's routes reach the app only through ``app/core.py`` (domains without routes, like
    canned responses, are used by the console's pages)."""
    domains = {
        p.name for p in (ROOT / "app" / "domain").iterdir() if p.is_dir() and (p / "controllers.py").exists()
    }
    core_imports = imported_modules(ROOT / "app" / "core.py")
    wired = {name.split(".")[2] for name in core_imports if name.startswith("app.domain.")}
    assert domains <= wired
