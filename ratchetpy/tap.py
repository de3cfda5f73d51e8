# -*- test-case-name: tests.test_tap -*-
"""
The twistd plugin's options and service:
C{twistd -n ratchetpy --component MODULE:NAME [--port ENDPOINT] [--raw] ...}.

A mistake a user can make (a component that cannot be found or is not one, a
bad endpoint, a port in use) ends the process with one line saying what went
wrong and what to do, and a non-zero exit status.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from twisted.application.service import IService
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python import usage

from .http.limits import MAX_CONNECTIONS_PER_IP
from .http.server import HEAD_TIMEOUT, MAX_HEAD_SIZE, MAX_HEADERS, MAX_REQUEST_LINE
from .loader import ComponentError, loadComponent
from .pubsub import setDefaultBroker
from .server.flow import MAX_SEND_BUFFER, SLOW_CONSUMER_POLICIES
from .server.io import ENDPOINT_EXAMPLES, BadEndpoint, IoServer, parseEndpoint
from .service import IoServerService
from .websocket.server import KEEPALIVE_INTERVAL, MAX_MESSAGE_SIZE
from .workers import WORKER_ENVIRONMENT, ReusePortEndpoint, WorkersError, WorkerSupervisor, dieWithParent, tcpAddress

log = Logger(namespace="ratchetpy")


# The limits, each an option: name, default, help, type, and what 0 means (None:
# 0 is not allowed). A default of None is computed by the layer.
_LIMITS = [
    ["max-message-size", MAX_MESSAGE_SIZE, "Largest WebSocket message accepted, in bytes (larger: 1009).", int, None],
    ["max-frame-size", None, "Largest WebSocket frame accepted, in bytes; default: --max-message-size.", int, None],
    ["max-send-buffer", MAX_SEND_BUFFER, "Bytes a client may fall behind before the policy applies.", int, None],
    ["max-head-size", MAX_HEAD_SIZE, "Largest HTTP request head, in bytes (larger: 431).", int, None],
    ["max-headers", MAX_HEADERS, "Most header lines in a request head (more: 431).", int, None],
    ["max-request-line", MAX_REQUEST_LINE, "Longest HTTP request line, in bytes (longer: 414).", int, None],
    ["head-timeout", HEAD_TIMEOUT, "Seconds from connecting to a complete request head (slower: 408).", float, None],
    ["max-connections", None, "Most connections at once (more: 503); default: 90% of ulimit -n.", int, "no limit"],
    ["max-connections-per-ip", MAX_CONNECTIONS_PER_IP, "Most connections from one IP (more: 503).", int, "no limit"],
    ["keepalive", KEEPALIVE_INTERVAL, "Seconds between WebSocket keepalive pings.", float, "off"],
    ["keepalive-timeout", None, "Seconds a peer has to answer a ping; default: --keepalive.", float, None],
    ["shutdown-timeout", 5.0, "Seconds to wait for connections to close on shutdown.", float, "cut at once"],
]


class Options(usage.Options):
    synopsis = "--component MODULE:NAME [--port ENDPOINT] [--raw] [options]"
    longdesc = (
        "Serve a ratchetpy component. NAME is a component class (instantiated with no "
        "arguments), a factory callable, or an instance. The current directory is "
        "importable, so `--component examples.chat:Chat` works from a checkout."
    )
    optFlags = [
        ["raw", None, "Serve the component over plain TCP (IoServer alone), without HTTP or WebSocket."],
        ["reuse-port", None, "Listen with SO_REUSEPORT, beside other processes on the same port (as --workers does)."],
    ]
    optParameters = [
        ["component", "c", None, "The component to serve, as MODULE:NAME."],
        ["port", "p", "tcp:8080", f"Endpoint to listen on, e.g. {ENDPOINT_EXAMPLES}."],
        ["static", None, None, "Serve this directory's files to plain HTTP requests (a browser opening the page)."],
        ["slow-consumer-policy", None, "close", "What to do with a client that falls behind: close or drop."],
        ["workers", None, 1, "Run N server processes on --port (SO_REUSEPORT); N > 1 needs --broker redis://...", int],
        ["broker", None, "memory://", "Broker for Channels: memory:// (this process) or redis://[:password@]host[:port][/db]."],
        ["publish-path", None, None, "Serve a publish endpoint: POST PATH/CHANNEL publishes the body (default: off)."],
        ["publish-secret-file", None, None, "File with the publish endpoint's secret (or RATCHETPY_PUBLISH_SECRET)."],
        *([name, None, default, help, kind] for name, default, help, kind, _ in _LIMITS),
    ]

    def postOptions(self) -> None:
        if not self["component"]:
            raise usage.UsageError("--component MODULE:NAME is required, e.g. --component examples.chat:Chat")
        for name, _, _, _, zero in _LIMITS:
            value = self[name]
            if value is not None and (value < 0 or (value == 0 and zero is None)):
                allowed = f"0 ({zero}) or a positive number" if zero else "a positive number"
                raise usage.UsageError(f"--{name} must be {allowed}, not {value:g}")
        if self["slow-consumer-policy"] not in SLOW_CONSUMER_POLICIES:
            raise usage.UsageError(f"--slow-consumer-policy must be one of: {', '.join(SLOW_CONSUMER_POLICIES)}")
        if self["static"] is not None and not os.path.isdir(self["static"]):
            raise usage.UsageError(f"--static {self['static']}: no such directory")
        if self["static"] is not None and self["raw"]:
            raise usage.UsageError("--static needs HTTP: it cannot be combined with --raw")
        self.publishSecret = _publishSecret(self)
        if self["workers"] < 1:
            raise usage.UsageError(f"--workers must be 1 or more, not {self['workers']}")
        if self["workers"] > 1 and self["broker"].startswith("memory:"):
            raise usage.UsageError(
                f"--workers {self['workers']} needs a broker the processes share, e.g. --broker "
                "redis://127.0.0.1:6379/0: with the in-process one, channels would not cross processes"
            )
        if self["workers"] > 1 or self["reuse-port"]:
            try:
                tcpAddress(self["port"])
            except WorkersError as exc:
                raise usage.UsageError(str(exc)) from None


def _publishSecret(options: Options) -> str | None:
    """
    The publish endpoint's secret, if C{--publish-path} is given.

    @raise usage.UsageError: the options for the endpoint do not go together.
    """
    path, secretFile = options["publish-path"], options["publish-secret-file"]
    if path is None:
        if secretFile is not None:
            raise usage.UsageError("--publish-secret-file needs --publish-path, e.g. --publish-path /publish")
        return None
    if not path.startswith("/") or path.rstrip("/") == "":
        raise usage.UsageError(f"--publish-path must start with / and name something, e.g. /publish, not {path!r}")
    if options["raw"]:
        raise usage.UsageError("--publish-path needs HTTP: it cannot be combined with --raw")
    if secretFile is not None:
        try:
            with open(secretFile, encoding="utf-8") as f:
                secret = f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise usage.UsageError(f"--publish-secret-file: cannot read {secretFile}: {exc}") from None
    else:
        secret = os.environ.get("RATCHETPY_PUBLISH_SECRET", "").strip()
        if not secret:
            raise usage.UsageError(
                "--publish-path needs a secret: --publish-secret-file FILE or the environment variable "
                "RATCHETPY_PUBLISH_SECRET (at least 16 random bytes)"
            )
    from .pubsub.endpoint import MIN_SECRET

    if len(secret.encode("utf-8")) < MIN_SECRET:
        raise usage.UsageError(
            f"the publish secret is shorter than {MIN_SECRET} bytes: use a long random one, "
            'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return secret


class _TapService(IoServerService):
    """
    Turns a port that cannot be listened on into one clear line and exit status
    1, and makes SIGTERM a graceful stop that exits with status 0.
    """

    #: The process default broker (--broker), started and stopped with the server.
    broker: Any = None

    def startService(self) -> None:
        super().startService()
        if self.broker is not None:
            # A Redis that is down does not stop the server: it keeps
            # retrying, and local clients are served meanwhile.
            self.broker.start()
        from twisted.internet import reactor

        # Twisted's own SIGTERM handler makes twistd re-raise the signal after
        # shutting down, so the process "dies of SIGTERM"; a service manager
        # asking for a graceful stop should see a clean exit instead.
        reactor.callWhenRunning(signal.signal, signal.SIGTERM, self._terminate)

    def stopService(self) -> Any:
        stopping = super().stopService()
        if self.broker is None:
            return stopping
        # After the connections: their onClose may still unsubscribe.
        return stopping.addBoth(lambda _: self.broker.stop())

    def _terminate(self, signum: int, frame: object) -> None:
        from twisted.internet import reactor

        log.info("received SIGTERM: closing connections and stopping")
        reactor.callFromThread(reactor.stop)

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as exc:
            raise SystemExit(
                f"ratchetpy: cannot listen on {self.endpoint}: {exc.socketError}. "
                "Is another server using it? Choose another with --port."
            ) from None


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    # An installed twistd does not put the current directory on sys.path.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        # Before the component is loaded, so that the Channels it makes use it.
        broker = setDefaultBroker(options["broker"])
    except ValueError as exc:
        raise SystemExit(f"ratchetpy: --broker: {exc}") from None
    supervising = options["workers"] > 1
    if supervising:
        # The supervisor loads the component only to check the options; the
        # workers are the ones on the broker.
        broker = setDefaultBroker("memory://")
    elif os.environ.get(WORKER_ENVIRONMENT):
        dieWithParent()
    try:
        component = loadComponent(options["component"])
    except ComponentError as exc:
        raise SystemExit(f"ratchetpy: {exc}") from None
    try:
        parseEndpoint(reactor, options["port"])
    except BadEndpoint as exc:
        raise SystemExit(f"ratchetpy: {exc}") from None
    try:
        server = buildServer(component, options)
    except ValueError as exc:
        raise SystemExit(f"ratchetpy: {exc}") from None
    if supervising:
        return _SupervisorService(options)
    endpoint = ReusePortEndpoint(reactor, options["port"]) if options["reuse-port"] else options["port"]
    service = _TapService(server, endpoint)
    service.broker = broker
    return service


class _SupervisorService(WorkerSupervisor):
    """
    The twistd process of C{--workers N}: SIGTERM is a graceful stop of every
    worker and exit status 0; an address that cannot be listened on is one
    line and exit status 1.
    """

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except OSError as exc:
            raise SystemExit(
                f"ratchetpy: cannot listen on {self.options['port']}: {exc.strerror}. "
                "Is another server using it? Choose another with --port."
            ) from None

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(signal.signal, signal.SIGTERM, self._terminate)

    def _terminate(self, signum: int, frame: object) -> None:
        log.info("received SIGTERM: stopping the workers")
        self.reactor.callFromThread(self.reactor.stop)


#: The options of each layer, which apply only where that layer is built here.
_WEBSOCKET_OPTIONS = ("max-message-size", "max-frame-size", "keepalive", "keepalive-timeout", "static")
_HTTP_OPTIONS = ("max-head-size", "max-headers", "max-request-line", "head-timeout", "max-connections")
_HTTP_OPTIONS += ("max-connections-per-ip",)


def _refuseOptions(options: Options, names: tuple[str, ...], what: str, instead: str) -> None:
    """
    @raise ValueError: one of the options C{names} was given, which the
        component, being C{what}, cannot use; C{instead} says what to do.
    """
    defaults = {name: default for name, default, *_ in _LIMITS}
    given = [f"--{name}" for name in names if options[name] != defaults.get(name)]
    if given:
        raise ValueError(f"{', '.join(given)} cannot apply to {options['component']}, {what}; {instead}")


def buildServer(component: Any, options: Options) -> IoServer:
    """
    The stack the options describe:
        - a message component: C{IoServer(HttpServer(WsServer(component)))},
          or C{IoServer(component)} with C{--raw};
        - an HTTP-layer component (a L{Router}, a L{WsServer} you built):
          C{IoServer(HttpServer(component))};
        - an L{App}: its own stack, on C{--port}.

    Options for a layer that is not built here are refused, not ignored.

    @raise ValueError: the options do not fit the component.
    """
    from .app import App
    from .http.server import HttpServer
    from .http.static import StaticFiles
    from .interfaces import IHttpServerComponent
    from .websocket.server import WsServer

    def httpServer(inner: Any) -> HttpServer:
        return HttpServer(
            inner,
            maxHeadSize=options["max-head-size"],
            maxHeaders=options["max-headers"],
            maxRequestLine=options["max-request-line"],
            headTimeout=options["head-timeout"],
            maxConnections=options["max-connections"],
            maxConnectionsPerIp=options["max-connections-per-ip"],
        )

    if isinstance(component, App):
        if options["raw"]:
            raise ValueError(f"--raw cannot apply to {options['component']}, an App: it serves HTTP and WebSockets")
        _refuseOptions(
            options,
            _WEBSOCKET_OPTIONS + _HTTP_OPTIONS,
            "an App",
            "give them to App(...) and app.route(...) (a StaticFiles route for pages) instead",
        )
        inner = component.server.component
    elif IHttpServerComponent.providedBy(component):
        if options["raw"]:
            raise ValueError(f"--raw cannot apply to {options['component']}, an HTTP-layer component")
        _refuseOptions(
            options,
            _WEBSOCKET_OPTIONS,
            "an HTTP-layer component",
            "pass them to the WsServer you built, or serve a message component",
        )
        inner = httpServer(component)
    elif options["raw"]:
        _refuseOptions(options, _WEBSOCKET_OPTIONS + _HTTP_OPTIONS, "served raw (--raw)", "leave out --raw to use them")
        inner = component
    else:
        inner = httpServer(
            WsServer(
                component,
                maxMessageSize=options["max-message-size"],
                maxFrameSize=options["max-frame-size"],
                keepAlive=options["keepalive"],
                keepAliveTimeout=options["keepalive-timeout"],
                http=StaticFiles(options["static"]) if options["static"] else None,
            )
        )
    secret = getattr(options, "publishSecret", None)
    if secret is not None and not options["raw"]:
        from .pubsub.endpoint import PublishEndpoint, PublishFront

        # In front of whatever handles HTTP: only requests under the path reach the endpoint.
        inner.component = PublishFront(PublishEndpoint(secret), options["publish-path"], inner.component)
    return IoServer(
        inner,
        options["port"],
        shutdownTimeout=options["shutdown-timeout"],
        maxSendBuffer=options["max-send-buffer"],
        slowConsumerPolicy=options["slow-consumer-policy"],
    )
