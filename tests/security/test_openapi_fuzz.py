"""``schemathesis`` against our OpenAPI document: no 5xx and no answer its schema does not describe.

Every operation of ``/schema/openapi.json`` gets cases generated from the document — valid ones
(``positive``) and ones that break it (``negative``: wrong types, missing fields, out-of-range ids)
— once with random path ids and once aimed at the world's real thread, contact, message and
accounts (so the answers that carry data are checked too), sent as an admin and as nobody. Each
answer must pass ``not_a_server_error`` and ``response_schema_conformance``. Hypothesis runs
derandomized (a fixed seed per test), so a failure found once is found again.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.security.world import World

# Sized so that the two tests send a few thousand requests in well under a minute on two cores.
EXAMPLES = {"admin": 25, "anonymous": 10}
# The token endpoint runs Argon2 at full cost for an unknown address: fewer cases there.
SLOW = {"POST /api/v1/auth/token": 8}
MAX_GENERATED_LENGTH = 300
"""Hypothesis takes seconds to build a 65,536-character text; the limits themselves are tested
elsewhere (tests/security/test_attacks.py), so generated strings stay short."""


def _shorter_strings(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _shorter_strings(v) for k, v in node.items()}
        if isinstance(node.get("maxLength"), int) and node["maxLength"] > MAX_GENERATED_LENGTH:
            node["maxLength"] = MAX_GENERATED_LENGTH
        return node
    if isinstance(node, list):
        return [_shorter_strings(v) for v in node]
    return node


TIMINGS = bool(os.environ.get("ONETHREAD_FUZZ_TIMINGS"))
REQUEST_KEYS = ("method", "url", "headers", "params", "json", "data", "files", "cookies")


def _real_ids(world: World) -> dict[str, Any]:
    ids = world.ids
    return {
        "thread_id": ids["thread"],
        "contact_id": ids["contact"],
        "attachment_id": ids["attachment"],
        "merge_id": 1,
        "suggestion_id": 1,
        "site": ids["site_a"],
    }


def _account_for(path: str, world: World) -> str:
    ids = world.ids
    for prefix, key in (("/webhooks/messenger", "messenger"), ("/webhooks/telegram", "telegram")):
        if path.startswith(prefix):
            return str(ids[key])
    account = ids["email"] if path.startswith("/webhooks/email") else ids["api"]
    return str(account.account.id)


def _fuzz(world: World, role: str, modes: tuple[GenerationMode, ...]) -> tuple[int, list[str]]:
    spec = world.client.get("/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(_shorter_strings(spec))
    who = world.roles[role]
    headers = {"Authorization": f"Bearer {who.bearer}"} if who.bearer else {}
    sent = 0
    failures: dict[tuple[str, str], str] = {}
    real = _real_ids(world)
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in real.items() if k in names}
        if "account_id" in names:
            fixed["account_id"] = _account_for(operation.path, world)
        for mode in modes:
            # Nobody's calls die at the door: real ids add nothing there.
            for path_parameters in ({}, fixed) if fixed and who.bearer else ({},):

                @given(
                    case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
                )
                @settings(
                    max_examples=min(EXAMPLES[role], SLOW.get(operation.label, EXAMPLES[role])),
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: Any) -> None:
                    nonlocal sent
                    sent += 1
                    kwargs = case.as_transport_kwargs(base_url="http://testserver.local", headers=headers)
                    # Serialized by ``requests`` (schemathesis's own transport: it knows how to encode
                    # every body it generates, broken multipart included), sent into the app as bytes.
                    prepared = requests.Request(
                        **{k: v for k, v in kwargs.items() if k in REQUEST_KEYS}
                    ).prepare()
                    world.client.cookies.clear()
                    t0 = time.monotonic()
                    response = world.client.request(
                        str(prepared.method),
                        str(prepared.url),
                        headers=dict(prepared.headers),
                        content=prepared.body,
                        follow_redirects=False,
                    )
                    server_time[0] += time.monotonic() - t0
                    try:
                        case.validate_response(
                            response, checks=[not_a_server_error, response_schema_conformance]
                        )
                    except (Exception, BaseExceptionGroup) as exc:  # collected, reported together below
                        key = (operation.label, type(exc).__name__ + str(exc).split("\n", 1)[0])
                        failures.setdefault(
                            key,
                            f"{operation.label} [{mode}] {response.status_code}: {str(exc)[:900]}\n"
                            f"  request: {kwargs.get('method')} {kwargs.get('url')} "
                            f"params={kwargs.get('params')} body={str(kwargs.get('json') or kwargs.get('data'))[:300]}",
                        )

                started = time.monotonic()
                server_time = [0.0]
                try:
                    run()
                except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters)
                    continue
                finally:
                    if TIMINGS:
                        print(
                            f"{time.monotonic() - started:6.2f}s {server_time[0]:6.2f}s {operation.label} {mode} {bool(path_parameters)}"
                        )
    return sent, list(failures.values())


@pytest.mark.parametrize(
    ("role", "modes"),
    [
        ("admin", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
        ("anonymous", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    ],
)
def test_no_server_error_and_no_schema_violation(
    world: World, role: str, modes: tuple[GenerationMode, ...]
) -> None:
    sent, failures = _fuzz(world, role, modes)
    print(f"schemathesis as {role}: {sent} cases, {len(failures)} distinct failures")
    assert sent > 400, sent
    assert not failures, f"{len(failures)} distinct failures in {sent} cases:\n\n" + "\n\n".join(failures)
