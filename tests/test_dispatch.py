"""
How hooks are called: plain, Deferred and coroutine results, per-connection
ordering, and what happens when a hook fails. Driven in memory through a raw
IoServer (the same dispatcher drives WebSocket components).
"""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport

from ratchetpy import IoServer, MessageComponent
from tests.helpers import Recorder


def connect(component):
    protocol = IoServer(component).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def fail(*args):
    raise RuntimeError("boom")


def test_plainHooksRunInOrder():
    """
    Plain hooks run at once, in event order, and onClose comes last.
    """
    component = Recorder()
    protocol, _ = connect(component)
    protocol.dataReceived(b"a")
    protocol.dataReceived(b"b")
    protocol.connectionLost(None)
    assert component.calls == [("onOpen",), ("onMessage", b"a"), ("onMessage", b"b"), ("onClose",)]


def test_pendingDeferredHoldsLaterHooks():
    """
    While a hook's Deferred is pending, later events for that connection wait
    and the transport is paused; when it fires they run in order and reading
    resumes.
    """
    opened = Deferred()
    component = Recorder(onOpen=lambda conn: opened)
    protocol, transport = connect(component)
    protocol.dataReceived(b"a")
    protocol.dataReceived(b"b")
    assert component.calls == [("onOpen",)]
    assert transport.producerState == "paused"
    opened.callback(None)
    assert component.calls == [("onOpen",), ("onMessage", b"a"), ("onMessage", b"b")]
    assert transport.producerState == "producing"


def test_coroutineHooksAreAwaitedInOrder():
    """
    An async def hook that awaits holds later hooks until it returns; onClose
    waits for a pending onMessage.
    """
    gate = Deferred()
    seen = []

    class Async(MessageComponent):
        async def onMessage(self, conn, msg):
            seen.append(("start", msg))
            if msg == b"slow":
                await gate
            seen.append(("end", msg))

        async def onClose(self, conn):
            seen.append(("close",))

    protocol, _ = connect(Async())
    protocol.dataReceived(b"slow")
    protocol.dataReceived(b"fast")
    protocol.connectionLost(None)
    assert seen == [("start", b"slow")]
    gate.callback(None)
    assert seen == [("start", b"slow"), ("end", b"slow"), ("start", b"fast"), ("end", b"fast"), ("close",)]


def test_connectionsDoNotWaitForEachOther():
    """
    A pending hook on one connection does not hold another connection's hooks.
    """
    gate = Deferred()
    component = Recorder(onMessage=lambda conn, msg: gate if msg == b"slow" else None)
    server = IoServer(component)
    first, second = server.buildProtocol(None), server.buildProtocol(None)
    first.makeConnection(StringTransport())
    second.makeConnection(StringTransport())
    first.dataReceived(b"slow")
    second.dataReceived(b"quick")
    assert ("onMessage", b"quick") in component.calls
    gate.callback(None)


@pytest.mark.parametrize("hook", ["onOpen", "onMessage"])
def test_failingHookGoesToOnErrorAndCloses(hook, logged):
    """
    A hook that raises is logged with the connection's resourceId, onError
    gets the exception, the connection is closed, later messages are dropped
    and onClose still comes once.
    """
    component = Recorder(**{hook: fail})
    protocol, transport = connect(component)
    protocol.dataReceived(b"first")
    protocol.dataReceived(b"dropped")
    protocol.connectionLost(None)
    names = [call[0] for call in component.calls]
    assert names.index("onError") == names.index(hook) + 1
    assert isinstance(component.calls[names.index("onError")][1], RuntimeError)
    assert ("onMessage", b"dropped") not in component.calls
    assert names[-1] == "onClose" and names.count("onClose") == 1
    assert transport.disconnecting
    failures = [event for event in logged.events if event.get("log_failure") is not None]
    assert len(failures) == 1
    assert failures[0]["hook"] == hook
    assert failures[0]["resourceId"] == protocol._connection.resourceId


def test_failedDeferredAndCoroutineGoToOnError():
    """
    A Deferred that fails and a coroutine that raises are failures too.
    """
    from twisted.internet.defer import fail as failed

    component = Recorder(onMessage=lambda conn, msg: failed(ValueError("deferred")))
    protocol, transport = connect(component)
    protocol.dataReceived(b"x")
    assert isinstance(component.calls[-1][1], ValueError)
    assert transport.disconnecting

    class Raises(MessageComponent):
        errors = []

        async def onMessage(self, conn, msg):
            raise KeyError("coroutine")

        def onError(self, conn, exc):
            self.errors.append(exc)

    protocol, transport = connect(Raises())
    protocol.dataReceived(b"x")
    assert isinstance(Raises.errors[0], KeyError)
    assert transport.disconnecting


def test_failingOnErrorIsLoggedAndCloses(logged):
    """
    If onError itself fails, both failures are logged and the connection is
    closed; the server carries on.
    """
    component = Recorder(onMessage=fail, onError=fail)
    protocol, transport = connect(component)
    protocol.dataReceived(b"x")
    assert transport.disconnecting
    failures = [event for event in logged.events if event.get("log_failure") is not None]
    assert len(failures) == 2


def test_failingOnCloseIsReported():
    """
    A failing onClose is reported to onError as well.
    """
    component = Recorder(onClose=fail)
    protocol, _ = connect(component)
    protocol.connectionLost(None)
    assert [call[0] for call in component.calls] == ["onOpen", "onClose", "onError"]


def test_asyncOnErrorFinishesBeforeOnCloseAndTheClose():
    """
    An async onError runs in order like any hook: onClose waits for it, and
    the connection is closed only once it has finished (so it can still send).
    """
    gate = Deferred()
    seen = []

    class SlowErrors(MessageComponent):
        def onMessage(self, conn, msg):
            raise RuntimeError("boom")

        async def onError(self, conn, exc):
            seen.append("onError start")
            await gate
            conn.send(b"sorry")
            seen.append("onError end")

        def onClose(self, conn):
            seen.append("onClose")

    protocol, transport = connect(SlowErrors())
    protocol.dataReceived(b"x")
    protocol.connectionLost(None)
    assert seen == ["onError start"]
    assert not transport.disconnecting
    gate.callback(None)
    assert seen == ["onError start", "onError end", "onClose"]
    assert transport.value() == b"sorry"
    assert transport.disconnecting


def test_rawSendAfterCloseDoesNothing():
    """
    On raw TCP, sending after close() writes nothing, as on a WebSocket.
    """
    component = Recorder()
    protocol, transport = connect(component)
    conn = protocol._connection
    conn.send("before")
    conn.close()
    conn.send("after")
    assert transport.value() == b"before"
