# -*- test-case-name: tests.wamp.test_ratchet -*-
"""
L{WampComponent}: the base class of WAMP applications, with PHP Ratchet's
C{WampServerInterface} hooks, and the L{procedure} decorator.

How Ratchet's WAMP v1 maps to WAMP v2 here:

 - The router routes between clients by itself: a PUBLISH reaches every
   subscriber (the publisher excluded, v2's default), a CALL reaches the
   client that registered the procedure. The hooks observe; they need not
   forward anything. (Ratchet's tutorial ends C{onPublish} with
   C{$topic->broadcast($event)}: drop that line, or every subscriber gets
   the event twice.)
 - C{onOpen}/C{onClose} are a session joining and leaving a realm (WELCOME;
   GOODBYE, ABORT or the connection lost), not the WebSocket's.
 - C{onCall} receives the calls to procedures nobody registered (neither a
   client nor C{self.wamp.register}/L{procedure}); it answers them with
   C{conn.callResult}/C{conn.callError}. A component that does not override
   it lets the router answer C{wamp.error.no_such_procedure}.
 - C{exclude} and C{eligible} hold session ids; C{exclude} includes the
   publisher unless it published with C{exclude_me=False}; C{eligible} is
   C{None} when the publisher gave no whitelist (v1's empty array), and a
   list (perhaps empty: nobody) when it did.
 - Topics are L{Topic} objects, deleted when their last subscriber leaves
   (Ratchet's TopicManager); C{topic.broadcast(msg)} sends to every
   subscriber, as in Ratchet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from zope.interface import implementer

from ..interfaces import IWampComponent, IWampConnection

if TYPE_CHECKING:
    from .api import WampApi
    from .topic import Topic

__all__ = ["WampComponent", "procedure"]

F = TypeVar("F", bound=Callable[..., Any])


def procedure(uri: str, *, match: str = "exact", invoke: str = "single") -> Callable[[F], F]:
    """
    Mark a L{WampComponent} method as the procedure C{uri}: the
    L{WampServer} registers it in its default realm when it starts, as
    C{self.wamp.register(uri, self.method)} would. Its return value (or
    Deferred, or coroutine) is the call's result; an
    L{ApplicationError<autobahn.wamp.exception.ApplicationError>} it
    raises is the call's error.
    """

    def mark(fn: F) -> F:
        fn.__dict__["_wampProcedure"] = (uri, match, invoke)
        return fn

    return mark


@implementer(IWampComponent)
class WampComponent:
    """
    A WAMP application: override the hooks you need (plain, C{async def},
    or returning a L{Deferred<twisted.internet.defer.Deferred>}); C{self.wamp} (set by L{WampServer}) is the
    server-side API: register procedures, publish, call, subscribe.

    A hook's pending result holds that session's next messages back, as the
    WebSocket layer does for message components; a failing hook is logged,
    passed to C{onError}, and the connection closed (1011).
    """

    wamp: WampApi

    def onOpen(self, conn: IWampConnection) -> object:
        """
        A session joined a realm.
        """

    def onClose(self, conn: IWampConnection) -> object:
        """
        A session left (GOODBYE, ABORT, connection lost); once per C{onOpen}.
        """

    def onError(self, conn: IWampConnection, exc: BaseException) -> object:
        """
        One of this component's hooks failed for C{conn} with C{exc}.
        """

    def onCall(self, conn: IWampConnection, id: int, topic: str, params: list[Any], **kwargs: Any) -> object:
        """
        C{conn} called procedure C{topic} (a URI), which nobody registered,
        with positional arguments C{params} and keyword arguments C{kwargs};
        answer with C{conn.callResult(id, ...)} or C{conn.callError(id, ...)}.
        """

    def onSubscribe(self, conn: IWampConnection, topic: Topic) -> object:
        """
        C{conn} subscribed to C{topic}.
        """

    def onUnSubscribe(self, conn: IWampConnection, topic: Topic) -> object:
        """
        C{conn} unsubscribed from C{topic} (not called when it leaves).
        """

    def onPublish(
        self,
        conn: IWampConnection,
        topic: Topic,
        event: Any,
        exclude: list[int],
        eligible: list[int] | None,
        **kwargs: Any,
    ) -> object:
        """
        C{conn} published C{event} (the publication's one positional
        argument, or the list of them if not exactly one; keyword arguments
        as C{kwargs}) to C{topic}; the router has delivered it already.
        """


def procedures(component: Any) -> list[tuple[str, str, str, Callable[..., Any]]]:
    """
    The methods of C{component} marked with L{procedure}: (uri, match,
    invoke, bound method).
    """
    found = []
    for name in dir(type(component)):
        attr = getattr(type(component), name, None)
        marked = getattr(attr, "_wampProcedure", None)
        if marked is not None:
            found.append((*marked, getattr(component, name)))
    return found
