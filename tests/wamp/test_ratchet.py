"""
PHP Ratchet's WAMP API on the router: a WampComponent's hooks, Topic (its
TopicManager semantics), and conn.callResult/callError/event, with real
Autobahn-Python clients.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions
from twisted.internet import reactor, task

from ratchetpy.wamp import Topic, WampComponent
from tests.helpers import sleep, waitUntil

from .clients import connect, leave


class BasicPubSub(WampComponent):
    """
    Ratchet's tutorial component (without the broadcast: the router routes),
    recording its hooks; calls: com.echo answered, others refused.
    """

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.topics: dict[str, Topic] = {}

    def onOpen(self, conn):
        self.calls.append(("onOpen", conn.sessionId))

    def onClose(self, conn):
        self.calls.append(("onClose", conn.sessionId))

    def onSubscribe(self, conn, topic):
        self.topics[topic.getId()] = topic
        self.calls.append(("onSubscribe", conn.sessionId, str(topic), len(topic)))

    def onUnSubscribe(self, conn, topic):
        self.calls.append(("onUnSubscribe", conn.sessionId, str(topic), len(topic)))

    def onPublish(self, conn, topic, event, exclude, eligible, **kwargs):
        self.calls.append(("onPublish", conn.sessionId, str(topic), event, exclude, eligible, kwargs))

    def onCall(self, conn, id, topic, params, **kwargs):
        if topic == "com.echo":
            conn.callResult(id, {"params": params, "kwargs": kwargs})
        else:
            conn.callError(id, topic, "RPC not supported on this demo")


def hooks(component, name):
    return [c for c in component.calls if c[0] == name]


def test_hooksObserve(router):
    """
    onOpen, onSubscribe (with the Topic), onPublish (exclude holds the
    publisher, eligible None or the whitelist), onUnSubscribe, onClose;
    the router delivered the event itself.
    """
    app = BasicPubSub()
    server = router(app)
    alice, bob = connect(server.port), connect(server.port)
    got: list = []
    sub = pytest_twisted.blockon(bob.subscribe(lambda *a, **k: got.append((a, k)), "com.room"))
    pytest_twisted.blockon(alice.publish("com.room", "hi", options=PublishOptions(acknowledge=True)))
    pytest_twisted.blockon(
        alice.publish("com.room", 1, 2, k="v", options=PublishOptions(acknowledge=True, eligible=[bob.session_id]))
    )
    waitUntil(lambda: len(got) == 2)
    assert got == [(("hi",), {}), ((1, 2), {"k": "v"})]
    pytest_twisted.blockon(sub.unsubscribe())
    aliceId, bobId = alice.session_id, bob.session_id
    leave(alice)
    leave(bob)
    waitUntil(lambda: len(hooks(app, "onClose")) == 2)
    assert sorted(hooks(app, "onOpen")) == sorted([("onOpen", aliceId), ("onOpen", bobId)])
    assert hooks(app, "onSubscribe") == [("onSubscribe", bobId, "com.room", 1)]
    assert hooks(app, "onPublish") == [
        ("onPublish", aliceId, "com.room", "hi", [aliceId], None, {}),
        ("onPublish", aliceId, "com.room", [1, 2], [aliceId], [bobId], {"k": "v"}),
    ]
    assert hooks(app, "onUnSubscribe") == [("onUnSubscribe", bobId, "com.room", 0)]


def test_onCall(router):
    """
    Calls to procedures nobody registered reach onCall, answered with
    callResult or callError (Ratchet's tutorial passes the topic as the
    error URI).
    """
    server = router(BasicPubSub())
    client = connect(server.port)
    result = pytest_twisted.blockon(client.call("com.echo", 1, "two", x=3))
    assert result == {"params": [1, "two"], "kwargs": {"x": 3}}
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(client.call("com.other"))
    assert error.value.error == "com.other"
    assert error.value.args == ("RPC not supported on this demo",)
    leave(client)


def test_noOnCall(router):
    """
    A component that does not override onCall lets the router answer
    no_such_procedure.
    """
    server = router(WampComponent())
    client = connect(server.port)
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(client.call("com.nothing"))
    assert error.value.error == "wamp.error.no_such_procedure"
    leave(client)


def test_topicBroadcast(router):
    """
    Topic.broadcast (the push tutorial's server-side send) reaches every
    subscriber, but those excluded; an empty eligible reaches nobody; a
    topic is deleted with its last subscriber, and a new subscription makes a
    new Topic.
    """
    app = BasicPubSub()
    server = router(app)
    alice, bob = connect(server.port), connect(server.port, serializer="msgpack")
    got = {"alice": [], "bob": []}
    for name, client in (("alice", alice), ("bob", bob)):
        got[name].append(pytest_twisted.blockon(client.subscribe(lambda e, _n=name: got[_n].append(e), "com.blog")))
    topic = app.topics["com.blog"]
    assert len(topic) == 2
    assert {c.sessionId for c in topic} == {alice.session_id, bob.session_id}
    assert all(topic.has(c) for c in topic)
    topic.broadcast({"title": "one"})
    topic.broadcast("two", exclude=[alice.session_id])
    topic.broadcast("three", eligible=[])
    bobConn = next(c for c in topic if c.sessionId == bob.session_id)
    bobConn.event("com.blog", "four")
    bobConn.event(topic, "five")
    bobConn.event("com.unsubscribed", "nothing")
    waitUntil(lambda: len(got["bob"]) == 5)
    sleep(0.1)
    assert got["alice"][1:] == [{"title": "one"}]
    assert got["bob"][1:] == [{"title": "one"}, "two", "four", "five"]
    for name in ("alice", "bob"):
        pytest_twisted.blockon(got[name][0].unsubscribe())
    assert server.defaultRealm.broker.find("com.blog") is None
    pytest_twisted.blockon(alice.subscribe(lambda e: None, "com.blog"))
    assert app.topics["com.blog"] is not topic
    leave(alice)
    leave(bob)


def test_topicRemove(router):
    """
    Topic.remove unsubscribes a session (Autobahn announces
    subscription_revocation, so it is told); the topic goes with its last.
    """
    app = BasicPubSub()
    server = router(app)
    client = connect(server.port)
    got: list = []
    pytest_twisted.blockon(client.subscribe(got.append, "com.t"))
    topic = app.topics["com.t"]
    conn = next(iter(topic))
    topic.remove(conn)
    assert len(topic) == 0 and not topic.has(conn)
    assert server.defaultRealm.broker.find("com.t") is None
    topic.broadcast("x")
    sleep(0.1)
    assert got == []
    leave(client)


class Slow(WampComponent):
    """
    An async onOpen, and onSubscribe recording whether it had finished.
    """

    def __init__(self) -> None:
        self.order: list[str] = []

    async def onOpen(self, conn):
        self.order.append("open started")
        await task.deferLater(reactor, 0.2, lambda: None)
        self.order.append("open done")

    def onSubscribe(self, conn, topic):
        self.order.append("subscribe")


def test_asyncHooksInOrder(router):
    """
    A session's next message waits for its pending hook.
    """
    app = Slow()
    server = router(app)
    client = connect(server.port)
    pytest_twisted.blockon(client.subscribe(lambda: None, "com.t"))
    waitUntil(lambda: "subscribe" in app.order)
    assert app.order == ["open started", "open done", "subscribe"]
    leave(client)


class Failing(WampComponent):
    def __init__(self) -> None:
        self.errors: list = []

    def onSubscribe(self, conn, topic):
        raise RuntimeError("boom")

    def onError(self, conn, exc):
        self.errors.append((conn.sessionId, str(exc)))


def test_failingHook(router, logged):
    """
    A failing hook is logged, passed to onError, and the connection closed;
    the router goes on serving others.
    """
    app = Failing()
    server = router(app)
    client = connect(server.port)
    sessionId = client.session_id
    client.subscribe(lambda: None, "com.t")
    pytest_twisted.blockon(client.closed)
    assert app.errors == [(sessionId, "boom")]
    assert any("WampServer.onMessage failed" in line for line in logged()), logged()
    other = connect(server.port)
    assert pytest_twisted.blockon(other.call("wamp.session.count")) == 1
    leave(other)
