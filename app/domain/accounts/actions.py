"""Writers for agents and their API tokens."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, ApiToken, pk
from app.domain.accounts.auth import check_credentials
from app.domain.accounts.passwords import hash_password
from app.domain.realtime.writer import Transaction, Writer
from app.i18n import LANGUAGES, N_, is_time_zone
from app.lib.errors import ConflictError, InvalidInputError, NotFoundError, Reason
from app.lib.secrets import new_token, token_digest
from integrations.identifiers import InvalidIdentifierError, normalize_email

ROLES = ("admin", "agent")
MIN_PASSWORD_CHARS = 8


async def do_create_agent(
    writer: Writer, *, email: str, name: str, password: str, role: str = "agent"
) -> Agent:
    try:
        address = normalize_email(email)
    except InvalidIdentifierError as exc:
        raise InvalidInputError(
            Reason(exc.template, {"value": exc.value}), type_slug="invalid-email"
        ) from None
    if role not in ROLES:
        raise InvalidInputError("role must be admin or agent", type_slug="invalid-role")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInputError(
            f"password must be at least {MIN_PASSWORD_CHARS} characters", type_slug="weak-password"
        )
    if not name.strip():
        raise InvalidInputError(N_("an agent needs a name"), type_slug="invalid-name")
    password_hash = await asyncio.to_thread(hash_password, password)  # argon2 is CPU-heavy: off the loop

    async def work(tx: Transaction) -> Agent:
        taken = (await tx.session.execute(select(col(Agent.id)).where(col(Agent.email) == address))).first()
        if taken is not None:
            raise ConflictError(f"an agent with email {address} exists", type_slug="agent-exists")
        agent = Agent(email=address, name=name.strip(), password_hash=password_hash, role=role)
        tx.session.add(agent)
        await tx.session.flush()
        tx.emit("agent.created", {"agent_id": agent.id, "name": agent.name, "role": role}, audience="admins")
        return agent

    return await writer.run(work)


async def do_issue_token(writer: Writer, *, email: str, password: str) -> str:
    """A new API token for valid credentials; the same answer for unknown email and wrong password."""
    agent = await check_credentials(writer, email=email, password=password)
    token = new_token("ot_")

    async def work(tx: Transaction) -> None:
        tx.session.add(ApiToken(agent_id=pk(agent.id), token_hash=token_digest(token)))

    await writer.run(work)
    return token


async def do_set_preferences(writer: Writer, *, agent: Agent, language: str, timezone: str) -> Agent:
    """An agent's own console language and time zone.

    ``language`` is a code of ``LANGUAGES`` or ``""`` for "what my browser asks for"; ``timezone`` is
    an IANA name. Anything else is refused with the reason, so a typo never silently becomes UTC.
    """
    language, timezone = language.strip(), timezone.strip()
    if language and language not in LANGUAGES:
        raise InvalidInputError(
            f"language must be one of {', '.join(LANGUAGES)} or empty (the browser's)",
            type_slug="invalid-language",
        )
    if not is_time_zone(timezone):
        raise InvalidInputError(
            Reason(
                N_("%(zone)s is not a time zone; use an IANA name such as Europe/Amsterdam"),
                {"zone": timezone or "''"},
            ),
            type_slug="invalid-time-zone",
        )

    async def work(tx: Transaction) -> Agent:
        row = await tx.session.get(Agent, pk(agent.id))
        if row is None:
            raise NotFoundError(f"agent {agent.id} does not exist", type_slug="agent-not-found")
        row.language, row.timezone = language, timezone
        tx.emit(
            "agent.updated",
            {"agent_id": row.id, "language": language, "timezone": timezone},
            audience="admins",
        )
        return row

    return await writer.run(work)


async def do_set_agent_active(writer: Writer, *, actor: Agent, agent_id: int, active: bool) -> Agent:
    """Deactivate (or reactivate) an agent. A deactivated agent's sessions and tokens stop working at
    their next request (both look the agent up and require ``is_active``). Nobody deactivates
    themselves: an admin could otherwise lock the last admin out."""
    if not active and agent_id == actor.id:
        raise ConflictError(N_("you cannot deactivate yourself"), type_slug="deactivate-self")

    async def work(tx: Transaction) -> Agent:
        row = await tx.session.get(Agent, agent_id)
        if row is None:
            raise NotFoundError(f"agent {agent_id} does not exist", type_slug="agent-not-found")
        row.is_active = active
        tx.emit(
            "agent.updated",
            {"agent_id": agent_id, "is_active": active, "by_agent_id": actor.id},
            audience="admins",
        )
        return row

    return await writer.run(work)
