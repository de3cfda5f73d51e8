"""
The echo client the Autobahn|Testsuite's fuzzingserver tests (see
run_autobahn_client.sh): for each case, a ratchetpy.client connection whose
component sends every message back.

    python tests/conformance/client_echo.py ws://127.0.0.1:9001 AGENT
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react

from ratchetpy import MessageComponent
from ratchetpy.client import ConnectFailed, connect, connectOnce

#: As large as the suite's largest message (case 9.x: 16 MiB).
MAX_MESSAGE_SIZE = 2**26


class Echo(MessageComponent):
    def onMessage(self, conn: Any, msg: str | bytes) -> None:
        conn.send(msg)


async def run(reactor: Any, base: str, agent: str) -> None:
    conn = await connectOnce(f"{base}/getCaseCount")
    count = int(await conn.receive())
    await conn.whenClosed()
    print(f"client_echo: {count} cases", flush=True)
    for case in range(1, count + 1):
        url = f"{base}/runCase?case={case}&agent={agent}"
        client = connect(url, Echo(), reconnect=None, maxMessageSize=MAX_MESSAGE_SIZE, reactor=reactor)
        try:
            await client.whenStopped()
        except ConnectFailed as failed:
            print(f"client_echo: case {case}: {failed}", flush=True)
    conn = await connectOnce(f"{base}/updateReports?agent={agent}")
    await conn.whenClosed()


if __name__ == "__main__":
    base, agent = sys.argv[1].rstrip("/"), sys.argv[2]
    react(lambda reactor: ensureDeferred(run(reactor, base, agent)))
