"""
autobahn-js (npm C{autobahn} 26.3.1, under Node with the C{ws} polyfill) against
ratchetpy's WAMP router served by twistd: pub/sub and RPC between JavaScript
clients over JSON, MessagePack and CBOR, and calls both ways between
JavaScript and the Python procedures of examples/wamp_rpc.py.

The clients are tests/wamp/js/wampclient.js (C{npm ci} in tests/wamp/js;
.ci/run does it).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

JS = ROOT / "tests" / "wamp" / "js"
WAMPCLIENT = JS / "wampclient.js"
NODE = shutil.which("node") or "/usr/bin/node"


def _needsNpm() -> None:
    if not (JS / "node_modules" / "autobahn").is_dir():
        pytest.fail(f"autobahn-js is not installed: (cd {JS} && npm ci); .ci/run does it", pytrace=False)


class NodeClient:
    """
    One wampclient.js process (steps on its command line, more on its stdin)
    and the JSON lines it printed.
    """

    def __init__(
        self, url: str, *steps: Any, serializer: str = "json", timeout: float = 30, extra: list[str] | None = None
    ) -> None:
        _needsNpm()
        argv = [NODE, str(WAMPCLIENT), "--url", url, "--serializer", serializer, "--timeout", str(timeout), "--stdin"]
        argv += extra or []
        for step in steps:
            argv += [str(a) if isinstance(a, str) else json.dumps(a) for a in step]
        self.process = subprocess.Popen(
            argv, cwd=JS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NODE_PATH": str(JS / "node_modules")},
        )
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self._queue.put(json.loads(line))
        self._queue.put(None)

    def expect(self, kind: str, timeout: float = 15, **fields: Any) -> dict[str, Any]:
        """
        The next line of type C{kind} (with C{fields}); the lines before it are kept in C{lines}.
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if line["type"] == kind and all(line.get(k) == v for k, v in fields.items()):
                return line
        stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else ""
        raise AssertionError(f"no {kind} {fields} from wampclient.js; it printed {self.lines}\n{stderr}")

    def send(self, *step: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(list(step)) + "\n")
        self.process.stdin.flush()

    def leave(self) -> int:
        """
        End stdin: the client says GOODBYE and exits; its exit status (0: a clean leave).
        """
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=15)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def node():
    """C{node(url, *steps, serializer=)} starts a L{NodeClient}; all are killed after the test."""
    started: list[NodeClient] = []

    def start(url: str, *steps: Any, **kwargs: Any) -> NodeClient:
        client = NodeClient(url, *steps, **kwargs)
        started.append(client)
        return client

    yield start
    for client in started:
        client.kill()


@pytest.fixture(scope="module")
def plainRouter():
    """twistd serving a plain router (realm1, anonymous): its ws:// URL."""
    from tests.helpers import Twistd

    process = Twistd("--wamp", "--port", "tcp:0:interface=127.0.0.1")
    try:
        yield f"ws://127.0.0.1:{process.waitForPort()}/"
    finally:
        process.stop()


@pytest.mark.parametrize("serializer", ["json", "msgpack", "cbor"])
def test_pubSub(node, plainRouter, serializer):
    """
    Events published by one autobahn-js session reach another's subscription with their arguments, keyword
    arguments and publisher; an acknowledged publication gets an id; the publisher does not get its own event.
    """
    subscriber = node(plainRouter, ["subscribe", "com.example.news"], serializer=serializer)
    subscriber.expect("subscribed", topic="com.example.news")
    publisher = node(
        plainRouter,
        ["subscribe", "com.example.news"],
        ["publish", "com.example.news", [1, "one"], {"k": "v"}, {"acknowledge": True, "disclose_me": True}],
        ["publish", "com.example.news", ["two"]],
        serializer=serializer,
    )
    joined = publisher.expect("joined")
    assert joined["roles"]["broker"]["features"]["publisher_exclusion"] is True
    acknowledged = publisher.expect("published")
    assert isinstance(acknowledged["id"], int)
    first = subscriber.expect("event")
    assert (first["args"], first["kwargs"], first["publisher"]) == ([1, "one"], {"k": "v"}, joined["session"])
    second = subscriber.expect("event")
    assert (second["args"], second["publisher"]) == (["two"], None)
    publisher.expect("published")
    assert publisher.leave() == 0
    assert [line for line in publisher.lines if line["type"] == "event"] == []
    assert subscriber.leave() == 0


def test_mixedSerializers(node, plainRouter):
    """A msgpack publisher's event reaches JSON and CBOR subscribers alike."""
    subscribers = [node(plainRouter, ["subscribe", "com.example.mixed"], serializer=s) for s in ("json", "cbor")]
    for s in subscribers:
        s.expect("subscribed")
    publisher = node(plainRouter, ["publish", "com.example.mixed", ["é", 1.5, None]], serializer="msgpack")
    for s in subscribers:
        assert s.expect("event")["args"] == ["é", 1.5, None]
    assert publisher.leave() == 0


def test_patternSubscription(node, plainRouter):
    """A prefix subscription gets the events of every topic under it, with the topic in the details."""
    subscriber = node(plainRouter, ["subscribe", "com.example.rooms", {"match": "prefix"}])
    subscriber.expect("subscribed")
    node(plainRouter, ["publish", "com.example.rooms.kitchen", ["hot"]])
    event = subscriber.expect("event")
    assert (event["topic"], event["args"]) == ("com.example.rooms.kitchen", ["hot"])


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_rpcBetweenClients(node, plainRouter, serializer):
    """
    One autobahn-js session calls procedures another registered: results with arguments and keyword
    arguments, application errors with their URI, progressive results (autobahn-js announces
    progressive_call_results but not call_canceling), and no_such_procedure.
    """
    callee = node(
        plainRouter,
        ["register", "com.example.echo"],
        ["register", "com.example.fail", "error:com.example.error.refused"],
        ["register", "com.example.steps", "progress:3"],
        serializer=serializer,
    )
    for proc in ("com.example.echo", "com.example.fail", "com.example.steps"):
        callee.expect("registered", proc=proc)
    caller = node(
        plainRouter,
        ["call", "com.example.echo", [1, [2]], {"x": {"y": True}}],
        ["call", "com.example.fail", ["why"]],
        ["call", "com.example.steps", ["done"], {}, {"receive_progress": True}],
        ["call", "com.example.nobody"],
        serializer=serializer,
    )
    result = caller.expect("result", proc="com.example.echo")
    assert (result["args"], result["kwargs"]) == ([1, [2]], {"x": {"y": True}})
    invocation = callee.expect("invocation", proc="com.example.echo")
    assert invocation["args"] == [1, [2]]
    error = caller.expect("error", target="com.example.fail")
    assert (error["error"], error["args"]) == ("com.example.error.refused", ["why"])
    progress = [caller.expect("progress", proc="com.example.steps")["args"] for _ in range(3)]
    assert progress == [[0], [1], [2]]
    assert caller.expect("result", proc="com.example.steps")["args"] == ["done"]
    assert caller.expect("error", target="com.example.nobody")["error"] == "wamp.error.no_such_procedure"
    assert caller.leave() == 0
    assert callee.leave() == 0


def test_sessionMeta(node, plainRouter):
    """wamp.session.count counts the autobahn-js sessions joined to the realm."""
    others = [node(plainRouter) for _ in range(2)]
    for other in others:
        other.expect("joined")
    counter = node(plainRouter, ["call", "wamp.session.count"])
    assert counter.expect("result")["args"][0] >= 3


@pytest.fixture(scope="module")
def rpcExample():
    """twistd serving examples/wamp_rpc.py: its ws:// URL."""
    from tests.helpers import Twistd

    process = Twistd("--component", "examples.wamp_rpc:Rpc", "--port", "tcp:0:interface=127.0.0.1")
    try:
        yield f"ws://127.0.0.1:{process.waitForPort()}/"
    finally:
        process.stop()


def test_rpcWithPython(node, rpcExample):
    """
    autobahn-js calls procedures registered by Python code (results and ApplicationError), and Python
    calls the procedure the JavaScript session registered, inside one of its own.
    """
    client = node(rpcExample, ["call", "com.example.add", [2, 3.5]], ["call", "com.example.add", ["a", 1]])
    session = client.expect("joined")["session"]
    assert client.expect("result", proc="com.example.add")["args"] == [5.5]
    error = client.expect("error", target="com.example.add")
    assert (error["error"], error["args"]) == ("com.example.error.not_a_number", ["add takes two numbers"])
    client.send("register", f"com.example.page.{session}.describe", 'return:"a Node page"')
    client.expect("registered")
    client.send("call", "com.example.hello", ["node", session])
    assert client.expect("result", proc="com.example.hello")["args"] == ["Hello node: your page says 'a Node page'"]
    assert [line["proc"] for line in client.lines if line["type"] == "invocation"] == [
        f"com.example.page.{session}.describe"
    ]
    assert client.leave() == 0


def test_unreachable(node):
    """wampclient.js reports a router it cannot reach and exits non-zero (the harness's own check)."""
    from tests.helpers import freePort

    client = node(f"ws://127.0.0.1:{freePort()}/", timeout=10)
    assert client.expect("closed")["reason"] == "unreachable"
    assert client.process.wait(timeout=10) == 1


def test_npmPackagesPinned():
    """The versions the issue names: autobahn-js 26.3.1 for Node, autobahn-browser 22.11.1 for pages."""
    lock = json.loads((JS / "package-lock.json").read_text())
    packages = lock["packages"]
    assert packages["node_modules/autobahn"]["version"] == "26.3.1"
    assert packages["node_modules/autobahn-browser"]["version"] == "22.11.1"
    assert Path(JS / "package.json").is_file()


def test_callTimeoutSparesTheCallee(node, plainRouter):
    """
    A call to an autobahn-js callee that never answers ends with wamp.error.timeout at the caller's timeout;
    the callee announced no call_canceling, so it gets no INTERRUPT (which it would take as a protocol
    violation) and goes on answering calls.
    """
    callee = node(plainRouter, ["register", "com.example.slow", "hang"], ["register", "com.example.quick"])
    callee.expect("registered", proc="com.example.quick")
    caller = node(
        plainRouter, ["call", "com.example.slow", [], {}, {"timeout": 300}], ["call", "com.example.quick", [7]]
    )
    assert caller.expect("error", target="com.example.slow")["error"] == "wamp.error.timeout"
    assert caller.expect("result", proc="com.example.quick")["args"] == [7]
    assert caller.leave() == 0
    # Still joined, leaving cleanly (exit status 1 if the router had closed it).
    assert callee.leave() == 0


def test_pushExampleReadersOnlyRead(node, twistd):
    """
    examples/wamp_push.py's Pusher, as Ratchet's: a session that calls gets "You are not allowed to make calls"
    and is disconnected; one that publishes is disconnected.
    """
    process = twistd("--component", "examples.wamp_push:Pusher", "--port", "tcp:0:interface=127.0.0.1")
    url = f"ws://127.0.0.1:{process.waitForPort()}/"
    caller = node(url, ["call", "com.example.anything"])
    error = caller.expect("error", target="com.example.anything")
    assert (error["error"], error["args"]) == ("com.example.error.not_allowed", ["You are not allowed to make calls"])
    # Closed by the server (exit status 1: not the client's own leave), before its steps ended.
    caller.expect("closed")
    assert caller.process.wait(timeout=10) == 1
    publisher = node(url, ["publish", "blog", ["not a post"], {}, {"acknowledge": True}], ["sleep", 5000])
    publisher.expect("joined")
    publisher.expect("closed")
    assert publisher.process.wait(timeout=10) == 1


def test_acrossProcesses(node, twistd, redisServer):
    """
    Two routers on one Redis (--broker): an autobahn-js subscriber on one gets the events an autobahn-js publisher
    sends to the other, the publisher's exclusion applied; a call does not cross (RPC stays per process).
    """
    first, second = (
        twistd("--wamp", "--broker", redisServer.url, "--port", "tcp:0:interface=127.0.0.1") for _ in range(2)
    )
    urls = []
    for process in (first, second):
        urls.append(f"ws://127.0.0.1:{process.waitForPort()}/")
        process.readUntil("connected to Redis")
    subscriber = node(urls[0], ["subscribe", "com.example.everywhere"], ["register", "com.example.here"])
    subscriber.expect("registered")
    publisher = node(urls[1], ["subscribe", "com.example.everywhere"])
    publisher.expect("subscribed")
    deadline = time.monotonic() + 10
    while True:
        publisher.send("publish", "com.example.everywhere", ["from the other process"], {}, {"acknowledge": True})
        publisher.expect("published")
        try:
            event = subscriber.expect("event", timeout=0.5)
            break
        except AssertionError:
            # The second server's subscription to Redis may lag its first client by a moment.
            assert time.monotonic() < deadline, "no event crossed processes within 10 s"
    assert event["args"] == ["from the other process"]
    publisher.send("call", "com.example.here")
    assert publisher.expect("error", target="com.example.here")["error"] == "wamp.error.no_such_procedure"
    assert [line for line in publisher.lines if line["type"] == "event"] == []
