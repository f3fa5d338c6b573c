"""The audit log in words: "Erased contact #3 (anonymized): 12 messages, 2 files", in the reader's language.

Rows keep their codes (``contact.erase``, ``agent:5``, ``{"messages": 12, …}``: stable for scripts and
the API); the console and ``onethread audit list`` describe them with this, when shown. The contact a
row is about is a separate piece (``%(contact)s`` in :attr:`Description.text`), so the console can
link it while the command line prints it plain. An action this module does not know yet is shown as
its code and details, never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from gettext import NullTranslations
from typing import Any

from babel.numbers import format_decimal
from markupsafe import Markup, escape

from app.domain.privacy.queries import AuditOut
from app.i18n import N_

ACTORS = {"cli": N_("command line"), "system": N_("system")}
"""Who acted, when not an agent: the ``onethread`` command, or the worker's scheduled prune."""


@dataclass(frozen=True, slots=True)
class Description:
    """One row in words. ``text`` holds ``%(contact)s`` where the contact goes, if it names one."""

    text: str
    contact_label: str = ""
    contact_href: str | None = None
    """The contact's page, when the contact still exists."""

    def plain(self) -> str:
        return self.text % {"contact": self.contact_label} if self.contact_label else self.text

    def html(self) -> Markup:
        """Escaped, with the contact as a link when it still exists."""
        if not self.contact_label:
            return escape(self.text)
        contact: Markup | str = self.contact_label
        if self.contact_href:
            contact = Markup('<a href="{}">{}</a>').format(self.contact_href, self.contact_label)
        return escape(self.text) % {"contact": contact}


def actor_text(entry: AuditOut, catalog: NullTranslations) -> str:
    """The agent's name, "command line" or "system" (an agent since removed: "agent #5")."""
    if entry.actor_name:
        return entry.actor_name
    if entry.actor in ACTORS:
        return catalog.gettext(ACTORS[entry.actor])
    kind, _, agent_id = entry.actor.partition(":")
    if kind == "agent" and agent_id:
        return catalog.gettext("agent #%(id)s") % {"id": agent_id}
    return entry.actor


def describe(
    entry: AuditOut,
    catalog: NullTranslations,
    language: str = "en",
    *,
    contacts: Mapping[str, str | None] | None = None,
) -> Description:
    """``entry`` in words. ``contacts``: the contacts that still exist, by id, with their name (or None)."""
    details = entry.details

    def count(key: str) -> int:
        value = details.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def number(n: int) -> str:
        return format_decimal(n, locale=language)

    def counted(text: str, n: int) -> str:
        """``text`` (``catalog.ngettext(…, n)``, written out so ``make messages`` finds both forms)."""
        return text % {"num": number(n)}

    def listed(head: str, parts: list[str]) -> str:
        return f"{head}: {', '.join(parts)}" if parts else head

    def messages_and_files() -> list[str]:
        messages, files = count("messages"), count("attachments")
        parts = [counted(catalog.ngettext("%(num)s message", "%(num)s messages", messages), messages)]
        if files:  # most conversations have none: "0 files" is noise
            parts.append(counted(catalog.ngettext("%(num)s file", "%(num)s files", files), files))
        return parts

    subject = entry.subject_id or ""
    label, href = "", None
    if entry.subject_type == "contact" and subject:
        known = contacts or {}
        name = known.get(subject)
        label = (
            catalog.gettext("contact #%(id)s (%(name)s)") % {"id": subject, "name": name}
            if name
            else catalog.gettext("contact #%(id)s") % {"id": subject}
        )
        href = f"/contacts/{subject}" if subject in known else None

    if entry.action == "contact.export" and label:
        head = catalog.gettext("Exported the data of %(contact)s")
        return Description(listed(head, messages_and_files()), label, href)
    if entry.action == "contact.erase" and label:
        head = (
            catalog.gettext("Erased %(contact)s (deleted)")
            if details.get("mode") == "delete"
            else catalog.gettext("Erased %(contact)s (anonymized)")
        )
        parts = messages_and_files()
        if (merged := count("contacts") - 1) > 0:
            parts.append(
                counted(catalog.ngettext("%(num)s merged contact", "%(num)s merged contacts", merged), merged)
            )
        return Description(listed(head, parts), label, href)
    if entry.action == "retention.prune":
        days, events = count("retention_days"), count("events")
        head = catalog.ngettext(
            "Pruned %(num)s event older than %(age)s", "Pruned %(num)s events older than %(age)s", events
        ) % {
            "num": number(events),
            "age": counted(catalog.ngettext("%(num)s day", "%(num)s days", days), days),
        }
        parts = []
        if erased := count("erased_attachments"):
            parts.append(
                counted(
                    catalog.ngettext(
                        "%(num)s file of erased contacts", "%(num)s files of erased contacts", erased
                    ),
                    erased,
                )
            )
        if orphans := count("orphan_files"):
            parts.append(
                counted(catalog.ngettext("%(num)s unused file", "%(num)s unused files", orphans), orphans)
            )
        return Description(f"{head}, {', '.join(parts)}" if parts else head)
    return _as_codes(entry, label, href)


def _as_codes(entry: AuditOut, label: str, href: str | None) -> Description:
    """An action without words yet: its code, its subject and its details as ``key=value``."""
    shown: dict[str, Any] = dict(sorted(entry.details.items()))
    details = ", ".join(f"{key}={value}" for key, value in shown.items())
    if label:  # the text is a template: a literal % is doubled
        text = entry.action.replace("%", "%%") + " %(contact)s"
        details = details.replace("%", "%%")
    else:
        subject = " ".join(p for p in (entry.subject_type, entry.subject_id) if p)
        text = f"{entry.action} {subject}".strip()
    return Description(f"{text}: {details}" if details else text, label, href)
