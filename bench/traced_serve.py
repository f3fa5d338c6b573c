"""``onethread serve`` with probes: on SIGUSR1 it writes where its memory went; SIGUSR2 starts, and
the next SIGUSR2 stops, a CPU profile (cProfile timed by CPU time) written as ``cpu-<n>.pstats``.

    python -X tracemalloc=1 bench/traced_serve.py serve --port P …   (TRACED_SERVE_DIR=/some/dir)

Each SIGUSR1 writes ``snapshot-<n>.tracemalloc`` (a ``tracemalloc`` snapshot, when tracing is on)
and ``objects-<n>.json`` (live objects counted by type, from the garbage collector) into
``TRACED_SERVE_DIR``, then ``done-<n>`` when both are complete. ``bench/widget.py
--trace-memory`` compares the snapshot taken with no socket to the one with every socket held:
what each held socket costs, by the line that allocated it. The handler runs on the event loop's
thread between two bytecodes, so the objects it counts are in a consistent state.
"""

from __future__ import annotations

import collections
import cProfile
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from types import FrameType

_taken = 0
_profile: cProfile.Profile | None = None
_profiles = 0


def _dump(signum: int, frame: FrameType | None) -> None:
    global _taken
    _taken += 1
    out = Path(os.environ["TRACED_SERVE_DIR"])
    gc.collect()
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(out / f"snapshot-{_taken}.tracemalloc"))
    counts = collections.Counter(
        f"{type(obj).__module__}.{type(obj).__qualname__}" for obj in gc.get_objects()
    )
    (out / f"objects-{_taken}.json").write_text(json.dumps(dict(counts.most_common(400))))
    (out / f"done-{_taken}").write_text("")


def _toggle_profile(signum: int, frame: FrameType | None) -> None:
    global _profile, _profiles
    if _profile is None:
        _profile = cProfile.Profile(time.process_time)
        _profile.enable()
        return
    _profile.disable()
    _profiles += 1
    out = Path(os.environ["TRACED_SERVE_DIR"])
    _profile.dump_stats(str(out / f"cpu-{_profiles}.pstats"))
    (out / f"cpu-done-{_profiles}").write_text("")
    _profile = None


def main() -> None:
    signal.signal(signal.SIGUSR1, _dump)
    signal.signal(signal.SIGUSR2, _toggle_profile)
    from app.cli import main as cli_main

    raise SystemExit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
