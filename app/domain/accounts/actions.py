"""Writers for agents and their API tokens."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, ApiToken, pk
from app.domain.accounts.auth import check_credentials
from app.domain.accounts.passwords import hash_password
from app.domain.realtime.writer import Transaction, Writer
from app.lib.errors import ConflictError, InvalidInputError
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
        raise InvalidInputError(str(exc), type_slug="invalid-email") from None
    if role not in ROLES:
        raise InvalidInputError("role must be admin or agent", type_slug="invalid-role")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInputError(
            f"password must be at least {MIN_PASSWORD_CHARS} characters", type_slug="weak-password"
        )
    if not name.strip():
        raise InvalidInputError("an agent needs a name", type_slug="invalid-name")
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
