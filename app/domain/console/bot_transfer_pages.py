"""The bot's rules as a YAML file (admins): download them, or upload a file to replace them.

An upload is checked whole first (``load_rules_yaml``: invalid YAML, a duplicate id, a rule without
an answer in the default language, … each with its line) and changes nothing; a file that holds is
shown as a preview of what would change (rules added, changed, removed; settings changed) with a
button that applies it. The preview's form carries the file's text, which is checked again when
applied, so what is stored is exactly what was previewed, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.bot.rule_actions import DEFAULT_RULES, do_import_rules
from app.domain.bot.rules import RulesError, RuleSet
from app.domain.bot.rules_yaml import dump_rules_yaml, load_rules_yaml
from app.domain.console.bot_frame import page, stored_rules
from app.domain.console.forms import FORM
from app.domain.realtime.writer import Writer
from app.i18n import N_
from app.lib.errors import DomainError, Reason
from app.lib.fields import text

EXPORT_NAME = "onethread-bot-rules.yaml"
YAML_MAX = 1_000_000
"""Characters of YAML the preview carries back (the console's request limit is 1 MB)."""
NO_FILE = N_("Choose a YAML file to upload.")
NOT_TEXT = N_("This file is not UTF-8 text: save it as UTF-8 YAML and upload it again.")
AT_LINE = N_("Line %(line)s: %(reason)s")


@dataclass(frozen=True)
class ImportPreview:
    """What an import would change, rule by rule."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    settings_changed: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.settings_changed)


def preview(current: RuleSet | None, incoming: RuleSet) -> ImportPreview:
    """Compare the stored rules with an uploaded file's."""
    old = {rule.id: rule.to_dict() for rule in (current.rules if current else ())}
    new = {rule.id: rule.to_dict() for rule in incoming.rules}
    before = (current or DEFAULT_RULES).settings_dict() if current else {}
    after = incoming.settings_dict()
    return ImportPreview(
        added=[rule_id for rule_id in new if rule_id not in old],
        changed=[rule_id for rule_id in new if rule_id in old and old[rule_id] != new[rule_id]],
        removed=[rule_id for rule_id in old if rule_id not in new],
        unchanged=sum(1 for rule_id in new if old.get(rule_id) == new[rule_id]),
        settings_changed=sorted(key for key in {*before, *after} if before.get(key) != after.get(key)),
        total=len(new),
    )


def rules_error(exc: RulesError) -> Reason:
    """A rules file's problem as the admin reads it: the line (when known) and the reason."""
    if exc.line is not None:
        return Reason(AT_LINE, {"line": str(exc.line), "reason": exc.reason})
    return Reason(exc.reason)


async def _transfer_page(
    request: Request[Any, Any, Any], session: AsyncSession, *, status: int = 200, **extra: Any
) -> Template:
    rules = await stored_rules(session)
    return page(
        request,
        "transfer.html",
        "transfer",
        status=status,
        rule_count=len(rules.rules) if rules else 0,
        **extra,
    )


@get("/transfer", include_in_schema=False)
async def transfer_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Template:
    """Download the rules, or upload a file (previewed before anything changes)."""
    imported = request.query_params.get("imported")
    return await _transfer_page(
        request, db_session, imported=imported if imported and imported.isdigit() else None
    )


@get("/export.yaml", include_in_schema=False)
async def export_rules(db_session: NamedDependency[AsyncSession]) -> Response[str]:
    """The stored rules and settings as one YAML file (what ``onethread bot export`` prints)."""
    rules = await stored_rules(db_session) or DEFAULT_RULES
    return Response(
        dump_rules_yaml(rules),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{EXPORT_NAME}"'},
    )


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(NOT_TEXT) from None


@post("/import", include_in_schema=False, status_code=200)
async def upload_rules(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Template:
    """Check an uploaded file and show what it would change; nothing is stored yet."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _transfer_page(request, db_session, status=422, error=Reason(NO_FILE))
    try:
        yaml_text = _decode(await upload.read())
        if "\x00" in yaml_text:
            raise ValueError(NOT_TEXT)
        incoming = load_rules_yaml(yaml_text)
    except ValueError as exc:
        reason = rules_error(exc) if isinstance(exc, RulesError) else Reason(str(exc))
        return await _transfer_page(
            request, db_session, status=422, error=reason, filename=upload.filename[:200]
        )
    current = await stored_rules(db_session)
    return await _transfer_page(
        request,
        db_session,
        preview=preview(current, incoming),
        yaml_text=yaml_text,
        filename=upload.filename[:200],
    )


@dataclass
class ApplyForm:
    yaml: Annotated[str, text(max_length=YAML_MAX)] = ""


@post("/import/apply", include_in_schema=False, status_code=303)
async def apply_import(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    data: Annotated[ApplyForm, FORM],
) -> Response[Any]:
    """Replace every rule and setting with the previewed file, all at once (checked again first)."""
    try:
        incoming = load_rules_yaml(data.yaml)
        await do_import_rules(writer, incoming)
    except RulesError as exc:
        return await _transfer_page(request, db_session, status=422, error=rules_error(exc))
    except DomainError as exc:
        return await _transfer_page(request, db_session, status=exc.status_code, error=exc.reason)
    return Redirect(f"/bot/transfer?imported={len(incoming.rules)}", status_code=303)


route_handlers = [transfer_page, export_rules, upload_rules, apply_import]
