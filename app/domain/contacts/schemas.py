"""What the JSON API says about contacts, identities, merges and suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.db.models import Contact, Identity
from app.lib.fields import text


class IdentityOut(msgspec.Struct):
    id: int
    channel: str
    external_id: str
    verified: bool
    display_name: str | None = None


class ContactOut(msgspec.Struct):
    id: int
    name: str | None
    email: str | None
    phone: str | None
    attributes: dict[str, Any]
    identities: list[IdentityOut]
    thread_id: int | None
    merged_into_id: int | None
    created_at: datetime


class SuggestionOut(msgspec.Struct):
    id: int
    reason: str
    contact: ContactOut
    other_contact: ContactOut
    created_at: datetime


class MergeOut(msgspec.Struct):
    id: int
    primary_contact_id: int
    other_contact_id: int
    reason: str
    created_at: datetime
    undone_at: datetime | None


class ContactPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; an email or phone adds an identity (and may link another contact)."""

    name: Annotated[str, text(max_length=200)] | None = None
    email: Annotated[str, text(max_length=320)] | None = None
    phone: Annotated[str, text(max_length=40)] | None = None
    attributes: dict[str, Any] | None = None


class MergeIn(msgspec.Struct, forbid_unknown_fields=True):
    other_id: int


def identity_out(identity: Identity) -> IdentityOut:
    return IdentityOut(
        id=identity.id or 0,
        channel=identity.channel,
        external_id=identity.external_id,
        verified=identity.verified,
        display_name=identity.display_name,
    )


def contact_out(contact: Contact, identities: list[Identity], thread_id: int | None = None) -> ContactOut:
    return ContactOut(
        id=contact.id or 0,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        attributes=dict(contact.attributes or {}),
        identities=[identity_out(i) for i in identities],
        thread_id=thread_id,
        merged_into_id=contact.merged_into_id,
        created_at=contact.created_at,
    )
