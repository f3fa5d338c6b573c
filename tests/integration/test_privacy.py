"""GDPR export and erasure, the audit log and the retention prune, as admins and operators use them.

The customer in these tests wrote on two channels (two contacts an agent merged), was answered with
a file, and the bot looked at one of their questions: an export must hold all of it, an erase must
leave none of it (every text column of every table is scanned, and the file store).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlmodel import SQLModel, col

from app.db.models import BotDecision, Event, utcnow
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.privacy.actions import do_prune
from app.lib.storage import FileStorage
from app.settings import Settings
from tests.console import csrf_from, login
from tests.helpers import PASSWORD, Api

NAME = "Zorabelle Quintfather"
EMAIL = "zorabelle@example.com"
TEXTS = ("my parcel 4711 never came, Zorabelle here", "also my coupon WINTERQUILL failed")
REPLY = "Sorry Zorabelle, here is your invoice"
FILE = b"%PDF-1.4 invoice of zorabelle-quintfather\n" + os.urandom(64)
# Words, never bare digits: a random token hash or uuid may hold "4711".
MARKERS = ("Zorabelle", "zorabelle", "Quintfather", "parcel 4711", "Parcel 4711", "WINTERQUILL")


@dataclass
class Customer:
    contact_id: int
    thread_id: int
    other_contact_id: int


def mail_with_file() -> bytes:
    mail = EmailMessage()
    mail["From"] = f"{NAME} <{EMAIL}>"
    mail["To"] = "support@shop.example"
    mail["Subject"] = "Parcel 4711"
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = make_msgid(domain="example.net")
    mail.set_content(TEXTS[1])
    mail.add_attachment(FILE, maintype="application", subtype="pdf", filename="invoice zorabelle.pdf")
    return mail.as_bytes()


async def two_channel_customer(api: Api) -> Customer:
    """A customer who wrote in the shop and by email (with a file), merged by an agent, answered."""
    shop = await api.add_api_channel("Shop", callback_url="http://127.0.0.1:9/hook")
    mailbox = await do_add_channel_account(
        api.writer, channel="email", name="Support", config={"address": "support@shop.example"}
    )
    first = await api.inbound(shop, TEXTS[0], contact_id="shop-zq", name=NAME)
    mailed = await api.client.post(
        f"/webhooks/email/{mailbox.account.id}",
        content=mail_with_file(),
        headers={
            "Authorization": f"Bearer {mailbox.secrets['inbound_token']}",
            "Content-Type": "message/rfc822",
        },
    )
    assert mailed.status_code == 202, mailed.text
    threads = (await api.get("/api/v1/threads/"))["items"]
    primary = next(t for t in threads if t["id"] == first["thread_id"])["contact"]["id"]
    other = next(t for t in threads if t["id"] != first["thread_id"])["contact"]["id"]
    await api.post(f"/api/v1/contacts/{primary}/merge", {"other_id": other}, expect=201)
    reply = await api.post(
        f"/api/v1/threads/{first['thread_id']}/messages", {"text": REPLY, "channel": "api"}
    )
    assert reply.status_code in (201, 202), reply.text
    async with api.writer.sessionmaker() as session:
        session.add(
            BotDecision(thread_id=first["thread_id"], question=TEXTS[0], outcome="handoff", reason="no match")
        )
        await session.commit()
    return Customer(contact_id=primary, thread_id=first["thread_id"], other_contact_id=other)


async def traces(api: Api, settings: Settings) -> list[str]:
    """Every place the customer's name or words are still found: database cells and stored files."""
    found: list[str] = []
    async with api.writer.sessionmaker() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
                    if any(marker in text for marker in MARKERS):
                        found.append(f"{table.name}.{column}: {text[:300]}")
    root = settings.files_dir
    if root.exists():
        found += [str(p) for p in root.rglob("*") if p.is_file() and p.read_bytes() == FILE]
    return found


async def audit(api: Api) -> list[dict[str, Any]]:
    return (await api.get("/api/v1/audit-log"))["items"]  # type: ignore[no-any-return]


async def test_export_holds_both_channels_every_message_and_the_file(api: Api) -> None:
    customer = await two_channel_customer(api)

    # The merged-away contact's id stands for the same customer.
    response = await api.client.get(
        f"/api/v1/contacts/{customer.other_contact_id}/export", headers=api.headers
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f"contact-{customer.contact_id}-export.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    document = json.loads(archive.read("contact.json"))
    assert document["contact"]["id"] == customer.contact_id and document["contact"]["name"] == NAME
    assert [c["id"] for c in document["merged_contacts"]] == [customer.other_contact_id]
    identities = " ".join(i["external_id"] for i in document["identities"])
    assert "shop-zq" in identities and EMAIL in identities
    texts = [m["text"].strip() for m in document["messages"]]
    assert set(TEXTS) <= set(texts) and REPLY in texts
    reply = next(m for m in document["messages"] if m["text"] == REPLY)
    assert reply["delivery_status"] is not None and reply["direction"] == "out"
    mail = next(m for m in document["messages"] if m["channel"] == "email")
    assert mail["subject"] == "Parcel 4711" and mail["direction"] == "in"
    [attachment] = mail["attachments"]
    assert attachment["filename"] == "invoice zorabelle.pdf"
    assert archive.read(attachment["file"]) == FILE
    assert [d["question"] for d in document["bot_decisions"]] == [TEXTS[0]]
    assert len(document["merges"]) == 1 and "snapshot" not in document["merges"][0]
    [entry] = await audit(api)
    assert (entry["action"], entry["subject_id"], entry["actor"]) == (
        "contact.export",
        str(customer.contact_id),
        f"agent:{api.agent_id}",
    )
    assert entry["details"]["messages"] == len(document["messages"])


@pytest.mark.parametrize("mode", ["anonymize", "delete"])
async def test_erase_leaves_no_trace_in_the_database_the_files_or_the_console(
    api: Api, client: httpx.AsyncClient, app: Litestar, settings: Settings, mode: str
) -> None:
    customer = await two_channel_customer(api)
    assert await traces(api, settings)  # the scan does find them before
    merged_away = await api.post(f"/api/v1/contacts/{customer.other_contact_id}/erase", {}, expect=409)
    assert f"merged into contact {customer.contact_id}" in merged_away.json()["detail"]

    response = await api.post(f"/api/v1/contacts/{customer.contact_id}/erase", {"mode": mode}, expect=200)

    erasure = response.json()
    assert erasure["mode"] == mode and erasure["contacts"] == 2 and erasure["messages"] >= 3
    assert erasure["attachments"] == 1 and erasure["files_deleted"] == 1
    assert await traces(api, settings) == []
    # Erasing again: refused with the date (anonymize), or nothing there (delete); never audited twice.
    again = await api.post(
        f"/api/v1/contacts/{customer.contact_id}/erase", {}, expect=409 if mode == "anonymize" else 404
    )
    if mode == "anonymize":
        problem = again.json()
        assert problem["type"].endswith("/already-erased") and problem["erased_at"]
        assert f"contact {customer.contact_id} was already erased (anonymized) on 20" in problem["detail"]
        # What is left can still be exported: the placeholders, no name.
        left = await api.client.get(f"/api/v1/contacts/{customer.contact_id}/export", headers=api.headers)
        document = json.loads(zipfile.ZipFile(io.BytesIO(left.content)).read("contact.json"))
        assert document["contact"]["erased_at"] and document["contact"]["name"] is None
        assert {m["text"] for m in document["messages"]} == {"[erased]"}
        assert [e["action"] for e in await audit(api)] == ["contact.export", "contact.erase"]
    else:
        [entry] = await audit(api)
        assert entry["action"] == "contact.erase" and entry["details"]["mode"] == mode
    assert await traces(api, settings) == []
    async with api.writer.sessionmaker() as session:
        erased_events = (
            await session.execute(select(Event).where(col(Event.type) == "contact.erased"))
        ).scalars()
        assert {e.thread_id for e in erased_events} >= {customer.thread_id}
    # The console: no trace in the inbox; the thread holds placeholders only, or is gone.
    await do_create_agent(api.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    assert (await login(client)).status_code == 303
    inbox = await client.get("/")
    assert inbox.status_code == 200 and not any(m in inbox.text for m in MARKERS)
    page = await client.get(f"/threads/{customer.thread_id}")
    if mode == "delete":
        assert page.status_code == 404
    else:
        assert page.status_code == 200 and not any(m in page.text for m in MARKERS)
        assert "[erased]" in page.text
        threads = (await api.get("/api/v1/threads/", status="resolved"))["items"]
        assert customer.thread_id in [t["id"] for t in threads]
    # The same customer writing again is a new contact, with nothing of the old one.
    shop = api.channels["Shop"]
    again = await api.inbound(shop, "hello again", contact_id="shop-zq", name="Z")
    if mode == "anonymize":
        assert again["thread_id"] != customer.thread_id
    timeline = await api.timeline(again["thread_id"])
    assert [m["text"] for m in timeline if m["direction"] == "in"] == ["hello again"]


async def test_agents_may_not_export_erase_or_read_the_audit_log(
    client: httpx.AsyncClient, app: Litestar, api: Api
) -> None:
    customer = await two_channel_customer(api)
    agent = await Api.login(client, app, email="agent@example.com", role="agent")
    path = f"/api/v1/contacts/{customer.contact_id}"
    assert (await client.get(f"{path}/export", headers=agent.headers)).status_code == 403
    refused = await client.post(f"{path}/erase", json={}, headers=agent.headers)
    assert refused.status_code == 403 and refused.json()["type"].endswith("admins-only")
    assert (await client.get("/api/v1/audit-log", headers=agent.headers)).status_code == 403
    assert (await client.get(f"{path}/export")).status_code == 401
    # The console, as an agent: no Privacy section, and the pages answer "Admins only".
    await do_create_agent(api.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    assert (await login(client)).status_code == 303
    page = await client.get(f"/threads/{customer.thread_id}")
    assert "/erase" not in page.text and "/export" not in page.text
    token = csrf_from(page.text)
    contact = f"/contacts/{customer.contact_id}"
    for response in (
        await client.get(f"{contact}/export"),
        await client.get(f"{contact}/erase"),
        await client.post(f"{contact}/erase", data={"mode": "delete", "confirm": "1", "_csrf_token": token}),
        await client.get("/settings/audit"),
    ):
        assert response.status_code == 403 and "Admins only" in response.text
    assert await audit(api) == []
    assert (await api.get(f"/api/v1/contacts/{customer.contact_id}"))["name"] == NAME


async def test_console_erase_flow_names_the_customer_and_asks_first(
    client: httpx.AsyncClient, app: Litestar, api: Api, settings: Settings
) -> None:
    customer = await two_channel_customer(api)
    await do_create_agent(
        api.writer, email="ada@example.com", name="Ada Admin", password=PASSWORD, role="admin"
    )
    assert (await login(client)).status_code == 303
    page = await client.get(f"/threads/{customer.thread_id}")
    contact = f"/contacts/{customer.contact_id}"
    assert f'href="{contact}/erase"' in page.text and f'href="{contact}/export"' in page.text
    download = await client.get(f"{contact}/export")
    assert download.status_code == 200 and zipfile.ZipFile(io.BytesIO(download.content)).namelist()[0] == (
        "contact.json"
    )

    confirm = await client.get(f"{contact}/erase")
    assert confirm.status_code == 200 and f"Erase {NAME}?" in confirm.text
    assert f'<button type="submit" class="button-danger">Erase {NAME}</button>' in confirm.text
    headers = {"HX-Request": "true", "X-CSRFToken": csrf_from(confirm.text)}
    unticked = await client.post(f"{contact}/erase", data={"mode": "anonymize"}, headers=headers)
    assert unticked.status_code == 422 and "Tick the box to confirm the erasure." in unticked.text
    assert (await api.get(f"/api/v1/contacts/{customer.contact_id}"))["name"] == NAME
    no_csrf = await client.post(f"{contact}/erase", data={"mode": "anonymize", "confirm": "1"})
    assert no_csrf.status_code == 403
    # The merged-away contact's page points to the one to erase, as a page (not problem JSON).
    merged = await client.get(f"/contacts/{customer.other_contact_id}/erase")
    assert merged.status_code == 200 and merged.headers["content-type"].startswith("text/html")
    assert f"is now part of contact #{customer.contact_id}, {NAME}" in merged.text
    assert f'href="{contact}/erase"' in merged.text and "button-danger" not in merged.text

    done = await client.post(f"{contact}/erase", data={"mode": "anonymize", "confirm": "1"}, headers=headers)

    assert done.status_code == 200 and done.headers["HX-Redirect"] == "/"
    assert await traces(api, settings) == []
    # The inbox it lands on says what happened, once.
    notice = f"Contact #{customer.contact_id} erased (anonymized)."
    assert notice in (await client.get("/")).text
    assert notice not in (await client.get("/")).text
    # Erased: the page says so, with when, and offers no button; a post changes nothing.
    erased = await client.get(f"{contact}/erase")
    assert erased.status_code == 200 and f"Contact #{customer.contact_id} was already erased" in erased.text
    assert "It was anonymized on " in erased.text and "button-danger" not in erased.text
    assert f'href="{contact}/export"' in erased.text
    again = await client.post(f"{contact}/erase", data={"mode": "delete", "confirm": "1"}, headers=headers)
    assert again.status_code == 409 and "was already erased (anonymized) on" in again.text
    assert [e["action"] for e in await audit(api)] == ["contact.erase", "contact.export"]

    log = await client.get("/settings/audit")
    assert log.status_code == 200
    rows = log.text[log.text.index("<tbody>") :]
    erase_row = rows[: rows.index("</tr>")]
    assert "<td>Ada Admin</td>" in erase_row and ">Erased <a" in erase_row
    assert f'<a href="{contact}">contact #{customer.contact_id}</a> (anonymized): ' in erase_row
    assert "messages, 1 file, 1 merged contact" in erase_row
    assert f"contact #{customer.contact_id}</a>: " in rows  # the export, before: the name is gone now
    assert rows.index("Erased") < rows.index("Exported the data of")  # newest first
    assert "contact.erase" not in rows.replace('data-action="contact.erase"', "")
    assert "files_deleted" not in rows and not any(m in log.text for m in MARKERS)
    dutch = await client.get("/settings/audit", headers={"Accept-Language": "nl"})
    assert "Gewist: <a" in dutch.text and "(geanonimiseerd)" in dutch.text
    assert "Gegevens geëxporteerd van <a" in dutch.text and "1 bestand" in dutch.text


def test_the_erase_button_reads_as_a_danger_button() -> None:
    """White on the danger red, at least 4.5:1 (WCAG AA), with a focus ring of its own."""
    css = (Path(__file__).parents[2] / "static" / "console.css").read_text()
    danger = re.search(r"--danger: (#[0-9a-f]{6})", css)
    rule = re.search(r"^\.button-danger \{([^}]*)\}", css, re.MULTILINE)
    assert danger and rule and "background: var(--danger)" in rule[1] and "color: #fff" in rule[1]
    assert re.search(r"^\.button-danger:focus-visible \{ outline: 3px solid", css, re.MULTILINE)

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert (1.05 / (luminance(danger[1]) + 0.05)) >= 4.5
    for stylesheet in (Path(__file__).parents[2] / "static" / "css").glob("*.css"):
        assert not re.search(r"^\.(erase )?\.?button-danger \{", stylesheet.read_text(), re.MULTILINE), (
            stylesheet
        )


async def test_retention_prune_removes_only_old_events_erased_files_and_orphans(
    api: Api, settings: Settings
) -> None:
    shop = await api.add_api_channel("Shop")
    for n in range(3):
        await api.inbound(shop, f"old {n}", contact_id="c-old")
    async with api.writer.sessionmaker() as session:
        old_ids = list((await session.execute(select(col(Event.id)).order_by(col(Event.id)))).scalars())
        await session.execute(
            update(Event).where(col(Event.id).in_(old_ids)).values(created_at=utcnow() - timedelta(days=31))
        )
        await session.commit()
    await api.inbound(shop, "new", contact_id="c-new")
    files = FileStorage(settings.files_dir)
    orphan = await files.put(b"nobody's file")
    past = time.time() - 2 * 86_400
    os.utime(files.path(orphan), (past, past))
    fresh = await files.put(b"an upload still on its way")

    dry = await do_prune(api.writer, files, retention_days=30, actor="cli", dry_run=True)
    assert (dry.events, dry.orphan_files, dry.files_deleted) == (len(old_ids), 1, 0)
    assert files.exists(orphan) and await audit(api) == []

    report = await do_prune(api.writer, files, retention_days=30, actor="cli")

    assert (report.events, report.erased_attachments, report.orphan_files, report.files_deleted) == (
        len(old_ids),
        0,
        1,
        1,
    )
    assert not files.exists(orphan) and files.exists(fresh)
    async with api.writer.sessionmaker() as session:
        left = list((await session.execute(select(Event))).scalars())
    assert left and min(e.id or 0 for e in left) > max(old_ids)
    assert [e["text"] for e in [ev.data.get("message", {}) for ev in left] if e] == ["new"]
    [entry] = await audit(api)
    assert entry["action"] == "retention.prune" and entry["details"]["events"] == len(old_ids)
    again = await do_prune(api.writer, files, retention_days=30, actor="system")
    assert (again.events, again.orphan_files) == (0, 0)


def _run(settings: Settings, *args: str) -> Any:
    from tests.integration.test_cli import run

    return run(settings, *args)


async def test_cli_export_erase_prune_and_audit(embedded: Settings, tmp_path: Path) -> None:
    """The operator's commands on the embedded shape: real processes, real exit codes."""
    from app.core import create_app
    from tests.conftest import running

    app = create_app(embedded)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            api = await Api.login(client, app)
            customer = await two_channel_customer(api)
    out = tmp_path / "export.zip"

    exported = _run(embedded, "contact", "export", str(customer.contact_id), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "contact.json" in zipfile.ZipFile(out).namelist()
    assert exported.stdout.endswith(": 4 messages, 1 attachment\n"), exported.stdout
    into_dir = _run(embedded, "contact", "export", str(customer.contact_id), "--out", str(tmp_path))
    assert into_dir.returncode == 0, into_dir.stderr
    assert f"exported to {tmp_path / f'contact-{customer.contact_id}-export.zip'}:" in into_dir.stdout
    exists = _run(embedded, "contact", "export", str(customer.contact_id), "--out", str(tmp_path))
    assert exists.returncode == 2 and exists.stderr.count("\n") == 1 and "pass --force" in exists.stderr
    unconfirmed = _run(embedded, "contact", "erase", str(customer.contact_id))
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    erased = _run(embedded, "contact", "erase", str(customer.contact_id), "--yes")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith(f"contact {customer.contact_id} erased (anonymized): 4 messages,")
    assert " 1 attachment," in erased.stdout and "1 file deleted from disk" in erased.stdout
    again = _run(
        embedded, "contact", "erase", str(customer.contact_id), "--mode", "delete", "--yes", "--json"
    )
    assert again.returncode == 2 and again.stdout == "" and again.stderr.count("\n") == 1
    assert f"contact {customer.contact_id} was already erased (anonymized) on 20" in again.stderr
    pruned = _run(embedded, "retention", "prune", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["events"] == 0
    listed = _run(embedded, "audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    actions = [(e["action"], e["actor"]) for e in json.loads(listed.stdout)["items"]]
    assert actions == [
        ("retention.prune", "cli"),
        ("contact.erase", "cli"),
        ("contact.export", "cli"),
        ("contact.export", "cli"),
    ]
    assert not any(m in listed.stdout for m in MARKERS)
    human = _run(embedded, "audit", "list")
    assert human.returncode == 0, human.stderr
    lines = [line.split("\t") for line in human.stdout.splitlines()]
    assert [line[2] for line in lines] == ["command line"] * 4
    assert [line[3] for line in lines] == [
        "Pruned 0 events older than 30 days",
        f"Erased contact #{customer.contact_id} (anonymized): 4 messages, 1 file, 1 merged contact",
        f"Exported the data of contact #{customer.contact_id}: 4 messages, 1 file",
        f"Exported the data of contact #{customer.contact_id}: 4 messages, 1 file",
    ]
    assert lines[0][1].endswith(" UTC") and not any(m in human.stdout for m in MARKERS)
