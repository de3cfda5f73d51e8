# -*- test-case-name: tests.test_dispatch -*-
"""
Calling a component's hooks for one connection: plain, Deferred or coroutine
results, in order, with every failure caught.

Mixed into the per-connection protocol objects (rather than kept as a separate
object) so that an idle connection costs no extra allocation.
"""

from __future__ import annotations

from collections import deque
from inspect import iscoroutine
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from .metrics.recorder import recording
from .server.logs import connectionFields
from .websocket.codes import INTERNAL_ERROR

log = Logger(namespace="ratchetpy")


def andThen(result: object, hook: Any, *args: object) -> object:
    """
    Call C{hook(*args)} once C{result} (a hook's return value: C{None}, a
    L{Deferred} or a coroutine) has settled, and return what it returns, so
    that a layer calling two hooks of its component in a row keeps them
    ordered. A failed C{result} skips C{hook}.
    """
    if iscoroutine(result):
        result = Deferred.fromCoroutine(result)
    if isinstance(result, Deferred):
        return result.addCallback(lambda _: maybeDeferred(hook, *args))
    return hook(*args)


class HookDispatcher:
    """
    Calls the hooks of C{_component} for the connection C{_connection}.

    A hook's result may be C{None}, a L{Deferred} or a coroutine. While one
    is pending, later calls wait in a backlog and the connection stops being
    read (C{conn.io.pauseReading}, counted: another layer's dispatcher
    waiting on the same connection keeps it paused until it is done too), so
    hooks of one connection never overlap and the backlog stays as small as
    one read. A failing hook is logged, reported to C{onError}, and the
    connection is closed with code 1011 once C{onError} has returned; after that
    only C{onClose} is still delivered.

    Subclasses set C{_component} and C{_connection}.
    """

    _component: Any
    _connection: Any
    # Class-level defaults: an idle connection that never awaited anything
    # carries no instance attributes for them.
    _waiting: Deferred[object] | None = None
    _backlog: deque[tuple[str, tuple[object, ...]]] | None = None
    _readingPaused: bool = False
    _hooksFailed: bool = False

    def callHook(self, name: str, *args: object) -> None:
        """
        Call hook C{name} with the connection and C{args}, now or, if an
        earlier hook of this connection is still pending, after it.
        """
        if self._waiting is not None or self._backlog:
            if self._backlog is None:
                self._backlog = deque()
            self._backlog.append((name, args))
            return
        self._runHook(name, args)

    def _runHook(self, name: str, args: tuple[object, ...]) -> None:
        if self._hooksFailed and name != "onClose" and name != "onError":
            return
        try:
            if recording.on and type(self._component) not in recording.layers:
                result = recording.callHook(self._component, name, self._connection, args)
            else:
                result = getattr(self._component, name)(self._connection, *args)
        except Exception:
            self._hookFailed(name, Failure())
            return
        if result is None:
            return
        if iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        elif not isinstance(result, Deferred):
            return
        self._waiting = result
        result.addBoth(self._hookSettled, name)
        if self._waiting is result:
            self._pauseReading()

    def _hookSettled(self, result: object, name: str) -> None:
        self._waiting = None
        if isinstance(result, Failure):
            self._hookFailed(name, result)
        self._drainBacklog()

    def _drainBacklog(self) -> None:
        backlog = self._backlog
        while backlog and self._waiting is None:
            name, args = backlog.popleft()
            self._runHook(name, args)
        if self._waiting is None and self._readingPaused:
            self._readingPaused = False
            self._connection.io.resumeReading()

    def _pauseReading(self) -> None:
        if not self._readingPaused:
            self._readingPaused = True
            self._connection.io.pauseReading()

    def _hookFailed(self, name: str, failure: Failure) -> None:
        recording.hookFailed(self._component, name)
        log.failure(
            "{component}.{hook} failed on connection {resourceId}",
            failure,
            component=type(self._component).__name__,
            hook=name,
            level=LogLevel.error,
            **connectionFields(self._connection),
        )
        if name == "onError" or self._hooksFailed:
            self._closeAfterFailure()
            return
        # From here on only onError (now) and onClose are delivered; onError
        # goes through the same ordering as every other hook, so an async
        # onError finishes before onClose starts.
        self._hooksFailed = True
        self._runHook("onError", (failure.value,))
        if self._waiting is None:
            self._closeAfterFailure()
        else:
            self._waiting.addBoth(self._closeWhenSettled)

    def _closeWhenSettled(self, result: object) -> object:
        self._closeAfterFailure()
        return result

    def _closeAfterFailure(self) -> None:
        self._connection.close(INTERNAL_ERROR, "internal error")
