# -*- test-case-name: tests.wamp.test_api -*-
"""
L{LocalPeer}: the router's own code as a session of a realm, so that
procedures registered and calls made from Python (L{ratchetpy.wamp.api})
go through the same dealer as those of clients.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutine
from typing import TYPE_CHECKING, Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.message import Error, Interrupt, Invocation, Result
from autobahn.wamp.types import CallResult
from twisted.internet.defer import CancelledError, Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from .session import MAX_ID, newId

if TYPE_CHECKING:
    from .dealer import Dealer, PendingCall

__all__ = ["LocalPeer", "RUNTIME_ERROR", "resultOf"]

log = Logger(namespace="ratchetpy.wamp")

#: The error URI of a server-side procedure that raised something other
#: than an L{ApplicationError}.
RUNTIME_ERROR = "wamp.error.runtime_error"


def resultOf(args: Any, kwargs: Any) -> Any:
    """
    What a call's RESULT gives the Python caller, as Autobahn's clients do:
    its one positional argument, C{None}, or a L{CallResult}.
    """
    if kwargs:
        return CallResult(*(args or ()), **kwargs)
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return CallResult(*args)


class LocalPeer:
    """
    A realm's session for the server's own procedures and calls: it is the
    callee of procedures registered from Python (it runs them) and the
    caller of calls made from Python (it fires their L{Deferred}s).
    """

    authid = "ratchetpy"
    authrole = "router"

    def __init__(self, dealer: Dealer) -> None:
        self.dealer = dealer
        self.id = newId()
        self.registrations: dict[int, Any] = {}
        self.calls: dict[int, PendingCall] = {}
        self.invocations: dict[int, PendingCall] = {}
        self.procedures: dict[int, Callable[..., object]] = {}
        self._results: dict[int, Deferred[Any]] = {}
        self._running: dict[int, Deferred[Any]] = {}
        self._lastRequest = 0
        self._lastInvocation = 0

    def feature(self, role: str, name: str) -> bool:
        return role == "callee" and name == "call_canceling"

    def invocationId(self) -> int:
        self._lastInvocation = self._lastInvocation % MAX_ID + 1
        return self._lastInvocation

    def requestId(self) -> int:
        self._lastRequest = self._lastRequest % MAX_ID + 1
        return self._lastRequest

    def expect(self, request: int) -> Deferred[Any]:
        """
        A L{Deferred} for the answer to this peer's call C{request}.
        """
        result: Deferred[Any] = Deferred(lambda d: self._cancel(request))
        self._results[request] = result
        return result

    def _cancel(self, request: int) -> None:
        self._results.pop(request, None)
        pending = self.calls.get(request)
        if pending is not None:
            self.dealer.cancel(pending, "killnowait")

    def send(self, msg: Any) -> None:
        """
        What the dealer sends this peer: an INVOCATION to run, an INTERRUPT,
        or the RESULT or ERROR of one of its calls.
        """
        if isinstance(msg, Invocation):
            self._invoke(msg)
        elif isinstance(msg, Interrupt):
            running = self._running.pop(msg.request, None)
            if running is not None:
                running.cancel()
        elif isinstance(msg, Result):
            answer = self._results.pop(msg.request, None)
            if answer is not None and not msg.progress:
                answer.callback(resultOf(msg.args, msg.kwargs))
        elif isinstance(msg, Error):
            answer = self._results.pop(msg.request, None)
            if answer is not None:
                answer.errback(ApplicationError(msg.error, *(msg.args or ()), **(msg.kwargs or {})))

    def _invoke(self, msg: Invocation) -> None:
        fn = self.procedures.get(msg.registration)
        pending = self.invocations.get(msg.request)
        if fn is None or pending is None:
            return

        def call() -> Any:
            result = fn(*(msg.args or ()), **(msg.kwargs or {}))
            if iscoroutine(result):
                return Deferred.fromCoroutine(result)
            return result

        running = maybeDeferred(call)
        self._running[msg.request] = running
        running.addBoth(self._answer, pending, msg.request)

    def _answer(self, outcome: Any, pending: PendingCall, invocation: int) -> None:
        self._running.pop(invocation, None)
        if pending.callee.invocations.get(invocation) is not pending:
            return
        if not isinstance(outcome, Failure):
            if isinstance(outcome, CallResult):
                self.dealer.yielded(pending, list(outcome.results) or None, outcome.kwresults or None, False)
            else:
                self.dealer.yielded(pending, None if outcome is None else [outcome], None, False)
            return
        error = outcome.value
        if isinstance(error, ApplicationError):
            self.dealer.failed(pending, error.error, list(error.args) or None, error.kwargs or None)
        elif isinstance(error, CancelledError):
            self.dealer.failed(pending, ApplicationError.CANCELED, ["the call was canceled"], None)
        else:
            log.failure(
                "procedure {uri} failed",
                outcome,
                uri=pending.registration.uri,
            )
            self.dealer.failed(
                pending, RUNTIME_ERROR, [f"{pending.registration.uri} failed ({type(error).__name__})"], None
            )
