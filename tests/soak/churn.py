"""
The full churn soak: C{twistd -n ratchetpy} serving C{examples.chat:Chat} (through
the probe of C{tests/test_churn.py}) gets 10,000 connections opened and reset
(SO_LINGER {1, 0}, then close) in 20 waves of 500, a third each bare TCP,
half-sent HTTP heads and completed WebSocket handshakes; then the same checks
as the suite's smaller run, and the measurements printed.

Run from the repository root, with ratchetpy installed (twistd runs the
installed package)::

    python tests/soak/churn.py                  # 20 waves of 500
    python tests/soak/churn.py --waves 100      # 50,000 connections
    python tests/soak/churn.py --wave-size 2000

Exit status 0 when every check passed: every socket closed and every opened
WebSocket's onClose logged once after each wave, the server's counts after
the churn those of a fresh server, RSS at the end within 10% of RSS after the
warm-up, a fresh client served normally, SIGTERM exits 0.

This file is not collected by pytest (its name does not start with
C{test_}).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers import Twistd  # noqa: E402
from tests.test_churn import WARM_UP_WAVES, checkChurned, churn  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waves", type=int, default=20)
    parser.add_argument("--wave-size", type=int, default=500)
    parser.add_argument("--warm-up-waves", type=int, default=WARM_UP_WAVES, help="default: half the waves")
    arguments = parser.parse_args()
    started: list[Twistd] = []

    def twistd(*args: str, **kwargs: object) -> Twistd:
        process = Twistd(*args, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    def progress(wave: int, rss: int) -> None:
        print(f"wave {wave}: RSS {rss / 2**20:.1f} MiB", file=sys.stderr, flush=True)

    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as work:
            result = churn(
                twistd, Path(work), arguments.waves, arguments.wave_size, arguments.warm_up_waves, progress=progress
            )
    finally:
        for process in started:
            process.stop()
    print(result.report())
    print(f"server counts before: {json.dumps(result.statsBefore)}")
    print(f"server counts after:  {json.dumps(result.statsAfter)}")
    print(f"twistd exit status {result.exitStatus}; whole run {time.monotonic() - began:.1f} s")
    try:
        checkChurned(result)
    except AssertionError as failure:
        print(f"FAILED: {failure}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
