"""
The server-side API (C{self.wamp}, L{procedure}): procedures, publications,
calls and subscriptions from Python that real clients see as ordinary
registrations and events.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, PublishOptions
from twisted.internet import reactor, task
from twisted.internet.defer import Deferred

from ratchetpy.wamp import WampComponent, WampServer, procedure
from tests.helpers import waitUntil

from .clients import connect, leave


class Service(WampComponent):
    @procedure("com.math.add")
    def add(self, a, b):
        return a + b

    @procedure("com.math.slowdouble")
    async def slowDouble(self, x):
        await task.deferLater(reactor, 0.05, lambda: None)
        return 2 * x

    @procedure("com.math.pair")
    def pair(self):
        return CallResult(1, 2, name="pair")

    @procedure("com.math.refuse")
    def refuse(self):
        raise ApplicationError("com.math.refused", "not today", why="because")

    @procedure("com.math.crash")
    def crash(self):
        raise KeyError("secret-internal-detail")


def test_procedures(router, logged):
    """
    Methods marked with @procedure answer clients: plain, coroutine and
    CallResult returns; ApplicationError as is; other exceptions logged and
    answered wamp.error.runtime_error without their text.
    """
    server = router(Service())
    client = connect(server.port)
    call = lambda *a, **k: pytest_twisted.blockon(client.call(*a, **k))  # noqa: E731
    assert call("com.math.add", 2, 3) == 5
    assert call("com.math.slowdouble", 21) == 42
    pair = call("com.math.pair")
    assert (list(pair.results), pair.kwresults) == ([1, 2], {"name": "pair"})
    with pytest.raises(ApplicationError) as error:
        call("com.math.refuse")
    assert (error.value.error, error.value.args, error.value.kwargs) == (
        "com.math.refused",
        ("not today",),
        {"why": "because"},
    )
    with pytest.raises(ApplicationError) as error:
        call("com.math.crash")
    assert error.value.error == "wamp.error.runtime_error"
    assert "secret-internal-detail" not in str(error.value.args)
    assert any("procedure com.math.crash failed" in line for line in logged())
    leave(client)


def test_registerUnregisterPublishSubscribe(router):
    """
    self.wamp.register/unregister, publish (clients' subscriptions get it,
    options apply) and subscribe (a handler gets clients' publications).
    """
    app = WampComponent()
    server = router(app)
    app.wamp.register("com.hello", lambda name: f"hello {name}")
    client = connect(server.port)
    assert pytest_twisted.blockon(client.call("com.hello", "ann")) == "hello ann"
    app.wamp.unregister("com.hello")
    with pytest.raises(ApplicationError):
        pytest_twisted.blockon(client.call("com.hello", "ann"))
    got: list = []
    pytest_twisted.blockon(client.subscribe(lambda *a, **k: got.append((a, k)), "com.news"))
    app.wamp.publish("com.news", "one", extra=1)
    app.wamp.publish("com.news", "two", options={"exclude": [client.session_id]})
    heard: list = []
    subscription = app.wamp.subscribe("com.chat", lambda *a, **k: heard.append((a, k)))
    pytest_twisted.blockon(client.publish("com.chat", "hi", to="all", options=PublishOptions(acknowledge=True)))
    waitUntil(lambda: got and heard)
    assert got == [(("one",), {"extra": 1})]
    assert heard == [(("hi",), {"to": "all"})]
    subscription.unsubscribe()
    assert server.defaultRealm.broker.find("com.chat") is None
    leave(client)


def test_callClient(router):
    """
    self.wamp.call reaches a client's registration: result, error, unknown,
    and cancellation interrupts the client.
    """
    app = WampComponent()
    server = router(app)
    client = connect(server.port)
    interrupted: list = []

    def never():
        return Deferred(lambda d: interrupted.append(True))

    def broken():
        raise ApplicationError("com.client.broken", "sorry")

    pytest_twisted.blockon(client.register(lambda a, b: a * b, "com.client.mul"))
    pytest_twisted.blockon(client.register(broken, "com.client.broken"))
    pytest_twisted.blockon(client.register(never, "com.client.never"))
    assert pytest_twisted.blockon(app.wamp.call("com.client.mul", 6, 7)) == 42
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(app.wamp.call("com.client.broken"))
    assert error.value.error == "com.client.broken"
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(app.wamp.call("com.client.none"))
    assert error.value.error == "wamp.error.no_such_procedure"
    pending = app.wamp.call("com.client.never")
    pending.addErrback(lambda f: None)
    pending.cancel()
    waitUntil(lambda: interrupted)
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(app.wamp.call("com.client.never", options={"timeout": 50}))
    assert error.value.error == "wamp.error.timeout"
    leave(client)


def test_badArguments():
    """
    Bad URIs and policies are refused at once with a clear error.
    """
    api = WampServer().wamp
    with pytest.raises(ValueError, match="invalid URI"):
        api.register("com..x", lambda: None)
    with pytest.raises(ValueError, match="match is one of"):
        api.register("com.x", lambda: None, match="regex")
    with pytest.raises(ValueError, match="invoke is one of"):
        api.register("com.x", lambda: None, invoke="all")
    with pytest.raises(ValueError, match="invalid URI"):
        api.publish("com x")
    api.register("com.x", lambda: None)
    with pytest.raises(ApplicationError):
        api.register("com.x", lambda: None)
    with pytest.raises(ValueError, match="maxPendingCalls"):
        WampServer(maxPendingCalls=0)
    with pytest.raises(ValueError, match="callTimeout"):
        WampServer(callTimeout=-1)


class Pusher(WampComponent):
    """
    Ratchet's push tutorial over WAMP: posts arrive on a Channels channel
    (as ratchetpy.push sends them) and go to the subscribers of their
    category's topic, if it has any.
    """

    def __init__(self) -> None:
        self.subscribedTopics: dict = {}

    def onSubscribe(self, conn, topic):
        self.subscribedTopics[topic.getId()] = topic

    def onBlogEntry(self, entry):
        data = json.loads(entry)
        topic = self.subscribedTopics.get(data["category"])
        if topic is not None and len(topic):
            topic.broadcast(data)


def test_pushTutorial(router):
    """
    self.wamp.listen feeds Channels messages (ratchetpy.push's) to the
    component, which broadcasts them to the topic's subscribers.
    """
    from ratchetpy import Channels

    app = Pusher()
    server = router(app)
    channels = Channels()
    listener = app.wamp.listen("blog", app.onBlogEntry, channels=channels)
    client = connect(server.port)
    got: list = []
    pytest_twisted.blockon(client.subscribe(got.append, "kittensCategory"))
    pytest_twisted.blockon(channels.publish("blog", json.dumps({"category": "other", "title": "no"})))
    pytest_twisted.blockon(channels.publish("blog", json.dumps({"category": "kittensCategory", "title": "yes"})))
    waitUntil(lambda: got)
    assert got == [{"category": "kittensCategory", "title": "yes"}]
    listener.close()
    leave(client)


def test_kill(router):
    """
    self.wamp.kill ends sessions by id or authrole with GOODBYE; the others stay.
    """
    app = WampComponent()
    server = router(app)
    a, b = connect(server.port), connect(server.port)
    assert app.wamp.kill(a.session_id, message="bye now") == 1
    pytest_twisted.blockon(a.closed)
    assert a.leaveDetails.reason == "wamp.close.killed"
    assert pytest_twisted.blockon(b.call("wamp.session.count")) == 1
    assert app.wamp.kill(authrole="anonymous") == 1
    pytest_twisted.blockon(b.closed)
    assert server.sessionCount == 0
    with pytest.raises(TypeError):
        app.wamp.kill()
