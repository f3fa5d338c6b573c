"""Writers of the admins' review of the bot: setting an unanswered question aside.

(Turning a question into a rule, or into an example of one, goes through ``rule_actions``.)
"""

from __future__ import annotations

from app.db.models import Agent, BotDismissal, utcnow
from app.domain.bot.queries import question_key
from app.domain.realtime.writer import Transaction, Writer
from app.i18n import N_
from app.lib.errors import InvalidInputError


async def do_dismiss_question(writer: Writer, *, agent: Agent, question: str) -> str:
    """Take ``question`` (every phrasing with its key) off the unanswered list, as of now: asked
    again later, it comes back. Returns the key dismissed."""
    key = question_key(question)
    if not key:
        raise InvalidInputError(N_("there is no question to dismiss"), type_slug="invalid-question")

    async def work(tx: Transaction) -> str:
        row = await tx.session.get(BotDismissal, key, populate_existing=True)
        if row is None:
            tx.session.add(BotDismissal(key=key, dismissed_at=utcnow(), agent_id=agent.id))
        else:
            row.dismissed_at, row.agent_id = utcnow(), agent.id
        await tx.session.flush()
        tx.emit("bot.question_dismissed", {"key": key, "by_agent_id": agent.id})
        return key

    return await writer.run(work)
