# -*- test-case-name: tests.wamp.test_protocol -*-
"""
L{RequestHandlers}: what the router does with each request of a joined
session: the broker's (SUBSCRIBE, UNSUBSCRIBE, PUBLISH) and the dealer's
(REGISTER, UNREGISTER, CALL; YIELD, ERROR and CANCEL of calls in flight).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.wamp import message as m
from autobahn.wamp.exception import ApplicationError
from twisted.logger import Logger

from .topic import Topic
from .uri import checkUri, isReserved

if TYPE_CHECKING:
    from .session import WampSession

__all__ = ["RequestHandlers", "Violation", "HANDLERS", "REQUESTS", "REQUEST_TYPES", "error"]

#: The messages that open a request, with a session-scope request id.
REQUESTS = (m.Publish, m.Subscribe, m.Unsubscribe, m.Call, m.Register, m.Unregister)
REQUEST_TYPES = {klass.MESSAGE_TYPE for klass in REQUESTS}


class Violation(Exception):
    """
    A protocol violation: the session is aborted with this message.
    """


def error(request: Any, requestType: int, error: str, why: str) -> m.Error:
    """
    An ERROR answering request C{request} of type C{requestType}.
    """
    return m.Error(requestType, request, error, args=[why])


_error = error

log = Logger(namespace="ratchetpy.wamp")


class RequestHandlers:
    """
    The request handlers of L{ratchetpy.wamp.protocol.Router}, which mixes
    them in; they use its limits, C{strictUris} and C{_hook}.
    """

    component: Any
    maxSubscriptions: int
    maxRegistrations: int
    maxPendingCalls: int
    strictUris: bool
    _answersCalls: bool

    def _hook(self, name: str, *args: Any, **kwargs: Any) -> object:
        raise NotImplementedError

    # Broker

    def _uriProblem(self, uri: str, match: str = "exact") -> str | None:
        return checkUri(uri, match, self.strictUris)

    def _refused(self, session: WampSession, action: str, uri: str, msg: Any, answer: bool = True) -> bool:
        """
        Whether the realm's C{authorize} refuses C{session} doing C{action}
        on C{uri}; if so the request is answered ERROR
        C{wamp.error.not_authorized} (if C{answer}).
        """
        realm = session.realm
        authorize = realm.authorize if realm is not None else None
        if authorize is None:
            return False
        try:
            allowed = bool(authorize(session.wampConnection, action, uri))
        except Exception:
            log.failure("authorize({action}, {uri}) failed; refused", action=action, uri=uri)
            allowed = False
        if not allowed and answer:
            session.send(
                _error(msg.request, msg.MESSAGE_TYPE, ApplicationError.NOT_AUTHORIZED, f"not allowed to {action} {uri}")
            )
        return not allowed

    def _subscribe(self, session: WampSession, msg: m.Subscribe, raw: list[Any]) -> object:
        match = msg.match or "exact"
        problem = self._uriProblem(msg.topic, match)
        if problem is not None:
            session.send(_error(msg.request, msg.MESSAGE_TYPE, ApplicationError.INVALID_URI, problem))
            return None
        if self._refused(session, "subscribe", msg.topic, msg):
            return None
        realm = session.realm
        assert realm is not None
        topic = realm.broker.find(msg.topic, match)
        if topic is not None and session in topic.sessions:
            session.send(m.Subscribed(msg.request, topic.subscriptionId))
            return None
        if len(session.subscriptions) >= self.maxSubscriptions:
            session.send(
                _error(
                    msg.request,
                    msg.MESSAGE_TYPE,
                    "wamp.error.too_many_subscriptions",
                    f"a session may hold {self.maxSubscriptions} subscriptions (maxSubscriptions)",
                )
            )
            return None
        topic = realm.broker.topic(msg.topic, match)
        realm.broker.attach(session, topic)
        session.send(m.Subscribed(msg.request, topic.subscriptionId))
        return self._hook("onSubscribe", session.wampConnection, topic)

    def _unsubscribe(self, session: WampSession, msg: m.Unsubscribe, raw: list[Any]) -> object:
        topic = session.subscriptions.get(msg.subscription)
        if topic is None:
            session.send(_error(msg.request, msg.MESSAGE_TYPE, ApplicationError.NO_SUCH_SUBSCRIPTION, "not subscribed"))
            return None
        assert session.realm is not None
        session.realm.broker.detach(session, topic)
        session.send(m.Unsubscribed(msg.request))
        return self._hook("onUnSubscribe", session.wampConnection, topic)

    def _publish(self, session: WampSession, msg: m.Publish, raw: list[Any]) -> object:
        problem = self._uriProblem(msg.topic)
        if problem is None and isReserved(msg.topic):
            problem = f"{msg.topic}: the wamp. namespace is the router's"
        if problem is not None:
            if msg.acknowledge:
                session.send(_error(msg.request, msg.MESSAGE_TYPE, ApplicationError.INVALID_URI, problem))
            return None
        if self._refused(session, "publish", msg.topic, msg, answer=bool(msg.acknowledge)):
            return None
        options = raw[2] if isinstance(raw[2], dict) else {}
        realm = session.realm
        assert realm is not None
        publication = realm.broker.publish(session, msg.topic, msg.args, msg.kwargs, options)
        if msg.acknowledge:
            session.send(m.Published(msg.request, publication))
        if self.component is None:
            return None
        exclude = list(options.get("exclude") or ())
        if options.get("exclude_me", True) is not False:
            exclude.append(session.id)
        eligible = options.get("eligible")
        topic = realm.broker.find(msg.topic) or Topic(realm.broker, msg.topic, "exact", 0)
        args = msg.args or []
        event = args[0] if len(args) == 1 else list(args)
        if msg.kwargs:
            return self._hook("onPublish", session.wampConnection, topic, event, exclude, eligible, **msg.kwargs)
        return self._hook("onPublish", session.wampConnection, topic, event, exclude, eligible)

    # Dealer

    def _register(self, session: WampSession, msg: m.Register, raw: list[Any]) -> object:
        match = msg.match or "exact"
        problem = self._uriProblem(msg.procedure, match)
        if problem is None and isReserved(msg.procedure):
            problem = f"{msg.procedure}: the wamp. namespace is the router's"
        if problem is not None:
            session.send(_error(msg.request, msg.MESSAGE_TYPE, ApplicationError.INVALID_URI, problem))
            return None
        if self._refused(session, "register", msg.procedure, msg):
            return None
        if len(session.registrations) >= self.maxRegistrations:
            session.send(
                _error(
                    msg.request,
                    msg.MESSAGE_TYPE,
                    "wamp.error.too_many_registrations",
                    f"a session may hold {self.maxRegistrations} registrations (maxRegistrations)",
                )
            )
            return None
        assert session.realm is not None
        try:
            registration = session.realm.dealer.register(session, msg.procedure, match, msg.invoke or "single")
        except ApplicationError as e:
            session.send(_error(msg.request, msg.MESSAGE_TYPE, e.error, e.args[0] if e.args else ""))
            return None
        session.send(m.Registered(msg.request, registration.id))
        return None

    def _unregister(self, session: WampSession, msg: m.Unregister, raw: list[Any]) -> object:
        registration = session.registrations.get(msg.registration)
        if registration is None:
            session.send(_error(msg.request, msg.MESSAGE_TYPE, ApplicationError.NO_SUCH_REGISTRATION, "not registered"))
            return None
        assert session.realm is not None
        session.realm.dealer.unregister(session, registration)
        session.send(m.Unregistered(msg.request))
        return None

    def _call(self, session: WampSession, msg: m.Call, raw: list[Any]) -> object:
        problem = self._uriProblem(msg.procedure)
        if problem is not None:
            session.send(_error(msg.request, msg.MESSAGE_TYPE, ApplicationError.INVALID_URI, problem))
            return None
        if self._refused(session, "call", msg.procedure, msg):
            return None
        if len(session.calls) + len(session.ratchetCalls) >= self.maxPendingCalls:
            session.send(
                _error(
                    msg.request,
                    msg.MESSAGE_TYPE,
                    "wamp.error.too_many_calls",
                    f"a session may have {self.maxPendingCalls} calls pending (maxPendingCalls); wait for results",
                )
            )
            return None
        realm = session.realm
        assert realm is not None
        registration = realm.dealer.lookup(msg.procedure)
        if registration is not None:
            options = raw[2] if isinstance(raw[2], dict) else {}
            realm.dealer.call(session, msg, registration, options)
            return None
        if self._answersCalls and not isReserved(msg.procedure):
            session.ratchetCalls.add(msg.request)
            return self._hook(
                "onCall", session.wampConnection, msg.request, msg.procedure, list(msg.args or ()), **(msg.kwargs or {})
            )
        session.send(
            _error(
                msg.request,
                msg.MESSAGE_TYPE,
                ApplicationError.NO_SUCH_PROCEDURE,
                f"no procedure {msg.procedure} is registered",
            )
        )
        return None

    def _yield(self, session: WampSession, msg: m.Yield) -> object:
        pending = session.invocations.get(msg.request)
        if pending is None:
            raise Violation(f"YIELD for invocation {msg.request}, which is not pending")
        assert session.realm is not None
        session.realm.dealer.yielded(pending, msg.args, msg.kwargs, bool(msg.progress))
        return None

    def _calleeError(self, session: WampSession, msg: m.Error) -> object:
        if msg.request_type != m.Invocation.MESSAGE_TYPE:
            raise Violation(f"ERROR for a request of type {msg.request_type}; a client answers only INVOCATION")
        pending = session.invocations.get(msg.request)
        if pending is None:
            raise Violation(f"ERROR for invocation {msg.request}, which is not pending")
        assert session.realm is not None
        session.realm.dealer.failed(pending, msg.error, msg.args, msg.kwargs)
        return None

    def _cancel(self, session: WampSession, msg: m.Cancel) -> object:
        pending = session.calls.get(msg.request)
        if pending is not None:
            assert session.realm is not None
            session.realm.dealer.cancel(pending, msg.mode)
        elif msg.request in session.ratchetCalls:
            session.ratchetCalls.discard(msg.request)
            session.send(_error(msg.request, m.Call.MESSAGE_TYPE, ApplicationError.CANCELED, "the call was canceled"))
        return None


HANDLERS: dict[type, Any] = {
    m.Publish: RequestHandlers._publish,
    m.Subscribe: RequestHandlers._subscribe,
    m.Unsubscribe: RequestHandlers._unsubscribe,
    m.Call: RequestHandlers._call,
    m.Register: RequestHandlers._register,
    m.Unregister: RequestHandlers._unregister,
}
