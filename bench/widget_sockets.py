"""The socket holder process of ``bench/widget.py``: many widget visitors' sockets, held open.

Each holder opens its share of ``WS /widget/v1/ws?token=…`` sockets (a bounded number at a time),
waits for every ``ready`` frame, then reads every socket until told to stop. A ``message.created``
frame whose text carries a benchmark marker (``loadgen.marker``) is stamped with
``time.monotonic()`` the moment it is read, together with the socket (visitor) it came on, so the
main process can compute POST → frame and check that each reply reached its own visitor only.

Separate processes because one benchmark process holding 5,000 sockets and also timing the agent's
POSTs would queue arrivals behind its own work; the holders' CPU and memory are theirs, not the
server's (the main process reports both apart). The client offers permessage-deflate, as browsers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import loadgen
import msgspec
from sysstat import process_memory_kib


class _Message(msgspec.Struct):
    id: int | None = None
    text: str = ""


class _Data(msgspec.Struct):
    message: _Message | None = None


class _Frame(msgspec.Struct):
    type: str = ""
    data: _Data | None = None


@dataclass(slots=True)
class HolderState:
    """What one holder saw: arrivals by marker ``seq``, frame counts by type, connects, closes."""

    arrivals: dict[int, tuple[float, int, int | None]] = field(default_factory=dict)
    """seq → (monotonic arrival, index of the socket it came on, message id)."""
    duplicates: int = 0
    frames: dict[str, int] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    closed: dict[str, int] = field(default_factory=dict)
    """Sockets the server closed while held, by close code."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def _read(ws: Any, index: int, state: HolderState) -> None:
    decoder = msgspec.json.Decoder(_Frame)
    try:
        async for raw in ws:
            now = time.monotonic()
            frame = decoder.decode(raw)
            state.frames[frame.type] = state.frames.get(frame.type, 0) + 1
            message = frame.data.message if frame.data is not None else None
            if frame.type != "message.created" or message is None:
                continue
            found = loadgen.MARKER.search(message.text)
            if found is None:
                continue
            seq = int(found.group(2))
            if seq in state.arrivals:
                state.duplicates += 1
            else:
                state.arrivals[seq] = (now, index, message.id)
            state.changed.set()
    except Exception as exc:  # a holder must report, not die: the close code says what happened
        state.failures.append(f"socket {index} read: {type(exc).__name__}: {exc}")
    code = ws.close_code
    state.closed[str(code)] = state.closed.get(str(code), 0) + 1


async def _hold(conn: Connection, urls: list[tuple[int, str]], concurrency: int, deflate: bool) -> None:
    from websockets.asyncio.client import connect

    state = HolderState()
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    slots = asyncio.Semaphore(concurrency)

    async def open_one(index: int, url: str) -> None:
        async with slots:
            started = time.monotonic()
            try:
                ws = await connect(
                    url,
                    ping_interval=None,
                    open_timeout=60,
                    max_size=2**20,
                    compression="deflate" if deflate else None,
                )
                first = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 60))
            except Exception as exc:
                state.failures.append(f"socket {index} open: {type(exc).__name__}: {exc}")
                return
            if first.get("type") != "ready":
                state.failures.append(f"socket {index}: first frame {first!r}")
                await ws.close()
                return
            state.connect_ms.append((time.monotonic() - started) * 1000)
            sockets.append(ws)
            readers.append(asyncio.create_task(_read(ws, index, state)))

    cpu0 = time.process_time()
    await asyncio.gather(*(open_one(index, url) for index, url in urls))
    conn.send(("opened", _report(state, len(sockets), cpu0, with_arrivals=False)))
    while True:
        command = await asyncio.to_thread(conn.recv)
        if command[0] == "collect":
            _, expected, idle_seconds, max_seconds = command
            await _wait_arrivals(state, expected, idle_seconds, max_seconds)
            conn.send(("collected", _report(state, len(sockets), cpu0, with_arrivals=True)))
            state.arrivals = {}
        elif command[0] == "stop":
            break

    # Close every socket as a leaving visitor would, a bounded number at a time.
    async def close_one(ws: Any) -> None:
        async with slots:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 10)

    await asyncio.gather(*(close_one(ws) for ws in sockets))
    for task in readers:
        task.cancel()
    conn.send(("stopped", _report(state, 0, cpu0, with_arrivals=False)))


async def _wait_arrivals(state: HolderState, expected: int, idle_seconds: float, max_seconds: float) -> None:
    deadline = time.monotonic() + max_seconds
    while len(state.arrivals) < expected:
        state.changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            await asyncio.wait_for(state.changed.wait(), timeout=min(idle_seconds, left))
        except TimeoutError:
            return


def _report(state: HolderState, open_sockets: int, cpu0: float, *, with_arrivals: bool) -> dict[str, Any]:
    return {
        "open": open_sockets,
        "connect_ms": list(state.connect_ms),
        "failures": state.failures[:20],
        "failed": len(state.failures),
        "frames": dict(state.frames),
        "closed": dict(state.closed),
        "duplicates": state.duplicates,
        "arrivals": dict(state.arrivals) if with_arrivals else {},
        "cpu_seconds": round(time.process_time() - cpu0, 3),
        "rss_kib": process_memory_kib(os.getpid()).get("rss", 0),
    }


def holder_main(conn: Connection, urls: list[tuple[int, str]], concurrency: int, deflate: bool) -> None:
    """Entry point of a holder process: ``urls`` are (visitor index, socket URL) pairs."""
    try:
        raise_open_files_limit()
        import uvloop

        uvloop.run(_hold(conn, urls, concurrency, deflate))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
