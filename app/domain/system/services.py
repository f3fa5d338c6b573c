"""The process-wide services, bundled so a hot handler resolves one dependency instead of several.

(Litestar resolves two or more dependencies of a handler concurrently in a task group, which on
webhook paths costs more than the work itself.)
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.channels.jobs import Jobs
from app.domain.realtime.writer import Writer
from app.lib.rate_limits import RateLimiter
from app.lib.storage import FileStorage
from app.settings import Settings
from integrations.registry import AdapterRegistry


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    writer: Writer
    jobs: Jobs
    registry: AdapterRegistry
    files: FileStorage
    limiter: RateLimiter
