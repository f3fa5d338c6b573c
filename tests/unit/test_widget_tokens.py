"""Visitor tokens, user hashes and signed file links: genuine ones pass, anything else is nobody's."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from app.domain.widget.tokens import (
    VisitorToken,
    attachment_signature_valid,
    new_visitor_key,
    read_visitor_token,
    sign_visitor_token,
    signed_attachment_query,
    user_hash,
    user_hash_matches,
)

SECRET = "unit-test-secret"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def token(**changes: object) -> VisitorToken:
    fields: dict[str, object] = {
        "site": "5f79c38a-8556-4580-8b1f-ef4ea257b3bf",
        "key": "v:abc",
        "expires": NOW + timedelta(days=30),
        "name": "Anna <b>",
        "email": "anna@example.com",
    }
    fields.update(changes)
    return VisitorToken(**fields)  # type: ignore[arg-type]


def test_a_signed_token_reads_back_until_it_expires() -> None:
    signed = sign_visitor_token(SECRET, token())
    assert read_visitor_token(SECRET, signed, now=NOW) == token(
        expires=datetime.fromtimestamp(int((NOW + timedelta(days=30)).timestamp()), UTC)
    )
    assert read_visitor_token(SECRET, signed, now=NOW + timedelta(days=30, seconds=1)) is None


def test_tampered_foreign_and_malformed_tokens_are_nobodys() -> None:
    signed = sign_visitor_token(SECRET, token())
    body, _, mac = signed.partition(".")
    other_body = sign_visitor_token(SECRET, token(key="v:someone-else")).partition(".")[0]
    for bad in (
        other_body + "." + mac,  # another visitor's payload with this MAC
        signed + "x",
        body + "." + mac[::-1],
        sign_visitor_token("another installation", token()),
        "",
        "no-dot",
        "a.b.c",
        "!!!.???",
        "x" * 5000,
    ):
        assert read_visitor_token(SECRET, bad, now=NOW) is None, bad


def test_only_user_keys_are_verified_and_ids_are_scoped_by_site() -> None:
    assert not token().verified
    assert token(key="u:42").verified
    assert token(key="u:42").external_id == "5f79c38a-8556-4580-8b1f-ef4ea257b3bf:u:42"
    keys = {new_visitor_key() for _ in range(100)}
    assert len(keys) == 100 and all(k.startswith("v:") and len(k) > 20 for k in keys)


def test_user_hash_is_what_the_sites_server_computes() -> None:
    expected = hmac.new(b"identity-secret", b"42", hashlib.sha256).hexdigest()
    assert user_hash("identity-secret", "42") == expected
    assert user_hash_matches("identity-secret", "42", expected.upper())
    assert not user_hash_matches("identity-secret", "43", expected)
    assert not user_hash_matches("", "42", user_hash("", "42"))  # no secret, no verified users


def test_file_links_are_stable_for_a_day_and_refuse_tampering() -> None:
    query = signed_attachment_query(SECRET, 7, now=NOW)
    assert query == signed_attachment_query(SECRET, 7, now=NOW + timedelta(hours=1))
    params = dict(part.split("=") for part in query.split("&"))
    expires, signature = int(params["exp"]), params["sig"]
    assert attachment_signature_valid(SECRET, 7, expires, signature, now=NOW)
    assert not attachment_signature_valid(SECRET, 8, expires, signature, now=NOW)
    assert not attachment_signature_valid(SECRET, 7, expires + 86_400, signature, now=NOW)
    assert not attachment_signature_valid(SECRET, 7, expires, signature, now=NOW + timedelta(days=3))
