"""One seeded world per module (see ``world.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.world import World, seeded_world


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with seeded_world(sqlite_template, tmp_path_factory.mktemp("world")) as seeded:
        yield seeded
