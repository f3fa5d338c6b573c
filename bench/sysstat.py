"""CPU accounting from ``/proc``: who spent the two cores during a run (Linux only).

The server, PostgreSQL, Redis and the load generator all share the machine, so every run records
how many CPU-seconds each of them used. Dividing by the messages handled gives the cost per message,
which is what explains a throughput figure (one Python process can spend at most one core).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far, or 0.0 once it has gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The command name is in parentheses and may contain spaces: split after the last ")".
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def process_memory_kib(pid: int) -> dict[str, int]:
    """Resident memory of one process from ``/proc/PID/status`` in KiB: ``rss`` (VmRSS), ``hwm``
    (VmHWM, the peak RSS), and ``anon`` (RssAnon: the heap, what a Python object costs); empty once
    the process has gone."""
    try:
        raw = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return {}
    return parse_status_memory(raw)


_STATUS_FIELDS = {"VmRSS": "rss", "VmHWM": "hwm", "RssAnon": "anon", "RssFile": "file"}


def parse_status_memory(text: str) -> dict[str, int]:
    """The memory lines of a ``/proc/PID/status`` text (``VmRSS:  1234 kB``) in KiB."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        key = _STATUS_FIELDS.get(name)
        if key is not None:
            out[key] = int(value.split()[0])
    return out


def open_files(pid: int) -> int:
    """How many file descriptors a process holds (its sockets among them), or 0 once it has gone."""
    try:
        return sum(1 for _ in (_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return 0


def pids_named(*names: str) -> list[int]:
    """Pids whose ``comm`` is one of ``names`` (``postgres``, ``redis-server``)."""
    found: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            found.append(int(entry.name))
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from the first line of ``/proc/stat``."""
    values = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


@dataclass(slots=True)
class CpuSnapshot:
    """CPU-seconds per component at one instant."""

    components: dict[str, float] = field(default_factory=dict)
    busy: int = 0
    total: int = 0
    at: float = 0.0


@dataclass(slots=True)
class CpuProbe:
    """Knows which pids make up each component and takes snapshots of them."""

    groups: dict[str, list[int]] = field(default_factory=dict)

    def set_group(self, name: str, pids: list[int]) -> None:
        self.groups[name] = list(pids)

    def snapshot(self) -> CpuSnapshot:
        """Per-component CPU-seconds; PostgreSQL and Redis are re-scanned (backends come and go)."""
        groups = dict(self.groups)
        groups["postgres"] = pids_named("postgres")
        groups["redis"] = pids_named("redis-server")
        components = {name: sum(process_cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
        busy, total = machine_jiffies()
        return CpuSnapshot(components=components, busy=busy, total=total, at=time.monotonic())

    @staticmethod
    def delta(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
        """CPU-seconds per component between two snapshots, ``other`` (whatever else ran), plus two
        ratios that are not CPU-seconds: ``machine_busy`` (0..1 of all cores) and ``other_cores``
        (the average number of cores the rest of the machine took meanwhile).

        A PostgreSQL backend that exits between the snapshots takes its CPU time with it; the pools
        stay open for the whole run, so the figures are at worst slightly low.
        """
        out = {
            name: round(max(0.0, after.components.get(name, 0.0) - before.components.get(name, 0.0)), 3)
            for name in after.components
        }
        total = after.total - before.total
        busy = after.busy - before.busy
        out["machine_busy"] = round(busy / total, 3) if total else 0.0
        # Everything else that ran meanwhile (other users of the machine, the kernel's own threads):
        # a large figure here means the run was disturbed.
        accounted = sum(value for name, value in out.items() if name != "machine_busy")
        out["other"] = round(max(0.0, busy / _TICK - accounted), 3)
        out["other_cores"] = round(out["other"] / max(after.at - before.at, 1e-9), 2)
        return out


@contextlib.asynccontextmanager
async def py_spy(pid: int, out: Path, seconds: float) -> AsyncIterator[bool]:
    """py-spy samples process ``pid`` during the block (non-blocking, 200 Hz, collapsed stacks in
    ``out``); yields whether it runs (``pip install py-spy`` into the venv). The figures measured
    meanwhile are perturbed a little."""
    binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if binary is None:
        yield False
        return
    proc = await asyncio.create_subprocess_exec(
        binary, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", "200",
        "--nonblocking", "--format", "raw", "--output", str(out),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield True
    finally:
        try:
            await asyncio.wait_for(proc.wait(), seconds + 30)
        except TimeoutError:
            proc.kill()
