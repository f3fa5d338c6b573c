"""The widget benchmark's arithmetic: who holds which socket, which frame answers which reply, and
what a held socket costs; and the agent's replies going to each thread's own URL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import loadgen  # bench/ is not a package: found through the line above
import widget
from sysstat import parse_status_memory, process_memory_kib


def test_visitors_are_dealt_to_every_holder_once() -> None:
    visitors = list(range(10))
    shares = widget.split(visitors, 3)
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(v for share in shares for v in share) == visitors
    assert widget.split([1, 2], 5) == [[1], [2]]  # no empty holder


def test_latency_summary_is_nearest_rank_in_milliseconds() -> None:
    figures = widget.summary_ms([i / 1000 for i in range(1, 101)])  # 1 … 100 ms
    assert figures["n"] == 100
    assert round(figures["p50"] or 0) == 50
    assert round(figures["p95"] or 0) == 95
    assert round(figures["p99"] or 0) == 99
    assert round(figures["max"] or 0) == 100
    assert widget.summary_ms([])["p50"] is None


def test_a_frame_counts_only_on_the_socket_of_the_visitor_it_answered() -> None:
    sent = {0: 10.0, 1: 10.5, 2: 11.0}
    receiver_of = {0: 7, 1: 8, 2: 9}
    arrivals = {0: (10.004, 7, 101), 1: (10.51, 3, 102)}  # reply 1 on visitor 3's socket; 2 never came
    matched = widget.match_fanout(sent, receiver_of, arrivals)
    assert [round(value, 3) for value in matched.latencies] == [0.004]
    assert matched.misrouted == 1
    assert matched.missing == [2]


def test_per_socket_cost_is_the_growth_over_the_idle_server() -> None:
    assert widget.per_socket_kib(150 * 1024, 250 * 1024, 5000) == 20.5
    assert widget.per_socket_kib(150 * 1024, 150 * 1024, 0) is None


def test_memory_is_read_from_proc_status() -> None:
    text = "Name:\tpython\nVmHWM:\t  210500 kB\nVmRSS:\t  152400 kB\nRssAnon:\t  122700 kB\nRssFile:\t 29700 kB\n"
    assert parse_status_memory(text) == {"hwm": 210500, "rss": 152400, "anon": 122700, "file": 29700}
    mine = process_memory_kib(os.getpid())
    assert 0 < mine["anon"] <= mine["rss"] <= mine["hwm"]


async def test_a_request_with_a_path_of_its_own_goes_there() -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            seen.append(head.split(b"\r\n")[0])
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = loadgen.RawClient(loadgen.Target("127.0.0.1", port, "/default", "tok"))
    try:
        assert await client.post(b"{}", (), "/api/v1/threads/42/messages") == 202
        assert await client.post(b"{}") == 202
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert seen == [b"POST /api/v1/threads/42/messages HTTP/1.1", b"POST /default HTTP/1.1"]
