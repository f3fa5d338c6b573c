"""The one wiring point: every plugin, dependency and domain's routes meet here, nowhere else.

``create_app(settings)`` builds the whole web application for one process. Tests call it with
their own ``Settings`` (and, where they need one, their own adapter registry).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from jinja2 import Environment, FileSystemLoader
from litestar import Litestar, Request, Response, Router
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, ResponseHeader, State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.server_side import ServerSideSessionBackend
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.security.session_auth import SessionAuth
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import i18n
from app.db.crypto import set_encryption_key
from app.db.engine import build_db_config
from app.db.models import Agent
from app.domain.accounts import controllers as accounts_controllers
from app.domain.accounts.auth import CSRF_COOKIE, CookieSessionRule, TokenAuthMiddleware
from app.domain.bot import controllers as bot_controllers
from app.domain.channels import controllers as channels_controllers
from app.domain.channels.email_inbound import MailStore
from app.domain.channels.email_listener import MailListener
from app.domain.channels.jobs import Jobs
from app.domain.console import controllers as console_controllers
from app.domain.console import notices as console_notices
from app.domain.console import problems as console_problems
from app.domain.console import sessions as console_sessions
from app.domain.contacts import controllers as contacts_controllers
from app.domain.inbox import controllers as inbox_controllers
from app.domain.inbox import downloads as inbox_downloads
from app.domain.inbox.uploads import upload_body_limit
from app.domain.privacy import controllers as privacy_controllers
from app.domain.realtime import controllers as realtime_controllers
from app.domain.realtime.backend import ResilientRedisPubSubBackend
from app.domain.realtime.publisher import ChannelsPublisher, RedisPublisher
from app.domain.realtime.writer import Publisher, Writer
from app.domain.reports import controllers as reports_controllers
from app.domain.system import controllers as system_controllers
from app.domain.system.metrics import http_metrics_config
from app.domain.system.readiness import Readiness
from app.domain.system.services import Services
from app.domain.widget import controllers as widget_controllers
from app.domain.widget import demo_shop
from app.domain.widget import pages as widget_pages
from app.domain.widget import stream as widget_stream
from app.domain.widget.hub import WidgetHub
from app.lib import metrics
from app.lib.assets import STATIC_DIR, STATIC_PREFIX, TEMPLATES_DIR, AssetManifest
from app.lib.body_limits import refuse_declared_oversize
from app.lib.logs import litestar_logging_config
from app.lib.problems import exception_handlers, http_error_handler
from app.lib.rate_limits import MemoryCounter, RateLimiter, RedisCounter
from app.lib.request_context import RequestContext
from app.lib.storage import FileStorage
from app.settings import Settings
from integrations.custom import CustomChannelAdapter
from integrations.email.outbound import EmailAdapter
from integrations.messenger import MessengerAdapter
from integrations.registry import AdapterRegistry
from integrations.telegram import TelegramAdapter
from integrations.webchat import WebchatAdapter

# Routes whose callers are not agents: they authenticate in the handler (account tokens,
# signatures) or not at all, so the agent-token lookup is skipped for them.
PUBLIC_PATHS = [
    r"^/api/v1/channels/",
    r"^/webhooks/",
    r"^/widget/",
    r"^/widget\.js$",
    r"^/demo/",
    r"^/schema",
    r"^/health",
    r"^/ready$",
    r"^/metrics$",
    r"^/static/",
]

# Routes the CSRF middleware skips: none of them is authorized by a cookie (bearer tokens, signatures,
# account tokens, or nothing at all), so a forged cross-site request gains nothing there; the API's
# cookie-session alternative does its own check (``CookieSessionRule``). Everything else, the
# console's forms and HTMX requests, must carry the token.
# Paths only programs call: their errors stay problem documents whatever the Accept header says.
MACHINE_PREFIXES = ("/api/", "/webhooks/", "/widget/", "/schema", "/health", "/ready", "/metrics", "/static/")

CSRF_EXEMPT = [
    r"^/api/",
    r"^/webhooks/",
    r"^/widget/",
    r"^/schema",
    r"^/health",
    r"^/ready$",
    r"^/metrics$",
    r"^/static/",
]

# htmx 2 swaps no 4xx by default; the console answers a refused send with 409/422 and the form
# (reason included), which must be swapped in.
HTMX_CONFIG = {
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "^(409|422)$", "swap": True, "error": False},
        {"code": "[45]..", "swap": False, "error": True},
    ],
    "selfRequestsOnly": True,
    "allowScriptTags": False,
    "allowEval": False,
    "includeIndicatorStyles": False,
}

# Defence in depth behind autoescaping: even if customer text ever reached the page unescaped, the
# browser would run no inline script or handler and load nothing from elsewhere. (htmx is told not
# to eval or inject its indicator <style>, so it lives with this policy.)
CONSOLE_HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value=(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"
        ),
    ),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    # Console pages hold customer data (and, once, a new channel account's secrets): no disk or
    # back/forward cache keeps them. Static assets are served by another router, cached for a year.
    ResponseHeader(name="Cache-Control", value="no-store"),
]


def configure(settings: Settings) -> None:
    """Process-wide set-up that must happen before any table is touched."""
    set_encryption_key(settings.secret_key)


def default_registry() -> AdapterRegistry:
    """The adapters a real process sends through."""
    return AdapterRegistry(
        [CustomChannelAdapter(), EmailAdapter(), MessengerAdapter(), TelegramAdapter(), WebchatAdapter()]
    )


def channels_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url:
        return ResilientRedisPubSubBackend(redis=Redis.from_url(settings.redis_url), key_prefix="ONETHREAD")
    return MemoryChannelsBackend()


def _store(settings: Settings, namespace: str) -> Store:
    if settings.redis_url:
        return RedisStore.with_client(
            url=settings.redis_url, namespace=f"{settings.redis_prefix}:{namespace}"
        )
    return MemoryStore()


def _session_store(settings: Settings) -> Store:
    """Console sessions: shared in Redis when there is one, else files, so a restart logs nobody out."""
    if settings.redis_url:
        return _store(settings, "sessions")
    return FileStore(path=settings.var_dir / "sessions", create_directories=True)


def template_config(assets: AssetManifest) -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 with autoescaping always on: customer text reaches these templates verbatim."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Per-request language: the callables read the agent and Accept-Language from the context.
    environment.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["static_url"] = assets.url
    environment.globals["htmx_config"] = HTMX_CONFIG
    environment.globals["current_language"] = i18n.current_language
    environment.globals["LANGUAGES"] = i18n.LANGUAGES
    environment.globals["take_notice"] = console_notices.take_notice
    environment.filters.update(console_controllers.TEMPLATE_FILTERS)
    environment.filters["local_time"] = i18n.local_time
    environment.filters["t"] = i18n.translate
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def _not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """An unknown address: a page for a person in a browser, a problem document for programs."""
    path = request.url.path
    if "text/html" in request.headers.get("accept", "") and not path.startswith(MACHINE_PREFIXES):
        return console_problems.not_found_page(request, exc)
    return http_error_handler(request, exc)


def _current_agent(request: Request[Any, Any, Any]) -> Agent:
    return request.user  # type: ignore[no-any-return]


def create_app(settings: Settings | None = None, *, registry: AdapterRegistry | None = None) -> Litestar:
    """Build the ASGI application for ``settings`` (default: read from the environment)."""
    settings = settings or Settings.from_env()
    configure(settings)
    db_config = build_db_config(settings)
    channels = ChannelsPlugin(
        backend=channels_backend(settings),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=10_000,
        subscriber_backlog_strategy="dropleft",
    )
    sessionmaker = cast("async_sessionmaker[AsyncSession]", db_config.create_session_maker())
    redis_publisher = RedisPublisher.from_url(settings.redis_url) if settings.redis_url else None
    publisher: Publisher = redis_publisher or ChannelsPublisher(channels)
    writer = Writer(
        sessionmaker, publisher, is_postgres=not settings.is_sqlite, direct_pool_size=settings.db_pool_size
    )
    adapters = registry or default_registry()
    metrics.initialise(adapter.channel for adapter in adapters)
    jobs = Jobs(settings, writer, adapters)
    readiness = Readiness.for_settings(settings, sessionmaker)
    limiter = RateLimiter(
        RedisCounter(Redis.from_url(settings.redis_url), f"{settings.redis_prefix}:limits")
        if settings.redis_url
        else MemoryCounter()
    )
    services = Services(
        settings=settings,
        writer=writer,
        jobs=jobs,
        registry=adapters,
        files=FileStorage(settings.files_dir),
        limiter=limiter,
    )

    # The console: session-authenticated pages. The login form and the token endpoint share one
    # rate limit per client address and per account (``accounts.login_limits``).
    console_auth = SessionAuth[Agent, ServerSideSessionBackend](
        retrieve_user_handler=console_sessions.agent_from_session,
        session_backend_config=console_sessions.session_config(
            secure=settings.public_url.startswith("https://")
        ),
        exclude_http_methods=["OPTIONS"],  # not HEAD: a page's headers are no one else's business
    )
    # The API accepts the console's cookie too (API.md), with its own CSRF / Origin checks.
    api_cookie_rule = CookieSessionRule(
        backend=console_auth.session_backend,
        agent_for_session=console_sessions.agent_from_session,
        csrf_secret=settings.secret_key,
        csrf_cookie=CSRF_COOKIE,
        public_url=settings.public_url,
    )
    upload_limit = upload_body_limit(settings.max_attachment_bytes, settings.max_request_bytes)
    console_router = Router(
        path="/",
        route_handlers=[
            *console_controllers.route_handlers,
            *reports_controllers.console_handlers,
            console_controllers.login_submit,
            Router(
                path="/",
                route_handlers=console_controllers.upload_handlers,
                request_max_body_size=upload_limit,
            ),
        ],
        middleware=[console_auth.middleware],
        exception_handlers=console_controllers.exception_handlers,
        response_headers=CONSOLE_HEADERS,
    )
    assets = AssetManifest()
    static_router = create_static_files_router(
        path=STATIC_PREFIX,
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(max_age=31_536_000, public=True),
        include_in_schema=False,
        name="static",
    )

    widget_hub = WidgetHub(channels, writer.channel_namespace)
    mail_listener = (
        MailListener(MailStore(writer, settings, services.files, jobs.after_ingest))
        if settings.smtp_listen
        else None
    )

    async def start_jobs() -> None:
        await jobs.start(as_worker=settings.run_worker_in_process)
        if mail_listener is not None:
            await mail_listener.start(settings.smtp_listen)

    async def stop_jobs() -> None:
        await widget_hub.stop()
        if mail_listener is not None:
            await mail_listener.stop()
        await jobs.stop()
        await adapters.aclose()
        await writer.aclose()
        await limiter.aclose()
        await readiness.aclose()
        if redis_publisher is not None:
            await redis_publisher.aclose()

    app = Litestar(
        route_handlers=[
            accounts_controllers.issue_token,
            accounts_controllers.me,
            *bot_controllers.route_handlers,
            *channels_controllers.route_handlers,
            *contacts_controllers.route_handlers,
            *inbox_controllers.route_handlers,
            Router(
                path="/",
                route_handlers=inbox_controllers.upload_handlers,
                request_max_body_size=upload_limit,
            ),
            Router(
                path="/",
                route_handlers=channels_controllers.mail_handlers,
                request_max_body_size=settings.max_mail_bytes,
            ),
            *inbox_downloads.route_handlers,
            *privacy_controllers.route_handlers,
            *realtime_controllers.route_handlers,
            *reports_controllers.api_handlers,
            *system_controllers.route_handlers,
            *widget_pages.route_handlers,
            *widget_controllers.route_handlers,
            *widget_stream.route_handlers,
            demo_shop.demo_shop,
            Router(
                path="/",
                route_handlers=widget_controllers.upload_handlers,
                request_max_body_size=upload_limit,
            ),
            console_router,
            static_router,
        ],
        plugins=[SQLAlchemyPlugin(config=db_config), channels, HTMXPlugin()],
        template_config=template_config(assets),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=CSRF_COOKIE,
            cookie_secure=settings.public_url.startswith("https://"),
            cookie_samesite="lax",
            exclude=CSRF_EXEMPT,
        ),
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "writer": Provide(lambda: writer, use_cache=True, sync_to_thread=False),
            "registry": Provide(lambda: adapters, use_cache=True, sync_to_thread=False),
            "jobs": Provide(lambda: jobs, use_cache=True, sync_to_thread=False),
            "services": Provide(lambda: services, use_cache=True, sync_to_thread=False),
            "widget_hub": Provide(lambda: widget_hub, use_cache=True, sync_to_thread=False),
            "agent": Provide(_current_agent, sync_to_thread=False),
        },
        middleware=[
            http_metrics_config().middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC_PATHS, cookie_rule=api_cookie_rule),
        ],
        stores={
            console_sessions.SESSION_STORE: _session_store(settings),
        },
        exception_handlers={**exception_handlers, NotFoundException: _not_found},
        request_max_body_size=settings.max_request_bytes,
        before_request=refuse_declared_oversize,
        openapi_config=OpenAPIConfig(
            title="OneThread",
            version="0.1.0",
            description="One thread per customer across every channel. See API.md for the contract.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        on_startup=[start_jobs],
        on_shutdown=[stop_jobs],
        state=State(
            {
                "settings": settings,
                "writer": writer,
                "jobs": jobs,
                "registry": adapters,
                "services": services,
                "readiness": readiness,
            }
        ),
        debug=False,
        logging_config=litestar_logging_config(),
    )
    # Outside routing, so unknown paths get a request id too (see request_context).
    app.asgi_handler = RequestContext(app.asgi_handler)
    logging.getLogger("app").setLevel(logging.INFO)
    return app
