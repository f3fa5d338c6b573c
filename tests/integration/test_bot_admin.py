"""Managing the bot, on both shapes: ``onethread bot import/export``, the try-it endpoint and the
rules document in the JSON API. A broken file or document is refused with its reason (the CLI with
the line) and changes nothing; no input makes the try-it endpoint fail."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from app.domain.bot.rules_yaml import load_rules_yaml
from app.settings import Settings
from tests.helpers import Api
from tests.integration.bot_helpers import AMBIGUOUS, AMBIGUOUS_YAML, DEMO, DEMO_RULES_FILE, use_rules
from tests.integration.test_telegram_outbound import onethread

DUPLICATE_ID = """\
default_language: nl
rules:
  - id: levering
    questions: {nl: ["Hoe lang duurt de levering?"]}
    answer: {nl: "Morgen."}
  - id: levering
    questions: {nl: ["Wat kost verzending?"]}
    answer: {nl: "Gratis."}
"""
NO_DEFAULT_ANSWER = """\
default_language: nl
rules:
  - id: levering
    questions: {en: ["How long does delivery take?"]}
    answer: {en: "Tomorrow."}
"""
NOT_YAML = "default_language: nl\nrules:\n  - id: [unclosed\n"


async def test_import_then_export_round_trips_and_a_broken_file_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    imported = await onethread(settings, "bot", "import", str(DEMO_RULES_FILE))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"imported {len(DEMO.rules)} rules")

    exported = await onethread(settings, "bot", "export")
    assert exported.returncode == 0, exported.stderr
    assert load_rules_yaml(exported.stdout) == DEMO

    for name, text, expected in [
        ("duplicate.yaml", DUPLICATE_ID, ":6: duplicate rule id 'levering'"),
        (
            "no-answer.yaml",
            NO_DEFAULT_ANSWER,
            ":5: rule 'levering' has no answer in the default language 'nl'",
        ),
        ("broken.yaml", NOT_YAML, ":4: invalid YAML"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        refused = await onethread(settings, "bot", "import", str(path))
        assert refused.returncode == 2, (name, refused.stdout)
        assert refused.stderr.startswith(f"onethread: {path}{expected}"), refused.stderr
        assert "nothing was changed" in refused.stderr
    missing = await onethread(settings, "bot", "import", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr

    again = await onethread(settings, "bot", "export")
    assert again.stdout == exported.stdout, "the refused imports left the rules as they were"


async def test_export_without_rules_says_how_to_get_some(settings: Settings) -> None:
    exported = await onethread(settings, "bot", "export")
    assert exported.returncode == 2
    assert "onethread bot import" in exported.stderr and exported.stdout == ""


async def test_try_shows_the_answer_and_the_scores(api: Api) -> None:
    await use_rules(api.writer, DEMO)

    response = await api.post("/api/v1/bot/try", {"text": "Hoe lang duurt de levering?"}, expect=200)

    body = response.json()
    assert body["outcome"] == "answer" and body["rule_id"] == "delivery-time"
    assert body["answer"] == DEMO.rule("delivery-time").answer["nl"]  # type: ignore[union-attr]
    assert body["language"] == "nl" and 0 < body["score"] <= 1
    assert body["candidates"][0] == {"rule_id": "delivery-time", "score": body["score"], "title": "Levertijd"}
    assert "handoff" not in body

    handoff = (await api.post("/api/v1/bot/try", {"text": "Ik wil een medewerker"}, expect=200)).json()
    assert (handoff["handoff"], handoff["reason"]) == (True, "asked_for_person")


async def test_try_asks_did_you_mean_for_two_equal_rules(api: Api) -> None:
    await use_rules(api.writer, AMBIGUOUS)
    body = (
        await api.post("/api/v1/bot/try", {"text": "How do I send an item back?", "lang": "en"}, 200)
    ).json()
    assert body["suggest"] is True and body["outcome"] == "suggest"
    assert {c["rule_id"] for c in body["candidates"][:2]} == {"return-shoes", "return-clothes"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("   ", "empty"), ("😀🎉👍", "empty"), ("levering " * 2_500, "too_long")],
    ids=["empty", "blank", "emoji", "20000-chars"],
)
async def test_try_hands_over_on_input_it_cannot_match(api: Api, text: str, reason: str) -> None:
    await use_rules(api.writer, DEMO)
    body = (await api.post("/api/v1/bot/try", {"text": text}, expect=200)).json()
    assert body["handoff"] is True
    assert body["reason"] in (reason, "no_match"), body


async def test_try_refuses_bad_requests_with_a_reason(api: Api) -> None:
    not_configured = await api.post("/api/v1/bot/try", {"text": "hoi"}, expect=409)
    assert "import" in not_configured.json()["detail"]
    await use_rules(api.writer, DEMO)
    for body in ({"text": 5}, {"txt": "hoi"}, {"text": "hoi", "lang": "dutch"}, ["hoi"]):
        response = await api.post("/api/v1/bot/try", body)
        assert response.status_code in (400, 422), (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
    raw = await api.client.post(
        "/api/v1/bot/try", content=b"{not json", headers={**api.headers, "Content-Type": "application/json"}
    )
    assert raw.status_code == 400, raw.text
    anonymous = await api.client.post("/api/v1/bot/try", json={"text": "hoi"})
    assert anonymous.status_code == 401


async def test_the_rules_document_is_read_and_replaced_whole_by_admins_only(
    api: Api, client: httpx.AsyncClient
) -> None:
    await use_rules(api.writer, DEMO)
    document = await api.get("/api/v1/bot/rules")
    assert document == DEMO.to_dict()

    replaced = await api.client.put(
        "/api/v1/bot/rules", json=yaml.safe_load(AMBIGUOUS_YAML), headers=api.headers
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"rules": 3, "enabled": True}
    assert await api.get("/api/v1/bot/rules") == AMBIGUOUS.to_dict()

    broken = yaml.safe_load(DUPLICATE_ID)
    refused = await api.client.put("/api/v1/bot/rules", json=broken, headers=api.headers)
    assert refused.status_code == 422 and "duplicate rule id" in refused.json()["detail"]
    weird = await api.client.put("/api/v1/bot/rules", json={"rules": "all of them"}, headers=api.headers)
    assert weird.status_code == 422, weird.text
    assert await api.get("/api/v1/bot/rules") == AMBIGUOUS.to_dict(), "a refused document changed nothing"

    agent = await Api.login(client, api.app, email="bo@example.com", role="agent")
    forbidden = await client.put("/api/v1/bot/rules", json=DEMO.to_dict(), headers=agent.headers)
    assert forbidden.status_code == 403
    assert (await agent.post("/api/v1/bot/try", {"text": "opening hours"})).status_code == 200


async def test_demo_imports_the_demo_rules_and_shows_threads_the_bot_handled(
    api: Api, settings: Settings
) -> None:
    first = await onethread(settings, "demo")
    assert first.returncode == 0, first.stderr
    assert "FAQ bot: demo rules in place; 3 web chat visitors asked it (answered, answered, handed over)" in (
        first.stdout
    )
    assert await api.get("/api/v1/bot/rules") == DEMO.to_dict()

    listed = (await api.get("/api/v1/threads", limit=50))["items"]
    threads = {t["contact"]["name"]: t for t in listed}
    assert threads["Lotte Visser"]["status"] == "bot" and threads["James Miller"]["status"] == "bot"
    assert threads["Bram de Boer"]["status"] == "open"
    lotte = [m["text"] for m in await api.timeline(threads["Lotte Visser"]["id"])]
    assert lotte[-1].endswith(DEMO.rule("delivery-time").answer["nl"])  # type: ignore[union-attr]
    bram = [m for m in await api.timeline(threads["Bram de Boer"]["id"]) if m["kind"] == "system"]
    assert [m["meta"]["bot"]["reason"] for m in bram] == ["asked_for_person"]
    assert threads["Anna de Vries"]["status"] == "open", "the demo's other customers wait for agents"

    again = await onethread(settings, "demo")
    assert again.returncode == 0, again.stderr
    assert len((await api.get("/api/v1/threads", limit=50))["items"]) == len(listed)
