# -*- test-case-name: tests.test_app -*-
"""
L{App}: several components on one port in a few lines (PHP Ratchet's
C{Ratchet\\App}).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from .http.origin import OriginCheck
from .http.router import Router
from .http.server import HttpServer
from .interfaces import IHttpServerComponent
from .options import HTTP_SERVER, IO_SERVER, checkKeywords, optionsOf
from .server.io import IoServer, serveUntilStopped
from .stack import checkCookieAuth, serveOverHttp

log = Logger(namespace="ratchetpy")


class App:
    """
    A server for several routes on one port::

        app = App("localhost", 8080)
        app.route("/chat", Chat())
        app.route("/echo", Echo(), allowedOrigins=["*"])
        app.run()

    It is the stack C{IoServer(HttpServer(Router()))}, one route per
    L{route} call. Unknown paths get 404, methods a route does not allow 405.

    Unlike PHP Ratchet's App, C{httpHost} does not restrict which C{Host} a
    request may name (a mismatch was Ratchet's most common "cannot connect"
    report): pass C{httpHost} to L{route} for that. Nor is a Flash policy
    server started.

    @param httpHost: the host name clients use, for the log line that lists
        the routes.
    @param port: the TCP port to listen on.
    @param address: the interface to listen on; C{"0.0.0.0"} for every IPv4
        interface, C{"::"} for every interface.
    @param endpoint: a Twisted endpoint string to listen on instead of
        C{port} and C{address}, e.g. C{"ssl:8443:privateKey=key.pem"}.
    @param reactor: the reactor, for every layer; the global one by default.
    @param options: the options of L{IoServer} (C{shutdownTimeout},
        C{maxSendBuffer}, C{slowConsumerPolicy}) and of L{HttpServer} (its
        limits: C{maxHeadSize}, C{maxConnections}, C{maxConnectionsPerIp},
        ...); see L{ratchetpy.options}.
    @raise TypeError: a keyword is no option of those layers.
    @raise ValueError: an option's value is not allowed.

    @ivar router: the L{Router}; L{route} adds to it.
    @ivar server: the L{IoServer}.
    @ivar ioOptions: the L{IoServer} options given.
    @ivar httpOptions: the L{HttpServer} options given.
    """

    def __init__(
        self,
        httpHost: str = "localhost",
        port: int = 8080,
        address: str = "127.0.0.1",
        *,
        endpoint: str | None = None,
        reactor: Any = None,
        **options: Any,
    ) -> None:
        checkKeywords(options, (IO_SERVER, HTTP_SERVER), "App()")
        self.httpHost = httpHost
        self.port = port
        self._reactor = reactor
        self._authThrottle: Any = None
        self.router = Router()
        # Kept apart, for ratchetpy.stack builds an App's stack from them
        # when the twistd plugin serves it on its own port.
        ioNames = {o.name for o in optionsOf(IO_SERVER)}
        self.ioOptions = {name: value for name, value in options.items() if name in ioNames}
        self.httpOptions = {name: value for name, value in options.items() if name not in ioNames}
        http = HttpServer(self.router, reactor=reactor, **self.httpOptions)
        if endpoint is None:
            self.server = IoServer.factory(http, port, address, reactor=reactor, **self.ioOptions)
        else:
            self.server = IoServer(http, endpoint, reactor=reactor, **self.ioOptions)

    @property
    def reactor(self) -> Any:
        """
        The reactor the App's layers use.
        """
        return self.server.reactor

    def route(
        self,
        path: str,
        component: Any,
        allowedOrigins: Iterable[str] | None = None,
        httpHost: str | None = None,
        *,
        methods: Iterable[str] = ("GET",),
        auth: Any = None,
        allowAnonymous: bool = False,
        **wsOptions: Any,
    ) -> Any:
        """
        Serve C{component} at C{path} (a L{Router} pattern: C{"/chat"},
        C{"/rooms/{room}"}, C{"/static/{path:path}"}).

        A message component (C{onOpen(conn)}, C{onMessage}, ...) is served
        as WebSockets: C{WsServer(component, **wsOptions)}, with the App's
        reactor. An HTTP-layer component (a L{WsServer} you built,
        L{ratchetpy.StaticFiles}, an L{ratchetpy.HttpHandler}) is used as it
        is.

        An L{OriginCheck} goes in front: by default it allows the page's own
        origin and clients that send no C{Origin}; C{allowedOrigins} adds
        more (host names or origins), and C{["*"]} turns the check off.

        With C{auth}, an L{ratchetpy.auth.Authenticate} goes between the
        L{OriginCheck} and the component: C{conn.user} is set before
        C{onOpen}, and requests without good credentials get 401 or 403
        before any upgrade. The routes of one App share one throttle of
        failed authentications per address.

        @param httpHost: if given, only requests whose C{Host} names it are
            routed here; others get 404.
        @param methods: the HTTP methods allowed (C{GET} implies C{HEAD}).
        @param auth: an authenticator (L{ratchetpy.auth.JWTAuth}, a
            L{ratchetpy.auth.CallableAuth} or a function of the request), or
            a list of them, tried in order.
        @param allowAnonymous: with C{auth}, let requests that no
            authenticator recognises through, with C{conn.user} C{None}.
        @param wsOptions: the options of L{WsServer}: its limits
            (C{maxMessageSize}, C{keepAlive}, ...; see L{ratchetpy.options}),
            C{compression}, C{strictSubProtocols} and C{http}.
        @return: the decorated component, as routed.
        @raise TypeError: C{component} is not a message or HTTP-layer
            component, C{wsOptions} are given with an HTTP-layer component,
            or a keyword is no option of L{WsServer}.
        @raise ValueError: an option's value is not allowed.
        @raise ratchetpy.stack.StackError: a cookie authenticator on a route
            without an origin check (C{allowedOrigins=["*"]}).
        """
        authOptions: dict[str, Any] = {}
        if auth is not None:
            if self._authThrottle is None:
                from .auth.failures import FailureThrottle

                self._authThrottle = FailureThrottle()
            authOptions = {"allowAnonymous": allowAnonymous, "throttle": self._authThrottle}
        stack = serveOverHttp(component, wsOptions, auth=auth, authOptions=authOptions, reactor=self._reactor)
        origins = list(allowedOrigins or ())
        if "*" not in origins:
            # A decorator provides what it wraps: an IHttpServerComponent.
            stack = cast(IHttpServerComponent, OriginCheck(stack, origins))
        checkCookieAuth(stack, f"the route {path}")
        self.router.addRoute(path, stack, methods=methods, httpHost=httpHost)
        return stack

    def listen(self) -> defer.Deferred[IListeningPort]:
        """
        Start listening without running the reactor, for Twisted programs.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} firing with
            the L{IListeningPort<twisted.internet.interfaces.IListeningPort>}.
        """
        return self.server.listen().addCallback(self.logRoutes)

    def logRoutes(self, port: IListeningPort) -> IListeningPort:
        """
        Log the URLs of the routes, as served on C{port}; return C{port}.
        """
        portNumber = getattr(port.getHost(), "port", self.port)
        log.info(
            "routes: {routes}",
            routes=", ".join(f"http://{self.httpHost}:{portNumber}{route.pattern}" for route in self.router.routes),
        )
        return port

    def shutdown(self) -> defer.Deferred[None]:
        """
        Stop listening and close every connection; see L{IoServer.shutdown}.
        """
        return self.server.shutdown()

    def run(self) -> None:
        """
        Listen and run the reactor until the process is stopped (SIGINT or
        SIGTERM), closing every connection with 1001 on the way out.

        @raise SystemExit: the port cannot be listened on (one line saying
            why, status 1).
        """
        serveUntilStopped(self.reactor, self.listen, self.shutdown)
