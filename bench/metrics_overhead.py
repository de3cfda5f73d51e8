#!/usr/bin/env python3
"""
What recording metrics costs, measured in one process so that a noisy machine
hits both sides alike: echo and broadcast through the whole in-memory stack
(as bench/inmemory.py drives it: IoServer, HttpServer, WsServer, Autobahn's
engine, no sockets), with the hot path's recording (what --metrics turns on)
off and on in alternating blocks; medians of the CPU time per message and per
delivery.

    PYTHONPATH=$PWD taskset -c 0 python bench/metrics_overhead.py [BLOCKS]

With metrics off the sites cost one attribute test each: compare checkouts
with bench/inmemory.py --baseline. Not part of the test suite.
"""
import base64
import os
import statistics
import sys
import time

import txaio
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from ratchetpy import ConnectionGroup, HttpServer, IoServer, MessageComponent, WsServer
from ratchetpy.metrics.recorder import recording


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
txaio.config.loop = clock
hub = Hub()
server = IoServer(HttpServer(WsServer(hub, keepAlive=0, compression=False)), reactor=clock)

def connect(i):
    peer = IPv4Address("TCP", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000)
    protocol = server.buildProtocol(peer)
    protocol.makeConnection(NullTransport(peerAddress=peer))
    key = base64.b64encode(os.urandom(16))
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return protocol

protocols = [connect(i) for i in range(1000)]
mask = b"\x01\x02\x03\x04"
frame = bytes([0x81, 0x80 | 32]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"y" * 32))
echoer = protocols[0]

def echo(n=5000):
    start = time.process_time()
    for _ in range(n):
        echoer.dataReceived(frame)
    return (time.process_time() - start) / n * 1e6

def broadcast(n=20):
    start = time.process_time()
    for _ in range(n):
        hub.group.broadcast("x" * 64)
    return (time.process_time() - start) / (n * 1000) * 1e6

results = {(k, on): [] for k in ("echo", "broadcast") for on in (False, True)}
for block in range(int(sys.argv[1]) if len(sys.argv) > 1 else 40):
    for on in ((False, True) if block % 2 else (True, False)):
        recording.on = on
        results[("echo", on)].append(echo())
        results[("broadcast", on)].append(broadcast())
for k in ("echo", "broadcast"):
    off, on = statistics.median(results[(k, False)]), statistics.median(results[(k, True)])
    print(f"{k}: off {off:.2f} µs, on {on:.2f} µs, on/off {on / off:.3f}")
