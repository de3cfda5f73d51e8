"""
The Basic Profile with real Autobahn-Python clients, on every serializer:
joining, GOODBYE, pub/sub, RPC, the errors.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from tests.helpers import waitUntil

from .clients import connect, leave

SERIALIZER_NAMES = ["json", "msgpack", "cbor"]


@pytest.mark.parametrize("serializer", SERIALIZER_NAMES)
def test_joinAndLeave(router, serializer):
    """
    HELLO gets WELCOME with the router's roles and features; GOODBYE gets
    GOODBYE and the session is gone.
    """
    server = router()
    client = connect(server.port, serializer=serializer)
    assert client.leaveDetails is None
    assert client.details.realm == "realm1"
    assert client.details.authrole == "anonymous"
    assert server.sessionCount == 1
    leave(client)
    assert client.leaveDetails.reason == "wamp.close.goodbye_and_out"
    waitUntil(lambda: server.sessionCount == 0)


def test_unknownRealm(router):
    """
    HELLO to a realm the router does not have is answered ABORT no_such_realm.
    """
    server = router()
    client = connect(server.port, realm="nowhere")
    assert client.leaveDetails.reason == "wamp.error.no_such_realm"
    assert server.sessionCount == 0


@pytest.mark.parametrize("serializer", SERIALIZER_NAMES)
def test_pubsub(router, serializer):
    """
    An event reaches every subscriber but the publisher (v2's default), with
    args and kwargs; acknowledge gets a publication id; after unsubscribing
    nothing arrives.
    """
    server = router()
    alice = connect(server.port, serializer=serializer)
    bob = connect(server.port, serializer="json")
    carol = connect(server.port, serializer="msgpack")
    got: dict[str, list] = {"alice": [], "bob": [], "carol": []}
    subs = {}
    for name, client in (("alice", alice), ("bob", bob), ("carol", carol)):
        subs[name] = pytest_twisted.blockon(
            client.subscribe(lambda *a, _n=name, **k: got[_n].append((a, k)), "com.example.news")
        )
    publication = pytest_twisted.blockon(
        alice.publish("com.example.news", "hi", 2, x=[1, "ü"], options=PublishOptions(acknowledge=True))
    )
    assert publication.id > 0
    waitUntil(lambda: got["bob"] and got["carol"])
    assert got["bob"] == got["carol"] == [(("hi", 2), {"x": [1, "ü"]})]
    assert got["alice"] == []
    pytest_twisted.blockon(subs["bob"].unsubscribe())
    pytest_twisted.blockon(alice.publish("com.example.news", "again", options=PublishOptions(acknowledge=True)))
    waitUntil(lambda: len(got["carol"]) == 2)
    assert len(got["bob"]) == 1
    for client in (alice, bob, carol):
        leave(client)


@pytest.mark.parametrize("serializer", SERIALIZER_NAMES)
def test_rpc(router, serializer):
    """
    A call reaches the client that registered the procedure and its result
    (or error) comes back; after unregistering, no_such_procedure.
    """
    server = router()
    callee = connect(server.port, serializer=serializer)
    caller = connect(server.port, serializer="json")

    def add(a, b):
        return a + b

    def fails():
        raise ApplicationError("com.example.oops", "nope", code=3)

    registration = pytest_twisted.blockon(callee.register(add, "com.example.add"))
    pytest_twisted.blockon(callee.register(fails, "com.example.fails"))
    assert pytest_twisted.blockon(caller.call("com.example.add", 2, 3)) == 5
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(caller.call("com.example.fails"))
    assert error.value.error == "com.example.oops"
    assert error.value.args == ("nope",)
    assert error.value.kwargs == {"code": 3}
    pytest_twisted.blockon(registration.unregister())
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(caller.call("com.example.add", 2, 3))
    assert error.value.error == "wamp.error.no_such_procedure"
    leave(callee)
    leave(caller)


def test_alreadyRegistered(router):
    """
    A second registration of a procedure is refused with procedure_already_exists.
    """
    server = router()
    one = connect(server.port)
    two = connect(server.port)
    pytest_twisted.blockon(one.register(lambda: 1, "com.example.p"))
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(two.register(lambda: 2, "com.example.p"))
    assert error.value.error == "wamp.error.procedure_already_exists"
    leave(one)
    leave(two)


def test_calleeLeaves(router):
    """
    A callee that leaves with a call pending: the caller gets canceled; its
    registrations are gone.
    """
    from twisted.internet.defer import Deferred

    server = router()
    callee = connect(server.port)
    caller = connect(server.port)
    pytest_twisted.blockon(callee.register(lambda: Deferred(), "com.example.slow"))
    call = caller.call("com.example.slow")
    waitUntil(lambda: server.defaultRealm.dealer.exact["com.example.slow"].callees[0].invocations)
    leave(callee)
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(call)
    assert error.value.error == "wamp.error.canceled"
    assert "com.example.slow" not in server.defaultRealm.dealer.exact
    leave(caller)


def test_routerSaysGoodbye(router):
    """
    WampServer.shutdown says GOODBYE (system_shutdown) to every session; the
    client answers and the connection closes.
    """
    server = router()
    client = connect(server.port, serializer="msgpack")
    server.shutdown()
    pytest_twisted.blockon(client.closed)
    assert client.leaveDetails.reason == "wamp.close.system_shutdown"
    assert server.sessionCount == 0


@pytest.mark.parametrize("serializer", SERIALIZER_NAMES)
def test_binaryPayloads(router, serializer):
    """
    bytes in arguments arrive as bytes, whichever serializers publisher and
    subscriber use (JSON carries them as "\\u0000"+base64).
    """
    server = router()
    publisher = connect(server.port, serializer=serializer)
    subscribers = [connect(server.port, serializer=s) for s in SERIALIZER_NAMES]
    got: list = []
    for s in subscribers:
        pytest_twisted.blockon(s.subscribe(lambda *a, **k: got.append((a, k)), "com.bin"))
    pytest_twisted.blockon(
        publisher.publish("com.bin", b"\x00\xffraw", "text", k=b"\x01", options=PublishOptions(acknowledge=True))
    )
    waitUntil(lambda: len(got) == 3)
    assert got == [((b"\x00\xffraw", "text"), {"k": b"\x01"})] * 3
    for client in [publisher, *subscribers]:
        leave(client)
