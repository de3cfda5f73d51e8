"""
L{ratchetpy.testing.Harness}: components served in memory through the real
layers, to Autobahn's client protocol, on a clock the test advances.
"""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred

from examples.chat import Chat
from examples.echo import Echo
from examples.logger import LoggedChat
from ratchetpy import App, MessageComponent
from ratchetpy.auth import CallableAuth, Unauthorized, User
from ratchetpy.testing import HandshakeRefused, Harness, NothingReceived
from tests.helpers import Recorder


def test_echoesTextAndBinary():
    """
    A text message comes back as C{str}, a binary one as C{bytes}.
    """
    client = Harness(Echo()).connect()
    client.send("hello")
    client.send(b"\x00\xff")
    assert client.receiveAll() == ["hello", b"\x00\xff"]
    client.receiveNothing()


def test_chatBroadcastsToTheOthers():
    """
    The chat sends one client's message to every other client, not back.
    """
    harness = Harness(Chat())
    ann, bob, cid = harness.connect(), harness.connect(), harness.connect()
    ann.send("hi")
    assert bob.receive() == "hi"
    assert cid.receive() == "hi"
    ann.receiveNothing()


def test_theRequestIsTheTestsChoice():
    """
    The path, headers, cookies and address a test gives are what the
    component sees on C{conn.httpRequest} and C{conn.remoteAddress}.
    """
    recorder = Recorder()
    Harness(recorder).connect(
        "/rooms/1?x=2", headers={"X-Trace": "abc"}, cookies={"sid": "s3"}, remoteAddress="198.51.100.7"
    )
    conn = recorder.events[0][1]
    request = conn.httpRequest
    assert (request.path, request.query) == ("/rooms/1", "x=2")
    assert request.headers.get("x-trace") == "abc"
    assert request.headers.get("cookie") == "sid=s3"
    assert conn.remoteAddress == "198.51.100.7"
    Harness(recorder).connect(remoteAddress="2001:db8::7")
    assert recorder.connections()[-1].remoteAddress == "2001:db8::7"


def test_closeCodesBothWays():
    """
    A client's close reaches C{onClose}; a component's close reaches the
    client with its code and reason.
    """
    recorder = Recorder(onMessage=lambda conn, msg: conn.close(4000, "bye") if msg == "go" else None)
    harness = Harness(recorder)
    first = harness.connect()
    first.close(1000, "done")
    assert (first.closed, first.closeCode, first.wasClean) == (True, 1000, True)
    second = harness.connect()
    second.send("go")
    assert (second.closeCode, second.closeReason) == (4000, "bye")
    assert recorder.hooks() == ["onOpen", "onClose", "onOpen", "onMessage", "onClose"]
    assert harness.connectionCount == 0


def test_aFailingHookClosesWith1011():
    """
    A hook that raises closes that connection with 1011; the others carry on.
    """

    def fail(conn, msg):
        raise ValueError("broken")

    harness = Harness(Recorder(onMessage=fail))
    bad, good = harness.connect(), harness.connect()
    bad.send("x")
    assert bad.closeCode == 1011
    assert good.open


def test_limitsApply():
    """
    Layer options are the server's: a message over C{maxMessageSize} gets
    1009.
    """
    client = Harness(Echo(), maxMessageSize=10).connect()
    client.send("x" * 11)
    assert client.closeCode == 1009


def test_badArgumentsAreClearErrors():
    """
    A keyword no layer takes is refused, naming the valid ones; a path
    without its slash and time going backwards are refused, saying why.
    """
    with pytest.raises(TypeError, match="maxMessageSize"):
        Harness(Echo(), maxMesageSize=10)
    harness = Harness(Echo())
    with pytest.raises(ValueError, match="'/chat'"):
        harness.connect("chat")
    with pytest.raises(ValueError, match="0 or more"):
        harness.advance(-1)


class Later(MessageComponent):
    """
    Answers each message a second later, on the connection's reactor.
    """

    def onMessage(self, conn, msg):
        conn.io.reactor.callLater(1, conn.send, f"later: {msg}")


def test_advanceRunsTimers():
    """
    What a component schedules with C{callLater} happens when the clock gets
    there, not before.
    """
    harness = Harness(Later())
    client = harness.connect()
    client.send("a")
    with pytest.raises(NothingReceived):
        client.receive()
    harness.advance(0.5)
    client.receiveNothing()
    harness.advance(0.5)
    assert client.receive() == "later: a"


def test_keepaliveIsAnsweredOnTheWay():
    """
    Advancing far past keepalive's interval and timeout in one call keeps
    the connection: each ping is answered before its timeout runs.
    """
    harness = Harness(Echo(), keepAlive=5)
    client = harness.connect()
    harness.advance(60)
    assert client.open


class Slow(MessageComponent):
    """
    Async and Deferred hooks: onOpen waits two seconds of the clock, onMessage
    returns a Deferred fired a second later.
    """

    async def onOpen(self, conn):
        await task.deferLater(conn.io.reactor, 2, lambda: None)
        conn.send("welcome")

    def onMessage(self, conn, msg):
        d: Deferred[None] = task.deferLater(conn.io.reactor, 1, lambda: None)
        return d.addCallback(lambda _: conn.send(msg.upper()))


def test_asyncAndDeferredHooks():
    """
    An C{async def} hook and a Deferred hook run on the harness's clock, and
    messages that arrive meanwhile wait for them, in order.
    """
    harness = Harness(Slow())
    client = harness.connect()
    client.send("a")
    client.send("b")
    client.receiveNothing()
    harness.advance(2)
    assert client.receive() == "welcome"
    harness.advance(1)
    assert client.receiveAll() == ["A"]
    harness.advance(1)
    assert client.receive() == "B"


def test_appRoutesAndOrigins():
    """
    An App is served with its routes and origin checks: an unknown path is
    404, a foreign page's origin 403, the page's own origin accepted.
    """
    app = App("localhost")
    app.route("/echo", Echo())
    harness = Harness(app)
    with pytest.raises(HandshakeRefused) as refused:
        harness.connect("/nowhere")
    assert refused.value.status == 404
    with pytest.raises(HandshakeRefused) as refused:
        harness.connect("/echo", origin="https://evil.example")
    assert refused.value.status == 403
    client = harness.connect("/echo", origin="http://localhost:8080")
    client.send("ok")
    assert client.receive() == "ok"


def test_authenticate():
    """
    With C{auth}, a client without credentials gets 401, and one with them
    is C{conn.user} in C{onOpen}.
    """

    def apiKey(request):
        if request.headers.get("x-api-key") != "k":
            raise Unauthorized("an X-Api-Key header is needed")
        return User("svc")

    recorder = Recorder()
    harness = Harness(recorder, auth=CallableAuth(apiKey))
    with pytest.raises(HandshakeRefused) as refused:
        harness.connect()
    assert refused.value.status == 401
    harness.connect(headers={"X-Api-Key": "k"})
    assert recorder.events[0][1].user.id == "svc"


def test_decorator():
    """
    A decorator is served as the stack it is part of: LoggedChat still chats.
    """
    harness = Harness(LoggedChat())
    ann, bob = harness.connect(), harness.connect()
    bob.send("hello")
    assert ann.receive() == "hello"


def test_subProtocolAndCompression():
    """
    The subprotocol a component supports is agreed; permessage-deflate,
    offered, is used both ways.
    """

    class Versioned(Echo):
        def getSubProtocols(self):
            return ["v2"]

    client = Harness(Versioned()).connect(subProtocols=["v1", "v2"], compression=True)
    assert client.subProtocol == "v2"
    assert "permessage-deflate" in client.response.headers["sec-websocket-extensions"]
    client.send("z" * 1000)
    assert client.receive() == "z" * 1000


def test_raw():
    """
    A raw component gets the client's bytes as they are.
    """
    harness = Harness(Echo(), raw=True)
    client = harness.connectRaw()
    client.send(b"ping\n")
    assert client.receive() == b"ping\n"
    client.close()
    assert harness.connectionCount == 0
    with pytest.raises(TypeError, match="connectRaw"):
        harness.connect()


def test_plainRequestAndDrop():
    """
    A plain request gets the HTTP answer; a dropped client's connection is
    closed on the server too.
    """
    harness = Harness(Echo())
    assert harness.request("/").status == 426
    client = harness.connect()
    client.drop()
    assert (client.closed, client.closeCode, client.wasClean) == (True, 1006, False)
    assert harness.connectionCount == 0


def test_shutdownClosesWith1001():
    """
    Shutting the server down closes every client with 1001.
    """
    harness = Harness(Chat())
    client = harness.connect()
    harness.shutdown()
    assert client.closeCode == 1001
