"""``onethread demo``: an admin, connected channels and customers whose threads span channels.

Safe to run again: what exists is left alone, and the admin's credentials are printed every time
(the generated password is kept in ``var/demo-credentials.json``).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, ChannelAccount
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.inbox.actions import do_add_note, do_ingest, do_log_phone_note
from app.domain.realtime.writer import Writer
from app.settings import Settings
from integrations.types import ContactClaim, InboundMessage, InboundSender

ADMIN_EMAIL = "admin@onethread.local"
DEMO_RULES = Path(__file__).parent / "domain" / "bot" / "demo_rules.yaml"

_ACCOUNTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "webchat",
        "Demo shop website",
        {"demo": True, "greeting": {"en": "Hi! Ask us anything.", "nl": "Hoi! Vraag maar raak."}},
    ),
    ("telegram", "Demo Telegram bot", {}),
    ("messenger", "Demo Facebook page", {}),
    ("email", "support@demo.example", {"address": "support@demo.example"}),
    ("api", "Order system", {}),
]


DEMO_USER_ID = "anna-1042"
"""Anna's customer number at the demo shop: ``/demo/shop?as=anna`` signs her in to the widget."""


async def _accounts(writer: Writer, public_url: str) -> dict[str, str]:
    async with writer.sessionmaker() as session:
        existing = {a.channel: str(a.id) for a in (await session.execute(select(ChannelAccount))).scalars()}
    for channel, name, config in _ACCOUNTS:
        if channel not in existing:
            if channel == "webchat":  # the demo shop page is served by OneThread itself
                config = {**config, "origins": [public_url.rstrip("/")]}
            created = await do_add_channel_account(writer, channel=channel, name=name, config=config)
            existing[channel] = created.account.id
    return existing


def _msg(
    accounts: dict[str, str],
    channel: str,
    ext: str,
    sender: InboundSender,
    text: str,
    at: datetime,
    subject: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account_id=accounts[channel],
        external_id=ext,
        sender=sender,
        text=text,
        sent_at=at,
        subject=subject,
    )


_BOT_VISITORS: list[tuple[str, str, str]] = [
    ("demo-bot-1", "Lotte Visser", "Hoe lang duurt de levering?"),
    ("demo-bot-2", "James Miller", "How do I return an item?"),
    ("demo-bot-3", "Bram de Boer", "Ik wil een medewerker spreken"),
]
"""Web chat visitors whose questions the bot handles: two answers and a handoff."""


async def _bot_demo(writer: Writer, accounts: dict[str, str], now: datetime) -> str:
    """The demo shop's FAQ rules (imported once, unless rules exist), and threads the bot handled.

    The turns run here rather than in a job (no worker runs during ``demo``); their replies are
    stored ``queued`` and go out when the server starts (its worker picks up queued messages)."""
    from app.core import default_registry
    from app.domain.bot.actions import do_bot_turn
    from app.domain.bot.rule_actions import do_import_rules
    from app.domain.bot.rules_yaml import load_rules_yaml
    from app.domain.bot.store import load_ruleset

    async with writer.sessionmaker() as session:
        configured = await load_ruleset(session)
    if configured is None:
        await do_import_rules(writer, load_rules_yaml(DEMO_RULES.read_text(encoding="utf-8")))

    async def later(_message_id: int) -> None:
        return None

    registry = default_registry()
    outcomes: list[str] = []
    try:
        for offset, (ext, name, text) in enumerate(_BOT_VISITORS):
            sender = InboundSender("webchat", f"{accounts['webchat']}:v:{ext}", name)
            at = now - timedelta(minutes=30 - offset * 5)
            stored = await do_ingest(writer, _msg(accounts, "webchat", ext, sender, text, at))
            if stored.duplicate or stored.thread_status != "bot":
                continue
            turn = await do_bot_turn(writer, registry, later, stored.message_id)
            if turn is not None:
                outcomes.append("handed over" if turn.handed_off else turn.outcome)
    finally:
        await registry.aclose()
    if not outcomes:
        return "FAQ bot: demo rules in place (app/domain/bot/demo_rules.yaml)"
    return f"FAQ bot: demo rules in place; {len(outcomes)} web chat visitors asked it ({', '.join(outcomes)})"


async def load_demo(writer: Writer, settings: Settings) -> str:
    creds_path = settings.var_dir / "demo-credentials.json"
    async with writer.sessionmaker() as session:
        admin = (
            await session.execute(select(Agent).where(col(Agent.email) == ADMIN_EMAIL))
        ).scalar_one_or_none()
    if admin is None:
        password = secrets.token_urlsafe(12)
        admin = await do_create_agent(
            writer, email=ADMIN_EMAIL, name="Demo Admin", password=password, role="admin"
        )
        creds_path.parent.mkdir(parents=True, exist_ok=True)
        creds_path.write_text(json.dumps({"email": ADMIN_EMAIL, "password": password}))
        creds_path.chmod(0o600)
    else:
        password = json.loads(creds_path.read_text())["password"] if creds_path.exists() else "(set earlier)"

    accounts = await _accounts(writer, settings.public_url)
    now = datetime.now(UTC)
    # The shop's site vouches for Anna's email and phone, so her Telegram account (same phone)
    # joins the same thread; Tom's Messenger account only earns a merge suggestion (same name).
    anna_chat = InboundSender(
        "webchat",
        f"{accounts['webchat']}:u:{DEMO_USER_ID}",
        "Anna de Vries",
        (
            ContactClaim("email", "anna@example.nl", verified=True),
            ContactClaim("phone", "+31612345678", verified=True),
        ),
    )
    anna_tg = InboundSender(
        "telegram",
        "demo-tg-5550101",
        "Anna de Vries",
        (ContactClaim("phone", "+31612345678", verified=True),),
    )
    tom_mail = InboundSender(
        "email",
        "tom.jansen@example.com",
        "Tom Jansen",
        (ContactClaim("email", "tom.jansen@example.com", verified=True),),
    )
    tom_fb = InboundSender("messenger", "demo-page:psid-7788", "Tom Jansen")
    order_sys = InboundSender(
        "api",
        f"{accounts['api']}:cust-1042",
        "Sara Bakker",
        (ContactClaim("email", "sara@example.org", verified=True),),
    )
    results = [
        await do_ingest(
            writer,
            _msg(
                accounts,
                "webchat",
                "demo-1",
                anna_chat,
                "Hoi! Wanneer wordt mijn bestelling #1042 bezorgd?",
                now - timedelta(days=2),
            ),
        ),
        await do_ingest(
            writer,
            _msg(
                accounts,
                "telegram",
                "demo-2",
                anna_tg,
                "Ik heb nog niks ontvangen, kunnen jullie kijken?",
                now - timedelta(days=1),
            ),
        ),
        await do_ingest(
            writer,
            _msg(
                accounts,
                "email",
                "<demo-3@example.com>",
                tom_mail,
                "Hello, my invoice shows the wrong address. Can you fix it?",
                now - timedelta(hours=20),
                subject="Wrong address on invoice",
            ),
        ),
        await do_ingest(
            writer,
            _msg(
                accounts,
                "messenger",
                "demo-4",
                tom_fb,
                "Hi, following up on my email about the invoice",
                now - timedelta(hours=3),
            ),
        ),
        await do_ingest(
            writer,
            _msg(
                accounts,
                "api",
                "order-1042-return",
                order_sys,
                "Return requested for order 1042 (reason: wrong size)",
                now - timedelta(hours=1),
            ),
        ),
    ]
    if not any(r.duplicate for r in results):
        await do_log_phone_note(
            writer,
            agent=admin,
            phone="+31612345678",
            direction="inbound",
            duration_seconds=240,
            text="Anna called about the delayed parcel; promised an update.",
        )
        await do_add_note(
            writer,
            agent=admin,
            thread_id=results[2].thread_id,
            text="Tom also wrote on Messenger; merge suggested by name.",
        )
    bot_line = await _bot_demo(writer, accounts, now)
    return (
        f"Demo data loaded.\n  console/API login: {ADMIN_EMAIL} / {password}\n"
        f"  {bot_line}\n"
        f"  threads: {len({r.thread_id for r in results})} customers across webchat, Telegram, email, "
        f"Messenger, the API channel and phone\n  open {settings.public_url}/ for the agent console, "
        f"{settings.public_url}/schema for the API,\n  {settings.public_url}/demo/shop to chat as a customer "
        f"(?as=anna: signed in as Anna, who sees her whole thread)"
    )
