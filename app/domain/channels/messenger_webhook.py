"""Facebook Messenger's webhook (API.md "Webhooks"): the subscription handshake and event batches.

The account's secrets hold ``verify_token`` (what Meta echoes in the GET handshake) and
``app_secret`` (the key of ``X-Hub-Signature-256``), both given to ``onethread channel add
messenger``. The signature is checked over the raw body before anything is parsed; every message of
a batch goes through ``do_ingest``, which stores a ``mid`` once however often Meta retries it;
a sender without a name yet gets a profile lookup job (``messenger_profile``).
"""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from app.domain.channels.accounts import cached_account
from app.domain.channels.delivery import do_apply_receipt
from app.domain.inbox.actions import do_ingest
from app.domain.inbox.edits import do_edit_inbound
from app.domain.system.services import Services
from app.lib.errors import DomainError, ForbiddenError, NotFoundError
from app.lib.secrets import same_secret
from integrations.messenger import SIGNATURE_HEADER, WebhookBodyError, parse_webhook, signature_ok
from integrations.types import AccountConfig

log = logging.getLogger(__name__)
_MAX_CHALLENGE_CHARS = 200


class InvalidWebhookBodyError(DomainError):
    """A signed body that is not JSON: 400, so Meta's dashboard shows the reason."""

    status_code = 400
    type_slug = "invalid-webhook-body"
    title = "Invalid webhook body"


async def _messenger_account(services: Services, account_id: str) -> AccountConfig:
    account = await cached_account(services.writer, account_id)
    if account is None or account.channel != "messenger":
        raise NotFoundError("no such channel account", type_slug="account-not-found")
    return account


@get(
    "/webhooks/messenger/{account_id:str}",
    tags=["webhooks"],
    summary="Meta's subscription handshake: echoes hub.challenge when hub.verify_token is the account's",
    media_type=MediaType.TEXT,
)
async def messenger_verify(
    request: Request,  # type: ignore[type-arg]
    services: NamedDependency[Services],
    account_id: FromPath[str],
) -> Response[str]:
    account = await _messenger_account(services, account_id)
    params = request.query_params
    mode = params.get("hub.mode") or ""
    given = params.get("hub.verify_token") or ""
    challenge = params.get("hub.challenge") or ""
    expected = account.secrets.get("verify_token", "")
    if mode != "subscribe" or not given or not expected or not same_secret(given, expected):
        raise ForbiddenError(
            "hub.mode must be subscribe and hub.verify_token the account's verify token",
            type_slug="bad-verify-token",
        )
    if not challenge or len(challenge) > _MAX_CHALLENGE_CHARS:
        raise ForbiddenError("hub.challenge is missing or too long", type_slug="bad-verify-token")
    return Response(content=challenge, media_type=MediaType.TEXT, status_code=200)


@post(
    "/webhooks/messenger/{account_id:str}",
    status_code=200,
    tags=["webhooks"],
    summary="A batch of Messenger events, signed with X-Hub-Signature-256 over the raw body",
    media_type=MediaType.TEXT,
)
async def messenger_events(
    request: Request,  # type: ignore[type-arg]
    services: NamedDependency[Services],
    account_id: FromPath[str],
) -> Response[str]:
    account = await _messenger_account(services, account_id)
    body = await request.body()
    if not signature_ok(account.secrets.get("app_secret", ""), body, request.headers.get(SIGNATURE_HEADER)):
        raise ForbiddenError(
            f"{SIGNATURE_HEADER} is missing or is not the app secret's HMAC-SHA256 of the body",
            type_slug="bad-signature",
        )
    try:
        parsed = parse_webhook(account.id, body, max_text_chars=services.settings.max_text_chars)
    except WebhookBodyError as exc:
        raise InvalidWebhookBodyError(str(exc)) from None
    for message in parsed.messages:
        result = await do_ingest(
            services.writer, message, max_attachment_bytes=services.settings.max_attachment_bytes
        )
        await services.jobs.after_ingest(result)
    for edit in parsed.edits:
        await do_edit_inbound(services.writer, edit)
    for receipt in parsed.receipts:
        await do_apply_receipt(
            services.writer,
            account_id=str(account.id),
            channel="messenger",
            sender_external_id=receipt.sender_external_id,
            kind=receipt.kind,
            watermark=receipt.watermark,
        )
    if account.secrets.get("page_token"):  # customers without a name yet: ask Meta for it, once
        for sender in dict.fromkeys(message.sender.external_id for message in parsed.messages):
            await services.jobs.messenger_profiles.request(str(account.id), sender)
    if parsed.ignored:
        log.info("messenger account %s: %d other events acknowledged", account.id, parsed.ignored)
    return Response(content="EVENT_RECEIVED", media_type=MediaType.TEXT, status_code=200)


route_handlers = [messenger_verify, messenger_events]
