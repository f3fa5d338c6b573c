"""Channel accounts: creating them, reading their decrypted credentials, checking inbound tokens.

Credentials live in ``ChannelAccount.secrets`` as JSON encrypted at rest. Reads used on every
inbound request go through a short in-process cache so a webhook costs no extra query.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import ChannelAccount
from app.domain.realtime.writer import Transaction, Writer
from app.i18n import N_
from app.lib.errors import AuthenticationError, InvalidInputError, NotFoundError
from app.lib.secrets import new_token, same_secret
from integrations.types import AccountConfig

CHANNELS = ("api", "telegram", "messenger", "email", "webchat")
_CACHE_SECONDS = 5.0
_cache: dict[uuid.UUID, tuple[float, AccountConfig | None]] = {}


def to_config(account: ChannelAccount) -> AccountConfig:
    return AccountConfig(
        id=str(account.id),
        channel=account.channel,
        name=account.name,
        config=dict(account.config or {}),
        secrets=json.loads(account.secrets or "{}"),
    )


async def account_config(session: AsyncSession, account_id: uuid.UUID) -> AccountConfig | None:
    """The enabled account's config and secrets, or ``None`` when missing or disabled."""
    account = await session.get(ChannelAccount, account_id)
    if account is None or not account.enabled:
        return None
    return to_config(account)


async def cached_account(writer: Writer, account_id: str) -> AccountConfig | None:
    """``account_config`` through a few-seconds cache, for the hot inbound paths."""
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        return None
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    async with writer.sessionmaker() as session:
        config = await account_config(session, key)
    if config is not None:  # misses are not cached: anyone can send made-up ids
        _cache[key] = (now, config)
    return config


async def authenticate_inbound(
    writer: Writer, account_id: str, channel: str, bearer: str | None
) -> AccountConfig:
    """The account behind an inbound call, if ``bearer`` is its inbound token (constant-time check)."""
    account = await cached_account(writer, account_id)
    if account is None or account.channel != channel:
        raise NotFoundError("no such channel account", type_slug="account-not-found")
    expected = account.secrets.get("inbound_token", "")
    if not bearer or not expected or not same_secret(bearer, expected):
        raise AuthenticationError("the account token is missing or wrong", type_slug="bad-account-token")
    return account


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    """A new account and the secrets to show the admin once."""

    account: AccountConfig
    secrets: dict[str, str]


async def do_add_channel_account(
    writer: Writer,
    *,
    channel: str,
    name: str,
    config: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> CreatedAccount:
    """Connect an account. Every account gets an inbound token and a signing secret of its own."""
    if channel not in CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}", type_slug="invalid-channel")
    if not name.strip():
        raise InvalidInputError(N_("an account needs a name"), type_slug="invalid-name")
    all_secrets = {
        "inbound_token": new_token("ot_in_"),
        "signing_secret": new_token("ot_sig_"),
        **(secrets or {}),
    }

    async def work(tx: Transaction) -> ChannelAccount:
        account = ChannelAccount(
            channel=channel, name=name.strip(), config=dict(config or {}), secrets=json.dumps(all_secrets)
        )
        tx.session.add(account)
        await tx.session.flush()
        tx.emit(
            "channel_account.created",
            {"account_id": str(account.id), "channel": channel, "name": account.name},
            audience="admins",
        )
        return account

    account = await writer.run(work)
    return CreatedAccount(account=to_config(account), secrets=all_secrets)


def forget_cached(account_id: str | uuid.UUID) -> None:
    """Drop an account from this process's cache, so a change to it applies to the next request.

    Other processes drop it within ``_CACHE_SECONDS``: that is how long a disabled account's webhooks
    may still be accepted by another ``onethread serve`` of the same installation.
    """
    try:
        key = account_id if isinstance(account_id, uuid.UUID) else uuid.UUID(account_id)
    except ValueError:
        return
    _cache.pop(key, None)


async def list_channel_accounts(session: AsyncSession) -> list[ChannelAccount]:
    """Every account, enabled or not, by channel then name (an installation has a handful)."""
    rows = await session.execute(
        select(ChannelAccount).order_by(col(ChannelAccount.channel), col(ChannelAccount.name))
    )
    return list(rows.scalars())


async def do_set_channel_account_enabled(
    writer: Writer, *, account_id: str, enabled: bool, by_agent_id: int | None = None
) -> ChannelAccount:
    """Disable (or enable again) an account. A disabled account's inbound calls and webhooks are
    refused as if it did not exist (``account_config``); its history stays."""
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        raise NotFoundError(N_("no such channel account"), type_slug="account-not-found") from None

    async def work(tx: Transaction) -> ChannelAccount:
        account = await tx.session.get(ChannelAccount, key)
        if account is None:
            raise NotFoundError("no such channel account", type_slug="account-not-found")
        account.enabled = enabled
        tx.emit(
            "channel_account.updated",
            {"account_id": account_id, "enabled": enabled, "by_agent_id": by_agent_id},
            audience="admins",
        )

        async def forget() -> None:
            forget_cached(key)

        tx.on_commit(forget)
        return account

    return await writer.run(work)


async def do_update_channel_account_config(
    writer: Writer, *, account_id: str, changes: dict[str, Any]
) -> ChannelAccount:
    """Merge ``changes`` into the account's (non-secret) config, e.g. a bot's username learnt later."""
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        raise NotFoundError(N_("no such channel account"), type_slug="account-not-found") from None

    async def work(tx: Transaction) -> ChannelAccount:
        account = await tx.session.get(ChannelAccount, key)
        if account is None:
            raise NotFoundError("no such channel account", type_slug="account-not-found")
        account.config = {**(account.config or {}), **changes}
        tx.emit(
            "channel_account.updated",
            {"account_id": account_id, "config": sorted(changes)},
            audience="admins",
        )

        async def forget() -> None:
            forget_cached(key)

        tx.on_commit(forget)
        return account

    return await writer.run(work)
