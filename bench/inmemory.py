#!/usr/bin/env python3
"""
ratchetpy's own CPU cost per handshake, echoed message and broadcast delivery,
measured in memory: the whole stack (IoServer, HttpServer, WsServer, Autobahn's
engine) driven through Twisted's in-memory transports on a clock, with no
sockets and no kernel in the way, so that a change to ratchetpy's Python shows
even on a noisy machine where the socket benchmarks (bench/run.py) swing by
±20%.

    python bench/inmemory.py                               # this checkout
    python bench/inmemory.py --baseline /tmp/ratchetpy-base  # and an older checkout, side by side

Each measurement runs in a fresh process pinned to one core (--cpu), the
checkouts alternating, and the table gives medians over --reps processes and
the ratio to the baseline. What it does not measure: system calls, the
reactor's I/O loop and the kernel's socket buffers (bench/run.py does).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Runs in the measured process, with the checkout first on sys.path.
_MEASURE = r"""
import base64, json, os, sys, time
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
import txaio
from ratchetpy import ConnectionGroup, HttpServer, IoServer, MessageComponent, WsServer

class NullTransport(StringTransport):
    def write(self, data):
        pass

class Hub(MessageComponent):
    def __init__(self):
        self.group = ConnectionGroup()
    def onOpen(self, conn):
        self.group.add(conn)
    def onMessage(self, conn, msg):
        conn.send(msg)

clock = MemoryReactorClock()
txaio.config.loop = clock  # for checkouts that take the reactor from txaio
hub = Hub()
server = IoServer(HttpServer(WsServer(hub, keepAlive=0, compression=False)), reactor=clock)
conns = int(sys.argv[1])

def connect(i):
    peer = IPv4Address("TCP", "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), 40000)
    protocol = server.buildProtocol(peer)
    protocol.makeConnection(NullTransport(peerAddress=peer))
    key = base64.b64encode(os.urandom(16))
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return protocol

start = time.perf_counter()
protocols = [connect(i) for i in range(conns)]
handshake = (time.perf_counter() - start) / conns * 1e6
assert len(hub.group) == conns

mask = b"\x01\x02\x03\x04"
frame = bytes([0x81, 0x80 | 32]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"y" * 32))
echoer = protocols[0]
start = time.perf_counter()
for _ in range(20000):
    echoer.dataReceived(frame)
echo = (time.perf_counter() - start) / 20000 * 1e6

start = time.perf_counter()
for _ in range(200):
    hub.group.broadcast("x" * 64)
broadcast = (time.perf_counter() - start) / (200 * conns) * 1e6
print(json.dumps({"handshake": handshake, "echo": echo, "broadcast": broadcast}))
"""

ROWS = [
    ("handshake", "handshake, µs of CPU each"),
    ("echo", "echo of a 32 B text message, µs"),
    ("broadcast", "broadcast delivery (64 B, 1,000 receivers), µs"),
]


def measure(checkout: Path, cpu: str, conns: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    command = ["taskset", "-c", cpu, sys.executable, "-c", _MEASURE, str(conns)]
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"bench/inmemory.py: the run of {checkout} failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--baseline", type=Path, help="another ratchetpy checkout to compare with")
    parser.add_argument("--reps", type=int, default=7, help="processes per checkout (default 7)")
    parser.add_argument("--conns", type=int, default=1000, help="connections (default 1,000)")
    parser.add_argument("--cpu", default="0", help="the core to pin to (default 0)")
    args = parser.parse_args(argv)
    checkouts = {"ratchetpy": REPO}
    if args.baseline is not None:
        if not (args.baseline / "ratchetpy" / "__init__.py").is_file():
            sys.exit(f"bench/inmemory.py: {args.baseline} is not a ratchetpy checkout")
        checkouts["baseline"] = args.baseline.resolve()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.reps):
        for name, checkout in checkouts.items():
            results[name].append(measure(checkout, args.cpu, args.conns))
    header = "| measure | " + " | ".join(checkouts) + (" | ratchetpy / baseline |" if len(checkouts) > 1 else " |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for key, label in ROWS:
        medians = {name: statistics.median(run[key] for run in runs) for name, runs in results.items()}
        cells = [f"{medians[name]:.2f}" for name in checkouts]
        if len(checkouts) > 1:
            cells.append(f"{medians['ratchetpy'] / medians['baseline']:.2f}x")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nMedians of {args.reps} processes each, pinned to cpu {args.cpu}; lower is better.")
    if "baseline" in checkouts:
        print(f"baseline: {checkouts['baseline']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
