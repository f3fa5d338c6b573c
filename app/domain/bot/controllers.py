"""JSON API for the FAQ bot (README "API"): try a question, export and import the rules document.

``POST /api/v1/bot/try`` runs the stored rules on a text exactly as a turn would (nothing is sent or
recorded); ``GET``/``PUT /api/v1/bot/rules`` read and replace the rules as one JSON document, the
shape of the YAML file ``onethread bot import/export`` reads and writes. Replacing them is for
admins; a document that does not hold is refused with the reason and changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Controller, get, post, put
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.accounts.auth import requires_agent
from app.domain.bot.rule_actions import do_import_rules, invalid_rules
from app.domain.bot.rules import RulesError, RuleSet
from app.domain.bot.store import engine_cache, load_ruleset
from app.domain.realtime.writer import Writer
from app.lib.errors import ConflictError, ForbiddenError, InvalidInputError

MAX_TRY_CHARS = 50_000
"""Longer than any message a channel stores; the engine itself hands over long texts."""

_LANG = re.compile(r"^[a-z]{2}$")


def requires_admin_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """API twin of the console's admin guard: a 403 problem for an agent who is not an admin."""
    user = connection.scope.get("user")
    if not isinstance(user, Agent) or user.role != "admin" or not user.is_active:
        raise ForbiddenError("only admins can replace the bot's rules", type_slug="admins-only")


class TryIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    lang: str | None = None


class CandidateOut(msgspec.Struct):
    rule_id: str
    score: float
    title: str


class TryOut(msgspec.Struct, omit_defaults=True):
    """``rule_id``/``answer``/``score`` for an answer; ``handoff``/``reason`` when the bot would hand
    over; ``suggest`` when it would ask "Did you mean"; ``candidates`` always (best first)."""

    outcome: str
    language: str
    score: float
    candidates: list[CandidateOut]
    rule_id: str | None = None
    answer: str | None = None
    handoff: bool = False
    suggest: bool = False
    reason: str | None = None


class BotController(Controller):
    path = "/api/v1/bot"
    guards = [requires_agent]
    tags = ["bot"]

    @post("/try", status_code=200, summary="What the bot would do with a question (nothing is sent)")
    async def try_question(self, db_session: NamedDependency[AsyncSession], data: JSONBody[TryIn]) -> TryOut:
        if len(data.text) > MAX_TRY_CHARS:
            raise InvalidInputError(
                f"text must be at most {MAX_TRY_CHARS} characters", type_slug="text-too-long"
            )
        if data.lang is not None and not _LANG.match(data.lang):
            raise InvalidInputError(
                "lang must be a two-letter language code such as nl", type_slug="invalid-lang"
            )
        loaded = await engine_cache.get(db_session)
        if loaded is None:
            raise ConflictError(
                "the bot has no rules yet; import some (PUT /api/v1/bot/rules)",
                type_slug="bot-not-configured",
            )
        rules = loaded.rules
        decision = loaded.engine.decide(data.text, language=data.lang)
        candidates = [
            CandidateOut(
                rule_id=c.rule_id,
                score=round(c.score, 4),
                title=rule.title_for(decision.language, rules.default_language) if rule else c.rule_id,
            )
            for c in decision.candidates
            for rule in (rules.rule(c.rule_id),)
        ]
        out = TryOut(
            outcome=decision.outcome,
            language=decision.language,
            score=round(decision.score, 4),
            candidates=candidates,
        )
        if decision.outcome == "answer":
            out.rule_id, out.answer = decision.rule_id, decision.answer
        elif decision.outcome == "suggest":
            out.suggest = True
        else:
            out.handoff, out.reason = True, decision.reason
        return out

    @get("/rules", summary="The rules as one document (the YAML import/export shape, as JSON)")
    async def get_rules(self, db_session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        rules = await load_ruleset(db_session)
        if rules is None:
            raise ConflictError("the bot has no rules yet", type_slug="bot-not-configured")
        return rules.to_dict()

    @put(
        "/rules",
        guards=[requires_admin_token],
        status_code=200,
        summary="Replace every rule and setting with the document; a broken one changes nothing",
    )
    async def put_rules(
        self, writer: NamedDependency[Writer], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            rules = RuleSet.from_dict(data)
        except RulesError as exc:
            raise invalid_rules(exc) from None
        except (TypeError, ValueError) as exc:  # a document the reader did not foresee: still a 422
            raise InvalidInputError(
                f"the rules document does not read: {exc}", type_slug="invalid-rules"
            ) from None
        await do_import_rules(writer, rules)
        return {"rules": len(rules.rules), "enabled": rules.enabled}


route_handlers: list[ControllerRouterHandler] = [BotController]
