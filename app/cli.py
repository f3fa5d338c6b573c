"""``onethread`` — the command line of API.md. Exit 0 on success, 2 with a one-line reason on bad input."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from app.settings import Settings, SettingsError

T = TypeVar("T")


class UsageError(Exception):
    """Bad input from the operator: printed as one line, exit status 2."""


def _fail(message: str) -> NoReturn:
    print(f"onethread: {message}", file=sys.stderr)
    raise SystemExit(2)


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(writer)`` against the database with a publisher that only logs (no server here)."""
    from app.runtime import standalone_writer

    async def main() -> T:
        async with standalone_writer(settings) as writer:
            return await work(writer)

    return asyncio.run(main())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    from app.db.migrate import upgrade

    upgrade(settings)
    print("database schema is at the latest revision")


def _require_services(settings: Settings) -> None:
    """Refuse to start, in one line, when the database or Redis cannot be reached.

    Started anyway, the server would fail in its start-up hooks with a page of nested tracebacks;
    an orchestrator restarts a process that exits, so exiting with the reason is all it takes.
    """
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.domain.system.readiness import Readiness

    async def check() -> dict[str, str]:
        engine = create_async_engine(settings.database_url)
        readiness = Readiness.for_settings(settings, async_sessionmaker(engine))
        try:
            return await readiness.check()
        finally:
            await readiness.aclose()
            await engine.dispose()

    failing = {name: reason for name, reason in asyncio.run(check()).items() if reason != "ok"}
    if failing:
        where = {"database": "ONETHREAD_DATABASE_URL", "redis": "ONETHREAD_REDIS_URL"}
        _fail(
            "cannot start: "
            + "; ".join(f"{name} {reason} (check {where[name]})" for name, reason in failing.items())
        )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import logging

    import uvicorn

    from app.lib.logs import configure_logging
    from app.lib.request_context import RequestContext

    # The server process reads its settings from the environment: --host/--port go there, so the
    # public URL derived from them (webhook URLs, the console's links) names the port in use.
    if args.host:
        os.environ["ONETHREAD_HOST"] = args.host
    if args.port:
        os.environ["ONETHREAD_PORT"] = str(args.port)
    configure_logging(settings.log_format, logging.getLevelName(args.log_level.upper()))
    if settings.is_sqlite or args.migrate:
        from app.db.migrate import upgrade

        upgrade(settings)
    _require_services(settings)
    logging_options: dict[str, Any] = {}
    if settings.log_format == "json":
        # Our own access line (route template, duration, request id) replaces uvicorn's, and
        # uvicorn's loggers go through the JSON handler instead of its own text ones.
        RequestContext.access_log_enabled = True
        logging_options = {"log_config": None, "access_log": False}
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=args.log_level,
        ws_ping_interval=None,  # our own {"type": "ping"} frames keep sockets alive
        # Our frames are small JSON; per-socket zlib state (~37 KiB) would cost more than it saves
        # once thousands of widgets are connected (bench/README.md, "widget").
        ws_per_message_deflate=False,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        lifespan="on",
        **logging_options,
    )


def cmd_worker(settings: Settings, _: argparse.Namespace) -> None:
    from app.runtime import run_worker

    if not settings.redis_url:
        _fail(
            "the worker needs ONETHREAD_REDIS_URL; in the embedded shape `onethread serve` runs jobs itself"
        )
    _require_services(settings)
    asyncio.run(run_worker(settings, _stop_signal()))


def _stop_signal() -> asyncio.Event:
    stop = asyncio.Event()

    def install() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

    stop.install = install  # type: ignore[attr-defined]
    return stop


def cmd_agent_create(settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.accounts.actions import do_create_agent

    agent = _run(
        settings,
        lambda writer: do_create_agent(
            writer,
            email=args.email,
            name=args.name,
            password=args.password,
            role="admin" if args.admin else "agent",
        ),
    )
    print(f"agent {agent.id} created: {agent.email} ({agent.role})")


def cmd_channel_add(settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.channels.accounts import do_add_channel_account

    config: dict[str, Any] = {}
    if args.channel == "api":
        if args.callback_url:
            if not args.callback_url.startswith(("http://", "https://")):
                raise UsageError("--callback-url must be an http(s) URL")
            config["callback_url"] = args.callback_url
    elif args.channel == "webchat":
        config = _webchat_settings(args)
    secrets: dict[str, str] = {}
    if args.channel == "messenger":
        config, secrets = _messenger_settings(args)
    elif args.channel == "email":
        config, secrets = _email_settings(args)
    elif args.channel == "telegram":
        config, secrets = _telegram_settings(args)
        username = _telegram_username(config, secrets)
        if username:
            config["username"] = username  # for the console's "Continue on Telegram" links
    created = _run(
        settings,
        lambda writer: do_add_channel_account(
            writer, channel=args.channel, name=args.name, config=config, secrets=secrets
        ),
    )
    account_id = created.account.id
    out: dict[str, Any] = {"id": account_id, "channel": args.channel, "name": created.account.name}
    if args.channel == "api":
        out["inbound_url"] = f"{settings.public_url}/api/v1/channels/{account_id}/inbound"
        out["token"] = created.secrets["inbound_token"]
        out["signing_secret"] = created.secrets["signing_secret"]
        out["callback_url"] = config.get("callback_url")
    elif args.channel == "webchat":
        out["snippet"] = (
            f'<script src="{settings.public_url}/widget.js" data-site="{account_id}" async></script>'
        )
        out["identity_secret"] = created.secrets["signing_secret"]
    elif args.channel == "messenger":
        # The operator gave the secrets; only where Meta must call (with their verify token) is new.
        out["webhook_url"] = f"{settings.public_url}/webhooks/messenger/{account_id}"
        out["page_id"] = config["page_id"]
    elif args.channel == "email":
        out["address"] = config["address"]
        out["smtp_in"] = settings.smtp_listen or "off (set ONETHREAD_SMTP_LISTEN to receive mail by SMTP)"
        out["imap_polling"] = f"every {config['poll_interval']} s" if "imap_url" in secrets else "off"
        out["webhook_url"] = f"{settings.public_url}/webhooks/email/{account_id}"
        out["token"] = created.secrets["inbound_token"]
        out["replies"] = "by SMTP" if "smtp_url" in secrets else "off (no --smtp-url: replies cannot be sent)"
    elif args.channel == "telegram":
        out["webhook_url"] = f"{settings.public_url}/webhooks/telegram/{account_id}"
        out["bot_id"] = secrets["bot_token"].partition(":")[0]
        out["api_url"] = config.get("api_url")
        out["username"] = config.get("username")
        out["next"] = f"onethread channel telegram set-webhook {account_id}"
    if "webhook_url" in out and not os.environ.get("ONETHREAD_PUBLIC_URL"):
        out["note"] = (
            f"webhook URLs use {settings.public_url} because ONETHREAD_PUBLIC_URL is not set;"
            " set it to the address the platform can reach"
        )
    elif "snippet" in out and not os.environ.get("ONETHREAD_PUBLIC_URL"):
        out["note"] = (
            f"the snippet loads the widget from {settings.public_url} because ONETHREAD_PUBLIC_URL is"
            " not set; set it to the address your visitors' browsers can reach"
        )
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key}: {value}")


WEBCHAT_FLAGS = {
    "origins": "--origin",
    "color": "--color",
    "position": "--position",
    "language": "--language",
    "greeting_en": "--greeting-en",
    "greeting_nl": "--greeting-nl",
}


def _webchat_settings(args: argparse.Namespace) -> dict[str, Any]:
    """A web chat site's widget config, checked as the console's widget settings form checks it."""
    from app.domain.widget.settings import DEFAULT_COLOR, InvalidWidgetSettings, widget_config

    greeting = {lang: text for lang, text in (("en", args.greeting_en), ("nl", args.greeting_nl)) if text}
    try:
        return widget_config(
            origins=args.origin,
            color=args.color or DEFAULT_COLOR,
            position=args.position,
            language=args.language,
            greeting=greeting,
        )
    except InvalidWidgetSettings as exc:
        field, reason = next(iter(exc.errors.items()))
        raise UsageError(f"{WEBCHAT_FLAGS.get(field, field)}: {reason}") from None


def cmd_webchat_show(settings: Settings, args: argparse.Namespace) -> None:
    """A web chat site's widget settings as the widget reads them (never its identity secret)."""
    import uuid
    from datetime import UTC, datetime

    from app.db.models import ChannelAccount
    from app.domain.widget.settings import WidgetSettings

    try:
        account_id = uuid.UUID(args.account)
    except ValueError:
        raise UsageError("ACCOUNT must be a channel account id (a UUID)") from None

    async def load(writer: Any) -> Any:
        async with writer.sessionmaker() as session:
            return await session.get(ChannelAccount, account_id)

    account = _run(settings, load)
    if account is None or account.channel != "webchat":
        raise UsageError(f"no web chat account {account_id}")
    widget = WidgetSettings.from_config(account.config or {})
    now = datetime.now(UTC)
    opening = widget.hours.next_opening(now)
    out: dict[str, Any] = {
        "id": str(account.id),
        "name": account.name,
        "enabled": account.enabled,
        "snippet": f'<script src="{settings.public_url}/widget.js" data-site="{account.id}" async></script>',
        "origins": list(widget.origins),
        "color": widget.color,
        "position": widget.position,
        "language": widget.language,
        "greeting": widget.greeting,
        "prechat_form": widget.prechat_form,
        "business_hours": None
        if widget.hours.always_open
        else {
            "timezone": widget.hours.timezone,
            "days": {day: [t.strftime("%H:%M") for t in span] for day, span in widget.hours.days.items()},
        },
        "away_message": widget.away_message,
        "open_now": widget.hours.is_open(now),
        "next_opening": opening.isoformat() if opening and not widget.hours.is_open(now) else None,
    }
    if args.json:
        print(json.dumps(out))
        return
    for key, value in out.items():
        if isinstance(value, list):
            value = ", ".join(value) or "—"
        elif isinstance(value, dict):
            value = "; ".join(f"{k}: {v}" for k, v in value.items()) or "—"
        elif value is None:
            value = "always open" if key == "business_hours" else "—"
        print(f"{key}: {value}")


def _messenger_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """A Messenger page's config and secrets: the app secret signs webhooks (``X-Hub-Signature-256``),
    the verify token answers Meta's subscription handshake, the page token sends replies."""
    page_id = args.page_id.strip()
    if not (page_id.isascii() and page_id.isdigit()):
        raise UsageError("--page-id must be the page's numeric id")
    for flag, value in (
        ("--page-token", args.page_token),
        ("--app-secret", args.app_secret),
        ("--verify-token", args.verify_token),
    ):
        if not value.strip():
            raise UsageError(f"{flag} must not be empty")
    config: dict[str, Any] = {"page_id": page_id}
    if args.graph_url:
        if not args.graph_url.startswith(("http://", "https://")):
            raise UsageError("--graph-url must be an http(s) URL")
        config["graph_url"] = args.graph_url.rstrip("/")
    secrets = {
        "page_token": args.page_token.strip(),
        "app_secret": args.app_secret.strip(),
        "verify_token": args.verify_token.strip(),
    }
    return config, secrets


EMAIL_ADDRESS = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")


def _email_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """A mailbox's config and secrets: the support address, the SMTP server replies go through,
    the IMAP mailbox polled for new mail (URLs carry their passwords, so they are secrets)."""
    from integrations.email.imap import ImapMailbox, InvalidImapUrlError
    from integrations.email.outbound import InvalidSmtpUrlError, SmtpServer

    address = args.address.strip().lower()
    if not EMAIL_ADDRESS.fullmatch(address):
        raise UsageError("--address must be an email address such as support@shop.example")
    secrets: dict[str, str] = {}
    if args.smtp_url:
        try:
            SmtpServer.from_url(args.smtp_url)
        except InvalidSmtpUrlError as error:
            raise UsageError(f"--smtp-url: {error}") from None
        secrets["smtp_url"] = args.smtp_url.strip()
    if args.imap_url:
        try:
            ImapMailbox.from_url(args.imap_url)
        except InvalidImapUrlError as error:
            raise UsageError(f"--imap-url: {error}") from None
        secrets["imap_url"] = args.imap_url.strip()
    if args.poll_interval < 10:
        raise UsageError("--poll-interval must be at least 10 seconds")
    return {"address": address, "poll_interval": args.poll_interval}, secrets


TELEGRAM_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
TELEGRAM_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")


def _telegram_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """A Telegram bot's config and secrets: the bot token sends replies and sets the webhook; the
    webhook secret is what Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token`` (without one,
    the account's own signing secret is used, see ``integrations.telegram.webhook_secret``)."""
    token = args.token.strip()
    if not TELEGRAM_BOT_TOKEN.fullmatch(token):
        raise UsageError("--token must be the bot token BotFather gave, such as 123456:ABC-DEF…")
    secrets = {"bot_token": token}
    if args.webhook_secret is not None:
        if not TELEGRAM_SECRET_TOKEN.fullmatch(args.webhook_secret):
            raise UsageError("--webhook-secret must be 1 to 256 of A-Z a-z 0-9 _ - (Telegram's rule)")
        secrets["webhook_secret"] = args.webhook_secret
    config: dict[str, Any] = {}
    if args.api_url:
        if not args.api_url.startswith(("http://", "https://")):
            raise UsageError("--api-url must be an http(s) URL")
        config["api_url"] = args.api_url.rstrip("/")
    return config, secrets


def _telegram_username(config: dict[str, Any], secrets: dict[str, str]) -> str | None:
    """The bot's @username from ``getMe``; a bot Telegram cannot be asked about now is still added."""
    from integrations.telegram.bot_admin import BotAPIError, bot_username
    from integrations.types import AccountConfig

    account = AccountConfig(id="", channel="telegram", name="", config=config, secrets=secrets)
    try:
        return asyncio.run(bot_username(account)) or None
    except BotAPIError as exc:
        print(f"onethread: the bot's username is unknown ({exc.reason})", file=sys.stderr)
        return None


def cmd_telegram_set_webhook(settings: Settings, args: argparse.Namespace) -> None:
    """Tell Telegram (at the account's ``api_url``) to POST the bot's updates to our webhook, with
    the account's secret token, so the webhook route can tell Telegram from anyone else."""
    import uuid

    from app.domain.channels.accounts import account_config
    from integrations.telegram import webhook_secret
    from integrations.telegram.bot_admin import BotAPIError, register_webhook, webhook_url

    try:
        account_id = uuid.UUID(args.account)
    except ValueError:
        raise UsageError("ACCOUNT must be a channel account id (a UUID)") from None

    async def load(writer: Any) -> Any:
        async with writer.sessionmaker() as session:
            return await account_config(session, account_id)

    account = _run(settings, load)
    if account is None or account.channel != "telegram":
        raise UsageError(f"no enabled Telegram account {account_id}")
    if not account.secrets.get("bot_token"):
        raise UsageError("this Telegram account has no bot token")
    url = webhook_url(settings.public_url, account.id)
    try:
        asyncio.run(register_webhook(account, url, webhook_secret(account.secrets)))
    except BotAPIError as exc:
        raise UsageError(f"Telegram refused the webhook: {exc.reason}") from None
    print(f"webhook set: {url}")


def cmd_email_poll(settings: Settings, args: argparse.Namespace) -> None:
    """Read new mail from the account's IMAP mailbox once (the worker does this on its interval)."""
    from app.domain.channels.email_inbound import MailStore
    from app.domain.channels.email_polling import poll_mailbox
    from app.lib.storage import FileStorage
    from integrations.email.imap import ImapLoginError

    async def work(writer: Any) -> Any:
        return await poll_mailbox(MailStore(writer, settings, FileStorage(settings.files_dir)), args.account)

    try:
        summary = _run(settings, work)
    except ImapLoginError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"the IMAP server could not be reached ({type(error).__name__})") from None
    print(
        f"fetched {summary.fetched}: stored {summary.stored}, already stored {summary.duplicates},"
        f" refused {summary.refused}" + (" (more waiting: run again)" if summary.more else "")
    )


def cmd_bot_import(settings: Settings, args: argparse.Namespace) -> None:
    """Replace the bot's rules and settings with a YAML file; a broken file changes nothing."""
    from app.domain.bot.rule_actions import do_import_rules
    from app.domain.bot.rules import RulesError
    from app.domain.bot.rules_yaml import load_rules_yaml

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{args.file}: cannot read it ({error.__class__.__name__}: {error})") from None
    try:
        rules = load_rules_yaml(text)
    except RulesError as error:
        where = f"{args.file}:{error.line}" if error.line is not None else args.file
        rule = f" (rule {error.rule_id})" if error.rule_id else ""
        raise UsageError(f"{where}: {error.reason}{rule}; nothing was changed") from None
    _run(settings, lambda writer: do_import_rules(writer, rules))
    enabled = sum(1 for rule in rules.rules if rule.enabled)
    state = "on" if rules.enabled else "off"
    print(f"imported {len(rules.rules)} rules ({enabled} enabled) from {args.file}; the bot is {state}")


def cmd_bot_export(settings: Settings, _: argparse.Namespace) -> None:
    """Print the bot's rules and settings as YAML (what ``bot import`` reads)."""
    from app.domain.bot.rules_yaml import dump_rules_yaml
    from app.domain.bot.store import load_ruleset

    async def load(writer: Any) -> Any:
        async with writer.sessionmaker() as session:
            return await load_ruleset(session)

    rules = _run(settings, load)
    if rules is None:
        raise UsageError("the bot has no rules yet; import some with `onethread bot import FILE.yaml`")
    sys.stdout.write(dump_rules_yaml(rules))


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1,000 events``."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def cmd_contact_export(settings: Settings, args: argparse.Namespace) -> None:
    """Write a customer's data (``contact.json`` and their files) to a ZIP; audited.

    ``--out`` names the ZIP, or a directory to write ``contact-<CONTACT_ID>-export.zip`` in.
    """
    from app.domain.privacy.actions import do_export_contact
    from app.lib.storage import FileStorage

    out = Path(args.out)
    if out.is_dir():
        out = out / f"contact-{args.contact}-export.zip"
        if out.is_dir():
            raise UsageError(f"{out} is a directory; name the ZIP file to write")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; pass --force to overwrite it")
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as file:
            summary = _run(
                settings,
                lambda writer: do_export_contact(
                    writer, FileStorage(settings.files_dir), contact_id=args.contact, actor="cli", out=file
                ),
            )
        partial.replace(out)
    except OSError as error:
        raise UsageError(f"{out}: cannot write it ({error.__class__.__name__}: {error})") from None
    finally:
        partial.unlink(missing_ok=True)
    files = "" if summary.files == summary.attachments else f" ({_count(summary.files, 'file')} stored)"
    print(
        f"contact {summary.contact_id} exported to {out}: {_count(summary.messages, 'message')},"
        f" {_count(summary.attachments, 'attachment')}{files}"
    )


def cmd_contact_erase(settings: Settings, args: argparse.Namespace) -> None:
    """Erase a customer for good (anonymize or delete); refused without ``--yes``, and for a
    customer already erased (exit 2, ``already erased … on <date>``)."""
    from app.domain.privacy.actions import do_erase_contact, erase_mode
    from app.lib.storage import FileStorage

    if not args.yes:
        raise UsageError("erasing cannot be undone; pass --yes to confirm")
    mode = erase_mode(args.mode, settings.erase_mode)
    erasure = _run(
        settings,
        lambda writer: do_erase_contact(
            writer, FileStorage(settings.files_dir), contact_id=args.contact, mode=mode, actor="cli"
        ),
    )
    if args.json:
        print(json.dumps(erasure.as_dict()))
        return
    done = "deleted" if erasure.mode == "delete" else "anonymized"
    print(
        f"contact {erasure.contact_id} erased ({done}): {_count(erasure.messages, 'message')},"
        f" {_count(erasure.identities, 'identity', 'identities')},"
        f" {_count(erasure.attachments, 'attachment')}, {_count(erasure.events, 'event')};"
        f" {_count(erasure.files_deleted, 'file')} deleted from disk"
    )


def cmd_retention_prune(settings: Settings, args: argparse.Namespace) -> None:
    """Apply the retention policy now (the worker also does it every ``retention_interval_hours``)."""
    from app.domain.privacy.actions import do_prune
    from app.lib.storage import FileStorage

    report = _run(
        settings,
        lambda writer: do_prune(
            writer,
            FileStorage(settings.files_dir),
            retention_days=settings.event_retention_days,
            actor="cli",
            dry_run=args.dry_run,
        ),
    )
    if args.json:
        print(json.dumps(report.as_dict()))
        return
    verb = "would delete" if report.dry_run else "deleted"
    print(
        f"{verb}: {_count(report.events, 'event')} older than {_count(report.retention_days, 'day')},"
        f" {_count(report.erased_attachments, 'attachment')} of erased contacts,"
        f" {_count(report.orphan_files, 'unused file')}"
        + ("" if report.dry_run else f" ({_count(report.files_deleted, 'file')} removed from disk)")
    )


def cmd_audit_list(settings: Settings, args: argparse.Namespace) -> None:
    """The audit log, newest first: one line per entry (id, UTC time, who, what), or ``--json``."""
    import msgspec

    from app.domain.privacy.audit_text import actor_text, describe
    from app.domain.privacy.queries import audit_contacts, audit_page
    from app.i18n import translations

    if not 1 <= args.limit <= 1000:
        raise UsageError("--limit must be between 1 and 1000")

    async def load(writer: Any) -> Any:
        async with writer.sessionmaker() as session:
            items, next_cursor = await audit_page(session, before_id=args.before, limit=args.limit)
            return items, next_cursor, await audit_contacts(session, items)

    items, next_cursor, contacts = _run(settings, load)
    if args.json:
        print(json.dumps({"items": msgspec.to_builtins(items), "next_cursor": next_cursor}))
        return
    english = translations("en")
    for item in items:
        when = item.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        what = describe(item, english, contacts=contacts).plain()
        print(f"{item.id}\t{when}\t{actor_text(item, english)}\t{what}")
    if next_cursor:
        print(f"(older entries: --before {next_cursor})")


def cmd_reports_rebuild(settings: Settings, _: argparse.Namespace) -> None:
    """Recompute the reports' rollup from every stored message (after a restore, say)."""
    from app.domain.reports.actions import do_rebuild

    threads = _run(settings, do_rebuild)
    print(f"the reports' rollup was rebuilt from the messages of {threads} threads")


def cmd_demo(settings: Settings, _: argparse.Namespace) -> None:
    from app.db.migrate import upgrade
    from app.demo import load_demo

    upgrade(settings)
    summary = _run(settings, lambda writer: load_demo(writer, settings))
    print(summary)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onethread", description="One thread per customer, on every channel."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web server (and, embedded, the job worker)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--migrate", action="store_true", help="apply migrations first (always done on SQLite)"
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("worker", help="run the job worker (production shape)").set_defaults(
        handler=cmd_worker
    )
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=cmd_migrate)
    commands.add_parser("demo", help="load demo data (an admin, channels, customers)").set_defaults(
        handler=cmd_demo
    )

    bot = commands.add_parser("bot", help="the FAQ bot's rules").add_subparsers(
        dest="bot_command", required=True
    )
    bot_import = bot.add_parser("import", help="replace the rules and settings with a YAML file")
    bot_import.add_argument("file", metavar="FILE.yaml")
    bot_import.set_defaults(handler=cmd_bot_import)
    bot.add_parser("export", help="print the rules and settings as YAML").set_defaults(handler=cmd_bot_export)

    contact = commands.add_parser("contact", help="a customer's data (GDPR)").add_subparsers(
        dest="contact_command", required=True
    )
    export = contact.add_parser("export", help="write a customer's data and files to a ZIP")
    export.add_argument("contact", metavar="CONTACT_ID", type=int)
    export.add_argument(
        "--out",
        required=True,
        metavar="FILE.zip",
        help="the ZIP to write, or a directory (then DIR/contact-CONTACT_ID-export.zip)",
    )
    export.add_argument("--force", action="store_true", help="overwrite the ZIP if it exists")
    export.set_defaults(handler=cmd_contact_export)
    erase = contact.add_parser("erase", help="erase a customer for good")
    erase.add_argument("contact", metavar="CONTACT_ID", type=int)
    erase.add_argument(
        "--mode", choices=["anonymize", "delete"], help="default: ONETHREAD_ERASE_MODE (anonymize)"
    )
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.add_argument("--json", action="store_true")
    erase.set_defaults(handler=cmd_contact_erase)

    retention = commands.add_parser("retention", help="the retention policy").add_subparsers(
        dest="retention_command", required=True
    )
    prune = retention.add_parser("prune", help="delete old events, erased customers' files, orphaned files")
    prune.add_argument("--dry-run", action="store_true", help="count only")
    prune.add_argument("--json", action="store_true")
    prune.set_defaults(handler=cmd_retention_prune)

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    audit_list = audit.add_parser("list", help="print the audit log, newest first")
    audit_list.add_argument("--limit", type=int, default=50)
    audit_list.add_argument("--before", type=int, help="only entries older than this id")
    audit_list.add_argument("--json", action="store_true")
    audit_list.set_defaults(handler=cmd_audit_list)

    reports = commands.add_parser("reports", help="the admins' reports").add_subparsers(
        dest="reports_command", required=True
    )
    reports.add_parser(
        "rebuild", help="recompute the reports' rollup from every stored message"
    ).set_defaults(handler=cmd_reports_rebuild)

    agent = commands.add_parser("agent", help="manage agents").add_subparsers(
        dest="agent_command", required=True
    )
    create = agent.add_parser("create", help="create an agent")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--admin", action="store_true")
    create.set_defaults(handler=cmd_agent_create)

    channel = commands.add_parser("channel", help="manage channel accounts")
    channel_commands = channel.add_subparsers(dest="channel_command", required=True)
    add = channel_commands.add_parser("add", help="connect a channel account")
    add_kinds = add.add_subparsers(dest="channel", required=True)
    api = add_kinds.add_parser("api", help="a custom source posting to the inbound API")
    api.add_argument("--name", required=True)
    api.add_argument("--callback-url")
    api.add_argument("--json", action="store_true")
    webchat = add_kinds.add_parser("webchat", help="a website with the chat widget")
    webchat.add_argument("--name", required=True)
    webchat.add_argument(
        "--origin", required=True, action="append", help="a website allowed to embed it (repeatable)"
    )
    webchat.add_argument("--color", help="the launcher's color, #rrggbb")
    webchat.add_argument("--position", default="right", help="right (default) or left")
    webchat.add_argument("--language", default="auto", help="auto (the page's, default), en or nl")
    webchat.add_argument("--greeting-en", help="the greeting a visitor reads first, in English")
    webchat.add_argument("--greeting-nl", help="the greeting in Dutch")
    webchat.add_argument("--json", action="store_true")
    messenger = add_kinds.add_parser("messenger", help="a Facebook page (Messenger webhooks)")
    messenger.add_argument("--name", required=True)
    messenger.add_argument("--page-id", required=True)
    messenger.add_argument("--page-token", required=True)
    messenger.add_argument("--app-secret", required=True)
    messenger.add_argument("--verify-token", required=True)
    messenger.add_argument("--graph-url")
    messenger.add_argument("--json", action="store_true")
    email = add_kinds.add_parser("email", help="a support mailbox (SMTP in, IMAP polling, SMTP out)")
    email.add_argument("--name", required=True)
    email.add_argument("--address", required=True, help="the support address customers write to")
    email.add_argument("--smtp-url", help="smtp://user:pass@host:587 or smtps://…:465, for replies")
    email.add_argument("--imap-url", help="imaps://user:pass@host/INBOX, polled for new mail")
    email.add_argument("--poll-interval", type=int, default=60, help="seconds between IMAP polls (60)")
    email.add_argument("--json", action="store_true")
    telegram = add_kinds.add_parser("telegram", help="a Telegram bot (webhook updates, sendMessage replies)")
    telegram.add_argument("--name", required=True)
    telegram.add_argument("--token", required=True, help="the bot token from BotFather")
    telegram.add_argument("--webhook-secret", help="secret_token for setWebhook (default: the account's own)")
    telegram.add_argument("--api-url", help="a Bot API server other than https://api.telegram.org")
    telegram.add_argument("--json", action="store_true")
    for kind in (api, webchat, messenger, email, telegram):
        kind.set_defaults(handler=cmd_channel_add)
    telegram_commands = channel_commands.add_parser(
        "telegram", help="Telegram bot operations"
    ).add_subparsers(dest="telegram_command", required=True)
    set_webhook = telegram_commands.add_parser(
        "set-webhook", help="register {PUBLIC_URL}/webhooks/telegram/ACCOUNT with Telegram"
    )
    set_webhook.add_argument("account", metavar="ACCOUNT", help="the channel account id")
    set_webhook.set_defaults(handler=cmd_telegram_set_webhook)
    webchat_commands = channel_commands.add_parser("webchat", help="web chat site operations").add_subparsers(
        dest="webchat_command", required=True
    )
    show = webchat_commands.add_parser("show", help="print a site's widget settings")
    show.add_argument("account", metavar="ACCOUNT", help="the channel account id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_webchat_show)
    email_commands = channel_commands.add_parser("email", help="email account operations").add_subparsers(
        dest="email_command", required=True
    )
    poll_once = email_commands.add_parser("poll", help="read new mail from the account's IMAP mailbox now")
    poll_once.add_argument("account", metavar="ACCOUNT", help="the channel account id")
    poll_once.set_defaults(handler=cmd_email_poll)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        _fail(str(exc))
    from app.lib.errors import DomainError

    try:
        args.handler(settings, args)
    except UsageError as exc:
        _fail(str(exc))
    except DomainError as exc:
        _fail(exc.detail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
