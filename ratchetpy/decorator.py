# -*- test-case-name: tests.test_decorators -*-
"""
Bases for writing your own layers: L{ComponentDecorator} wraps a component,
L{ConnectionDecorator} wraps a connection (PHP Ratchet's decorator pattern and
its C{AbstractConnectionDecorator}).

A decorator takes the component it wraps as its first argument and is itself
a component of the same kind, so it slots in anywhere in a stack::

    IoServer(HttpServer(WsServer(MessageLogger(Chat()))))

Override the hooks you need and call C{super()} to pass each event on; what
you do not override passes through unchanged.
"""

from __future__ import annotations

from typing import Any

from zope.interface import alsoProvides, implementer, providedBy

from .interfaces import IComponent, IConnection


@implementer(IComponent)
class ComponentDecorator:
    """
    A component that passes every event on to the C{component} it wraps.

    An instance provides the same interfaces as the component it wraps (an
    L{IMessageComponent} around a message component, an
    L{IHttpServerComponent} around an HTTP-layer one), and attributes it does
    not have are looked up on the wrapped component, so capabilities such as
    C{getSubProtocols} stay visible to the layers outside.

    To hand the wrapped component a connection of your own (to see what it
    sends, say), override L{decorate}: it is called once per connection, in
    C{onOpen}, and its result is what the wrapped component receives in every
    hook of that connection.

    To keep a connection from the wrapped component (an access check that
    answers 403, a blacklist), call L{refuse} in C{onOpen} instead of passing
    the event on.

    @ivar component: the wrapped component.
    """

    def __init__(self, component: Any) -> None:
        self.component = component
        alsoProvides(self, providedBy(component))
        # Only a subclass that decorates connections pays for the mapping.
        self._decorated: dict[IConnection, IConnection] | None = (
            {} if type(self).decorate is not ComponentDecorator.decorate else None
        )
        # Made on the first refusal and dropped with the last one, so that
        # every message pays one "is None" while nothing is refused.
        self._refused: set[IConnection] | None = None

    def refuse(self, conn: IConnection) -> None:
        """
        Keep C{conn} from the wrapped component: its later C{onMessage} and
        C{onError} are not passed on, nor its C{onClose}, after which the
        connection is forgotten.

        Call it from C{onOpen}, in place of passing the event on, and before
        closing the connection (a close may be reported at once): a component
        that never saw the connection open must not hear of it otherwise.
        Hooks you override still run for a refused connection; it is
        C{super()}'s that does nothing.
        """
        refused = self._refused
        if refused is None:
            refused = self._refused = set()
        refused.add(conn)
        # Its later bytes must come this way again, to be dropped here.
        stop = getattr(getattr(conn, "io", None), "stopReceivingDirectly", None)
        if stop is not None:
            stop()

    def decorate(self, conn: IConnection) -> IConnection:
        """
        Return the connection the wrapped component sees in place of C{conn},
        e.g. a L{ConnectionDecorator} subclass. By default, C{conn} itself.
        """
        return conn

    def _inner(self, conn: IConnection) -> IConnection:
        decorated = self._decorated
        if decorated is None:
            return conn
        return decorated.get(conn, conn)

    def onOpen(self, conn: IConnection, *args: Any) -> object:
        decorated = self._decorated
        if decorated is not None:
            inner = decorated[conn] = self.decorate(conn)
            return self.component.onOpen(inner, *args)
        return self.component.onOpen(conn, *args)

    def onMessage(self, conn: IConnection, msg: Any) -> object:
        if self._refused is not None and conn in self._refused:
            return None
        return self.component.onMessage(self._inner(conn), msg)

    def passesBytes(self, conn: IConnection) -> tuple[Any, IConnection] | None:
        """
        Where L{onMessage} hands C{conn}'s messages, unchanged: the wrapped
        component and the connection it sees; C{None} for a refused
        connection (see L{ratchetpy.server.direct}).
        """
        if self._refused is not None and conn in self._refused:
            return None
        return self.component, self._inner(conn)

    #: The C{onMessage} that L{passesBytes} describes: a subclass that
    #: overrides C{onMessage} sees every message.
    passesBytesOnMessage = onMessage

    def onClose(self, conn: IConnection) -> object:
        decorated = self._decorated
        refused = self._refused
        if refused is not None and conn in refused:
            refused.discard(conn)
            if not refused:
                self._refused = None
            if decorated is not None:
                decorated.pop(conn, None)
            return None
        inner = conn if decorated is None else decorated.pop(conn, conn)
        return self.component.onClose(inner)

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        if self._refused is not None and conn in self._refused:
            return None
        return self.component.onError(self._inner(conn), exc)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes the decorator itself lacks.
        if name.startswith("__") or "component" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.component, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.component!r})"


@implementer(IConnection)
class ConnectionDecorator:
    """
    A connection that passes everything on to the C{connection} it wraps:
    L{send}, L{sendShared}, L{close} and L{abort} call through, and every
    other attribute (C{resourceId}, C{remoteAddress}, C{state},
    C{httpRequest}, C{io}, C{subProtocol}...) is the wrapped connection's.
    Override what you need.

    A subclass that overrides L{send} sees broadcasts
    (L{ratchetpy.ConnectionGroup}) through its C{send} too; one that does not
    shares the broadcast's single WebSocket frame with the other receivers.

    @ivar connection: the wrapped connection.
    """

    def __init__(self, connection: IConnection) -> None:
        self.connection = connection

    def send(self, data: str | bytes) -> None:
        self.connection.send(data)

    def sendShared(self, message: Any) -> None:
        if type(self).send is ConnectionDecorator.send:
            self.connection.sendShared(message)
        else:
            self.send(message.data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.connection.close(code, reason)

    def abort(self) -> None:
        self.connection.abort()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "connection" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.connection, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection!r}>"
