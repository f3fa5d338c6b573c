"""Writers for canned responses (admins manage them in settings; every agent uses them)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, CannedResponse, utcnow
from app.domain.realtime.writer import Transaction, Writer
from app.i18n import N_
from app.lib.errors import ConflictError, InvalidInputError, NotFoundError, Reason

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TEXT = 10_000


def _clean(shortcut: str, title: str, text: str) -> tuple[str, str, str]:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not SHORTCUT.match(shortcut):
        raise InvalidInputError(
            N_("a shortcut is 1 to 40 lowercase letters, digits, - or _ (typed after /)"),
            type_slug="invalid-shortcut",
        )
    title, text = title.strip(), text.strip()
    if not title or len(title) > 200:
        raise InvalidInputError(
            N_("a canned response needs a title of at most 200 characters"), type_slug="invalid-title"
        )
    if not text or len(text) > MAX_TEXT:
        raise InvalidInputError(
            Reason(N_("a canned response needs a text of at most %(n)s characters"), {"n": str(MAX_TEXT)}),
            type_slug="invalid-text",
        )
    return shortcut, title, text


async def _shortcut_taken(tx: Transaction, shortcut: str, *, other_than: int | None = None) -> None:
    query = select(col(CannedResponse.id)).where(col(CannedResponse.shortcut) == shortcut)
    if other_than is not None:
        query = query.where(col(CannedResponse.id) != other_than)
    if (await tx.session.execute(query)).first() is not None:
        raise ConflictError(
            Reason(N_("/%(shortcut)s is already used by another canned response"), {"shortcut": shortcut}),
            type_slug="shortcut-taken",
        )


async def do_create_canned_response(
    writer: Writer, *, agent: Agent, shortcut: str, title: str, text: str
) -> CannedResponse:
    shortcut, title, text = _clean(shortcut, title, text)

    async def work(tx: Transaction) -> CannedResponse:
        await _shortcut_taken(tx, shortcut)
        canned = CannedResponse(shortcut=shortcut, title=title, text=text, created_by_id=agent.id)
        tx.session.add(canned)
        await tx.session.flush()
        tx.emit("canned_response.changed", {"canned_response_id": canned.id, "shortcut": shortcut})
        return canned

    return await writer.run(work)


async def do_update_canned_response(
    writer: Writer, *, agent: Agent, canned_id: int, shortcut: str, title: str, text: str
) -> CannedResponse:
    shortcut, title, text = _clean(shortcut, title, text)

    async def work(tx: Transaction) -> CannedResponse:
        canned = await tx.session.get(CannedResponse, canned_id)
        if canned is None:
            raise NotFoundError(
                Reason(N_("canned response %(id)s does not exist"), {"id": str(canned_id)}),
                type_slug="canned-not-found",
            )
        await _shortcut_taken(tx, shortcut, other_than=canned_id)
        canned.shortcut, canned.title, canned.text = shortcut, title, text
        canned.updated_at = utcnow()
        tx.emit("canned_response.changed", {"canned_response_id": canned_id, "shortcut": shortcut})
        return canned

    return await writer.run(work)


async def do_delete_canned_response(writer: Writer, *, agent: Agent, canned_id: int) -> None:
    async def work(tx: Transaction) -> None:
        canned = await tx.session.get(CannedResponse, canned_id)
        if canned is None:
            raise NotFoundError(
                Reason(N_("canned response %(id)s does not exist"), {"id": str(canned_id)}),
                type_slug="canned-not-found",
            )
        await tx.session.delete(canned)
        tx.emit("canned_response.changed", {"canned_response_id": canned_id, "deleted": True})

    await writer.run(work)
