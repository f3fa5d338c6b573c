"""The console's live updates: one websocket per page, answering with HTML fragments to swap in.

``WS /live?view=inbox&status=…&last_event_id=N`` keeps an inbox list current; ``WS
/live?thread=ID&after_message=M`` (or ``&last_event_id=N`` after a reconnect) keeps a thread's
timeline current and carries the collision notice ("Ada is viewing", "Ada is typing…").

The stream is the JSON API's (``AgentEventStream``: subscribe first, replay from the cursor, fill
gaps from the log); only what is sent differs. Each visible event becomes the same partials the
pages render, marked ``hx-swap-oob`` so the htmx websocket extension swaps them in by id, followed
by ``#live-state`` carrying the event's id: after a reconnect the page asks to resume from there.

The socket is authorized by the console session (``SessionAuth`` covers websocket scopes) and only
from a page of this site: a cross-site page's browser sends the victim's cookie on a websocket too
(there is no CORS for websockets), so the ``Origin`` is checked before accepting.

Presence is not in the event log: it is ephemeral, published on its own channel per thread (the
channels backend: in memory embedded, Redis across processes in production) and expires on its
own (a viewer refreshes every few seconds; typing lapses after a few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from jinja2 import Environment
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.subscriber import Subscriber
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException, WebSocketDisconnect
from litestar.params import FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.types import ControllerRouterHandler

from app import i18n
from app.db.models import Agent
from app.domain.accounts.auth import CSRF_COOKIE, origin_allowed
from app.domain.console import views
from app.domain.console.inbox_pages import InboxFilters
from app.domain.console.thread_pages import head_context
from app.domain.inbox import queries
from app.domain.inbox.reads import do_mark_read, is_unread, newest_inbound_at, unread_thread_ids
from app.domain.inbox.schemas import MessageOut
from app.domain.inbox.timeline import channel_switches, inbound_channel_before
from app.domain.realtime.controllers import AgentEventStream
from app.domain.realtime.presence import PresenceNote, presence_channel
from app.domain.realtime.publisher import subscriber_channels, widget_channel
from app.domain.realtime.writer import Writer
from app.lib.errors import DomainError, NotFoundError
from app.settings import Settings

log = logging.getLogger(__name__)

ROW_EVENTS = frozenset(
    {"message.created", "thread.updated", "contact.updated", "contact.merged", "contact.erased"}
)
ERASED = "contact.erased"
"""An admin erased the customer: their row is redrawn or dropped, an open thread page reloads."""
HEAD_EVENTS = frozenset({"thread.updated", "contact.updated"})
"""Events that redraw an open thread's head: its status and assignee, the customer's name."""
CATCH_UP_LIMIT = 200
HANDOFF_FLAG_SECONDS = 120.0
"""How long an inbox row keeps saying "handed over by the bot" through later updates."""

VIEWING_REFRESH = 10.0
"""Seconds between a viewer's "still here"; a peer not heard from for ``VIEWING_TTL`` has left."""
VIEWING_TTL = 25.0
TYPING_TTL = 6.0
"""Seconds a typing notice lasts unless the browser sends another (live.js sends one every 2 s)."""
TYPING_MIN_INTERVAL = 1.0
CLIENT_MESSAGE_MAX = 512
NO_SUCH_THREAD = 4404
"""Close code for a thread socket whose thread does not exist (or was merged away): not retried."""


class _Frame(msgspec.Struct):
    id: int
    type: str
    thread_id: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class _ClientMessage(msgspec.Struct):
    type: str
    note: bool = False
    """Typing an internal note (agents see it; the customer's widget does not)."""


def oob_state(last_event_id: int, *, resync: bool = False) -> str:
    """``#live-state``: the last event this page has seen (live.js reconnects from it)."""
    extra = ' data-resync="1"' if resync else ""
    return f'<span id="live-state" hx-swap-oob="true" data-last-event-id="{last_event_id}"{extra}></span>'


@dataclass
class Peer:
    name: str
    seen_until: float
    typing_until: float = 0.0
    customer: bool = False


PresenceSummary = tuple[tuple[str, ...], tuple[str, ...], str]


@dataclass
class Presence:
    """Who else has this thread open, from their notes; rendered as ``#presence``."""

    peers: dict[str, Peer] = field(default_factory=dict)

    def note(self, message: PresenceNote, now: float) -> None:
        if message.state == "left":
            self.peers.pop(message.conn, None)
            return
        peer = self.peers.setdefault(
            message.conn, Peer(message.name, now + VIEWING_TTL, customer=message.customer)
        )
        peer.name = message.name
        peer.seen_until = now + VIEWING_TTL
        if message.state == "typing":
            peer.typing_until = now + TYPING_TTL

    def summary(self, now: float) -> PresenceSummary:
        """Typing and viewing-only agent names, and the customer's state in the chat widget
        (``typing``, ``here`` or ``""``); expired peers dropped; one entry per agent name."""
        self.peers = {conn: p for conn, p in self.peers.items() if p.seen_until > now}
        agents = [p for p in self.peers.values() if not p.customer]
        typing = sorted({p.name for p in agents if p.typing_until > now})
        viewing = sorted({p.name for p in agents} - set(typing))
        customers = [p for p in self.peers.values() if p.customer]
        customer = "typing" if any(p.typing_until > now for p in customers) else ("here" if customers else "")
        return tuple(typing), tuple(viewing), customer


class HtmlEventStream(AgentEventStream):
    """The event stream of one console page, rendered as HTML fragments for htmx to swap in."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        writer: Writer,
        agent: Agent,
        heartbeat: float,
        *,
        channels: ChannelsPlugin,
        filters: InboxFilters | None,
        thread_id: int | None,
        after_message: int | None,
    ) -> None:
        super().__init__(socket, writer, agent, heartbeat)
        self.agent = agent
        self.channels = channels
        self.filters = filters
        self.thread_id = thread_id
        self.last_message_id = after_message or 0
        engine = socket.app.template_engine
        if not isinstance(engine, JinjaTemplateEngine):
            raise RuntimeError("the console's live fragments need the Jinja template engine")
        self.environment: Environment = engine.engine
        self.language = i18n.negotiate(agent.language, socket.headers.get("accept-language"))
        csrf = socket.cookies.get(CSRF_COOKIE, "")
        self._csrf: Callable[[], str] = lambda: csrf
        self.conn = uuid.uuid4().hex
        self.presence = Presence()
        self.handoffs: dict[int, float] = {}
        """Threads the bot handed over while this page watched, and when (their rows are flagged)."""
        self._shown_presence: PresenceSummary = ((), (), "")
        self._last_typing = 0.0
        self._decode_frame = msgspec.json.Decoder(_Frame)

    # --- rendering ----------------------------------------------------------------------------

    def render(self, template: str, **context: Any) -> str:
        """A partial in the agent's language and time zone (there is no request to read them from)."""
        return self.environment.get_template(template).render(
            agent=self.agent, language=self.language, csrf_token=self._csrf, **context
        )

    async def send_html(self, *parts: str) -> None:
        await self.socket.send_text("".join(parts))

    async def deliver(self, raw: bytes) -> None:
        frame = self._decode_frame.decode(raw)
        html = ""
        if frame.thread_id is not None:
            if frame.type == ERASED and self.thread_id == frame.thread_id:
                # Nothing on the page may stay: reload it (anonymized, or gone).
                await self.send_html(oob_state(frame.id, resync=True))
                return
            if self.filters is not None and frame.type in ROW_EVENTS:
                html = await self._inbox_row(frame)
            elif self.thread_id == frame.thread_id:
                html = await self._timeline(frame)
        if html:
            await self.send_html(html, oob_state(frame.id))

    async def control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ready":
            await self.send_html(oob_state(int(message["last_event_id"])))
        elif kind == "resync":
            await self.send_html(oob_state(int(message["last_event_id"]), resync=True))
        else:  # ping: keeps proxies from closing an idle socket, and the page's cursor current
            await self.send_html(oob_state(self.cursor))

    async def _inbox_row(self, frame: _Frame) -> str:
        """Move the thread's row to the top (new message), refresh it in place, or drop it."""
        assert self.filters is not None and frame.thread_id is not None
        row_id = f"thread-{frame.thread_id}"
        async with self.writer.sessionmaker() as session:
            thread = await queries.inbox_thread(
                session, self.agent, frame.thread_id, **self.filters.query_kwargs()
            )
            if thread is None:
                return f'<li id="{row_id}" hx-swap-oob="delete"></li>'
            assignees = await views.agent_names(session, [thread.assignee_id])
            unread = await unread_thread_ids(session, self.agent.id or 0, [thread])
        moved = frame.type == "message.created"
        now = time.monotonic()
        if _is_bot_handoff(frame):
            self.handoffs[frame.thread_id] = now
        # The bot's reply to the customer follows its handoff line: the row keeps its flag a while.
        handed_off = now - self.handoffs.get(frame.thread_id, -HANDOFF_FLAG_SECONDS) < HANDOFF_FLAG_SECONDS
        row = self.render(
            "partials/thread_row.html",
            thread=thread,
            assignees=assignees,
            unread=unread,
            oob=not moved,
            handed_off=handed_off,
        )
        if moved:
            return f'<li id="{row_id}" hx-swap-oob="delete"></li><ul hx-swap-oob="afterbegin:#thread-list">{row}</ul>'
        return row

    async def _timeline(self, frame: _Frame) -> str:
        """New messages of the open thread appended to ``#timeline``; an updated one replaced; the
        head (status, assignee, customer's name) redrawn when someone else changes the thread."""
        if frame.type == "message.created":
            return await self._new_messages()
        if frame.type in HEAD_EVENTS:
            return await self._head()
        if frame.type == "message.updated":
            message_id = self._message_id(frame)
            if message_id is None:
                return ""
            async with self.writer.sessionmaker() as session:
                message = await queries.get_message(session, message_id)
            if message is None or message.thread_id != self.thread_id:
                return ""
            return self.render("partials/message.html", message=message, oob=True)
        return ""

    async def _head(self) -> str:
        assert self.thread_id is not None
        async with self.writer.sessionmaker() as session:
            try:
                context = await head_context(session, self.agent, self.thread_id)
            except DomainError:  # merged away meanwhile: the page's own redirect handles that
                return ""
        del context["agent"]  # render() passes the socket's agent
        return self.render("partials/thread_head.html", oob=True, **context)

    @staticmethod
    def _message_id(frame: _Frame) -> int | None:
        message = frame.data.get("message")
        value = message.get("id") if isinstance(message, dict) else None
        return value if isinstance(value, int) else None

    async def _new_messages(self) -> str:
        """Every message of the thread after the last one this page has (read from the log's rows)."""
        assert self.thread_id is not None
        async with self.writer.sessionmaker() as session:
            try:
                messages, _ = await queries.timeline_page(
                    session,
                    self.thread_id,
                    after=self.last_message_id or None,
                    limit=CATCH_UP_LIMIT,
                )
            except DomainError:  # the page's last message moved away (a merge undone): newest page
                messages, _ = await queries.timeline_page(session, self.thread_id, limit=CATCH_UP_LIMIT)
            if not messages:
                return ""
            previous = await inbound_channel_before(session, self.thread_id, messages[0])
        switches = channel_switches(messages, previous)
        self.last_message_id = max(self.last_message_id, *(m.id for m in messages))
        if any(m.direction == "in" for m in messages):
            await self._mark_read()  # the agent has the thread in front of them
        return self._append(messages, switches)

    async def _mark_read(self) -> None:
        """Mark the thread read up to the newest customer message this page has been shown.

        Not ``now``: a message committed after the page's last query is not on the page, so it
        stays unread until it is sent here too. Writes only when that changes the mark.
        """
        assert self.thread_id is not None
        agent_id = self.agent.id or 0
        async with self.writer.sessionmaker() as session:
            shown = await newest_inbound_at(session, self.thread_id, up_to_message=self.last_message_id)
            if not await is_unread(session, agent_id, self.thread_id, shown):
                return
        assert shown is not None
        await do_mark_read(self.writer, agent_id=agent_id, thread_id=self.thread_id, read_at=shown)

    def _append(self, messages: list[MessageOut], switches: dict[int, str]) -> str:
        """The entries to append, each new channel announced as on the page ("continued on …")."""
        items = "".join(
            (self.render("partials/channel_switch.html", message=m) if m.id in switches else "")
            + self.render("partials/message.html", message=m)
            for m in messages
        )
        return f'<ol hx-swap-oob="beforeend:#timeline">{items}</ol>'

    # --- the thread page: catching up, presence ------------------------------------------------

    async def start(self, last_event_id: int | None) -> None:
        """As the API's, plus: a thread page opened without a cursor gets what it missed since render.

        The page names its last message; messages committed between its render and this socket's
        subscription are read from the database (live frames for them are then repeats, which
        live.js drops by id).
        """
        await super().start(last_event_id)
        if self.thread_id is None:
            return
        if last_event_id is None:
            html = await self._new_messages()
            if html:
                await self.send_html(html)
        await self.publish_presence("viewing", hello=True)
        await self._mark_read()

    async def publish_presence(
        self, state: Literal["viewing", "typing", "left"], *, hello: bool = False, to_customer: bool = True
    ) -> None:
        assert self.thread_id is not None
        note = PresenceNote(
            conn=self.conn,
            agent_id=self.agent.id or 0,
            name=self.agent.name,
            state=state,
            hello=hello,
            thread_id=self.thread_id,
        )
        namespace = self.writer.channel_namespace
        # The customer's widget hears agents on its own thread channel (one subscription per widget).
        await self.channels.wait_published(
            msgspec.json.encode(note),
            [presence_channel(namespace, self.thread_id), widget_channel(namespace)]
            if to_customer
            else [presence_channel(namespace, self.thread_id)],
        )

    async def on_client_message(self, text: str | bytes) -> None:
        """``{"type": "typing"}`` from live.js while the agent types in the composer."""
        if self.thread_id is None or len(text) > CLIENT_MESSAGE_MAX:
            return
        try:
            message = msgspec.json.decode(text, type=_ClientMessage)
        except msgspec.DecodeError:
            return
        now = time.monotonic()
        if message.type == "typing" and now - self._last_typing >= TYPING_MIN_INTERVAL:
            self._last_typing = now
            await self.publish_presence("typing", to_customer=not message.note)

    async def presence_listen(self, subscriber: Subscriber) -> None:
        decoder = msgspec.json.Decoder(PresenceNote)
        async for raw in subscriber.iter_events():
            try:
                note = decoder.decode(raw)
            except msgspec.DecodeError:
                continue
            if note.conn == self.conn or note.agent_id == self.agent.id:
                continue  # the agent's own tabs are no collision
            self.presence.note(note, time.monotonic())
            if note.hello:
                await self.publish_presence("viewing")
            await self.show_presence()

    async def presence_tick(self) -> None:
        """Refresh this viewer's presence for others, and let others' notices lapse on time."""
        next_refresh = time.monotonic() + VIEWING_REFRESH
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + VIEWING_REFRESH
                await self.publish_presence("viewing")
            await self.show_presence()

    async def show_presence(self) -> None:
        summary = self.presence.summary(time.monotonic())
        if summary == self._shown_presence:
            return
        self._shown_presence = summary
        typing, viewing, customer = summary
        await self.send_html(
            self.render("partials/live_presence.html", typing=typing, viewing=viewing, customer=customer)
        )


def _is_bot_handoff(frame: _Frame) -> bool:
    """Whether an event is the bot handing the thread over: its handoff line (``meta.bot``) or the
    thread's update that carries the same facts (``bot``)."""
    message = frame.data.get("message")
    meta = message.get("meta") if isinstance(message, dict) else None
    facts = (
        meta.get("bot")
        if isinstance(meta, dict) and frame.type == "message.created"
        else frame.data.get("bot")
    )
    return isinstance(facts, dict) and facts.get("outcome") == "handoff"


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 19 else None


@websocket("/live", include_in_schema=False, name="console:live")
async def live(
    socket: WebSocket[Any, Any, Any],
    channels: NamedDependency[ChannelsPlugin],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    view: FromQuery[str | None] = None,
    thread: FromQuery[str | None] = None,
    last_event_id: FromQuery[str | None] = None,
    after_message: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    assignee: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
) -> None:
    """One console page's live fragments: the inbox list (``view=inbox``) or a thread (``thread=ID``)."""
    if not origin_allowed(socket, settings.public_url):
        raise PermissionDeniedException("cross-site websocket refused: Origin is not this site")
    agent: Agent = socket.user
    thread_id = _int_or_none(thread)
    if thread is not None and (thread_id is None or not await _thread_exists(writer, thread_id)):
        # Accepted only to say why: a refused handshake reaches the page as a bare 1006, which the
        # htmx ws extension retries forever; it retries only 1006/1011/1012/1013, not this 4404.
        await socket.accept()
        await socket.close(code=NO_SUCH_THREAD, reason="no such thread")
        return
    filters = (
        InboxFilters.parse(status=status, channel=channel, assignee=assignee, q=q)
        if view == "inbox" and thread_id is None
        else None
    )
    await socket.accept()
    stream = HtmlEventStream(
        socket,
        writer,
        agent,
        settings.ws_heartbeat_seconds,
        channels=channels,
        filters=filters,
        thread_id=thread_id,
        after_message=_int_or_none(after_message),
    )
    names = subscriber_channels(agent.role, writer.channel_namespace)
    close_code = 1000  # 1011 below: the htmx ws extension reconnects after it, with backoff
    try:
        async with contextlib.AsyncExitStack() as stack:
            subscriber = await stack.enter_async_context(channels.start_subscription(names))
            peers = None
            if thread_id is not None:
                peers = await stack.enter_async_context(
                    channels.start_subscription([presence_channel(writer.channel_namespace, thread_id)])
                )
            await stream.start(_int_or_none(last_event_id))
            # Created here, where run() schedules them at once: never a coroutine left un-awaited.
            extra: list[Coroutine[Any, Any, None]] = (
                [stream.presence_listen(peers), stream.presence_tick()] if peers is not None else []
            )
            await stream.run(subscriber, *extra)
    except WebSocketDisconnect:
        pass  # the page went away (tab closed, navigated): nobody left to tell
    except OSError as error:  # the server's send on a connection already gone (ClientDisconnected)
        log.info("console live socket lost: %r", error)
    except NotFoundError:
        close_code = NO_SUCH_THREAD  # the thread went while open (merged into another)
    except DomainError as error:
        log.warning("console live socket refused: %s", error)
        close_code = 1011
    except Exception:
        log.exception("console live socket failed")
        close_code = 1011
    finally:
        if thread_id is not None:
            with contextlib.suppress(Exception):
                await stream.publish_presence("left")
    with contextlib.suppress(Exception):
        await socket.close(code=close_code)


async def _thread_exists(writer: Writer, thread_id: int) -> bool:
    async with writer.sessionmaker() as session:
        try:
            await queries.get_thread(session, thread_id)
        except NotFoundError:
            return False
    return True


TEMPLATE_FILTERS: dict[str, Any] = {}

route_handlers: list[ControllerRouterHandler] = [live]
