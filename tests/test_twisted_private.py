"""
The shapes of the Twisted internals that ratchetpy/_twisted.py touches, on
the installed Twisted: the attributes exist and behave as ratchetpy relies
on, so that a Twisted upgrade that changes them fails here first.
"""

from __future__ import annotations

import gc
import socket
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IPullProducer, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ratchetpy import _twisted
from ratchetpy._twisted import PullToPush, muteUnhandledFailure
from tests.helpers import sleep, waitUntil

# PullToPush: twisted.internet._producer_helpers._PullToPush


@implementer(IPullProducer)
class PullProducer:
    """
    A pull producer that counts how often it is asked for more.
    """

    def __init__(self, failAt: int | None = None) -> None:
        self.pulls = 0
        self.stopped = False
        self.failAt = failAt

    def resumeProducing(self) -> None:
        self.pulls += 1
        if self.pulls == self.failAt:
            raise RuntimeError("the producer failed")

    def stopProducing(self) -> None:
        self.stopped = True


class Consumer(StringTransport):
    """
    A consumer that drives a pull producer through PullToPush, as
    ratchetpy.server.flow's FlowControl does.
    """

    pusher: PullToPush | None = None

    def registerProducer(self, producer, streaming):
        assert not streaming
        self.pusher = PullToPush(producer, self)
        self.pusher.startStreaming()

    def unregisterProducer(self):
        pusher, self.pusher = self.pusher, None
        if pusher is not None:
            pusher.stopStreaming()


def test_pullToPushIsTwistedsAdapter():
    """
    PullToPush is Twisted's _PullToPush, built from (pull producer,
    consumer), and a push producer with the streaming methods flow.py calls.
    """
    from twisted.internet import _producer_helpers

    assert PullToPush is _producer_helpers._PullToPush
    pusher = PullToPush(PullProducer(), Consumer())
    verifyObject(IPushProducer, pusher)
    for name in ("startStreaming", "stopStreaming", "pauseProducing", "resumeProducing", "stopProducing"):
        assert callable(getattr(pusher, name))


def test_pullToPushPullsUntilPausedOrStopped():
    """
    Once streaming, the pull producer is asked for more again and again (by
    the reactor's cooperator); pauseProducing stops that until
    resumeProducing, and stopStreaming ends it (twice is harmless).
    """
    producer, consumer = PullProducer(), Consumer()
    consumer.registerProducer(producer, False)
    pusher = consumer.pusher
    waitUntil(lambda: producer.pulls >= 3, what="pulls")
    pusher.pauseProducing()
    paused = producer.pulls
    sleep(0.05)
    assert producer.pulls == paused
    pusher.resumeProducing()
    waitUntil(lambda: producer.pulls > paused, what="pulls after resuming")
    consumer.unregisterProducer()
    stopped = producer.pulls
    sleep(0.05)
    assert producer.pulls == stopped
    pusher.stopStreaming()
    assert not producer.stopped


def test_pullToPushStopProducing():
    """
    stopProducing (the connection is lost) ends the streaming and tells the
    pull producer to stop.
    """
    producer, consumer = PullProducer(), Consumer()
    consumer.registerProducer(producer, False)
    waitUntil(lambda: producer.pulls >= 1, what="a pull")
    consumer.pusher.stopProducing()
    assert producer.stopped
    stopped = producer.pulls
    sleep(0.05)
    assert producer.pulls == stopped


def test_pullToPushUnregistersAFailingProducer(logged):
    """
    A pull producer whose resumeProducing raises is logged and unregistered
    from the consumer, which stops the streaming.
    """
    producer, consumer = PullProducer(failAt=2), Consumer()
    consumer.registerProducer(producer, False)
    waitUntil(lambda: consumer.pusher is None, what="the producer to be unregistered")
    sleep(0.05)
    assert producer.pulls == 2
    assert any("while calling resumeProducing" in line for line in logged())


# muteUnhandledFailure: Deferred._debugInfo.failResult


def unhandledLines(logged) -> list[str]:
    gc.collect()
    return [line for line in logged() if "Unhandled error in Deferred" in line]


def failed(failure: Failure) -> defer.Deferred[None]:
    d: defer.Deferred[None] = defer.Deferred()
    d.errback(failure)
    return d


def test_anUnhandledFailureIsKeptInDebugInfoAndLoggedWhenCollected(logged):
    """
    A Deferred left with a failure keeps it as _debugInfo.failResult, and
    logs it when collected: what muteUnhandledFailure undoes.
    """
    failure = Failure(RuntimeError("unhandled"))
    d = failed(failure)
    assert d._debugInfo.failResult is failure
    del d
    assert len(unhandledLines(logged)) == 1


def test_mutedFailureIsNotLoggedWhenCollected(logged):
    """
    A muted failure nobody handles is not logged when its Deferred is
    collected.
    """
    failure = Failure(RuntimeError("reported already"))
    d = failed(failure)
    muteUnhandledFailure(d, failure)
    assert d._debugInfo.failResult is None
    del d
    assert unhandledLines(logged) == []


def test_mutedFailureStillReachesALaterErrback(logged):
    """
    Muting leaves the Deferred's result alone: an errback added afterwards
    gets the very failure; one that passes it on makes it unhandled again,
    logged as any other.
    """
    failure = Failure(RuntimeError("reported already"))
    d = failed(failure)
    muteUnhandledFailure(d, failure)
    got = []
    d.addErrback(lambda f: got.append(f) or f)
    assert got == [failure]
    assert d._debugInfo.failResult is failure
    del d
    assert len(unhandledLines(logged)) == 1


def test_muteLeavesOtherFailuresAlone(logged):
    """
    Only the failure named is muted: a Deferred whose callbacks turned it
    into another failure still logs that one.
    """
    failure = Failure(RuntimeError("first"))
    d = failed(failure)

    def fails(_):
        raise ValueError("another")

    d.addErrback(fails)
    muteUnhandledFailure(d, failure)
    del d
    lines = unhandledLines(logged)
    assert len(lines) == 1


def test_theImportCheckFailsLoudlyIfTheShapeChanges(monkeypatch):
    """
    _twisted's import-time check raises ImportError, naming what changed,
    on a Deferred that no longer keeps its unhandled failure in
    _debugInfo.failResult.
    """

    class KeepsItElsewhere:
        def errback(self, failure):
            self.unhandled = failure

        def addErrback(self, errback):
            errback(self.unhandled)
            self.unhandled = None

    _twisted._checkDebugInfo()
    monkeypatch.setattr(_twisted, "Deferred", KeepsItElsewhere)
    with pytest.raises(ImportError, match=r"Deferred\._debugInfo\.failResult"):
        _twisted._checkDebugInfo()


# HAProxyProtocolWrapper: twisted.protocols.haproxy._wrapper


class PeerRecorder(Protocol):
    """
    Records, for each read, whether its wrapper had the header and whom
    getPeer() named.
    """

    def __init__(self) -> None:
        self.reads: list[tuple[bool, str, bytes]] = []

    def dataReceived(self, data: bytes) -> None:
        wrapper = self.transport
        self.reads.append((wrapper._proxyInfo is not None, wrapper.getPeer().host, data))


def wrapped() -> tuple[Any, PeerRecorder, StringTransport]:
    recorder = PeerRecorder()
    wrapper = _twisted.HAProxyWrappingFactory(Factory.forProtocol(lambda: recorder)).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.2", 40000))
    wrapper.makeConnection(transport)
    return wrapper, recorder, transport


def test_haproxyWrapperSetsProxyInfoBeforePassingBytesOn():
    """
    The wrapper sets _proxyInfo, which getPeer() then answers from, before it
    passes on the bytes that came with the header; until then getPeer() is
    the socket's peer (twisted#12501).
    """
    wrapper, recorder, _ = wrapped()
    assert wrapper._proxyInfo is None and wrapper.getPeer().host == "10.0.0.2"
    wrapper.dataReceived(b"PROXY TCP4 198.51.100.1 10.0.0.1 5555 80\r\nhello")
    assert recorder.reads == [(True, "198.51.100.1", b"hello")]
    wrapper.dataReceived(b"more")
    assert recorder.reads[-1] == (True, "198.51.100.1", b"more")


def test_haproxyWrapperLosesTheConnectionOnABadHeader():
    """
    A missing header: the wrapper calls loseConnection (its disconnecting is
    set), passes nothing on and has no _proxyInfo.
    """
    wrapper, recorder, transport = wrapped()
    wrapper.dataReceived(b"GET / HTTP/1.1\r\n\r\n")
    assert wrapper.disconnecting and transport.disconnecting
    assert wrapper._proxyInfo is None and recorder.reads == []


# writeNow: FileDescriptor's buffers, tcp.Connection.writeSomeData


def test_writeNowIsAvailable():
    """
    The installed Twisted has what writeNow reads: the direct path is on.
    """
    assert _twisted.WRITE_NOW


def serverConnection():
    """
    A real TCP connection: the server side's transport and the client's
    socket.
    """
    from twisted.internet import reactor

    transports = []

    class Keep(Protocol):
        def connectionMade(self):
            transports.append(self.transport)

    port = reactor.listenTCP(0, Factory.forProtocol(Keep), interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
    waitUntil(lambda: transports, what="the server side of the connection")
    return port, transports[0], client


def receive(client, size):
    data = b""
    while len(data) < size:
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_writeNowSendsAtOnceWhenNothingIsQueued():
    """
    On an idle TCP connection writeNow sends straight away: nothing is
    buffered and the socket is not registered for writing.
    """
    from twisted.internet import reactor

    port, transport, client = serverConnection()
    try:
        _twisted.writeNow(transport, b"hello")
        assert transport._tempDataLen == 0 and transport.dataBuffer == b""
        assert transport not in reactor.getWriters()
        assert receive(client, 5) == b"hello"
    finally:
        client.close()
        transport.loseConnection()
        port.stopListening()


def test_writeNowQueuesBehindWhatIsQueued():
    """
    When something is queued already, writeNow goes through the transport's
    write, behind it, in order.
    """
    from twisted.internet import reactor

    port, transport, client = serverConnection()
    try:
        transport.write(b"first ")
        assert transport._tempDataLen == 6 and transport in reactor.getWriters()
        _twisted.writeNow(transport, b"second")
        assert transport._tempDataLen == 12
        sleep(0.2)
        assert receive(client, 12) == b"first second"
    finally:
        client.close()
        transport.loseConnection()
        port.stopListening()


def test_writeNowFallsBackToWriteOnOtherTransports():
    """
    A transport that is not a TCP connection (TLS, a test's StringTransport)
    gets a plain write.
    """
    transport = StringTransport()
    _twisted.writeNow(transport, b"data")
    assert transport.value() == b"data"
# loggingHasBegun: twisted.logger's globalLogBeginner._temporaryObserver


def test_loggingHasBegun():
    """
    Under pytest, logging has begun (pytest-twisted's observers); a fresh LogBeginner keeps a start-up buffer in
    _temporaryObserver until beginLoggingTo, as loggingHasBegun relies on.
    """
    from twisted.logger import LogBeginner, LogPublisher

    from ratchetpy._twisted import loggingHasBegun

    assert isinstance(loggingHasBegun(), bool)
    import io
    import types

    warningsModule = types.SimpleNamespace(showwarning=lambda *args, **kwargs: None)
    beginner = LogBeginner(LogPublisher(), errorStream=io.StringIO(), stdio=None, warningsModule=warningsModule)
    assert beginner._temporaryObserver is not None
    beginner.beginLoggingTo([lambda event: None], redirectStandardIO=False, discardBuffer=True)
    assert beginner._temporaryObserver is None


# twistdLogObserver: twisted.scripts._twistd_unix.UnixAppLogger._getLogObserver


def test_twistdLogObserver(tmp_path):
    """
    The observer twistd would make from its options: standard output in the foreground, the --logfile file
    otherwise; new-style observers either way.
    """
    from twisted.logger import ILogObserver
    from twisted.scripts._twistd_unix import ServerOptions

    from ratchetpy._twisted import twistdLogObserver

    foreground = ServerOptions()
    foreground.parseOptions(["-n", "--pidfile=", "ratchetpy", "--component", "examples.chat:Chat"])
    assert ILogObserver.providedBy(twistdLogObserver(foreground))
    toFile = ServerOptions()
    toFile.parseOptions(["-n", "--pidfile=", f"--logfile={tmp_path / 'x.log'}", "ratchetpy", "--component",
                         "examples.chat:Chat"])
    observer = twistdLogObserver(toFile)
    observer({"log_format": "hello from the test", "log_level": None, "log_time": 0.0, "log_namespace": "t"})
    assert "hello from the test" in (tmp_path / "x.log").read_text()
