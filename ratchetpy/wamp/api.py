# -*- test-case-name: tests.wamp.test_api -*-
"""
L{WampApi}: the server-side API of a realm (C{self.wamp} on a
L{WampComponent}): procedures, publications, calls and subscriptions that
WAMP clients see as ordinary registrations and events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.message import Call
from twisted.internet.defer import Deferred, fail

from .dealer import INVOKE_POLICIES
from .uri import MATCHES, checkUri

if TYPE_CHECKING:
    from .dealer import Registration
    from .realm import Realm
    from .topic import Topic

__all__ = ["WampApi", "Subscription"]


class Subscription:
    """
    A handler subscribed with L{WampApi.subscribe}; C{unsubscribe()} ends it.
    """

    def __init__(self, topic: Topic, handler: Callable[..., object]) -> None:
        self.topic = topic
        self.handler = handler

    def unsubscribe(self) -> None:
        if self.handler in self.topic.handlers:
            self.topic.handlers.remove(self.handler)
            self.topic.broker.dropIfEmpty(self.topic)


class WampApi:
    """
    What server code does in one realm.

    @ivar realm: the L{Realm}.
    """

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    def register(
        self, uri: str, fn: Callable[..., Any], *, match: str = "exact", invoke: str = "single"
    ) -> Registration:
        """
        Register C{fn} as procedure C{uri}: a client's CALL runs
        C{fn(*args, **kwargs)}; its return value (a L{Deferred} or coroutine
        too) is the RESULT; an L{ApplicationError} it raises is the ERROR, any
        other exception is logged and becomes C{wamp.error.runtime_error}.

        @raise ApplicationError: C{wamp.error.procedure_already_exists}.
        @raise ValueError: C{uri}, C{match} or C{invoke} is invalid.
        """
        if match not in MATCHES:
            raise ValueError(f"match is one of {', '.join(MATCHES)}, not {match!r}")
        if invoke not in INVOKE_POLICIES:
            raise ValueError(f"invoke is one of {', '.join(INVOKE_POLICIES)}, not {invoke!r}")
        problem = checkUri(uri, match)
        if problem is not None:
            raise ValueError(problem)
        registration = self.realm.dealer.register(self.realm.local, uri, match, invoke)
        self.realm.local.procedures[registration.id] = fn
        return registration

    def unregister(self, uri: str | Registration, *, match: str = "exact") -> None:
        """
        Unregister the procedure registered with L{register} (its URI, or what
        L{register} returned); nothing happens if it is not registered.
        """
        dealer = self.realm.dealer
        registration = dealer._table(match).get(uri) if isinstance(uri, str) else uri
        if registration is not None and self.realm.local in registration.callees:
            dealer.unregister(self.realm.local, registration)
            self.realm.local.procedures.pop(registration.id, None)

    def publish(
        self, topic: str, *args: Any, options: dict[str, Any] | None = None, local: bool = False, **kwargs: Any
    ) -> int:
        """
        Publish an event to C{topic} with C{args} and C{kwargs}; C{options}
        as PUBLISH's (C{exclude}, C{eligible}, their C{_authid}/C{_authrole}
        forms). Delivered to this process's subscribers now, and to other
        processes' through the server's broker if it has one (unless
        C{local}).

        @return: the publication id.
        """
        problem = checkUri(topic)
        if problem is not None:
            raise ValueError(problem)
        return self.realm.broker.publish(
            None, topic, list(args) or None, kwargs or None, dict(options or {}), fanOut=not local
        )

    def call(self, uri: str, *args: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> Deferred[Any]:
        """
        Call procedure C{uri} (registered by a client, or here).

        @param options: C{{"timeout": ms}}.
        @return: a L{Deferred} of the result (the one positional result, or a
            L{autobahn.wamp.types.CallResult}), or failing with an
            L{ApplicationError}; cancelling it cancels the call.
        """
        registration = self.realm.dealer.lookup(uri)
        if registration is None:
            return fail(ApplicationError(ApplicationError.NO_SUCH_PROCEDURE, f"no procedure {uri} is registered"))
        local = self.realm.local
        request = local.requestId()
        result = local.expect(request)
        timeout = (options or {}).get("timeout")
        msg = Call(request, uri, args=list(args) or None, kwargs=kwargs or None, timeout=timeout)
        self.realm.dealer.call(local, msg, registration, dict(options or {}))
        return result

    def kill(
        self,
        sessionId: int | None = None,
        *,
        authid: str | None = None,
        authrole: str | None = None,
        reason: str = "wamp.close.killed",
        message: str | None = None,
    ) -> int:
        """
        End sessions of this realm from the router's side (the session meta
        API's C{kill}, C{kill_by_authid}, C{kill_by_authrole}, which clients
        cannot call here): the session C{sessionId}, or every session of
        C{authid}, or of C{authrole}. Each is sent GOODBYE with C{reason} and
        C{message}; its connection closes when it answers.

        @return: how many sessions were ended.
        """
        from .limits import GOODBYE_TIMEOUT

        if (sessionId is None) + (authid is None) + (authrole is None) != 2:
            raise TypeError("kill takes one of sessionId, authid or authrole")
        sessions = [
            s
            for s in list(self.realm.sessions.values())
            if s.id == sessionId
            or (authid is not None and s.authid == authid)
            or (authrole is not None and s.authrole == authrole)
        ]
        for session in sessions:
            self.realm.router.goodbye(session, reason, message, GOODBYE_TIMEOUT)
        return len(sessions)

    def listen(self, channel: str, handler: Callable[[str | bytes], object], *, channels: Any = None) -> Any:
        """
        Call C{handler(msg)} for every message published on the
        L{ratchetpy.Channels} channel C{channel}, from any process on the
        broker (by L{ratchetpy.push.publish}, say): the way into WAMP for
        code that is no WAMP client (Ratchet's push tutorial's
        C{onBlogEntry}, which then C{topic.broadcast}s). Each process's
        listener gets each message once; a handler that publishes should
        reach its own process's subscribers only (C{topic.broadcast}, or
        L{publish} with C{local=True}), or events arrive once per process.

        @param channels: the L{ratchetpy.Channels} to listen on; by default
            one on the process default broker (twistd's C{--broker}).
        @return: the listener; C{close()} stops it.
        """
        from .fanout import ChannelListener

        if channels is None:
            from ..pubsub.channels import Channels

            channels = Channels()
        return ChannelListener(channels, channel, handler)

    def subscribe(self, topic: str, handler: Callable[..., object], *, match: str = "exact") -> Subscription:
        """
        Call C{handler(*args, **kwargs)} for every event published to
        C{topic} (by clients or by L{publish}) in this process or, with a
        broker, any process.
        """
        if match not in MATCHES:
            raise ValueError(f"match is one of {', '.join(MATCHES)}, not {match!r}")
        problem = checkUri(topic, match)
        if problem is not None:
            raise ValueError(problem)
        subscription = self.realm.broker.topic(topic, match)
        subscription.handlers.append(handler)
        return Subscription(subscription, handler)
