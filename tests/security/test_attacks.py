"""Attacks a public helpdesk meets, each refused with nothing stored.

Webhook forgery (Messenger signatures, Telegram's secret header, custom-channel and email account
tokens, replays, wrong account ids), CSRF and the cookies' flags, session fixation and logout,
an XSS corpus through every channel into the console's pages, oversized bodies on every POST route.
All against one seeded embedded app (``world.py``); the database's row counts before and after
each refused attack must match. Brute force, mail header injection and slow clients live in
``test_attack_limits.py`` (they need their own settings, an SMTP sink or a real server).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from email.headerregistry import Address
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.integration.widget_client import SITE_ORIGIN
from tests.security.test_authorization_matrix import ROUTES
from tests.security.world import (
    APP_SECRET,
    PAGE_ID,
    TELEGRAM_SECRET,
    World,
    console_login,
    csrf_field,
    seeded_world,
)

SMALL_FILES = {"max_attachment_bytes": 100_000, "max_mail_bytes": 200_000}


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """This module's world keeps file and mail limits small, so oversized bodies stay cheap."""
    with seeded_world(sqlite_template, tmp_path_factory.mktemp("attacks"), **SMALL_FILES) as seeded:
        yield seeded


# --- webhook forgery -----------------------------------------------------------------------------


def _messenger_body(mid: str, text: str = "hello", psid: str = "psid-1") -> bytes:
    event = {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1_764_000_000_000,
        "message": {"mid": mid, "text": text},
    }
    return json.dumps(
        {"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": [event]}]}
    ).encode()


def _hub(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_messenger_forgeries_are_refused_and_a_replay_is_stored_once(world: World) -> None:
    body = _messenger_body(f"m_{uuid.uuid4().hex}")
    other = _messenger_body(f"m_{uuid.uuid4().hex}", text="another body")
    url = f"/webhooks/messenger/{world.ids['messenger']}"
    before = world.counts()
    for headers in (
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": _hub(other)},  # a genuine signature, of a different body
        {"X-Hub-Signature-256": _hub(body, "not-the-app-secret")},
        {"X-Hub-Signature-256": _hub(body)[7:]},  # no scheme
        {"X-Hub-Signature": "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()},
    ):
        answer = world.request("anonymous", "POST", url, content=body, headers=headers, use_cookies=False)
        assert answer.status_code == 403, (headers, answer.text)
        assert answer.json()["type"].endswith("bad-signature")
    api_account = world.ids["api"].account.id
    for account in (str(uuid.uuid4()), "not-an-id", api_account, world.ids["telegram"]):
        answer = world.request(
            "anonymous",
            "POST",
            f"/webhooks/messenger/{account}",
            content=body,
            headers={"X-Hub-Signature-256": _hub(body)},
            use_cookies=False,
        )
        assert answer.status_code == 404, (account, answer.text)
    assert world.counts() == before, "a forged webhook stored something"

    for _ in range(3):  # the platform redelivers: one message
        answer = world.request(
            "anonymous",
            "POST",
            url,
            content=body,
            headers={"X-Hub-Signature-256": _hub(body)},
            use_cookies=False,
        )
        assert answer.status_code == 200, answer.text
    assert world.count("messages") == before["messages"] + 1


def _telegram_update(update_id: int, text: str = "hi", user: int = 4242, first_name: str = "Tg") -> bytes:
    sender = {"id": user, "is_bot": False, "first_name": first_name}
    message = {
        "message_id": update_id,
        "from": sender,
        "chat": {"id": user, "type": "private", "first_name": first_name},
        "date": 1_764_000_000,
        "text": text,
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


def test_telegram_forgeries_are_refused_and_a_replay_is_stored_once(world: World) -> None:
    body = _telegram_update(900_001)
    url = f"/webhooks/telegram/{world.ids['telegram']}"
    header = "X-Telegram-Bot-Api-Secret-Token"
    before = world.counts()
    for headers in (
        {},
        {header: ""},
        {header: "wrong"},
        {header: TELEGRAM_SECRET + "x"},
        {header: APP_SECRET},
    ):
        answer = world.request(
            "anonymous", "POST", url, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 403, (headers, answer.text)
    for account in (str(uuid.uuid4()), world.ids["messenger"], world.ids["api"].account.id):
        answer = world.request(
            "anonymous",
            "POST",
            f"/webhooks/telegram/{account}",
            content=body,
            headers={header: TELEGRAM_SECRET, "Content-Type": "application/json"},
        )
        assert answer.status_code == 404, (account, answer.text)
    assert world.counts() == before

    for _ in range(3):
        answer = world.request(
            "anonymous",
            "POST",
            url,
            content=body,
            headers={header: TELEGRAM_SECRET, "Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
    assert world.count("messages") == before["messages"] + 1


def test_account_tokens_open_only_their_own_account(world: World) -> None:
    api, email = world.ids["api"], world.ids["email"]
    inbound = f"/api/v1/channels/{api.account.id}/inbound"
    body = {"external_id": uuid.uuid4().hex, "contact": {"external_id": "forger"}, "text": "forged"}
    before = world.counts()
    for token in (
        email.secrets["inbound_token"],  # another account's genuine token
        api.secrets["signing_secret"],  # this account's other secret
        world.roles["admin"].bearer,  # an agent's token is no account token
        world.ids["victim_token"],
        "",
    ):
        answer = world.request(
            "anonymous", "POST", inbound, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, answer.text
    mail = b"From: Eve <eve@example.com>\r\nTo: support@shop.example\r\nSubject: hi\r\n\r\nforged\r\n"
    for token in (api.secrets["inbound_token"], world.roles["admin"].bearer):
        answer = world.request(
            "anonymous",
            "POST",
            f"/webhooks/email/{email.account.id}",
            content=mail,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
        )
        assert answer.status_code == 401, answer.text
    assert world.counts() == before


# --- CSRF, cookies, sessions ---------------------------------------------------------------------


def _status(world: World) -> str:
    answer = world.request("admin", "GET", f"/api/v1/threads/{world.ids['thread']}", use_cookies=False)
    return str(answer.json()["thread"]["status"])


def test_console_forms_refuse_a_missing_or_foreign_csrf_token(world: World) -> None:
    agent = world.roles["agent"]
    url = f"/threads/{world.ids['thread']}/status"
    before = _status(world)
    target = "resolved" if before != "resolved" else "open"
    anon_token = world.roles["anonymous"].csrf or ""
    for form in (
        {"status": target},
        {"status": target, "_csrf_token": "forged"},
        {"status": target, "_csrf_token": anon_token},
    ):
        answer = world.request(agent, "POST", url, data=form, use_bearer=False)
        assert answer.status_code == 403, (form, answer.status_code)
    # The header HTMX sends, with a token that is not this browser's, is refused alike.
    answer = world.request(
        agent, "POST", url, data={"status": target}, headers={"X-CSRFToken": anon_token}, use_bearer=False
    )
    assert answer.status_code == 403
    # The API with the console's cookie and no X-CSRFToken: refused too (a bearer token needs none).
    cookie_only = world.request(
        agent, "PATCH", f"/api/v1/threads/{world.ids['thread']}", json={"status": target}, use_bearer=False
    )
    assert cookie_only.status_code == 403 and cookie_only.json()["type"].endswith("csrf-token-missing")
    assert _status(world) == before
    # The same form with the page's own token goes through: the refusals above were the token's.
    answer = world.request(
        agent, "POST", url, data={"status": target, "_csrf_token": agent.csrf}, use_bearer=False
    )
    assert answer.status_code in (200, 303), answer.text
    assert _status(world) == target


def _set_cookies(response: Any) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {h.split("=", 1)[0].strip(): h for h in response.headers.get_list("set-cookie")}


def test_session_and_csrf_cookies_are_httponly_and_samesite(world: World) -> None:
    client = world.client
    client.cookies.clear()
    page = client.get("/login")
    csrf_cookie = _set_cookies(page)["onethread_csrf"]
    assert "samesite=lax" in csrf_cookie.lower(), csrf_cookie
    response = client.post(
        "/login",
        data={
            "email": "agent@example.com",
            "password": "correct horse battery staple",
            "_csrf_token": csrf_field(page.text),
        },
        follow_redirects=False,
    )
    session_cookie = _set_cookies(response)["onethread_session"]
    assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower(), session_cookie
    client.cookies.clear()


def test_a_session_id_planted_before_login_is_not_the_one_after_and_logout_ends_it(world: World) -> None:
    client = world.client
    client.cookies.clear()
    planted = "attacker-chosen-session-id-0123456789abcdef"
    client.cookies.set("onethread_session", planted)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": "agent@example.com",
            "password": "correct horse battery staple",
            "_csrf_token": csrf_field(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    issued = _set_cookies(response)["onethread_session"].split(";", 1)[0].split("=", 1)[1]
    assert issued and issued != planted
    # The planted id opens nothing.
    client.cookies.clear()
    planted_try = client.get("/", headers={"Cookie": f"onethread_session={planted}"}, follow_redirects=False)
    assert planted_try.status_code == 303 and "/login" in planted_try.headers["location"]

    # Logout forgets the session on the server: a copy of the cookie kept by a thief stops working.
    cookies, csrf = console_login(client, "agent@example.com")
    stolen = "; ".join(f"{k}={v}" for k, v in cookies.items())
    assert client.get("/", headers={"Cookie": stolen}, follow_redirects=False).status_code == 200
    client.cookies.clear()
    out = client.post(
        "/logout", data={"_csrf_token": csrf}, headers={"Cookie": stolen}, follow_redirects=False
    )
    assert out.status_code == 303
    client.cookies.clear()
    again = client.get("/", headers={"Cookie": stolen}, follow_redirects=False)
    assert again.status_code == 303 and "/login" in again.headers["location"]
    api = client.get("/api/v1/me", headers={"Cookie": stolen})
    assert api.status_code == 401


# --- XSS corpus ----------------------------------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<body onload="alert(1)">',
    '<details open ontoggle="alert(1)">',
    '<input autofocus onfocus="alert(1)">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<\u0000script>alert(1)</script>".replace("\u0000", ""),
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",  # fullwidth angle brackets
    "<scr\u200bipt>alert(1)</scr\u200bipt>",  # a zero-width space inside the tag name
    "\u202e<img src=x onerror=alert(1)>",  # right-to-left override
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "{{7*7}}${alert(1)}<%= 7*7 %>",
    "javascript:alert(1)",
]
SHORT = "\"'><img src=x onerror=alert(1)><svg onload=alert(1)>"


URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data")


class _MarkupAudit(HTMLParser):
    """Collects what would run: inline scripts, on* handlers, javascript: URLs, srcdoc frames."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            scheme = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            if name in URL_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:", "data:text")):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "srcdoc":
                self.problems.append(f"<{tag} srcdoc>")
        # A data block (``<script type="application/json">``) is never run; any other inline script is.
        kind = (dict(attrs).get("type") or "").lower()
        if tag == "script" and not dict(attrs).get("src") and kind != "application/json":
            self._in_script = True
        if tag in ("iframe", "object", "embed", "math", "base"):  # (our own icons are <svg>)
            self.problems.append(f"<{tag}>")
        if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == "refresh":
            self.problems.append("<meta refresh>")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def _audit(html: str, where: str) -> None:
    audit = _MarkupAudit()
    audit.feed(html)
    assert not audit.problems, (where, audit.problems)
    for payload in XSS:
        if "<" in payload:
            assert payload not in html, (where, payload)


def _contact_of(world: World, thread: int) -> int:
    answer = world.request("admin", "GET", f"/api/v1/threads/{thread}", use_cookies=False)
    return int(answer.json()["thread"]["contact"]["id"])


def _send_corpus_through_every_channel(world: World) -> dict[str, int]:
    """Each channel's inbound with the corpus in every field a customer controls; the threads made."""
    corpus = "\n".join(XSS)
    threads: dict[str, int] = {}
    # Widget: a visitor with a hostile name and message.
    session = world.request(
        "anonymous",
        "POST",
        "/widget/v1/sessions",
        json={"site": world.ids["site_a"]},
        headers={"Origin": SITE_ORIGIN},
        use_cookies=False,
    ).json()
    auth = {"Authorization": f"Bearer {session['visitor_token']}"}
    for text in (corpus, SHORT):
        sent = world.request(
            "anonymous",
            "POST",
            "/widget/v1/messages",
            json={"text": text, "client_id": uuid.uuid4().hex},
            headers=auth,
        )
        assert sent.status_code == 201, sent.text
    opened = world.request(
        "anonymous",
        "POST",
        "/widget/v1/sessions",
        json={"site": world.ids["site_a"], "visitor_token": session["visitor_token"], "name": SHORT[:80]},
        headers={"Origin": SITE_ORIGIN},
    )
    assert opened.status_code in (200, 422), opened.text
    threads["widget"] = (
        opened.json().get("thread_id")
        or world.request(
            "anonymous",
            "POST",
            "/widget/v1/sessions",
            json={"site": world.ids["site_a"], "visitor_token": session["visitor_token"]},
            headers={"Origin": SITE_ORIGIN},
        ).json()["thread_id"]
    )
    widget_view = world.request("anonymous", "GET", "/widget/v1/messages", headers=auth)
    assert widget_view.headers["content-type"].startswith("application/json")

    # Telegram: text and the sender's name.
    tg = _telegram_update(900_100, text=corpus, user=777, first_name=SHORT[:60])
    answer = world.request(
        "anonymous",
        "POST",
        f"/webhooks/telegram/{world.ids['telegram']}",
        content=tg,
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    # Messenger
    fb = _messenger_body(f"m_{uuid.uuid4().hex}", text=corpus, psid="psid-xss")
    answer = world.request(
        "anonymous",
        "POST",
        f"/webhooks/messenger/{world.ids['messenger']}",
        content=fb,
        headers={"X-Hub-Signature-256": _hub(fb)},
    )
    assert answer.status_code == 200, answer.text
    # Email: subject, display name, HTML body, an attachment's name.
    mail = EmailMessage()
    mail["From"] = Address(display_name=SHORT[:60], addr_spec="xss@example.com")
    mail["To"] = "support@shop.example"
    mail["Subject"] = SHORT
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    mail.set_content(corpus)
    mail.add_alternative("<p>Hello</p>" + corpus, subtype="html")
    mail.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename=SHORT + ".pdf")
    answer = world.request(
        "anonymous",
        "POST",
        f"/webhooks/email/{world.ids['email'].account.id}",
        content=mail.as_bytes(),
        headers={
            "Authorization": f"Bearer {world.ids['email'].secrets['inbound_token']}",
            "Content-Type": "message/rfc822",
        },
    )
    assert answer.status_code == 202, answer.text
    threads["email"] = answer.json()["thread_id"]
    # The custom API channel: text and the contact's name and email.
    api = world.ids["api"]
    answer = world.request(
        "anonymous",
        "POST",
        f"/api/v1/channels/{api.account.id}/inbound",
        json={
            "external_id": uuid.uuid4().hex,
            "contact": {"external_id": "xss-1", "name": SHORT},
            "text": corpus,
        },
        headers={"Authorization": f"Bearer {api.secrets['inbound_token']}"},
    )
    assert answer.status_code == 202, answer.text
    threads["api"] = answer.json()["thread_id"]
    # A phone note an agent types from a call, and a contact renamed by an agent.
    note = world.request(
        "admin",
        "POST",
        "/api/v1/phone-notes",
        json={"phone": "+31612345678", "text": corpus, "direction": "inbound"},
        use_cookies=False,
    )
    assert note.status_code in (200, 201), note.text
    threads["phone"] = note.json()["thread_id"]
    contact = _contact_of(world, threads["phone"])
    renamed = world.request(
        "admin", "PATCH", f"/api/v1/contacts/{contact}", json={"name": SHORT}, use_cookies=False
    )
    assert renamed.status_code == 200, renamed.text
    threads.update(
        {
            name: world.request(
                "admin", "GET", "/api/v1/threads", use_cookies=False, params={"channel": name}
            ).json()["items"][0]["id"]
            for name in ("telegram", "messenger")
        }
    )
    return threads


def test_an_xss_corpus_through_every_channel_renders_inert_in_the_console(world: World) -> None:
    threads = _send_corpus_through_every_channel(world)
    agent = world.roles["agent"]
    inbox = world.request(agent, "GET", "/", use_bearer=False)
    assert inbox.status_code == 200
    _audit(inbox.text, "inbox")
    assert "&lt;script&gt;" in inbox.text or "&lt;img" in inbox.text  # the text is there, escaped
    for channel, thread in threads.items():
        page = world.request(agent, "GET", f"/threads/{thread}", use_bearer=False)
        assert page.status_code == 200, (channel, page.status_code)
        _audit(page.text, f"thread page ({channel})")
        contact = _contact_of(world, thread)
        panel = world.request(agent, "GET", f"/contacts/{contact}", use_bearer=False)
        assert panel.status_code == 200
        _audit(panel.text, f"contact page ({channel})")
    search = world.request(agent, "GET", "/", params={"q": "script"}, use_bearer=False)
    _audit(search.text, "inbox search")
    frame = world.request("anonymous", "GET", f"/widget/v1/frame/{world.ids['site_a']}")
    _audit(frame.text, "widget frame")


# --- oversized bodies ----------------------------------------------------------------------------


def _limit_for(world: World, path: str) -> int:
    settings = world.settings
    if path.startswith("/webhooks/email/"):
        return settings.max_mail_bytes
    if path in (
        "/widget/v1/messages",
        "/api/v1/threads/{thread_id:int}/messages",
        "/threads/{thread_id:int}/compose",
    ):
        return settings.max_attachment_bytes + settings.max_request_bytes
    return settings.max_request_bytes


BODY_ROUTES = sorted((m, p) for (m, p) in ROUTES if m in ("POST", "PUT", "PATCH"))


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
def test_an_oversized_body_is_refused_with_413_and_a_reason(world: World, method: str, path: str) -> None:
    from tests.security.test_authorization_matrix import _url

    role = "admin"
    url = _url(world, path)
    limit = _limit_for(world, path)
    before = world.counts()
    body = b"x" * (limit + 1)
    is_api = path.startswith(("/api/", "/widget/", "/webhooks/"))
    headers = {"Content-Type": "application/json" if is_api else "application/x-www-form-urlencoded"}
    if path.startswith("/widget/v1/") and path != "/widget/v1/sessions":
        headers["Authorization"] = f"Bearer {world.ids['victim_token']}"
    if not is_api:
        headers["X-CSRFToken"] = world.roles[role].csrf or ""
    answer = world.request(
        role, "POST" if method == "POST" else method, url, content=body, headers=headers, use_bearer=is_api
    )
    assert answer.status_code == 413, (answer.status_code, answer.text[:300])
    # The reason: the API's problem names the limit; the console's page says it in words.
    assert "body-too-large" in answer.text or "too much to send at once" in answer.text, answer.text[:300]
    assert world.counts() == before


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(world: World) -> None:
    api = world.ids["api"]
    before = world.counts()

    def chunks() -> Iterator[bytes]:
        yield b'{"external_id": "chunked", "contact": {"external_id": "c"}, "text": "'
        for _ in range(world.settings.max_request_bytes // 65_536 + 2):
            yield b"y" * 65_536
        yield b'"}'

    answer = world.request(
        "anonymous",
        "POST",
        f"/api/v1/channels/{api.account.id}/inbound",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {api.secrets['inbound_token']}",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 413, answer.text[:300]
    assert world.counts() == before


def test_superscript_digits_are_a_bad_filter_not_a_crash(world: World) -> None:
    """Found by schemathesis: ``"¹".isdigit()`` is true, ``int("¹")`` fails."""
    answer = world.request(
        "admin", "GET", "/api/v1/threads", params={"assignee": "\u00b97"}, use_cookies=False
    )
    assert answer.status_code in (400, 422) and answer.json()["type"].endswith("invalid-filter")
