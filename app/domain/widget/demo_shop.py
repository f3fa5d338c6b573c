"""``GET /demo/shop``: a pretend shop page with the widget on it, for trying OneThread as a customer.

Served only for the webchat account ``onethread demo`` created (``config.demo``), so a real
installation never shows it. ``?as=anna`` plays the shop's server signing its customer in: the page
carries Anna's user id and its ``user_hash``, and the widget then shows her whole thread.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import ChannelAccount
from app.domain.channels.accounts import to_config
from app.domain.widget.tokens import user_hash
from app.lib.errors import NotFoundError

DEMO_CUSTOMERS = {"anna": ("anna-1042", "Anna de Vries", "anna@example.nl")}

_HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value=(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'"
        ),
    ),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
]


@get("/demo/shop", include_in_schema=False, response_headers=_HEADERS)
async def demo_shop(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    as_: Annotated[str, QueryParameter(name="as")] = "",
) -> Template:
    rows = await db_session.execute(
        select(ChannelAccount).where(col(ChannelAccount.channel) == "webchat", col(ChannelAccount.enabled))
    )
    account = next((a for a in rows.scalars() if (a.config or {}).get("demo")), None)
    if account is None:
        raise NotFoundError("there is no demo shop here: run `onethread demo` first", type_slug="no-demo")
    customer = None
    if as_ in DEMO_CUSTOMERS:
        user_id, name, email = DEMO_CUSTOMERS[as_]
        secret = to_config(account).secrets.get("signing_secret", "")
        customer = {"user_id": user_id, "user_hash": user_hash(secret, user_id), "name": name, "email": email}
    return Template("demo/shop.html", context={"site": str(account.id), "customer": customer})
