"""The contact panel over HTTP, as the browser uses it: edit, add email/phone, merge, undo, suggestions.

Every form is exercised both ways: a plain post (303 to the thread) and an HTMX post (the panel
swapped in, or a client redirect when the timeline changed).
"""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from tests.console import csrf_from, login
from tests.helpers import PASSWORD, Api


@pytest.fixture
async def console(client: httpx.AsyncClient, app: Litestar) -> tuple[httpx.AsyncClient, Api]:
    """A logged-in agent in the console, and an admin API client to set up customers."""
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    assert (await login(client)).status_code == 303
    api = await Api.login(client, app)
    return client, api


async def _thread_of(api: Api, name: str) -> dict[str, object]:
    threads = (await api.get("/api/v1/threads/"))["items"]
    return next(t for t in threads if t["contact"]["name"] == name)  # type: ignore[no-any-return]


async def _htmx(client: httpx.AsyncClient, thread_id: int) -> dict[str, str]:
    token = csrf_from((await client.get(f"/threads/{thread_id}")).text)
    return {"HX-Request": "true", "X-CSRFToken": token}


def _shown_keys(page: str) -> str:
    """The edit form's hidden list of the attribute keys it showed, as the browser posts it back."""
    match = re.search(r'name="shown_keys" value="([^"]*)"', page)
    assert match, "no shown_keys field in the edit form"
    return unescape(match.group(1))


async def test_panel_shows_identities_labels_and_attributes_escaped(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "hi", contact_id="shop-7", name="<b>Noor</b>", email="noor@example.com")
    thread = await _thread_of(api, "<b>Noor</b>")
    contact_id = thread["contact"]["id"]  # type: ignore[index]
    await api.patch(f"/api/v1/contacts/{contact_id}", {"attributes": {"plan": "<gold>", "labels": ["vip"]}})
    page = (await client.get(f"/threads/{thread['id']}")).text
    panel = page[page.index('id="contact-panel"') :]
    assert "&lt;b&gt;Noor&lt;/b&gt;" in panel and "<b>Noor</b>" not in panel
    assert ">shop-7</span>" in panel and '<span class="badge badge--api">API</span>' in panel
    assert "noor@example.com" in panel
    assert '<li class="cp-label">vip</li>' in panel
    assert "plan: &lt;gold&gt;" in panel  # in the edit form's textarea, escaped
    assert f'hx-get="/contacts/{contact_id}/suggestions"' in panel  # suggestions load after the page


async def test_edit_name_labels_and_attributes_with_and_without_htmx(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "hi", contact_id="c-1", name="Pim")
    thread = await _thread_of(api, "Pim")
    thread_id, contact_id = thread["id"], thread["contact"]["id"]  # type: ignore[index]
    await api.patch(f"/api/v1/contacts/{contact_id}", {"attributes": {"order": "1042", "nested": {"a": 1}}})
    headers = await _htmx(client, thread_id)  # type: ignore[arg-type]
    shown = _shown_keys((await client.get(f"/threads/{thread_id}")).text)

    swapped = await client.post(
        f"/contacts/{contact_id}/edit",
        data={
            "name": "Pim de Vries",
            "labels": "vip, late delivery, vip",
            "attributes": "city: Utrecht",
            "shown_keys": shown,
        },
        headers=headers,
    )
    assert swapped.status_code == 200, swapped.text
    assert swapped.headers["hx-retarget"] == "#contact-panel"
    assert "Contact saved." in swapped.text and "Pim de Vries" in swapped.text
    # The thread's heading follows the rename without a reload.
    assert '<h1 id="thread-title" hx-swap-oob="true">Pim de Vries</h1>' in swapped.text
    contact = await api.get(f"/api/v1/contacts/{contact_id}")
    assert contact["name"] == "Pim de Vries"
    # "order" was removed from the text, so it is gone; the nested value is never offered, so kept.
    assert contact["attributes"] == {
        "city": "Utrecht",
        "labels": ["vip", "late delivery"],
        "nested": {"a": 1},
    }

    plain = await client.post(
        f"/contacts/{contact_id}/edit",
        data={
            "name": "Pim",
            "labels": "",
            "attributes": "city: Delft",
            "_csrf_token": headers["X-CSRFToken"],
        },
    )
    assert plain.status_code == 303 and plain.headers["location"] == f"/threads/{thread_id}"
    assert (await api.get(f"/api/v1/contacts/{contact_id}"))["attributes"]["city"] == "Delft"

    refused = await client.post(
        f"/contacts/{contact_id}/edit",
        data={"name": "Pim", "labels": "", "attributes": "no colon on this line"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "line 1: write it as key: value" in refused.text
    assert "no colon on this line" in refused.text  # what was typed is kept


async def test_saving_the_form_keeps_an_attribute_added_after_it_was_shown(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "hi", contact_id="c-2", name="Lot")
    thread = await _thread_of(api, "Lot")
    thread_id, contact_id = thread["id"], thread["contact"]["id"]  # type: ignore[index]
    await api.patch(f"/api/v1/contacts/{contact_id}", {"attributes": {"order": "1042", "city": "Ede"}})
    page = (await client.get(f"/threads/{thread_id}")).text  # agent A opens the panel
    shown, token = _shown_keys(page), csrf_from(page)
    # Meanwhile an integration adds a plan the open form has never seen.
    await api.patch(f"/api/v1/contacts/{contact_id}", {"attributes": {"plan": "gold"}})

    # A renames the customer and, in the same save, removes "order" from the text.
    saved = await client.post(
        f"/contacts/{contact_id}/edit",
        data={
            "name": "Lot Jansen",
            "labels": "",
            "attributes": "city: Ede",
            "shown_keys": shown,
            "_csrf_token": token,
        },
    )
    assert saved.status_code == 303, saved.text
    contact = await api.get(f"/api/v1/contacts/{contact_id}")
    assert contact["name"] == "Lot Jansen"
    assert contact["attributes"]["plan"] == "gold"  # added after the form was shown: kept
    assert "order" not in contact["attributes"]  # shown, then removed by the agent: gone
    assert contact["attributes"]["city"] == "Ede"


async def test_saving_a_form_of_a_contact_merged_away_meanwhile_is_refused_then_lands_on_the_survivor(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    for external, name in (("m-1", "Ria"), ("m-2", "Ria B")):
        await api.inbound(shop, f"I am {name}", contact_id=external, name=name)
    ria, other = await _thread_of(api, "Ria"), await _thread_of(api, "Ria B")
    ria_id, other_id = ria["contact"]["id"], other["contact"]["id"]  # type: ignore[index]
    await api.patch(f"/api/v1/contacts/{other_id}", {"attributes": {"tier": "2"}})
    page = (await client.get(f"/threads/{other['id']}")).text  # the form of the contact about to go
    shown, token = _shown_keys(page), csrf_from(page)
    await api.post(f"/api/v1/contacts/{ria_id}/merge", {"other_id": other_id}, expect=201)
    await api.patch(f"/api/v1/contacts/{ria_id}", {"attributes": {"since": "2019"}})

    form = {"name": "Ria Bos", "labels": "", "attributes": "", "shown_keys": shown}
    refused = await client.post(
        f"/contacts/{other_id}/edit", data=form, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert refused.status_code == 409
    assert "merged into another" in refused.text
    assert f'hx-post="/contacts/{ria_id}/edit"' in refused.text  # the form now edits the survivor
    assert "Ria Bos" in refused.text  # what was typed is kept
    assert _shown_keys(refused.text) == shown  # and so is what the first form had shown
    assert (await api.get(f"/api/v1/contacts/{ria_id}"))["attributes"]["since"] == "2019"

    again = await client.post(f"/contacts/{ria_id}/edit", data={**form, "_csrf_token": token})
    assert again.status_code == 303 and again.headers["location"] == f"/threads/{ria['id']}"
    contact = await api.get(f"/api/v1/contacts/{ria_id}")
    assert contact["name"] == "Ria Bos"
    assert contact["attributes"].get("since") == "2019"  # never on the agent's form: kept


async def test_adding_an_email_another_contact_has_verified_merges_and_says_so(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "first", contact_id="a", name="Anna")
    await api.inbound(shop, "second", contact_id="b", name="Anna B")
    anna, anna_b = await _thread_of(api, "Anna"), await _thread_of(api, "Anna B")
    anna_id, anna_b_id = anna["contact"]["id"], anna_b["contact"]["id"]  # type: ignore[index]
    headers = await _htmx(client, anna["id"])  # type: ignore[arg-type]

    first = await client.post(
        f"/contacts/{anna_id}/identities", data={"email": "anna@example.com"}, headers=headers
    )
    assert first.status_code == 200 and "anna@example.com" in first.text and "verified" in first.text

    bad = await client.post(
        f"/contacts/{anna_b_id}/identities", data={"phone": "not a number"}, headers=headers
    )
    assert bad.status_code == 422 and "not a number" in bad.text
    empty = await client.post(f"/contacts/{anna_b_id}/identities", data={}, headers=headers)
    assert empty.status_code == 422 and "fill in an email address or a phone number" in empty.text

    merged = await client.post(
        f"/contacts/{anna_b_id}/identities", data={"email": "Anna@Example.com"}, headers=headers
    )
    assert merged.status_code == 200
    target = merged.headers["hx-redirect"]
    assert re.fullmatch(rf"/threads/{anna['id']}#m-\d+", target), target
    page = (await client.get(target.split("#")[0])).text
    assert "Anna B was merged into Anna" in page and "same verified email address anna@example.com" in page
    assert "Undo merge" in page
    assert (await api.get(f"/api/v1/contacts/{anna_b_id}"))["merged_into_id"] == anna_id


async def test_merge_by_search_with_preview_then_undo_from_the_line(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "from the shop", contact_id="s-1", name="Sam")
    await api.inbound(shop, "later", contact_id="s-1", name="Sam")
    await api.post(
        "/api/v1/phone-notes",
        {"phone": "+31 6 1234 5678", "text": "called", "direction": "inbound"},
        expect=201,
    )
    sam = await _thread_of(api, "Sam")
    phone_thread = next(t for t in (await api.get("/api/v1/threads/"))["items"] if t["id"] != sam["id"])
    sam_id, other_id = sam["contact"]["id"], phone_thread["contact"]["id"]  # type: ignore[index]
    headers = await _htmx(client, sam["id"])  # type: ignore[arg-type]

    found = await client.get(f"/contacts/{sam_id}/candidates", params={"q": "612345"}, headers=headers)
    assert found.status_code == 200
    assert f"merge-preview?other_id={other_id}" in found.text and f"other_id={sam_id}" not in found.text
    nothing = await client.get(f"/contacts/{sam_id}/candidates", params={"q": "zzz"}, headers=headers)
    assert "No other contact matches “zzz”." in nothing.text
    no_js = await client.get(f"/contacts/{sam_id}/candidates", params={"q": "612345"})
    assert no_js.status_code == 200 and "<html" in no_js.text and f"other_id={other_id}" in no_js.text

    preview = await client.get(
        f"/contacts/{sam_id}/merge-preview", params={"other_id": other_id}, headers=headers
    )
    assert preview.status_code == 200
    text = unescape(preview.text)
    assert "This thread stays; the other thread's 1 message moves into it." in text
    assert "+31612345678" in text and "Fills in phone: +31612345678" in text
    assert 'name="other_id"' in preview.text

    done = await client.post(f"/contacts/{sam_id}/merge", data={"other_id": str(other_id)}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.headers["hx-redirect"].startswith(f"/threads/{sam['id']}#m-")
    page = (await client.get(f"/threads/{sam['id']}")).text
    undo = re.search(r'action="/merges/(\d+)/undo"', page)
    assert undo, "no undo on the merge line"
    assert "called" in page  # the phone note moved into Sam's timeline

    # From the thread page itself: a redirect there would only scroll, so the page is refreshed.
    here = {**headers, "HX-Current-URL": f"http://testserver.local/threads/{sam['id']}"}
    undone = await client.post(f"/merges/{undo.group(1)}/undo", headers=here)
    assert undone.status_code == 200 and undone.headers["hx-refresh"] == "true"
    page = (await client.get(f"/threads/{sam['id']}")).text
    assert "called" not in page and "Undo merge" not in page
    assert (await api.get(f"/api/v1/contacts/{other_id}"))["merged_into_id"] is None

    twice = await client.post(f"/merges/{undo.group(1)}/undo", headers=headers)
    assert twice.status_code == 409
    assert twice.headers["hx-retarget"] == f"#merge-undo-{undo.group(1)}"
    assert "this merge was already undone" in twice.text and "Undo merge" not in twice.text
    twice_plain = await client.post(
        f"/merges/{undo.group(1)}/undo", data={"_csrf_token": headers["X-CSRFToken"]}
    )
    assert twice_plain.status_code == 409 and "this merge was already undone" in twice_plain.text


async def test_merge_without_javascript_and_refusals(console: tuple[httpx.AsyncClient, Api]) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "one", contact_id="x", name="Xavi")
    await api.inbound(shop, "two", contact_id="y", name="Yara")
    xavi, yara = await _thread_of(api, "Xavi"), await _thread_of(api, "Yara")
    xavi_id, yara_id = xavi["contact"]["id"], yara["contact"]["id"]  # type: ignore[index]
    token = csrf_from((await client.get(f"/threads/{xavi['id']}")).text)

    itself = await client.post(
        f"/contacts/{xavi_id}/merge",
        data={"other_id": str(xavi_id)},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert itself.status_code == 409 and "a contact cannot be merged with itself" in itself.text
    preview = await client.get(f"/contacts/{xavi_id}/merge-preview", params={"other_id": xavi_id})
    assert "a contact cannot be merged with itself" in preview.text and 'name="other_id"' not in preview.text

    done = await client.post(
        f"/contacts/{xavi_id}/merge", data={"other_id": str(yara_id), "_csrf_token": token}
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/threads/{xavi['id']}#m-")
    again = await client.post(
        f"/contacts/{xavi_id}/merge", data={"other_id": str(yara_id), "_csrf_token": token}
    )
    assert again.status_code == 409 and "already merged into" in again.text
    assert (
        await client.post(f"/contacts/{xavi_id}/merge", data={"other_id": str(yara_id)})
    ).status_code == 403


async def test_suggestions_show_their_reason_and_can_be_dismissed_or_accepted(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "one", contact_id="p-1", name="Lotte Jansen")
    await api.inbound(shop, "two", contact_id="p-2", name="Lotte Jansen")
    await api.inbound(shop, "three", contact_id="p-3", name="Lotte Jansen")
    threads = (await api.get("/api/v1/threads/"))["items"]
    newest, middle, oldest = (t["contact"]["id"] for t in threads)
    thread_id = threads[0]["id"]
    headers = await _htmx(client, thread_id)

    listed = await client.get(f"/contacts/{newest}/suggestions", headers=headers)
    assert listed.status_code == 200
    assert unescape(listed.text).count("Why: same name “Lotte Jansen”") == 2
    suggestion_ids = sorted(
        set(re.findall(rf'action="/contacts/{newest}/suggestions/(\d+)/dismiss"', listed.text))
    )
    assert len(suggestion_ids) == 2

    dismissed = await client.post(
        f"/contacts/{newest}/suggestions/{suggestion_ids[0]}/dismiss", headers=headers
    )
    assert dismissed.status_code == 200 and "Suggestion dismissed." in dismissed.text
    assert unescape(dismissed.text).count("Why: same name") == 1
    again = await client.post(f"/contacts/{newest}/suggestions/{suggestion_ids[0]}/dismiss", headers=headers)
    assert again.status_code == 409 and "this suggestion was already dismissed" in again.text

    # Accepting is merging with the suggested contact (the review link leads to the preview).
    remaining = re.search(r"merge-preview\?other_id=(\d+)", unescape(dismissed.text))
    assert remaining
    accepted = await client.post(
        f"/contacts/{newest}/merge", data={"other_id": remaining.group(1)}, headers=headers
    )
    assert accepted.status_code == 200 and "hx-redirect" in accepted.headers
    assert [
        s
        for s in (await api.get("/api/v1/merge-suggestions"))["items"]
        if newest in (s["contact"]["id"], s["other_contact"]["id"])
    ] == []
    assert {middle, oldest} >= {int(remaining.group(1))}


async def test_panel_routes_need_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/contacts/1", "/contacts/1/candidates?q=a", "/contacts/1/merge-preview?other_id=2"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_a_contact_merged_twice_opens_the_surviving_thread(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    shop = await api.add_api_channel("Shop")
    for contact_id, name in (("a", "Ann"), ("b", "Bea"), ("c", "Cas")):
        await api.inbound(shop, f"I am {name}", contact_id=contact_id, name=name)
    ann, bea, cas = [await _thread_of(api, n) for n in ("Ann", "Bea", "Cas")]
    ann_id, bea_id, cas_id = (t["contact"]["id"] for t in (ann, bea, cas))  # type: ignore[index]
    await api.post(f"/api/v1/contacts/{ann_id}/merge", {"other_id": bea_id}, expect=201)
    await api.post(f"/api/v1/contacts/{cas_id}/merge", {"other_id": ann_id}, expect=201)
    page = await client.get(f"/contacts/{bea_id}")
    assert page.status_code == 200
    assert (
        f'href="/threads/{cas["id"]}"' in page.text and "I am" not in page.text
    )  # the panel, not a timeline
    assert '<p class="cp-name">Cas</p>' in page.text
