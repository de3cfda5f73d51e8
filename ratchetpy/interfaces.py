# -*- test-case-name: tests.test_interfaces -*-
"""
The contracts between ratchetpy's layers and the components they wrap.

A ratchetpy server is a stack of components, each wrapping the next, in the
decorator pattern of PHP Ratchet::

    IoServer                 bytes from a Twisted transport      calls an IMessageComponent
     └ HttpServer            IMessageComponent                   calls an IHttpServerComponent
        └ WsServer           IHttpServerComponent                calls an IMessageComponent
           └ your component  IMessageComponent

Each layer implements the interface that the layer outside it calls and takes
the layer inside it as its first constructor argument, so decorators (routing,
origin checks, address blocks, your own) slot in anywhere the interfaces match.
C{IoServer} around a component alone is a raw TCP server.

Lifecycle of one connection, as a component sees it:

  1. C{onOpen(conn)} exactly once, first;
  2. C{onMessage(conn, msg)} zero or more times, in the order the peer sent them;
  3. C{onError(conn, exc)} when one of the component's own hooks failed; the
     connection is then closed (WebSocket close code 1011);
  4. C{onClose(conn)} exactly once, however the connection ended; it is the
     last hook, except that if C{onClose} itself fails, C{onError} follows
     with that failure.

To an HTTP-layer component (L{IHttpServerComponent}) this is the lifecycle
of one request: a persistent HTTP connection goes through it once per
request, on the same connection object.

Every hook may return C{None}, a L{Deferred} or a coroutine (C{async def}).
A connection's hooks never overlap: while one hook's result is pending, later
events for that connection wait (and the socket stops being read), so an
C{async def onOpen} finishes before the first C{onMessage} starts.
Different connections never wait for each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IProducer, ITransport

    from .broadcast import SharedMessage
    from .http.request import Headers

__all__ = [
    "IConnection",
    "IConnectionIO",
    "IUser",
    "IAuthenticator",
    "IComponent",
    "IMessageComponent",
    "IHttpServerComponent",
    "IWsServerComponent",
    "IHttpRequest",
    "IBroker",
    "IClientConnection",
    "IWampComponent",
    "IWampConnection",
]


class IConnection(Interface):
    """
    One client connection, as handed to a component's hooks.

    The same object is passed to every hook of the same connection, so it can be
    kept in sets and dicts (it hashes by identity). Layers hand their inner
    component a connection of their own (a WebSocket layer gives out a
    connection whose C{send} writes WebSocket frames) that shares
    C{resourceId}, C{remoteAddress}, C{httpRequest} and C{state} with the
    connection underneath.
    """

    resourceId: int = Attribute(
        """
        An C{int} unique among all connections this process has accepted.
        Useful in logs and as a key.
        """
    )

    remoteAddress: str = Attribute(
        """
        The client's IP address as text (C{"127.0.0.1"}, C{"::1"}: IPv6
        without brackets; an IPv4 client of an IPv6 socket as IPv4), or C{""}
        where the transport has none (a UNIX socket): the socket's peer, or
        the client a proxy in front named (the PROXY protocol header on a
        C{haproxy:} endpoint, or a trusted proxy's C{X-Forwarded-For}; see
        L{ratchetpy.server.proxy} and L{ratchetpy.http.forwarded}).
        Connection limits count, blacklists match, and log lines name this
        one address.
        """
    )

    peerAddress: str = Attribute(
        """
        The IP address of the socket's peer, as text: the same as
        C{remoteAddress} unless a trusted proxy in front said who the client
        is (then it is the proxy's address); C{""} for a UNIX socket.
        """
    )

    user: IUser | None = Attribute(
        """
        Who is connecting: an L{IUser} set by an authentication layer before
        the component's C{onOpen}, or C{None} for an anonymous connection.
        Shared by every layer's view of the connection.
        """
    )

    session: ISession | None = Attribute(
        """
        The web application's session of the user connecting, an
        L{ISession}, set by L{ratchetpy.auth.SessionProvider} or a session
        authenticator before the component's C{onOpen}; C{None} when neither
        is in front. Shared by every layer's view of the connection.
        """
    )

    httpRequest: IHttpRequest | None = Attribute(
        """
        The L{IHttpRequest} that opened this connection (on a persistent HTTP
        connection, the request being served), or C{None} on a raw TCP
        connection and before the HTTP layer has read a complete request head.
        """
    )

    state: SimpleNamespace = Attribute(
        """
        The one place for per-connection application state: a
        L{types.SimpleNamespace} shared by every layer's view of this
        connection. Set what you like on it (C{conn.state.nickname = "ann"});
        ratchetpy itself never stores anything there.
        """
    )

    transport: ITransport = Attribute(
        """
        The Twisted L{ITransport} underneath. For protocol layers (the WebSocket
        layer hands it to Autobahn for TLS details); components should use
        L{send} and L{close}, and layers write, pause and abort through L{io}.
        """
    )

    io: IConnectionIO = Attribute(
        """
        The L{IConnectionIO} of this connection: the transport-level I/O that
        every layer's view of the connection shares. Protocol layers write
        through it (so that what they write is counted against the server's
        send limit) and pause reading through it.
        """
    )

    def send(data: str | bytes) -> None:
        """
        Send C{data} to the peer.

        On a WebSocket connection a C{str} is sent as one text message and
        C{bytes} as one binary message. On a raw TCP connection C{bytes} are
        written as they are and a C{str} is encoded as UTF-8 first.

        Sending on a connection that is closing or closed does nothing: the
        peer can no longer receive it, and a broadcast loop should not fail
        because one receiver left a moment ago.
        """

    def sendShared(message: SharedMessage) -> None:
        """
        Send a L{ratchetpy.broadcast.SharedMessage}: one message that is
        being sent to many connections (L{ratchetpy.ConnectionGroup} does
        this). The result is the same as C{send(message.data)}, but a
        WebSocket layer frames the message once for all of its receivers.
        """

    def close(code: int = 1000, reason: str = "") -> None:
        """
        Close the connection.

        On a WebSocket connection this starts the closing handshake with the
        given close code (RFC 6455 section 7.4) and reason (at most 123 bytes
        of UTF-8); the transport is dropped if the peer does not answer in
        time. On a raw TCP connection C{code} and C{reason} are ignored and
        the transport is closed once pending data is written.
        Closing twice is harmless.

        @raise ValueError: on a WebSocket, C{code} is one an endpoint may not
            send (1004-1006, 1015, or outside 1000-4999).
        """

    def abort() -> None:
        """
        Cut the connection at once: no closing handshake, and what has not
        been written yet is discarded. For refusing a peer that must not be
        served any longer (a blocked address, a peer that does not read);
        L{close} is the polite way.
        """

    isWritable: bool = Attribute(
        """
        C{True} while the peer is keeping up with what is sent to it;
        C{False} while the transport's own buffer (64 KiB) is full, and once
        the connection is closed. What is sent while it is C{False} is counted
        against the server's C{maxSendBuffer}; past that the server's
        slow-consumer policy applies (by default the connection is closed with
        1008). A component that streams should register a producer rather
        than poll this.
        """
    )

    def registerProducer(producer: IProducer, streaming: bool) -> None:
        """
        Register a Twisted producer that sends on this connection (with
        C{send}, or C{write} on a raw connection). A push producer
        (L{IPushProducer<twisted.internet.interfaces.IPushProducer>}, C{streaming=True}) is paused when the connection
        stops being writable and resumed when it is writable again; a pull
        producer (L{IPullProducer<twisted.internet.interfaces.IPullProducer>}, C{streaming=False}) is asked for more
        (C{resumeProducing}) for as long as it is writable. Either is told
        C{stopProducing} when the connection is lost. Never register a
        producer with C{transport} itself: the connection is its producer.

        @raise RuntimeError: a producer is already registered.
        """

    def unregisterProducer() -> None:
        """
        Unregister the producer registered with L{registerProducer}, if any
        (say, when it has finished).
        """


class IUser(Interface):
    """
    Who a connection belongs to, as an authenticator recognised them.
    """

    id: str = Attribute("The user's id, a C{str}, unique within the application.")
    info: dict[str, Any] = Attribute(
        """
        A C{dict} the application may show to other users (a display name,
        say); never credentials.
        """
    )
    expiresAt: float | None = Attribute(
        """
        When the credentials expire, as seconds since the epoch (a C{float}),
        or C{None} if they do not.
        """
    )


class ISession(Interface):
    """
    A web application's session, as C{conn.session}: a mutable mapping of
    the session's keys (C{session["cart"]}, C{session.get("theme")}) that may
    be written back to the application's session store.
    """

    key: str | None = Attribute("The session's key (its cookie's value), or C{None} for a session not stored yet.")
    readOnly: bool = Attribute(
        """
        C{True} if changes are refused (a Flask session lives in a cookie,
        which a WebSocket cannot set): setting a key raises
        L{ratchetpy.auth.session.ReadOnlySessionError}.
        """
    )
    modified: bool = Attribute("Whether the session was changed since it was read or last saved.")

    def __getitem__(name: str) -> Any:
        """
        The value of key C{name}.

        @raise KeyError: the session has no such key.
        """

    def __setitem__(name: str, value: Any) -> None:
        """
        Set key C{name} to C{value}.

        @raise ratchetpy.auth.session.ReadOnlySessionError: the session is
            read-only.
        """

    def __delitem__(name: str) -> None:
        """
        Remove key C{name}.

        @raise KeyError: the session has no such key.
        @raise ratchetpy.auth.session.ReadOnlySessionError: the session is
            read-only.
        """

    def __contains__(name: object) -> bool:
        """
        Whether the session has key C{name}.
        """

    def get(name: str, default: Any = None, /) -> Any:
        """
        The value of key C{name}, or C{default} if it has none.
        """

    def save() -> Deferred[None]:
        """
        Write the session back to its store (blocking stores in a thread).

        @return: a L{Deferred} that fires once it is written; callers
            C{await} it.
        """


class ISessionStore(Interface):
    """
    Where L{ratchetpy.auth.SessionProvider} and the session authenticators
    read sessions from: Django's session engine, Flask's signed cookie.
    """

    usesCookies = Attribute(
        """
        C{True} if the session's key is a cookie (see
        L{IAuthenticator.usesCookies}: an L{ratchetpy.OriginCheck} must be in
        front).
        """
    )

    def load(request: object) -> object:
        """
        The session of C{request} (an L{ratchetpy.auth.AuthRequest}), an
        L{ISession}; or C{None} if it has none. May be a L{Deferred} or a
        coroutine: it must not block the reactor.
        """


class IAuthenticator(Interface):
    """
    One way of recognising who is connecting, for
    L{ratchetpy.auth.Authenticate}: a bearer token, an API key, a cookie.

    Authenticators run in order on each request, before the WebSocket
    upgrade; the first that recognises the credentials decides. They must
    never block the reactor: CPU-only checks (a JWT signature, an HMAC) run
    as they are, and I/O (a database, an HTTP call) is either asynchronous or
    run in a thread with L{twisted.internet.threads.deferToThread}.
    """

    usesCookies = Attribute(
        """
        C{True} if the authenticator reads cookies: browsers send them on
        cross-site WebSocket handshakes too, so a route that uses it must
        have an L{ratchetpy.OriginCheck} in front (L{ratchetpy.App} and the
        stack builders refuse to start otherwise).
        """
    )

    challenge = Attribute(
        """
        The C{WWW-Authenticate} value of a 401 this authenticator causes
        (C{'Bearer realm="ratchetpy"'}), or C{None} for none.
        """
    )

    def authenticate(request: object) -> object:
        """
        Recognise the credentials of C{request}, an
        L{ratchetpy.auth.AuthRequest} (headers, cookies, query parameters,
        offered subprotocols, remote address).

        @return: an L{IUser}: these credentials are this user's; C{None}:
            these are not credentials this authenticator knows (the next one
            is asked). Or a L{Deferred} or coroutine that gives either.
        @raise ratchetpy.auth.Unauthorized: the credentials are this
            authenticator's kind but missing, malformed, expired or forged
            (the client gets 401).
        @raise ratchetpy.auth.Forbidden: the credentials are good but the
            user may not connect here (403).
        """


class IConnectionIO(Interface):
    """
    The I/O of one connection below every protocol layer: what the layers of
    ratchetpy (the HTTP layer's responses, the WebSocket engine's frames)
    use instead of the Twisted transport, so that writes are accounted,
    reading is paused by reference count, and the transport stays owned by
    the server. Reached as C{conn.io} from every view of the connection;
    provided by L{ratchetpy.server.IoConnection}.

    Components rarely need it: C{conn.send} and C{conn.close} are theirs.
    """

    reactor: Any = Attribute(
        """
        The reactor of the server that accepted the connection: the one
        layers schedule this connection's timers on.
        """
    )

    transport: ITransport = Attribute("The Twisted L{ITransport} that owns the socket.")

    remoteAddress: str = Attribute(
        """
        The client's address, as L{IConnection.remoteAddress}: every view of
        the connection reads it from here (see L{setRemoteAddress}).
        """
    )

    peerAddress: str = Attribute("The socket's peer, as L{IConnection.peerAddress}.")

    user: IUser | None = Attribute(
        """
        Who is connecting, as L{IConnection.user}: kept here for every view of
        the connection; an authentication layer sets it.
        """
    )

    session: ISession | None = Attribute(
        """
        The web application's session, as L{IConnection.session}: kept here
        for every view of the connection; a session layer sets it.
        """
    )

    openConnections = Attribute(
        """
        The L{ratchetpy.server.limits.ConnectionCounter} of the server that
        accepted the connection: how many it has open, in total and per
        address, for layers that enforce connection limits.
        """
    )

    isWritable: bool = Attribute(
        """
        C{False} while the transport's own buffer is full (what is written is
        then counted against the server's C{maxSendBuffer}), and once the
        connection is gone.
        """
    )

    def write(data: bytes) -> None:
        """
        Write C{data} to the transport, as it is. While the connection is not
        writable the bytes are counted; past the server's C{maxSendBuffer}
        its slow-consumer policy applies (the connection is cut, or what is
        written is discarded until the peer has caught up).
        """

    def writeMessage(data: bytes) -> None:
        """
        Write C{data}, one whole message as it goes on the wire (a frame
        framed once for many connections, say), as L{write} does, but drop it
        whole if L{shouldDrop} says so.
        """

    def shouldDrop(size: int) -> bool:
        """
        Whether a message of C{size} bytes that is about to be written is to
        be dropped whole instead: the connection is past its send limit under
        the C{"drop"} policy (the message is counted as dropped), or it has
        been cut. A layer that frames messages asks before framing, so that a
        message is dropped whole and (with compression) before it changes
        the compressor's state.
        """

    def forgetRequest() -> None:
        """
        Forget what belonged to the HTTP request just answered (C{user},
        C{session}, C{state}), before the next request on this kept-alive
        connection: the HTTP layer's call.
        """

    def setRemoteAddress(address: str) -> None:
        """
        Say that the client of this connection is C{address} (canonical IP
        text), as a trusted proxy in front said: C{remoteAddress} is
        C{address} from now on, in the views of the connection made after
        (C{peerAddress} stays the socket's peer), and the server's L{openConnections} counts the
        connection toward C{address} instead. For the layer that reads who
        the client is (the HTTP layer, from C{X-Forwarded-For}), before it
        opens the component behind it.
        """

    def pauseReading() -> None:
        """
        Stop reading from the transport until every L{pauseReading} has been
        matched by a L{resumeReading}. Several layers may pause one connection
        (an asynchronous hook in the HTTP layer and another in the WebSocket
        layer); reading resumes only when the last of them resumes.
        """

    def resumeReading() -> None:
        """
        Undo one L{pauseReading}.

        @raise RuntimeError: reading is not paused.
        """

    def loseConnection() -> None:
        """
        Close the transport once what has been written is sent.
        """

    def abort() -> None:
        """
        Cut the transport at once, discarding what has not been sent.
        """

    def receiveDirectly(layer: Any, view: IConnection, receiver: Callable[[bytes], object]) -> bool:
        """
        From now on, hand the connection's bytes to C{receiver} in place of
        the server's component, if each layer from that component down to
        C{layer} would pass them on unchanged to C{layer} as C{view}: what
        the WebSocket layer asks once its engine has the connection, so that
        a frame does not walk down layers that only forward it. Layers say
        so with C{passesBytes} (L{ratchetpy.server.direct}); one that looks
        at the bytes (a decorator overriding C{onMessage}) keeps getting
        them.

        @return: whether the bytes now go to C{receiver}.
        """

    def stopReceivingDirectly() -> None:
        """
        Hand the connection's bytes to the server's component again, as
        before L{receiveDirectly}: a layer in between now treats them
        differently (a decorator refused the connection).
        """

    def upgradeTo(connection: IConnection) -> None:
        """
        From now on, route the L{IConnection} methods of the connection
        underneath (C{send}, C{sendShared}, C{close}), which the server's
        shutdown and the layers outside use, through C{connection}: the view
        of the protocol layer that took over the byte stream (the WebSocket
        layer after its handshake), so that closing it sends a close frame
        rather than cutting it.
        """

    def registerProducer(producer: IProducer, streaming: bool) -> None:
        """
        As L{IConnection.registerProducer}.
        """

    def unregisterProducer() -> None:
        """
        As L{IConnection.unregisterProducer}.
        """


class IComponent(Interface):
    """
    The hooks every component has: PHP Ratchet's C{ComponentInterface}.

    Every hook may return C{None}, a L{Deferred} or a coroutine.
    """

    def onOpen(conn: IConnection) -> object:
        """
        A new connection was opened. Called once, before any other hook.
        """

    def onClose(conn: IConnection) -> object:
        """
        The connection is gone. Called exactly once per opened connection,
        last, whatever ended it (a clean close, the peer vanishing, a timeout,
        an error, the server shutting down). Sending on C{conn} does nothing.
        """

    def onError(conn: IConnection, exc: BaseException) -> object:
        """
        One of this component's hooks for C{conn} raised C{exc} (or its
        Deferred or coroutine failed). It has already been logged with a
        traceback; the connection is closed after this hook returns (with close
        code 1011 on a WebSocket). If C{onError} itself fails, that is logged
        too and the connection is closed.
        """


class IMessageComponent(IComponent):
    """
    A component that receives messages: what an application implements, usually
    by subclassing L{ratchetpy.MessageComponent}.
    """

    def onMessage(conn: IConnection, msg: str | bytes) -> object:
        """
        A message arrived from C{conn}.

        Behind a WebSocket layer, C{msg} is one whole message: a C{str} for a
        text message (already validated as UTF-8), C{bytes} for a binary one.
        Behind a bare L{ratchetpy.IoServer}, C{msg} is whatever C{bytes} the
        transport delivered: TCP is a stream, so a line may arrive in pieces.
        """


class IHttpServerComponent(IMessageComponent):
    """
    A component behind L{ratchetpy.HttpServer}: it is opened with the parsed
    request head (PHP Ratchet's C{HttpServerInterface}).

    Bytes that follow the request head on the connection arrive through
    C{onMessage} as C{bytes}: the request's body (exactly that: the HTTP
    layer reads where it ends), or, after a WebSocket upgrade request, every
    later byte (the first frames a client pipelined after its handshake).

    Connections persist (HTTP/1.1 keep-alive), and each request on one is a
    lifecycle of its own on the same connection object: C{onOpen(conn,
    request)}, C{onMessage} for its body, and C{onClose(conn)} once its
    response (a L{ratchetpy.Response} written with C{writeTo}) is complete,
    before the next request's C{onOpen}. Nothing of one request is kept for
    the next: C{conn.httpRequest}, C{conn.user}, C{conn.session} and
    C{conn.state} start afresh. See L{ratchetpy.HttpServer}.
    """

    def onOpen(conn: IConnection, request: IHttpRequest) -> object:  # type: ignore[override]
        """
        A complete, well-formed request head has arrived on C{conn}.
        """

    # Narrower than IMessageComponent's on purpose: the HTTP layer only ever
    # delivers the bytes that follow a request head.
    def onMessage(conn: IConnection, msg: bytes) -> object:  # type: ignore[override]
        """
        Bytes that followed the request head arrived on C{conn}: a request
        body, or the first frames of the protocol it was upgraded to.
        """


class IWsServerComponent(Interface):
    """
    An optional capability of a component behind L{ratchetpy.WsServer}: the
    WebSocket subprotocols it speaks (PHP Ratchet's C{WsServerInterface}).
    """

    def getSubProtocols() -> list[str]:
        """
        Return the subprotocol names this component supports. During the
        handshake the first of the client's offered subprotocols (in the
        client's order of preference) that is in this list is selected; a
        client that offers none of them is accepted without a subprotocol.
        """


class IHttpRequest(Interface):
    """
    A parsed HTTP/1.x request head.
    """

    method: str = Attribute('The request method as text, e.g. C{"GET"}.')
    target: str = Attribute('The request target as sent, e.g. C{"/chat?room=1"}.')
    path: str = Attribute('The path part of the target as sent (percent-encoded), e.g. C{"/chat"}.')
    query: str = Attribute('The query string without the C{"?"}, as sent, e.g. C{"room=1"}; C{""} if none.')
    version: str = Attribute('The HTTP version as text, C{"1.1"} or C{"1.0"}.')
    headers: Headers = Attribute(
        """
        The headers as a L{ratchetpy.http.request.Headers}: a read-only mapping
        with case-insensitive names (C{request.headers["Host"]}); a header sent
        several times reads as its values joined by C{", "}, and
        C{getAll(name)} returns them one by one.
        """
    )
    isWebSocketUpgrade: bool = Attribute(
        """
        Whether the client asks to switch this connection to WebSocket (an
        C{Upgrade: websocket} header).
        """
    )
    rawHead: bytes = Attribute(
        """
        The request head exactly as received, request line to the blank line
        included, as C{bytes}. The WebSocket layer replays it into Autobahn.
        """
    )
    routeParams: Mapping[str, str] = Attribute(
        """
        The values of the C{{name}} placeholders of the L{ratchetpy.Router}
        route that matched (percent-decoded), e.g. C{{"room": "lobby"}} for
        C{/rooms/{room}}; empty when no router is in front.
        """
    )
    body: bytes = Attribute(
        """
        The request body as C{bytes}: read by L{ratchetpy.HttpHandler} before
        it calls C{onRequest} (up to the handler's C{maxBodySize}, 413
        beyond; chunked or by Content-Length); C{b""} for requests without
        one, and for requests that other components handle (a WebSocket
        upgrade has no body).
        """
    )


class IBroker(Interface):
    """
    What carries L{ratchetpy.Channels} messages between processes: a
    publish/subscribe transport for bytes on named broker channels. Backends:
    L{ratchetpy.pubsub.local.LocalBroker} (within one process, the default)
    and L{ratchetpy.pubsub.redis.RedisBroker} (Redis pub/sub).

    A broker knows nothing of connections or of ratchetpy's message format:
    L{ratchetpy.Channels} subscribes one callback per channel it has local
    subscribers on, publishes L{ratchetpy.pubsub.envelope} bytes on
    C{envelope.brokerChannel(channel)}, and drops its own messages coming
    back.

    Delivery is at most once: a message published while a subscriber is
    disconnected from the broker is lost to it. Messages from one publisher
    arrive in the order they were published.
    """

    origin = Attribute(
        """
        A name for this broker connection, unique across processes and
        machines in practice (see L{ratchetpy.pubsub.envelope.newOrigin}).
        """
    )

    stats = Attribute(
        """
        Counters, a L{ratchetpy.pubsub.local.BrokerStats}: messages
        published, publishes that failed, messages received, outages.
        """
    )

    def publish(channel: str, data: bytes) -> Deferred[int]:
        """
        Publish C{data} on broker channel C{channel}.

        @return: a L{Deferred} firing with the number of subscriptions that
            received it once the broker has accepted it, or failing with
            L{ratchetpy.pubsub.BrokerUnavailable} when it cannot, within a
            bounded time: a publish never waits for a broker that is down.
        """

    def subscribe(channel: str, callback: Callable[[str, bytes], object]) -> None:
        """
        Call C{callback(channel, data)} (C{data}: C{bytes}) for every message
        published on C{channel} from now on, by any publisher, this process
        included. Subscribing the same callback twice has no effect. A broker
        that reconnects subscribes again by itself.
        """

    def unsubscribe(channel: str, callback: Callable[[str, bytes], object]) -> None:
        """
        Stop calling C{callback} for C{channel}; nothing happens if it was
        not subscribed.
        """

    def start() -> None:
        """
        Start connecting (if the broker connects to anything); calling it
        again does nothing. Messages published or subscribed before the
        connection is up follow the outage rules of the backend.
        """

    def stop() -> Deferred[None]:
        """
        Disconnect and stop reconnecting.

        @return: a L{Deferred} firing when the broker's connections are
            closed.
        """


class IClientConnection(IConnection):
    """
    A client's WebSocket connection (L{ratchetpy.client}): what the hooks of
    a client's component get, and what L{ratchetpy.client.connectOnce}
    gives. C{send}, C{close}, C{state} and flow control are those of
    L{IConnection}; C{remoteAddress} is the server's address.
    """

    subProtocol: str | None = Attribute("The subprotocol the server agreed to, or C{None}.")

    closeCode: int | None = Attribute(
        """
        The close code the server sent (C{1000}, C{1001}, an application's
        C{4000}-C{4999}), C{1005} if its close frame had none, C{1006} if
        the connection ended without a closing handshake; C{None} while it
        is open.
        """
    )

    closeReason: str | None = Attribute(
        """
        The close reason the server sent (C{""} if none), or how the
        connection ended without one; C{None} while it is open.
        """
    )

    def receive() -> Deferred[str | bytes]:
        """
        The next message from the server: C{str} for text, C{bytes} for
        binary. Only on connections made by
        L{ratchetpy.client.connectOnce}, which keep a bounded queue of
        unread messages (and stop reading while it is full).

        @return: a L{Deferred} of the message, failing with
            L{ratchetpy.client.ConnectionClosed} once the connection is
            closed and every message received before has been taken.
        @raise RuntimeError: the connection has a component, which gets its
            messages.
        """

    def whenClosed() -> Deferred[tuple[int, str]]:
        """
        @return: a L{Deferred} that fires with C{(closeCode, closeReason)}
            once the connection is closed and the component's C{onClose} has
            run.
        """


class IWampConnection(Interface):
    """
    A WAMP session's connection, as the hooks of an L{IWampComponent} get it
    (PHP Ratchet's C{WampConnection}); provided by
    L{ratchetpy.wamp.WampConnection}. The same object for every hook of one
    session; a session that leaves and joins again gets a new one.
    """

    sessionId: int = Attribute("The WAMP session id.")
    realm: str = Attribute("The name of the realm the session joined.")
    authid: str = Attribute("Who the session authenticated as (C{conn.user.id} behind an Authenticate layer).")
    authrole: str = Attribute('Its role: C{"anonymous"}, C{"user"}, or what an authenticator said.')

    def callResult(id: int, data: Any = None) -> IWampConnection:
        """
        Answer the call C{id} that C{onCall} received: a RESULT whose one
        positional argument is C{data} (none if C{None}). Ignored for an id
        that is not pending.
        """

    def callError(id: int, errorUri: str, desc: str = "", details: Any = None) -> IWampConnection:
        """
        Answer the call C{id} with an ERROR: URI C{errorUri}, positional
        arguments C{desc} and (if given) C{details}.
        """

    def event(topic: Any, msg: Any) -> IWampConnection:
        """
        Send C{msg} as an event of C{topic} (a topic or its URI) to this
        session alone, if it is subscribed to it.
        """

    def close(code: int = 1000, reason: str = "") -> None:
        """
        Close the connection; the session ends with it.
        """


class IWampComponent(Interface):
    """
    A WAMP application behind L{ratchetpy.wamp.WampServer} (PHP Ratchet's
    C{WampServerInterface}), usually a L{ratchetpy.wamp.WampComponent}.

    The router routes between clients by itself; these hooks observe the
    sessions, and C{onCall} answers the calls to procedures nobody
    registered. C{conn} is an L{IWampConnection}. C{onOpen} is a session
    joining a realm, C{onClose} it leaving (once per C{onOpen}). Every hook
    may return C{None}, a L{Deferred} or a coroutine; the session's next
    messages wait for it.
    """

    def onOpen(conn: IWampConnection) -> object:
        """
        A session joined a realm (WELCOME was sent).
        """

    def onClose(conn: IWampConnection) -> object:
        """
        The session left its realm (GOODBYE, ABORT, or its connection lost);
        once per C{onOpen}.
        """

    def onError(conn: IWampConnection, exc: BaseException) -> object:
        """
        One of this component's hooks failed for C{conn} with C{exc}; it is
        logged, and the connection is closed after this returns.
        """

    def onCall(conn: IWampConnection, id: int, topic: str, params: list[Any], **kwargs: Any) -> object:
        """
        C{conn} called C{topic}, a procedure nobody registered, with C{params}
        (and C{kwargs}); answer with C{conn.callResult} or C{conn.callError}.
        """

    def onSubscribe(conn: IWampConnection, topic: Any) -> object:
        """
        C{conn} subscribed to C{topic} (a L{ratchetpy.wamp.Topic}).
        """

    def onUnSubscribe(conn: IWampConnection, topic: Any) -> object:
        """
        C{conn} unsubscribed from C{topic}.
        """

    def onPublish(
        conn: IWampConnection, topic: Any, event: Any, exclude: list[int], eligible: list[int] | None, **kwargs: Any
    ) -> object:
        """
        C{conn} published C{event} to C{topic}, already delivered by the
        router: C{exclude} holds the session ids excluded (the publisher's,
        unless it published with C{exclude_me=False}), C{eligible} the
        whitelist (C{None}: none). Keyword arguments of the publication come
        as keyword arguments.
        """
