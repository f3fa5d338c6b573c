"""``POST /webhooks/email/{account_id}`` (API.md "Webhooks"): one raw RFC 822 message per request.

For mail providers that forward inbound mail over HTTP (and for scripts): the body is the message
exactly as received, authenticated with the account's inbound token. It is stored by the same code
as mail from the built-in SMTP server and from IMAP polling, so the same mail arriving twice (by
webhook and by IMAP, say) is one message.
"""

from __future__ import annotations

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from app.domain.accounts.auth import bearer_token
from app.domain.channels.accounts import authenticate_inbound
from app.domain.channels.email_inbound import MailOutcome, MailStore, store_mail
from app.domain.system.services import Services
from integrations.email import CHANNEL


class MailAccepted(msgspec.Struct, omit_defaults=True):
    """What became of the mail: ``stored`` (a customer's mail), ``duplicate`` (seen before),
    ``automatic`` (an auto-reply, kept but never answered), ``bounce`` (our mail ``message_id``
    is now failed), ``ignored`` (a read receipt, a loop)."""

    outcome: MailOutcome
    message_id: int | None = None
    thread_id: int | None = None
    reason: str | None = None


@post(
    "/webhooks/email/{account_id:str}",
    status_code=202,
    tags=["webhooks"],
    summary="One raw RFC 822 message for an email account (Bearer: the account's inbound token)",
)
async def email_webhook(
    request: Request,  # type: ignore[type-arg]
    services: NamedDependency[Services],
    account_id: FromPath[str],
) -> MailAccepted:
    account = await authenticate_inbound(services.writer, account_id, CHANNEL, bearer_token(request))
    store = MailStore(services.writer, services.settings, services.files, services.jobs.after_ingest)
    stored = await store_mail(store, account, await request.body())
    return MailAccepted(
        outcome=stored.outcome,
        message_id=stored.message_id,
        thread_id=stored.thread_id,
        reason=stored.reason or None,
    )


route_handlers = [email_webhook]
