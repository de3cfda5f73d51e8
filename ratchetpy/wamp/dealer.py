# -*- test-case-name: tests.wamp.test_dealer -*-
"""
L{Dealer}: a realm's remote procedure calls: registrations (exact, prefix,
wildcard; single or shared), calls routed to callees and their results,
errors, progressive results, timeouts and cancellation back.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.message import Call, Error, Interrupt, Invocation, Result

from .session import newId
from .uri import wildcardMatches

if TYPE_CHECKING:
    pass

__all__ = ["Dealer", "Registration", "PendingCall", "INVOKE_POLICIES"]

#: The invocation policies of shared registrations, the default first.
INVOKE_POLICIES = ("single", "roundrobin", "random", "first", "last")


class Registration:
    """
    A procedure URI (or pattern) and the callees registered for it.
    """

    def __init__(self, registrationId: int, uri: str, match: str, invoke: str) -> None:
        self.id = registrationId
        self.uri = uri
        self.match = match
        self.invoke = invoke
        self.pattern = tuple(uri.split(".")) if match == "wildcard" else ()
        self.callees: list[Any] = []
        self._next = 0

    def pick(self) -> Any:
        callees = self.callees
        if self.invoke == "roundrobin":
            self._next %= len(callees)
            callee = callees[self._next]
            self._next += 1
            return callee
        if self.invoke == "random":
            return random.choice(callees)
        if self.invoke == "last":
            return callees[-1]
        return callees[0]

    def __repr__(self) -> str:
        return f"<Registration {self.id} {self.uri!r} ({self.match}, {self.invoke}) of {len(self.callees)}>"


class PendingCall:
    """
    One call on its way: who called (with which request id), which callee
    runs it (with which INVOCATION request id), and its timer.
    """

    __slots__ = ("caller", "request", "callee", "invocation", "registration", "timer", "progress", "canceled")

    def __init__(self, caller: Any, request: int, callee: Any, invocation: int, registration: Registration) -> None:
        self.caller = caller
        self.request = request
        self.callee = callee
        self.invocation = invocation
        self.registration = registration
        self.timer: Any = None
        self.progress = False
        self.canceled = False


class Dealer:
    """
    The registrations of one realm and the calls in flight between its
    sessions (and the router's own code, as the realm's local peer).

    @param reactor: where call timeouts are scheduled.
    @param callTimeout: seconds a call may take when the caller set no
        shorter timeout; C{0}: no limit.
    @param maxPendingInvocations: invocations one callee may have pending.
    """

    def __init__(self, reactor: Any, callTimeout: float, maxPendingInvocations: int) -> None:
        self.reactor = reactor
        self.callTimeout = callTimeout
        self.maxPendingInvocations = maxPendingInvocations
        self.exact: dict[str, Registration] = {}
        self.prefix: dict[str, Registration] = {}
        self.wildcard: dict[str, Registration] = {}
        self.byId: dict[int, Registration] = {}

    def _table(self, match: str) -> dict[str, Registration]:
        return self.exact if match == "exact" else self.prefix if match == "prefix" else self.wildcard

    def register(self, callee: Any, uri: str, match: str = "exact", invoke: str = "single") -> Registration:
        """
        Register C{callee} for C{uri}.

        @raise ApplicationError: C{wamp.error.procedure_already_exists}: it
            is registered with another policy, or C{single}.
        """
        table = self._table(match)
        registration = table.get(uri)
        if registration is not None:
            if registration.invoke == "single" or invoke != registration.invoke:
                raise ApplicationError(
                    ApplicationError.PROCEDURE_ALREADY_EXISTS,
                    f"{uri} is already registered ({registration.match}, invoke {registration.invoke!r})",
                )
            if callee in registration.callees:
                raise ApplicationError(ApplicationError.PROCEDURE_ALREADY_EXISTS, f"{uri} is already registered")
        else:
            registrationId = newId()
            while registrationId in self.byId:
                registrationId = newId()
            registration = table[uri] = self.byId[registrationId] = Registration(registrationId, uri, match, invoke)
        registration.callees.append(callee)
        callee.registrations[registration.id] = registration
        return registration

    def unregister(self, callee: Any, registration: Registration) -> None:
        """
        Take C{callee} off C{registration}; the registration goes with its
        last callee. Its calls pending at C{callee} stay pending.
        """
        if callee in registration.callees:
            registration.callees.remove(callee)
        callee.registrations.pop(registration.id, None)
        if not registration.callees:
            table = self._table(registration.match)
            if table.get(registration.uri) is registration:
                del table[registration.uri]
            self.byId.pop(registration.id, None)

    def lookup(self, uri: str) -> Registration | None:
        """
        The registration a call to C{uri} goes to: exact, else the longest
        matching prefix, else the first (oldest) matching wildcard.
        """
        registration = self.exact.get(uri)
        if registration is not None:
            return registration
        best = None
        for prefix, candidate in self.prefix.items():
            if uri.startswith(prefix) and (best is None or len(prefix) > len(best.uri)):
                best = candidate
        if best is not None:
            return best
        for candidate in self.wildcard.values():
            if wildcardMatches(candidate.pattern, uri):
                return candidate
        return None

    def call(self, caller: Any, msg: Call, registration: Registration, options: dict[str, Any]) -> None:
        """
        Invoke C{registration} for C{caller}'s CALL C{msg} (C{options}: its
        raw options, for C{disclose_me}).
        """
        callee = registration.pick()
        if len(callee.invocations) >= self.maxPendingInvocations:
            caller.send(
                Error(
                    Call.MESSAGE_TYPE,
                    msg.request,
                    "wamp.error.unavailable",
                    args=[f"the callee of {msg.procedure} has too many calls pending; try again later"],
                )
            )
            return
        invocation = callee.invocationId()
        pending = PendingCall(caller, msg.request, callee, invocation, registration)
        pending.progress = bool(msg.receive_progress) and callee.feature("callee", "progressive_call_results")
        details: dict[str, Any] = {}
        if options.get("disclose_me") and caller.id:
            details = {"caller": caller.id, "caller_authid": caller.authid, "caller_authrole": caller.authrole}
        timeout = self.callTimeout
        if msg.timeout:
            timeout = min(timeout, msg.timeout / 1000.0) if timeout else msg.timeout / 1000.0
        caller.calls[msg.request] = pending
        callee.invocations[invocation] = pending
        if timeout:
            pending.timer = self.reactor.callLater(timeout, self._timedOut, pending)
        callee.send(
            Invocation(
                invocation,
                registration.id,
                args=msg.args,
                kwargs=msg.kwargs,
                timeout=msg.timeout or None,
                receive_progress=pending.progress or None,
                procedure=msg.procedure if registration.match != "exact" else None,
                **details,
            )
        )

    def _finish(self, pending: PendingCall) -> None:
        pending.caller.calls.pop(pending.request, None)
        pending.callee.invocations.pop(pending.invocation, None)
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        pending.timer = None

    def yielded(self, pending: PendingCall, args: Any, kwargs: Any, progress: bool) -> None:
        """
        The callee yielded a result (a progressive one if C{progress}).
        """
        if progress:
            if pending.progress and not pending.canceled:
                pending.caller.send(Result(pending.request, args=args, kwargs=kwargs, progress=True))
            return
        self._finish(pending)
        if not pending.canceled:
            pending.caller.send(Result(pending.request, args=args, kwargs=kwargs))

    def failed(self, pending: PendingCall, error: str, args: Any, kwargs: Any) -> None:
        """
        The callee answered with an error.
        """
        self._finish(pending)
        if not pending.canceled:
            pending.caller.send(Error(Call.MESSAGE_TYPE, pending.request, error, args=args, kwargs=kwargs))

    def _timedOut(self, pending: PendingCall) -> None:
        pending.timer = None
        self._abandon(pending, "killnowait", ApplicationError.TIMEOUT, "the call timed out")

    def cancel(self, pending: PendingCall, mode: str | None) -> None:
        """
        The caller canceled: C{skip} (the caller gets C{canceled} now, the
        callee is not told), C{kill} (the callee is interrupted and its answer
        is passed on), C{killnowait} (interrupted, C{canceled} now). A callee
        that did not announce C{call_canceling} is never interrupted: C{kill}
        and C{killnowait} become C{skip} for it.
        """
        if pending.canceled:
            return
        mode = mode or "kill"
        if mode == "kill" and pending.callee.feature("callee", "call_canceling"):
            pending.callee.send(Interrupt(pending.invocation, mode="kill"))
            return
        self._abandon(pending, mode, ApplicationError.CANCELED, "the call was canceled")

    def _abandon(self, pending: PendingCall, mode: str, error: str, why: str) -> None:
        # The late YIELD or ERROR of an abandoned call is discarded: the
        # invocation stays known (so it is no protocol violation) only when
        # the callee was not interrupted.
        pending.canceled = True
        pending.caller.calls.pop(pending.request, None)
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        pending.timer = None
        if mode != "skip" and pending.callee.feature("callee", "call_canceling"):
            pending.callee.send(Interrupt(pending.invocation, mode="killnowait"))
        pending.caller.send(Error(Call.MESSAGE_TYPE, pending.request, error, args=[why]))

    def detach(self, session: Any) -> None:
        """
        C{session} is gone: its registrations go, its calls are abandoned
        (callees that can be are interrupted), calls it was running fail for
        their callers with C{wamp.error.canceled}.
        """
        for registration in list(session.registrations.values()):
            self.unregister(session, registration)
        for pending in list(session.calls.values()):
            pending.caller = _Gone
            self._abandon(pending, "killnowait", ApplicationError.CANCELED, "the caller left")
        session.calls.clear()
        for pending in list(session.invocations.values()):
            self._finish(pending)
            if not pending.canceled:
                pending.caller.send(
                    Error(Call.MESSAGE_TYPE, pending.request, ApplicationError.CANCELED, args=["the callee left"])
                )
        session.invocations.clear()


class _GoneCaller:
    """
    The caller of a call whose caller left: what is sent to it goes nowhere.
    """

    calls: dict[int, PendingCall] = {}

    def send(self, msg: object) -> None:
        pass


_Gone = _GoneCaller()
