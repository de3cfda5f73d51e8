# -*- test-case-name: tests.test_twisted_private -*-
"""
The one module that touches Twisted's private APIs, each for want of a
public one, so that a Twisted release that changes them breaks here, at
import, with a message saying what changed, and in
C{tests/test_twisted_private.py}, rather than silently somewhere else.

    - L{PullToPush}: Twisted's adapter that drives a pull producer
      (C{streaming=False}) as a push producer, C{_PullToPush} of
      C{twisted.internet._producer_helpers} ("for internal Twisted use only";
      Twisted's own TLS and HTTP/2 consumers use it). The flow-control
      wrapper (L{ratchetpy.server.flow}) is a consumer, and must accept both
      kinds of producer.
    - L{muteUnhandledFailure}: a failed L{Deferred} that nobody may ever
      wait for, whose failure is reported already, must not also be logged
      as "Unhandled error in Deferred" when it is garbage-collected. Twisted
      keeps the failure to log in C{Deferred._debugInfo.failResult}, and
      has no public way to say "reported already" that leaves the failure to
      those who add an errback later.
    - L{HAProxyProtocolWrapper} and L{HAProxyWrappingFactory}: the PROXY
      protocol wrapper behind Twisted's C{haproxy:} endpoint, from
      C{twisted.protocols.haproxy._wrapper} (the package exports only
      C{proxyEndpoint}). ratchetpy subclasses it (L{ratchetpy.server.proxy})
      to learn when the header has been read: the wrapper sets
      C{_proxyInfo} once it has, and calls C{loseConnection} on a missing or
      invalid header.
    - L{writeNow}: a write straight to a TCP connection's socket when
      nothing is queued for it, without Twisted registering the socket for
      writability and sending on the next turn (two C{epoll_ctl} calls per
      reply). It reads the emptiness of C{FileDescriptor}'s buffers
      (C{dataBuffer}, C{_tempDataLen}) and its C{_writeDisconnected} and
      C{tcp.Connection._aborting} flags, and calls C{writeSomeData}, the
      documented hook its C{doWrite} sends through. On a Twisted without
      them (checked at import, L{WRITE_NOW}) every write takes the public
      C{transport.write}.
    - L{loggingHasBegun}: whether anything has begun Twisted's logging
      (twistd, C{globalLogBeginner.beginLoggingTo}), so that a script's
      C{run()} can log to standard error when nothing has, without doubling
      the output where something has. The global log beginner buffers events
      in C{_temporaryObserver} until logging begins, and says so nowhere
      else.
    - L{twistdLogObserver}: the log observer twistd would make from its
      options (a file, standard output, syslog), from C{UnixAppLogger}'s
      C{_getLogObserver}, so that the plugin can filter what goes to it (the
      ports' "starting on" lines) without redoing twistd's choice of where
      logs go.
"""

from __future__ import annotations

from typing import Any

from twisted.copyright import version as twistedVersion
from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred
from twisted.internet.tcp import Connection as TCPConnection
from twisted.python.failure import Failure

try:
    from twisted.internet._producer_helpers import _PullToPush as PullToPush
except ImportError as exc:  # pragma: no cover - a Twisted that moved it
    raise ImportError(
        f"ratchetpy needs twisted.internet._producer_helpers._PullToPush, which Twisted {twistedVersion} "
        f"does not have ({exc}); install the Twisted version ratchetpy was released with"
    ) from exc

try:
    from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper, HAProxyWrappingFactory
except ImportError as exc:  # pragma: no cover - a Twisted that moved it
    raise ImportError(
        f"ratchetpy needs twisted.protocols.haproxy._wrapper.HAProxyProtocolWrapper, which Twisted "
        f"{twistedVersion} does not have ({exc}); install the Twisted version ratchetpy was released with"
    ) from exc


def _checkDebugInfo() -> None:
    """
    Check, on this Twisted, what L{muteUnhandledFailure} relies on: a
    L{Deferred} whose last callback leaves a failure keeps it as
    C{_debugInfo.failResult}, the failure it logs when collected.

    @raise ImportError: it does not.
    """
    d: Deferred[None] = Deferred()
    failure = Failure(RuntimeError("ratchetpy's check of Deferred._debugInfo"))
    d.errback(failure)
    info = getattr(d, "_debugInfo", None)
    kept = getattr(info, "failResult", None)
    # Whatever happens next, this probe must not be logged as unhandled.
    d.addErrback(lambda _: None)
    if kept is not failure:
        raise ImportError(
            f"Twisted {twistedVersion} no longer keeps a Deferred's unhandled failure in "
            "Deferred._debugInfo.failResult, which ratchetpy.pubsub relies on to keep ignored publish "
            "failures out of the log (ratchetpy/_twisted.py); install the Twisted version ratchetpy was released with"
        )


_checkDebugInfo()


def muteUnhandledFailure(d: Deferred[Any], failure: Failure) -> None:
    """
    Keep C{d}, which has just failed with C{failure}, from logging it as an
    "Unhandled error in Deferred" when it is garbage-collected with nobody
    having handled it, for a failure that is logged and counted already.

    C{d}'s result stays C{failure}: an errback added later still gets it,
    and a failure that a later callback or errback leaves (a new one, or
    C{failure} passed on) is logged as Twisted logs any other.
    """
    info = d._debugInfo
    if info is not None and info.failResult is failure:
        info.failResult = None


def _canWriteNow() -> bool:
    """
    Whether this Twisted's TCP connections have what L{writeNow} reads and
    calls.
    """
    made = FileDescriptor.__init__.__code__.co_names
    return (
        callable(getattr(TCPConnection, "writeSomeData", None))
        and getattr(FileDescriptor, "dataBuffer", None) == b""
        and getattr(FileDescriptor, "_writeDisconnected", None) is False
        and getattr(TCPConnection, "_aborting", None) is False
        and "_tempDataLen" in made
        and "_tempDataBuffer" in made
    )


#: Whether L{writeNow} may write to sockets directly on this Twisted.
WRITE_NOW = _canWriteNow()


def writeNow(transport: Any, data: bytes) -> None:
    """
    Write C{data} to C{transport}: if it is a TCP connection with nothing
    queued, straight to its socket, and whatever the socket does not take
    (or all of it, on any other transport or when something is queued)
    through C{transport.write}, Twisted's buffered write, which keeps the
    order, the back-pressure (pausing the transport's producer) and the
    handling of a lost connection.
    """
    if (
        WRITE_NOW
        and isinstance(transport, TCPConnection)
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._aborting
        and not transport._tempDataLen
        and not transport.dataBuffer
    ):
        sent = transport.writeSomeData(data)
        # An exception (the connection is lost) leaves all of it to write(),
        # after which Twisted's next doWrite or doRead reports the loss.
        if type(sent) is int and sent > 0:
            if sent >= len(data):
                return
            data = data[sent:]
    transport.write(data)


def loggingHasBegun() -> bool:
    """
    Whether Twisted's global logging has begun (events go to observers
    rather than to the start-up buffer).
    """
    from twisted.logger import globalLogBeginner

    if not hasattr(globalLogBeginner, "_temporaryObserver"):  # pragma: no cover - a Twisted that changed it
        return True
    return globalLogBeginner._temporaryObserver is None


def twistdLogObserver(config: Any) -> Any:
    """
    The observer twistd makes for its options C{config} (a
    C{ServerOptions}), as a new-style L{twisted.logger.ILogObserver}.
    """
    from twisted.logger import ILogObserver, LegacyLogObserverWrapper
    from twisted.scripts._twistd_unix import UnixAppLogger

    observer = UnixAppLogger(config)._getLogObserver()
    return observer if ILogObserver.providedBy(observer) else LegacyLogObserverWrapper(observer)


__all__ = [
    "twistdLogObserver",
    "PullToPush",
    "muteUnhandledFailure",
    "HAProxyProtocolWrapper",
    "HAProxyWrappingFactory",
    "WRITE_NOW",
    "writeNow",
    "loggingHasBegun",
]
