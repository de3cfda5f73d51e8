"""
ComponentDecorator and ConnectionDecorator, the bases for user-written layers:
interfaces, forwarding, the decorated connection's identity across hooks,
and a decorating layer in a real WebSocket stack.
"""

from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from zope.interface import implementer
from zope.interface.verify import verifyObject

from examples.chat import Chat
from ratchetpy import (
    ComponentDecorator,
    ConnectionDecorator,
    HttpServer,
    IConnection,
    IHttpServerComponent,
    IMessageComponent,
    IWsServerComponent,
    MessageComponent,
    WsServer,
)
from ratchetpy.server.connection import IoConnection
from ratchetpy.testing import Harness
from tests.helpers import Recorder


class Returning(Recorder):
    """
    Records its hooks and returns a distinct value from each.
    """

    def onOpen(self, conn, *args):
        self.events.append(("onOpen", conn, *args))
        return "opened"

    def onMessage(self, conn, msg):
        super().onMessage(conn, msg)
        return "received"

    def onClose(self, conn):
        super().onClose(conn)
        return "closed"

    def onError(self, conn, exc):
        super().onError(conn, exc)
        return "handled"


@implementer(IWsServerComponent)
class WithSubProtocols(Recorder):
    def getSubProtocols(self):
        return ["v2.chat"]


class Tagged(ConnectionDecorator):
    """
    A connection that prefixes what is sent on it.
    """

    def send(self, data):
        super().send(f"[{self.resourceId}] {data}")


class Tagging(ComponentDecorator):
    def decorate(self, conn):
        return Tagged(conn)


def ioConnection():
    return IoConnection(StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.5", 1234)))


# ComponentDecorator


@pytest.mark.parametrize(
    "inner, interface",
    [
        (Recorder(), IMessageComponent),
        (WsServer(Recorder()), IHttpServerComponent),
        (HttpServer(WsServer(Recorder())), IMessageComponent),
    ],
    ids=["message", "http", "httpServer"],
)
def test_providesTheWrappedInterfaces(inner, interface):
    """
    A decorator provides what the component it wraps provides, so it fits in
    the same place of a stack; it is not an HTTP-layer component around a
    message component.
    """
    decorator = ComponentDecorator(inner)
    verifyObject(interface, decorator)
    assert interface.providedBy(decorator)
    if interface is IMessageComponent:
        assert not IHttpServerComponent.providedBy(decorator)


def test_capabilitiesStayVisible():
    """
    getSubProtocols and IWsServerComponent pass through a decorator, so a
    WsServer around it still negotiates the subprotocol; attributes neither
    has raise AttributeError.
    """
    inner = WithSubProtocols()
    decorator = ComponentDecorator(ComponentDecorator(inner))
    verifyObject(IWsServerComponent, decorator)
    assert decorator.getSubProtocols() == ["v2.chat"]
    assert WsServer(decorator)._factory.selectSubProtocol(["x", "v2.chat"]) == "v2.chat"
    with pytest.raises(AttributeError):
        decorator.noSuchAttribute  # noqa: B018
    assert repr(decorator).startswith("ComponentDecorator(ComponentDecorator(")


def test_halfBuiltDecoratorDoesNotRecurse():
    """
    Attribute lookup on a decorator whose component is not set yet (as while
    copying or unpickling) raises AttributeError rather than recursing.
    """
    bare = ComponentDecorator.__new__(ComponentDecorator)
    with pytest.raises(AttributeError):
        bare.component  # noqa: B018
    with pytest.raises(AttributeError):
        bare.getSubProtocols  # noqa: B018


def test_forwardsEveryHookAndItsResult():
    """
    Each hook is passed on with the same connection and arguments (the
    request too, for an HTTP-layer component), and its result is returned,
    so the layer outside awaits an async component.
    """
    inner = Returning()
    decorator = ComponentDecorator(inner)
    conn, request, error = object(), object(), RuntimeError("x")
    assert decorator.onOpen(conn, request) == "opened"
    assert decorator.onMessage(conn, "hi") == "received"
    assert decorator.onError(conn, error) == "handled"
    assert decorator.onClose(conn) == "closed"
    assert inner.events == [
        ("onOpen", conn, request),
        ("onMessage", conn, "hi"),
        ("onError", conn, error),
        ("onClose", conn),
    ]

    class Async(MessageComponent):
        def onMessage(self, conn, msg):
            return defer.Deferred()

    pending = ComponentDecorator(Async()).onMessage(conn, "x")
    assert isinstance(pending, defer.Deferred)


def test_decorateGivesTheSameConnectionInEveryHook():
    """
    decorate() is called once per connection, in onOpen; the wrapped
    component gets that one decorated connection in every hook, each
    connection its own, and the mapping is emptied by onClose.
    """
    calls = []

    class Counting(Tagging):
        def decorate(self, conn):
            calls.append(conn)
            return super().decorate(conn)

    inner = Returning()
    decorator = Counting(inner)
    first, second = ioConnection(), ioConnection()
    decorator.onOpen(first)
    decorator.onOpen(second)
    decorator.onMessage(first, "a")
    decorator.onError(second, RuntimeError())
    decorator.onMessage(second, "b")
    assert decorator.onClose(first) == "closed"
    decorator.onClose(second)
    assert calls == [first, second]
    seen = {}
    for event in inner.events:
        seen.setdefault(event[1].connection, set()).add(id(event[1]))
    assert {conn: len(ids) for conn, ids in seen.items()} == {first: 1, second: 1}
    assert all(isinstance(event[1], Tagged) for event in inner.events)
    assert decorator._decorated == {}


def test_withoutDecorateTheConnectionPassesUnchanged():
    """
    A decorator that does not override decorate hands the wrapped component
    the very connection it got, and keeps no per-connection mapping.
    """
    inner = Returning()
    decorator = ComponentDecorator(inner)
    conn = ioConnection()
    decorator.onOpen(conn)
    decorator.onClose(conn)
    assert [event[1] for event in inner.events] == [conn, conn]
    assert decorator._decorated is None


class Bouncer(ComponentDecorator):
    """
    Refuses the connections it is told to, in onOpen, and counts the hooks
    it sees itself.
    """

    def __init__(self, component, refused=()):
        super().__init__(component)
        self.toRefuse = set(refused)
        self.seen = []

    def onOpen(self, conn, *args):
        if conn in self.toRefuse:
            self.refuse(conn)
            return None
        return super().onOpen(conn, *args)

    def onMessage(self, conn, msg):
        self.seen.append(("onMessage", conn))
        return super().onMessage(conn, msg)


class TaggingBouncer(Bouncer, Tagging):
    """
    A bouncer that also hands the wrapped component decorated connections.
    """


@pytest.mark.parametrize("decorating", [False, True], ids=["plain", "decorating"])
def test_refusedConnectionIsKeptFromTheWrappedComponent(decorating):
    """
    After refuse(conn), the wrapped component hears nothing of conn (its
    messages, errors and close), while other connections pass as before; the
    decorator's own overrides still run. onClose forgets the refusal, so a
    decorator with no refused connection left holds no set.
    """
    inner = Returning()
    refused, admitted = ioConnection(), ioConnection()
    decorator = (TaggingBouncer if decorating else Bouncer)(inner, refused=[refused])
    assert decorator._refused is None
    assert decorator.onOpen(refused) is None
    decorator.onOpen(admitted)
    assert decorator.onMessage(refused, "no") is None
    assert decorator.onError(refused, RuntimeError()) is None
    assert decorator.onMessage(admitted, "yes") == "received"
    assert decorator.onClose(refused) is None
    assert decorator._refused is None
    assert decorator.onClose(admitted) == "closed"
    assert [event[0] for event in inner.events] == ["onOpen", "onMessage", "onClose"]
    unwrap = (lambda conn: conn.connection) if decorating else (lambda conn: conn)
    assert {unwrap(event[1]) for event in inner.events} == {admitted}
    assert decorator.seen == [("onMessage", refused), ("onMessage", admitted)]
    if decorating:
        assert decorator._decorated == {}


def test_refusalsAreForgottenOneByOne():
    """
    With several connections refused, each onClose forgets its own; the
    rest stay refused until they close too.
    """
    inner = Returning()
    first, second = ioConnection(), ioConnection()
    decorator = Bouncer(inner, refused=[first, second])
    decorator.onOpen(first)
    decorator.onOpen(second)
    decorator.onClose(first)
    assert decorator._refused == {second}
    assert decorator.onMessage(second, "still refused") is None
    decorator.onClose(second)
    assert decorator._refused is None
    assert inner.events == []


# ConnectionDecorator


def test_connectionDecoratorForwards():
    """
    A ConnectionDecorator is an IConnection: send and close call through to
    the wrapped connection, and its attributes (resourceId, remoteAddress,
    state, httpRequest, transport) are the wrapped connection's.
    """
    inner = ioConnection()
    decorated = ConnectionDecorator(inner)
    verifyObject(IConnection, decorated)
    assert decorated.connection is inner
    assert decorated.resourceId == inner.resourceId
    assert decorated.remoteAddress == "192.0.2.5"
    assert decorated.httpRequest is None
    assert decorated.transport is inner.transport
    decorated.state.nickname = "ann"
    assert inner.state.nickname == "ann"
    decorated.send("héllo")
    assert inner.transport.value() == "héllo".encode()
    decorated.close(1000, "bye")
    assert inner.transport.disconnecting
    assert repr(decorated).startswith("<ConnectionDecorator <IoConnection")
    with pytest.raises(AttributeError):
        decorated.noSuchAttribute  # noqa: B018


def test_connectionDecoratorPassesCloseCodeAndReason():
    """
    close(code, reason) reaches the wrapped connection unchanged, and the
    default is a normal close.
    """
    closes = []

    class FakeConnection:
        def close(self, code=1000, reason=""):
            closes.append((code, reason))

    decorated = ConnectionDecorator(FakeConnection())
    decorated.close(4001, "go away")
    decorated.close()
    assert closes == [(4001, "go away"), (1000, "")]


# In a real stack


@pytest.mark.parametrize("compression", [False, True])
def test_decoratingLayerOverWebSocket(compression):
    """
    WsServer(Tagging(Chat())): the chat broadcasts through the decorated
    connections (its "not the sender" check works because the sender is the
    same decorated object in every hook), the wrapped connection's attributes
    are visible through them, and nothing is left in the mapping after the
    clients leave.
    """
    decorator = Tagging(Chat())
    harness = Harness(decorator)
    a, b = harness.connect("/room", compression=compression), harness.connect("/room", compression=compression)
    a.send("hi")
    received = b.receive()
    a.receiveNothing()
    assert received.endswith("] hi") and received.startswith("[")
    a.close()
    b.close()
    assert not decorator.component.channels.subscribers("chat")
    assert decorator._decorated == {}


def test_decoratorBetweenHttpAndWebSocket():
    """
    A decorator between HttpServer and WsServer is handed the request with
    onOpen and passes it on; the WebSocket still opens and echoes.
    """
    requests = []

    class RequestLogger(ComponentDecorator):
        def onOpen(self, conn, request):
            requests.append(request.path)
            return super().onOpen(conn, request)

    client = Harness(RequestLogger(WsServer(Recorder(echo=True)))).connect("/logged")
    client.send("x")
    assert client.receive() == "x"
    assert requests == ["/logged"]
