"""
The router under twistd: C{--wamp} alone (a plain router), C{--component}
with a WampComponent, and two servers over a real redis-server: pub/sub
crosses processes, RPC stays per process.
"""

from __future__ import annotations

import signal

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from tests.helpers import sleep, waitUntil
from tests.test_tap import runToExit

from .clients import connect, leave


def test_plainRouter(twistd):
    """
    twistd -n ratchetpy --wamp routes pub/sub and RPC between clients in
    realm1, anonymously.
    """
    process = twistd("--wamp", "--port", "tcp:0:interface=127.0.0.1")
    port = process.waitForPort()
    a, b = connect(port), connect(port, serializer="msgpack")
    got: list = []
    pytest_twisted.blockon(b.subscribe(got.append, "com.t"))
    pytest_twisted.blockon(b.register(lambda x: x + 1, "com.inc"))
    pytest_twisted.blockon(a.publish("com.t", "hello", options=PublishOptions(acknowledge=True)))
    assert pytest_twisted.blockon(a.call("com.inc", 41)) == 42
    waitUntil(lambda: got)
    assert got == ["hello"]
    leave(a)
    leave(b)
    assert process.stop(signal.SIGTERM) == 0, process.output


def test_wampComponent(twistd):
    """
    --component accepts a WampComponent: it is served on a router of its own.
    """
    process = twistd("--component", "tests.wamp.apps:Service", "--port", "tcp:0:interface=127.0.0.1")
    port = process.waitForPort()
    client = connect(port)
    assert pytest_twisted.blockon(client.call("com.service.pid")) == process.process.pid
    leave(client)
    assert process.stop(signal.SIGTERM) == 0, process.output


def test_wampRefusesOtherComponents(twistd):
    """
    --wamp with a component that is no WAMP component is one clear line.
    """
    status, output = runToExit(
        twistd, "--wamp", "--component", "examples.chat:Chat", "--port", "tcp:0:interface=127.0.0.1"
    )
    assert status != 0
    assert "ratchetpy: --wamp: --component examples.chat:Chat is not a WAMP component" in output


def test_twoServersOverRedis(twistd, redisServer):
    """
    Two routers sharing one Redis: an event published on one reaches the
    subscribers of both (once each, the publisher excluded); a procedure
    registered on one is not callable from the other (RPC is per process).
    """
    servers = []
    for _ in range(2):
        process = twistd(
            "--component",
            "tests.wamp.apps:Service",
            "--port",
            "tcp:0:interface=127.0.0.1",
            "--broker",
            redisServer.url,
        )
        servers.append((process, process.waitForPort()))
    for process, _ in servers:
        process.readUntil("connected to Redis at ")
    (one, portOne), (two, portTwo) = servers
    alice, carol = connect(portOne), connect(portOne)
    bob = connect(portTwo, serializer="msgpack")
    got: dict[str, list] = {"alice": [], "bob": [], "carol": []}
    for name, client in (("alice", alice), ("bob", bob), ("carol", carol)):
        pytest_twisted.blockon(client.subscribe(lambda *a, _n=name, **k: got[_n].append((a, k)), "com.room"))
    sleep(0.2)  # the subscriptions reach Redis
    pytest_twisted.blockon(
        alice.publish("com.room", "from one", b"\x00bin", k=1, options=PublishOptions(acknowledge=True))
    )
    pytest_twisted.blockon(bob.publish("com.room", "from two", options=PublishOptions(acknowledge=True)))
    waitUntil(lambda: len(got["carol"]) == 2 and got["bob"] and got["alice"])
    sleep(0.2)
    assert got["alice"] == [(("from two",), {})]
    assert got["bob"] == [(("from one", b"\x00bin"), {"k": 1})]
    assert sorted(got["carol"], key=repr) == sorted(
        [(("from one", b"\x00bin"), {"k": 1}), (("from two",), {})], key=repr
    )
    pytest_twisted.blockon(bob.register(lambda: "two", "com.only.two"))
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(alice.call("com.only.two"))
    assert error.value.error == "wamp.error.no_such_procedure"
    assert pytest_twisted.blockon(alice.call("com.service.pid")) == one.process.pid
    assert pytest_twisted.blockon(bob.call("com.service.pid")) == two.process.pid
    for client in (alice, bob, carol):
        leave(client)
    for process, _ in servers:
        assert process.stop(signal.SIGTERM) == 0, process.output
