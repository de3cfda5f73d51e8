# -*- test-case-name: tests.wamp.test_broker -*-
"""
L{Broker}: a realm's publish and subscribe: subscriptions (exact, prefix,
wildcard), publications with exclusion, black- and whitelisting and
publisher disclosure, each event encoded once per serializer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autobahn.wamp.message import Event, Unsubscribed
from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..broadcast import SharedMessage
from .session import newId
from .topic import Topic
from .uri import wildcardMatches

if TYPE_CHECKING:
    from .session import WampSession

__all__ = ["Broker"]

log = Logger(namespace="ratchetpy.wamp")


class Broker:
    """
    The subscriptions of one realm, and the delivery of its events.

    @ivar onTopicCreated: called with each new L{Topic}'s first subscriber
        session and the topic (the Ratchet layer's C{onSubscribe}); may be
        C{None}.
    @ivar fanOut: called with every publication made in this process (uri,
        args, kwargs, publisher details) to carry it to other processes; may
        be C{None}.
    """

    def __init__(self) -> None:
        self.exact: dict[str, Topic] = {}
        self.prefix: dict[str, Topic] = {}
        self.wildcard: dict[str, Topic] = {}
        self.byId: dict[int, Topic] = {}
        self.fanOut: Callable[[str, Any, Any, dict[str, Any]], object] | None = None

    def _table(self, match: str) -> dict[str, Topic]:
        return self.exact if match == "exact" else self.prefix if match == "prefix" else self.wildcard

    def find(self, uri: str, match: str = "exact") -> Topic | None:
        """
        The topic of C{uri} with C{match}, if anyone is subscribed to it.
        """
        return self._table(match).get(uri)

    def topic(self, uri: str, match: str = "exact") -> Topic:
        """
        The topic of C{uri} with C{match}, made if needed.
        """
        table = self._table(match)
        topic = table.get(uri)
        if topic is None:
            subscriptionId = newId()
            while subscriptionId in self.byId:
                subscriptionId = newId()
            topic = table[uri] = self.byId[subscriptionId] = Topic(self, uri, match, subscriptionId)
        return topic

    def attach(self, session: WampSession, topic: Topic) -> None:
        topic.sessions[session] = None
        session.subscriptions[topic.subscriptionId] = topic

    def detach(self, session: WampSession, topic: Topic) -> bool:
        """
        Unsubscribe C{session} from C{topic}; return whether the topic is
        gone (its last subscriber left).
        """
        topic.sessions.pop(session, None)
        session.subscriptions.pop(topic.subscriptionId, None)
        return self.dropIfEmpty(topic)

    def revoke(self, session: WampSession, topic: Topic) -> None:
        if topic not in session.subscriptions.values():
            return
        if session.feature("subscriber", "subscription_revocation"):
            session.send(Unsubscribed(0, subscription=topic.subscriptionId, reason="wamp.subscription.revoked"))
        self.detach(session, topic)

    def dropIfEmpty(self, topic: Topic) -> bool:
        if topic.sessions or topic.handlers:
            return False
        table = self._table(topic.match)
        if table.get(topic.uri) is topic:
            del table[topic.uri]
        self.byId.pop(topic.subscriptionId, None)
        return True

    def matching(self, uri: str) -> list[Topic]:
        """
        Every topic an event on C{uri} goes to.
        """
        found = []
        exact = self.exact.get(uri)
        if exact is not None:
            found.append(exact)
        if self.prefix:
            found += [topic for prefix, topic in self.prefix.items() if uri.startswith(prefix)]
        if self.wildcard:
            found += [topic for topic in self.wildcard.values() if wildcardMatches(topic.pattern, uri)]
        return found

    def publish(
        self,
        publisher: WampSession | None,
        uri: str,
        args: Any,
        kwargs: Any,
        options: dict[str, Any],
        fanOut: bool = True,
    ) -> int:
        """
        Deliver an event on C{uri} to every matching subscriber this
        publication's C{options} (PUBLISH's: C{exclude_me}, C{exclude},
        C{eligible}, their C{_authid} and C{_authrole} forms, C{disclose_me})
        allow; return its publication id.

        @param publisher: the publishing session, or C{None} for the router's
            own code (or a publication from another process).
        """
        publication = newId()
        excludeMe = options.get("exclude_me", True)
        exclude = set(options.get("exclude") or ())
        if publisher is not None and excludeMe is not False:
            exclude.add(publisher.id)
        disclosed: dict[str, Any] = {}
        if publisher is not None and options.get("disclose_me"):
            disclosed = {
                "publisher": publisher.id,
                "publisher_authid": publisher.authid,
                "publisher_authrole": publisher.authrole,
            }
        elif options.get("publisher") is not None:
            disclosed = {key: options.get(key) for key in ("publisher", "publisher_authid", "publisher_authrole")}
        filtering = any(
            options.get(key) is not None
            for key in ("exclude_authid", "exclude_authrole", "eligible", "eligible_authid", "eligible_authrole")
        )
        for topic in self.matching(uri):
            receivers = [s for s in topic.sessions if s.id not in exclude]
            if filtering:
                receivers = [s for s in receivers if _allowed(s, options)]
            self.deliver(topic, receivers, args, kwargs, disclosed, handlers=True, uri=uri, publication=publication)
        if fanOut and self.fanOut is not None:
            self.fanOut(uri, args, kwargs, {**options, **disclosed, "exclude": sorted(exclude)})
        return publication

    def deliver(
        self,
        topic: Topic,
        receivers: list[WampSession],
        args: Any,
        kwargs: Any,
        disclosed: dict[str, Any],
        *,
        handlers: bool = True,
        uri: str | None = None,
        publication: int | None = None,
    ) -> None:
        """
        Send one EVENT of C{topic} to C{receivers}: built once, encoded once
        per serializer, framed once (C{sendShared}); and call the topic's
        server-side handlers if C{handlers}.
        """
        if receivers:
            event = Event(
                topic.subscriptionId,
                publication or newId(),
                args=list(args) if args else None,
                kwargs=kwargs or None,
                topic=(uri or topic.uri) if topic.match != "exact" else None,
                **disclosed,
            )
            shared: dict[Any, SharedMessage] = {}
            for session in receivers:
                codec = session.codec
                message = shared.get(codec)
                if message is None:
                    message = shared[codec] = SharedMessage(codec.encode(event))
                session.conn.sendShared(message)
        if handlers:
            for handler in tuple(topic.handlers):
                maybeDeferred(handler, *(args or ()), **(kwargs or {})).addErrback(_handlerFailed, handler)


def _handlerFailed(failure: Failure, handler: object) -> None:
    log.failure("event handler {handler!r} failed", failure, handler=handler)


def _allowed(session: WampSession, options: dict[str, Any]) -> bool:
    value: object
    for key, value in (("exclude_authid", session.authid), ("exclude_authrole", session.authrole)):
        listed = options.get(key)
        if listed is not None and value in listed:
            return False
    for key, value in (
        ("eligible", session.id),
        ("eligible_authid", session.authid),
        ("eligible_authrole", session.authrole),
    ):
        listed = options.get(key)
        if listed is not None and value not in listed:
            return False
    return True
