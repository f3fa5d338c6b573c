"""The bot's admin pages: rules editor, settings, try it, unanswered questions, figures, YAML import
and export; and that agents who are not admins are refused every one of them.

Runs on both shapes (embedded SQLite, production PostgreSQL + Redis).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.db.models import BotDecision, Message
from app.domain.accounts.actions import do_create_agent
from app.domain.bot.rules_yaml import dump_rules_yaml, load_rules_yaml
from app.domain.bot.store import load_document, load_ruleset
from tests.console import csrf_from, http_client, login
from tests.helpers import PASSWORD, Api

RULES_YAML = """\
default_language: nl
handoff:
  phrases: {nl: ["medewerker", "mens spreken"], en: ["human", "talk to a person"]}
  message: {nl: "Ik verbind je met een collega.", en: "Let me get a colleague for you."}
rules:
  - id: delivery-time
    questions:
      nl: ["Hoe lang duurt de levering?", "Wanneer wordt mijn pakket bezorgd?"]
      en: ["How long does delivery take?", "When will my parcel arrive?"]
    keywords: {nl: [levering, bezorgen, pakket], en: [delivery, shipping, parcel]}
    answer: {nl: "Binnen 2 werkdagen.", en: "Within 2 working days."}
  - id: returns
    questions:
      nl: ["Hoe kan ik iets retourneren?", "Mag ik mijn bestelling terugsturen?"]
      en: ["How do I return something?", "Can I send my order back?"]
    keywords: {nl: [retour, retourneren, terugsturen], en: [return, refund]}
    answer: {nl: "Retourneren kan binnen 30 dagen.", en: "You can return within 30 days."}
"""


@pytest.fixture
async def admin(client: httpx.AsyncClient, app: Litestar) -> Api:
    """An admin with an API token (for seeding) whose console session is on ``client``."""
    api = await Api.login(client, app)
    assert (await login(client, "admin@example.com")).status_code == 303
    return api


async def _token(client: httpx.AsyncClient, path: str = "/bot/rules") -> str:
    return csrf_from((await client.get(path)).text)


async def _import(client: httpx.AsyncClient, text: str) -> httpx.Response:
    token = await _token(client, "/bot/transfer")
    return await client.post(
        "/bot/import",
        data={"_csrf_token": token},
        files={"file": ("rules.yaml", text.encode(), "application/yaml")},
    )


async def _apply(client: httpx.AsyncClient, text: str) -> None:
    preview = await _import(client, text)
    assert preview.status_code == 200, preview.text
    yaml_field = re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', preview.text, re.S)
    assert yaml_field
    applied = await client.post(
        "/bot/import/apply",
        data={"_csrf_token": csrf_from(preview.text), "yaml": unescape(yaml_field.group(1))},
    )
    assert applied.status_code == 303, applied.text


async def _document(app: Litestar) -> dict[str, Any] | None:
    async with app.state.writer.sessionmaker() as session:
        return await load_document(session)


def _rule_form(token: str, **changes: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "_csrf_token": token,
        "id": "opening-hours",
        "enabled": "1",
        "questions_nl": "Wanneer zijn jullie open?\nHoe laat gaan jullie dicht?",
        "questions_en": "When are you open?",
        "keywords_nl": "open, openingstijden",
        "keywords_en": "opening hours, open",
        "synonyms_nl": "geopend",
        "title_nl": "Openingstijden",
        "answer_nl": "Van 9 tot 17 uur.",
        "answer_en": "From 9 to 5.",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


async def test_admin_adds_edits_switches_off_and_deletes_a_rule(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    empty = await client.get("/bot/rules")
    assert empty.status_code == 200 and "No rules yet." in empty.text
    token = csrf_from(empty.text)

    new = await client.get("/bot/rules/new")
    assert new.status_code == 200 and 'name="answer_nl"' in new.text and 'name="questions_en"' in new.text
    created = await client.post("/bot/rules", data=_rule_form(token))
    assert created.status_code == 303, created.text
    assert created.headers["location"].startswith("/bot/rules?saved=opening-hours")
    listed = await client.get(created.headers["location"])
    assert "Rule opening-hours saved." in listed.text and "Openingstijden" in listed.text
    assert "3 example questions" in listed.text

    document = await _document(app)
    assert document is not None
    [rule] = document["rules"]
    assert rule["questions"] == {
        "nl": ["Wanneer zijn jullie open?", "Hoe laat gaan jullie dicht?"],
        "en": ["When are you open?"],
    }
    assert rule["keywords"] == {"nl": ["open", "openingstijden"], "en": ["opening hours", "open"]}
    assert rule["synonyms"] == {"nl": ["geopend"]}

    # Edit: remove one Dutch example, add one, answer after-hands-over, with HTMX.
    edit = await client.get("/bot/rules/opening-hours/edit")
    assert edit.status_code == 200 and "Hoe laat gaan jullie dicht?" in edit.text
    saved = await client.post(
        "/bot/rules/opening-hours",
        data=_rule_form(
            token,
            questions_nl="Wanneer zijn jullie open?\nZijn jullie op zondag open?",
            handoff_after="1",
        ),
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 303
    async with app.state.writer.sessionmaker() as session:
        rules = await load_ruleset(session)
    assert rules is not None
    stored = rules.rule("opening-hours")
    assert stored is not None and stored.handoff_after
    assert stored.questions["nl"] == ("Wanneer zijn jullie open?", "Zijn jullie op zondag open?")

    off = await client.post("/bot/rules/opening-hours/enabled", data={"_csrf_token": token, "enabled": "0"})
    assert off.status_code == 303
    listed = (await client.get("/bot/rules")).text
    assert 'class="state state--off"' in listed and "Switch on" in listed
    async with app.state.writer.sessionmaker() as session:
        rules = await load_ruleset(session)
    assert rules is not None and rules.rules[0].enabled is False

    deleted = await client.post("/bot/rules/opening-hours/delete", data={"_csrf_token": token})
    assert deleted.status_code == 303
    assert (await _document(app) or {}).get("rules") == []
    gone = await client.get("/bot/rules/opening-hours/edit")
    assert gone.status_code == 404 and "There is no rule opening-hours" in gone.text


async def test_refused_rule_forms_say_why_beside_the_field_and_save_nothing(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    await _apply(client, RULES_YAML)
    before = await _document(app)
    token = await _token(client)

    duplicate = await client.post(
        "/bot/rules", data=_rule_form(token, id="returns"), headers={"HX-Request": "true"}
    )
    assert duplicate.status_code == 422
    assert 'id="error-id"' in duplicate.text and "a rule with id returns already exists" in duplicate.text
    assert "Nothing was saved" in duplicate.text
    assert "Hoe laat gaan jullie dicht?" in unescape(duplicate.text)  # what was typed is kept
    assert 'id="bot-content"' in duplicate.text  # what htmx selects and swaps

    no_answer = await client.post("/bot/rules", data=_rule_form(token, answer_nl="  "))
    assert no_answer.status_code == 422
    assert 'id="error-answer_nl"' in no_answer.text and "default language" in no_answer.text
    assert "From 9 to 5." in no_answer.text

    bad_id = await client.post("/bot/rules", data=_rule_form(token, id="Opening Hours!"))
    assert bad_id.status_code == 422 and 'id="error-id"' in bad_id.text and "must be a slug" in bad_id.text

    no_examples = await client.post(
        "/bot/rules/returns", data=_rule_form(token, id="returns", questions_nl="", questions_en=" \n ")
    )
    assert no_examples.status_code == 422 and 'id="error-questions_nl"' in no_examples.text

    nul = await client.post("/bot/rules", data=_rule_form(token, answer_en="From 9\x00 to 5"))
    assert nul.status_code == 422 and 'id="error-answer_en"' in nul.text and "NUL" in nul.text

    renamed_onto_other = await client.post("/bot/rules/returns", data=_rule_form(token, id="delivery-time"))
    assert renamed_onto_other.status_code == 422 and "already exists" in renamed_onto_other.text

    missing = await client.post("/bot/rules/no-such-rule", data=_rule_form(token))
    assert missing.status_code == 404

    assert await _document(app) == before  # nothing half-saved


async def test_bot_settings_are_saved_whole_or_refused(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    await _apply(client, RULES_YAML)
    page = await client.get("/bot/settings")
    assert page.status_code == 200 and "medewerker" in page.text
    token = csrf_from(page.text)
    form = {
        "_csrf_token": token,
        "enabled": "1",
        "default_language": "nl",
        "answer_threshold": "0,6",
        "ambiguity_margin": "0.1",
        "handoff_phrases_nl": "medewerker\nbellen met iemand",
        "handoff_phrases_en": "human",
        "handoff_message_nl": "Een collega neemt het over.",
        "handoff_message_en": "A colleague takes over.",
        "greeting_nl": "Hoi! Stel je vraag.",
        "greeting_en": "",
    }
    saved = await client.post("/bot/settings", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/bot/settings?saved=1"
    async with app.state.writer.sessionmaker() as session:
        rules = await load_ruleset(session)
    assert rules is not None
    assert rules.answer_threshold == 0.6 and rules.ambiguity_margin == 0.1
    assert rules.handoff_phrases["nl"] == ("medewerker", "bellen met iemand")
    assert dict(rules.greeting) == {"nl": "Hoi! Stel je vraag."}
    assert [rule.id for rule in rules.rules] == ["delivery-time", "returns"]  # the rules stay

    before = await _document(app)
    bad = await client.post(
        "/bot/settings", data={**form, "answer_threshold": "lots", "ambiguity_margin": "2"}
    )
    assert bad.status_code == 422
    assert 'id="error-answer_threshold"' in bad.text and "Nothing was saved" in bad.text
    switched = await client.post("/bot/settings", data={**form, "default_language": "de"})
    assert switched.status_code == 422 and 'id="error-default_language"' in switched.text
    assert "no answer in the default language" in switched.text
    assert await _document(app) == before

    off = await client.post("/bot/settings", data={k: v for k, v in form.items() if k != "enabled"})
    assert off.status_code == 303
    assert "The bot is switched off" in (await client.get("/bot/rules")).text


async def test_import_previews_then_applies_and_export_round_trips(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    preview = await _import(client, RULES_YAML)
    assert preview.status_code == 200
    assert 'data-change="added"' in preview.text and "<code>delivery-time</code>" in preview.text
    assert await _document(app) is None  # a preview changes nothing
    await _apply(client, RULES_YAML)
    assert "Imported: the bot now has 2 rules." in (await client.get("/bot/transfer?imported=2")).text

    exported = await client.get("/bot/export.yaml")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="onethread-bot-rules.yaml"'
    assert load_rules_yaml(exported.text) == load_rules_yaml(RULES_YAML)

    # The same file again: nothing to import. One rule changed and one added: the preview says so.
    same = await _import(client, exported.text)
    assert "there is nothing to import" in same.text
    changed = RULES_YAML.replace("Binnen 2 werkdagen.", "Binnen 1 werkdag.") + (
        '  - id: invoice\n    questions: {nl: ["Waar is mijn factuur?"]}\n    answer: {nl: In je account.}\n'
    )
    second = await _import(client, changed)
    assert re.search(r'data-change="changed">1 rule changed: <code>delivery-time</code>', second.text)
    assert re.search(r'data-change="added">1 rule added: <code>invoice</code>', second.text)
    assert re.search(r'data-change="unchanged">1 rule unchanged', second.text)


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (
            RULES_YAML + "  - id: returns\n    questions: {nl: [x]}\n    answer: {nl: y}\n",
            "Line 18: duplicate rule id 'returns'",
        ),
        (
            RULES_YAML.replace('answer: {nl: "Retourneren kan binnen 30 dagen.", ', "answer: {"),
            "Line 17: rule 'returns' has no answer in the default language 'nl'",
        ),
        ("default_language: nl\nrules:\n  - id: a\n    questions: [unclosed\n", "invalid YAML"),
    ],
    ids=["duplicate-id", "missing-default-answer", "invalid-yaml"],
)
async def test_a_broken_import_says_where_and_changes_nothing(
    admin: Api, client: httpx.AsyncClient, app: Litestar, broken: str, expected: str
) -> None:
    await _apply(client, RULES_YAML)
    before = await _document(app)
    refused = await _import(client, broken)
    assert refused.status_code == 422
    assert "rules.yaml cannot be imported; nothing was changed." in refused.text
    assert expected in unescape(refused.text)
    assert re.search(r"Line \d+:", refused.text)
    # Posting the broken text to the apply step directly is refused the same way.
    direct = await client.post(
        "/bot/import/apply", data={"_csrf_token": csrf_from(refused.text), "yaml": broken}
    )
    assert direct.status_code == 422
    binary = await client.post(
        "/bot/import",
        data={"_csrf_token": csrf_from(refused.text)},
        files={"file": ("x.yaml", b"\xff\xfe\x00bad")},
    )
    assert binary.status_code == 422 and "not UTF-8 text" in binary.text
    assert await _document(app) == before


async def test_try_it_shows_the_decision_with_candidate_scores(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    token = await _token(client, "/bot/try")
    nothing = await client.post(
        "/bot/try", data={"_csrf_token": token, "text": "hallo"}, headers={"HX-Request": "true"}
    )
    assert "There are no rules yet" in nothing.text
    await _apply(client, RULES_YAML)

    answered = await client.post(
        "/bot/try",
        data={"_csrf_token": token, "text": "Hoe lang duurt de levering?", "lang": ""},
        headers={"HX-Request": "true"},
    )
    assert answered.status_code == 200
    assert answered.text.lstrip().startswith('<div id="bot-try-result"')  # only the panel, for htmx
    assert 'data-outcome="answer"' in answered.text and 'data-language="nl"' in answered.text
    scores = dict(re.findall(r'data-rule="([^"]+)" data-score="([0-9.]+)"', answered.text))
    assert float(scores["delivery-time"]) > float(scores.get("returns", "0"))
    assert float(scores["delivery-time"]) >= 0.5
    assert re.search(r'<meter min="0" max="1" value="[0-9.]+"', answered.text)
    assert "Binnen 2 werkdagen." in answered.text

    english = await client.post(
        "/bot/try",
        data={"_csrf_token": token, "text": "How do I return something?", "lang": "en"},
        headers={"HX-Request": "true"},
    )
    assert 'data-outcome="answer"' in english.text and "You can return within 30 days." in english.text

    person = await client.post(
        "/bot/try",
        data={"_csrf_token": token, "text": "ik wil een medewerker <b>nu</b>"},
        headers={"HX-Request": "true"},
    )
    assert 'data-outcome="handoff"' in person.text and "asked for a person" in person.text
    assert "Ik verbind je met een collega." in person.text

    # Without JavaScript: the whole page, the question kept (escaped) in its box.
    page = await client.post("/bot/try", data={"_csrf_token": token, "text": "<script>x</script> levering"})
    assert page.status_code == 200 and 'id="bot-content"' in page.text
    assert "<script>x</script>" not in page.text and "&lt;script&gt;x&lt;/script&gt; levering" in page.text


async def _seed_decisions(app: Litestar, api: Api) -> int:
    """A thread and the decisions the bot's turn would have recorded on it (newest last)."""
    shop = await api.add_api_channel("Shop")
    created = await api.inbound(shop, "hallo", contact_id="anna", name="Anna")
    thread_id = int(created["thread_id"])
    now = datetime.now(UTC)

    def decision(minutes_ago: int, outcome: str, **fields: Any) -> BotDecision:
        fields.setdefault("language", "nl")
        return BotDecision(
            thread_id=thread_id, outcome=outcome, created_at=now - timedelta(minutes=minutes_ago), **fields
        )

    rows = [
        decision(50, "handoff", question="Kan ik met PayPal betalen?", reason="no_match"),
        decision(40, "handoff", question="kan ik met paypal betalen", reason="no_match"),
        decision(30, "handoff", question="Kán ik met PayPal betalen?!", reason="second_miss"),
        decision(45, "handoff", question="Waar is de winkel?", reason="no_match", language="nl"),
        decision(
            20,
            "answered",
            question="Hoe lang duurt levering",
            rule_id="delivery-time",
            score=0.82,
            feedback="helpful",
        ),
        decision(
            19,
            "answered",
            question="levering naar Belgie?",
            rule_id="delivery-time",
            score=0.7,
            feedback="not_helpful",
        ),
        decision(18, "handoff", question="Dit hielp niet", reason="not_helpful"),
        decision(17, "answered", question="pakket bezorgd?", rule_id="delivery-time", score=0.9),
        decision(16, "suggested", question="terug", rule_id="returns", score=0.4),
        decision(15, "handoff", question="medewerker", reason="asked_for_person"),
        decision(14, "greeted", question="hoi", reason="no_match"),
        decision(60 * 24 * 40, "handoff", question="Oude vraag", reason="no_match"),
    ]
    async with app.state.writer.sessionmaker() as session:
        session.add_all(rows)
        await session.commit()
    return thread_id


async def test_unanswered_questions_become_rules_examples_or_are_dismissed(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    thread_id = await _seed_decisions(app, admin)  # before the rules: the bot leaves the thread alone
    await _apply(client, RULES_YAML)
    page = await client.get("/bot/unanswered")
    assert page.status_code == 200
    texts = [unescape(t) for t in re.findall(r'<q class="bot-question-text"[^>]*>(.*?)</q>', page.text)]
    # Newest ask first; the three PayPal phrasings are one question; the handoff recorded for the
    # "didn't help" button is not a question, the answer that did not help is.
    assert texts == ["levering naar Belgie?", "Kán ik met PayPal betalen?!", "Waar is de winkel?"]
    assert "asked 3 times" in page.text and f'href="/threads/{thread_id}"' in page.text
    assert "Oude vraag" not in page.text
    assert "Oude vraag" in (await client.get("/bot/unanswered?days=90")).text

    make = re.search(r'href="(/bot/rules/new\?[^"]*)"[^>]*>Make a rule', page.text)
    assert make
    new = await client.get(unescape(make.group(1)))
    assert "levering naar Belgie?</textarea>" in new.text
    form = re.search(r'name="from_question" value="([^"]*)"', new.text)
    assert form and unescape(form.group(1)) == "levering naar Belgie?"

    token = csrf_from(page.text)
    created = await client.post(
        "/bot/rules",
        data={
            "_csrf_token": token,
            "id": "delivery-belgium",
            "enabled": "1",
            "questions_nl": "levering naar Belgie?",
            "answer_nl": "Ja, ook naar België.",
            "from_question": "levering naar Belgie?",
        },
    )
    assert created.status_code == 303
    added = await client.post(
        "/bot/unanswered/add",
        data={
            "_csrf_token": token,
            "question": "Kán ik met PayPal betalen?!",
            "lang": "nl",
            "rule_id": "returns",
        },
    )
    assert added.status_code == 303 and added.headers["location"] == "/bot/unanswered?added=returns"
    async with app.state.writer.sessionmaker() as session:
        rules = await load_ruleset(session)
    assert rules is not None
    returns = rules.rule("returns")
    assert returns is not None and returns.questions["nl"][-1] == "Kán ik met PayPal betalen?!"

    dismissed = await client.post(
        "/bot/unanswered/dismiss?days=30", data={"_csrf_token": token, "question": "waar is de WINKEL"}
    )
    assert dismissed.status_code == 303
    after = await client.get("/bot/unanswered")
    assert "No unanswered questions in this period." in after.text

    unknown = await client.post(
        "/bot/unanswered/add", data={"_csrf_token": token, "question": "x", "lang": "nl", "rule_id": "nope"}
    )
    assert unknown.status_code == 422 and "Pick a rule from the list." in unknown.text


async def test_figures_count_the_seeded_decisions(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    await _seed_decisions(app, admin)  # before the rules: the bot leaves the thread alone
    await _apply(client, RULES_YAML)
    page = await client.get("/bot/stats")
    assert page.status_code == 200

    def figure(name: str) -> str:
        found = re.search(rf'data-figure="{name}">([^<]*)<', page.text)
        assert found, name
        return unescape(found.group(1)).replace("\xa0", " ")

    # In the last 30 days: 3 answered, 1 suggested, 6 handoffs (the greeting is no question).
    assert figure("questions") == "10"
    assert figure("answered") == "3"
    assert figure("answered-share") == "30 %"
    assert figure("suggested") == "1"
    assert figure("handoffs") == "6"
    assert figure("feedback") == "1 / 1"
    reasons = dict(
        re.findall(r'<tr data-reason="([^"]+)"><td>[^<]*</td><td class="num">(\d+)</td>', page.text)
    )
    assert reasons == {"no_match": "3", "second_miss": "1", "not_helpful": "1", "asked_for_person": "1"}
    row = re.search(r'<tr data-rule="delivery-time">(.*?)</tr>', page.text, re.S)
    assert row
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) == ["3", "0", "1", "1", "50&nbsp;%"]

    rules_list = (await client.get("/bot/rules")).text
    assert re.search(r'id="rule-delivery-time".*?<td class="num">3</td>.*?50&nbsp;%', rules_list, re.S)

    today = datetime.now(UTC).date()
    old = await client.get(
        f"/bot/stats?from={(today - timedelta(days=45)).isoformat()}&to={(today - timedelta(days=35)).isoformat()}"
    )
    assert re.search(r'data-figure="handoffs">1<', old.text)
    bad = await client.get("/bot/stats?from=2026-13-01&to=2026-01-01")
    assert bad.status_code == 422 and "Pick a start date on or before the end date" in bad.text


BOT_PAGES = [
    ("get", "/bot/rules"),
    ("get", "/bot/rules/new"),
    ("get", "/bot/rules/delivery-time/edit"),
    ("post", "/bot/rules"),
    ("post", "/bot/rules/delivery-time"),
    ("post", "/bot/rules/delivery-time/enabled"),
    ("post", "/bot/rules/delivery-time/delete"),
    ("get", "/bot/settings"),
    ("post", "/bot/settings"),
    ("get", "/bot/try"),
    ("post", "/bot/try"),
    ("get", "/bot/unanswered"),
    ("post", "/bot/unanswered/add"),
    ("post", "/bot/unanswered/dismiss"),
    ("get", "/bot/stats"),
    ("get", "/bot/transfer"),
    ("get", "/bot/export.yaml"),
    ("post", "/bot/import"),
    ("post", "/bot/import/apply"),
]


async def test_agents_who_are_not_admins_are_refused_every_bot_page(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    inbox = await agent_client.get("/")
    assert 'href="/bot"' not in inbox.text  # no link for them either
    token = csrf_from(inbox.text)
    for method, path in BOT_PAGES:
        if method == "get":
            response = await agent_client.get(path)
        else:
            response = await agent_client.post(path, data={"_csrf_token": token, "id": "x", "text": "x"})
        assert response.status_code == 403, (method, path)
        assert "Admins only" in response.text, (method, path)
    assert await _document(app) is None


async def test_admins_find_the_bot_in_the_navigation(admin: Api, client: httpx.AsyncClient) -> None:
    inbox = await client.get("/")
    assert '<a href="/bot" >Bot</a>' in inbox.text or 'href="/bot"' in inbox.text
    index = await client.get("/bot")
    assert index.status_code == 303 and index.headers["location"] == "/bot/rules"
    dutch = await client.get("/bot/rules", headers={"Accept-Language": "nl"})
    assert "Regels" in dutch.text or "Nog geen regels" in dutch.text


def test_the_export_is_the_yaml_dump() -> None:
    rules = load_rules_yaml(RULES_YAML)
    assert load_rules_yaml(dump_rules_yaml(rules)) == rules


async def test_the_timeline_says_what_the_bot_did_and_links_the_rule_for_admins(
    admin: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    shop = await admin.add_api_channel("Shop")
    created = await admin.inbound(shop, "<b>Hoe lang</b> duurt levering?", contact_id="anna", name="Anna")
    thread_id = int(created["thread_id"])
    bot = {"decision_id": 1, "rule_id": "delivery-time", "score": 0.8234}
    async with app.state.writer.sessionmaker() as session:
        session.add_all(
            [
                Message(
                    thread_id=thread_id,
                    direction="out",
                    channel="api",
                    author_type="bot",
                    text="Binnen 2 werkdagen.",
                    meta={"bot": {**bot, "outcome": "answered"}},
                ),
                Message(
                    thread_id=thread_id,
                    direction="out",
                    channel="api",
                    author_type="bot",
                    text="Bedoel je een van deze?",
                    meta={"bot": {**bot, "outcome": "suggested", "score": 0.41}},
                ),
                Message(
                    thread_id=thread_id,
                    direction="out",
                    kind="system",
                    channel="system",
                    author_type="system",
                    text="Bot handed over: no rule matched confidently",
                    meta={
                        "event": "bot-handoff",
                        "bot": {"decision_id": 3, "outcome": "handoff", "reason": "no_match", "score": 0.1},
                    },
                ),
                Message(
                    thread_id=thread_id,
                    direction="out",
                    channel="api",
                    author_type="bot",
                    text="odd",
                    meta={"bot": {"outcome": "<script>", "rule_id": ["x"]}},
                ),
            ]
        )
        await session.commit()

    page = (await client.get(f"/threads/{thread_id}")).text
    assert re.search(
        r'Bot answered with <a href="/bot/rules/delivery-time/edit"><code>delivery-time</code></a>, score 0.82',
        page,
    )
    assert "Bot suggested rules, best" in page and "score 0.41" in page
    # The handoff line is said from its facts (the stored English text is not shown twice).
    assert "Bot handed off: no rule matched" in page and "no rule matched confidently" not in page
    assert page.count('class="bot-note ') == 3  # the odd meta shows no note
    assert "&lt;b&gt;Hoe lang&lt;/b&gt; duurt levering?" in page  # customer text stays escaped

    # An agent who is not an admin reads the same note, without the link to the editor.
    async with http_client(app) as other:
        await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
        assert (await login(other, "ada@example.com")).status_code == 303
        agent_page = (await other.get(f"/threads/{thread_id}")).text
    assert "Bot answered with <code>delivery-time</code>, score 0.82" in agent_page
    assert "/bot/rules/" not in agent_page
    dutch = (await client.get(f"/threads/{thread_id}", headers={"Accept-Language": "nl"})).text
    assert "Bot droeg over: geen regel paste" in dutch
