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

from .loader import ComponentError, loadComponent
from .metrics.service import listenForMetrics, serverMetrics
from .options import HTTP_SERVER, IO_SERVER, OPTIONS, WS_SERVER, Option, option, useCommandLineNames
from .pubsub import setDefaultBroker
from .server.io import ENDPOINT_EXAMPLES, BadEndpoint, IoServer, cannotListen, parseEndpoint, plainPort
from .service import IoServerService
from .stack import StackError, buildStack
from .tapaccess import allowedOrigins, authenticators, djangoAuth, jwtAuth, originsFor, publishSecret
from .workers import (
    WORKER_ENVIRONMENT,
    ReusePortEndpoint,
    WorkersError,
    WorkerSupervisor,
    dieWithParent,
    notifyReady,
    tcpAddress,
)

log = Logger(namespace="ratchetpy")


#: The options of the layers that are twistd options too (the limits, and the
#: slow-consumer policy): each is C{--FLAG}, its key in L{Options} the flag
#: without the dashes.
_LAYER_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.flag is not None)

#: How this plugin spells the keywords of the stack builder that are no
#: layer options, for its messages.
_FLAGS = {
    "raw": "--raw",
    "http": "--static",
    "publishPath": "--publish-path",
    "auth": "--auth-jwt-key-file/--auth-tickets/--auth-django-settings",
    "allowedOrigins": "--allowed-origins",
}


def _key(o: Option) -> str:
    """
    The key of C{o} in L{Options}: C{"max-message-size"}.
    """
    assert o.flag is not None
    return o.flag[2:]


def _flag(keyword: str) -> str:
    """
    The flag for the stack builder's C{keyword}.
    """
    return _FLAGS.get(keyword) or option(keyword).flag or keyword


#: The flag of each layer option, by its keyword.
_BY_NAME_FLAGS = {o.name: o.flag for o in _LAYER_OPTIONS}


def _help(o: Option) -> str:
    """
    C{o}'s help line, with the default where twistd cannot show it (a
    computed one) and what 0 means.
    """
    text = o.help
    if o.default is None and o.computed is not None:
        computed = _BY_NAME_FLAGS.get(o.computed, o.computed)
        text = f"{text.rstrip('.')}; default: {computed}."
    if o.zero is not None:
        text += f" 0: {o.zero}."
    if o.kind is tuple:
        text += " Comma-separated, e.g. 10.0.0.0/8,127.0.0.1; default: none."
    return text


def _optParameter(o: Option) -> list[Any]:
    # A str option needs no coercion (twistd passes it as typed), a number
    # its type; a list of addresses is split at its commas.
    coerce = None if o.kind is str else o.fromCommandLine
    # twistd would show an empty list as "()": its help says "none" instead,
    # and postOptions puts the registry's default back.
    default = None if o.kind is tuple else o.default
    return [_key(o), None, default, _help(o), coerce]


#: Where a component is served without C{--port} (an App: where it says).
DEFAULT_PORT = "tcp:8080:interface=127.0.0.1"


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
        ["auth-tickets", None, "Accept one-time tickets (?ticket=...) minted into the broker's Redis (mintTicket)."],
        ["wamp", None, "Serve a WAMP v2 router (realm realm1, anonymous); with --component, a WampComponent on it."],
    ]
    optParameters = [
        ["component", "c", None, "The component to serve, as MODULE:NAME."],
        [
            "port",
            "p",
            None,
            f"Endpoint to listen on (default: {DEFAULT_PORT}; an App: where it says), e.g. {ENDPOINT_EXAMPLES}.",
        ],
        ["static", None, None, "Serve this directory's files to plain HTTP requests (a browser opening the page)."],
        ["workers", None, 1, "Run N server processes on --port (SO_REUSEPORT); N > 1 needs --broker redis://...", int],
        [
            "broker",
            None,
            "memory://",
            "Broker for Channels: memory:// (this process) or redis://[:password@]host[:port][/db].",
        ],
        [
            "metrics",
            None,
            None,
            "Serve Prometheus metrics (/metrics), /healthz and /readyz on this endpoint of their own, e.g. "
            "tcp:9100:interface=127.0.0.1 (default: off; needs prometheus_client).",
        ],
        ["publish-path", None, None, "Serve a publish endpoint: POST PATH/CHANNEL or PATH/user/ID (default: off)."],
        ["publish-secret-file", None, None, "File with the publish endpoint's secret (or RATCHETPY_PUBLISH_SECRET)."],
        ["auth-jwt-key-file", None, None, "Require a JWT signed with this file's key (HMAC secret or PEM public key)."],
        ["auth-jwt-algorithm", None, None, "The algorithm(s) the JWTs are signed with, e.g. HS256 (comma-separated)."],
        ["auth-jwt-audience", None, None, "The 'aud' the JWTs must name (default: not checked)."],
        ["auth-jwt-issuer", None, None, "The 'iss' the JWTs must have (default: not checked)."],
        [
            "auth-django-settings",
            None,
            None,
            "Recognise the users logged in to a Django site by its session cookie, with this settings module.",
        ],
        [
            "allowed-origins",
            None,
            None,
            "Refuse (403) pages of other sites than these (comma-separated host names or origins) and the server's.",
        ],
        *(_optParameter(o) for o in _LAYER_OPTIONS),
    ]

    def parseOptions(self, options: Any = None) -> None:
        """
        Parse the options; under twistd, a usage mistake is one line,
        C{ratchetpy: ...}, and exit status 2, rather than twistd's whole
        help followed by the error.
        """
        parent = getattr(self, "parent", None)
        if parent is not None and parent.get("nodaemon") and parent.get("pidfile") == DEFAULT_PIDFILE:
            # In the foreground (a terminal, systemd, a container) nothing
            # reads a pidfile, and twistd's default, twistd.pid in the
            # current directory, makes a second server started there refuse
            # to run. Given explicitly (--pidfile=PATH), it is kept.
            parent["pidfile"] = ""
        try:
            super().parseOptions(options)  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude
        except usage.UsageError as exc:
            if parent is None:
                raise
            why = str(exc).removeprefix("Parameter type enforcement failed: ")
            sys.stderr.write(f"ratchetpy: {why} (see twistd ratchetpy --help)\n")
            raise SystemExit(2) from None

    def postOptions(self) -> None:
        if not self["component"] and not self["wamp"]:
            raise usage.UsageError(
                "--component MODULE:NAME is required, e.g. --component examples.chat:Chat (or --wamp for a WAMP router)"
            )
        #: Whether --port was given: an App is served where it says otherwise.
        self.portGiven = self["port"] is not None
        self["port"] = plainPort(self["port"] if self.portGiven else DEFAULT_PORT)
        for o in _LAYER_OPTIONS:
            if self[_key(o)] is None and o.kind is tuple:
                self[_key(o)] = o.default
            try:
                o.check(self[_key(o)], commandLine=True)
            except ValueError as exc:
                raise usage.UsageError(str(exc)) from None
        if self["static"] is not None and not os.path.isdir(self["static"]):
            raise usage.UsageError(f"--static {self['static']}: no such directory")
        if self["static"] is not None and self["raw"]:
            raise usage.UsageError("--static needs HTTP: it cannot be combined with --raw")
        self.publishSecret = publishSecret(self)
        self.jwtAuth = jwtAuth(self)
        # The settings module of --auth-django-settings is imported now.
        importFromHere()
        self.djangoAuth = djangoAuth(self)
        self.allowedOrigins = allowedOrigins(self)
        if self["auth-tickets"]:
            if self["raw"]:
                raise usage.UsageError("--auth-tickets needs HTTP: it cannot be combined with --raw")
            if not self["broker"].startswith(("redis:", "rediss:")):
                raise usage.UsageError(
                    "--auth-tickets needs --broker redis://...: tickets are minted into Redis by your web "
                    "application (ratchetpy.auth.mintTicket)"
                )
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


#: twistd's own default C{--pidfile}.
DEFAULT_PIDFILE = "twistd.pid"


def numberWorkerConnections() -> None:
    """
    In a worker of C{--workers N}: number connections so that no two
    workers give one C{resourceId} (see
    L{ratchetpy.server.connection.numberConnectionsAs}).
    """
    from .server.connection import numberConnectionsAs
    from .workers import WORKERS_ENVIRONMENT

    try:
        numberConnectionsAs(int(os.environ[WORKER_ENVIRONMENT]), int(os.environ.get(WORKERS_ENVIRONMENT, "")))
    except ValueError:
        # Started by hand with a stray variable: keep counting from 1.
        pass


def removeOwnPidfile(options: Any) -> None:
    """
    Remove the pidfile twistd wrote for this process, if any: a server that
    could not start must not leave one behind (the next start would find
    it, or another process could get its number).
    """
    parent = getattr(options, "parent", None)
    path = parent.get("pidfile") if parent is not None else None
    if not path:
        return
    try:
        with open(path, encoding="ascii") as f:
            ours = f.read().strip() == str(os.getpid())
        if ours:
            os.remove(path)
    except (OSError, UnicodeDecodeError):
        pass


def importFromHere() -> None:
    """
    Make the current directory importable, as it is for C{python -m}: an
    installed twistd does not put it on C{sys.path}, and C{--component
    examples.chat:Chat} and C{--auth-django-settings} name modules there.
    """
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def stopOnTerminate(reactor: Any, message: str) -> None:
    """
    Make SIGTERM and SIGINT (Ctrl-C) log C{message} and stop C{reactor} (a
    graceful stop, exit status 0), once it runs. Twisted's own SIGTERM
    handler makes twistd re-raise the signal after shutting down, so the
    process "dies of SIGTERM"; a service manager asking for a graceful stop
    should see a clean exit instead, and Ctrl-C should do the same.

    @param message: what to log, with C{{signal}} for the signal's name.
    """

    def terminate(signum: int, frame: object) -> None:
        log.info(message, signal=signal.Signals(signum).name)
        reactor.callFromThread(reactor.stop)

    def install() -> None:
        signal.signal(signal.SIGTERM, terminate)
        signal.signal(signal.SIGINT, terminate)

    reactor.callWhenRunning(install)


class _TapService(IoServerService):
    """
    Turns a port that cannot be listened on into one clear line and exit status
    1, makes SIGTERM a graceful stop that exits with status 0, and once
    listening says so to a supervisor (C{--workers}) or systemd
    (L{notifyReady}).
    """

    #: The process default broker (--broker), started and stopped with the server.
    broker: Any = None
    #: The command line's options (and through them twistd's: the pidfile).
    options: Any = None
    #: What to log once listening, beside the address: C{announce(port)} returns C{port}.
    announce: Any = None
    #: The L{ratchetpy.metrics.MetricsServer} of C{--metrics}, or C{None}.
    metrics: Any = None

    def startService(self) -> None:
        super().startService()
        if self.broker is not None:
            # A Redis that is down does not stop the server: it keeps
            # retrying, and local clients are served meanwhile.
            self.broker.start()
        from twisted.internet import reactor

        stopOnTerminate(reactor, "received {signal}: closing connections and stopping")
        if self.whenListening is not None and self.announce is not None:
            self.whenListening.addCallback(self.announce)
        if self.whenListening is not None:
            # Ready once listening and once the reactor runs, after the SIGTERM
            # handler above: a supervisor told "ready" may stop it at once.
            self.whenListening.addCallback(lambda port: reactor.callWhenRunning(self._notifyReady, port) or port)

    def setServiceParent(self, parent: Any) -> Any:
        logQuietly(parent, self.options)
        return super().setServiceParent(parent)  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude

    def stopService(self) -> Any:
        if self.metrics is not None:
            # /readyz says so while the connections close.
            self.metrics.drain()
        stopping = super().stopService()
        if self.broker is not None:
            # After the connections: their onClose may still unsubscribe.
            stopping.addBoth(lambda _: self.broker.stop())
        if self.metrics is not None:
            stopping.addBoth(lambda _: self.metrics.shutdown())
        return stopping

    @staticmethod
    def _notifyReady(port: Any) -> Any:
        notifyReady()
        return port

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as exc:
            removeOwnPidfile(self.options)
            raise cannotListen(self.endpoint, exc.socketError) from None
        listenForMetrics(self.metrics, self.options, removeOwnPidfile)


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    # What the library says to the user (a 503's log line, say) names the
    # options as this user gives them: --max-connections, not maxConnections.
    useCommandLineNames()
    importFromHere()
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
        numberWorkerConnections()
    try:
        component = loadComponent(options["component"]) if options["component"] else _wampRouter()
    except ComponentError as exc:
        detail = f"\n{exc.traceback}" if exc.traceback else ""
        raise SystemExit(f"ratchetpy: --component {exc.spec}: {exc.reason}{detail}") from None
    if options["wamp"] and options["component"] and not _isWampServer(component):
        raise SystemExit(f"ratchetpy: --wamp: --component {options['component']} is not a WAMP component")
    _whereAnAppListens(component, options)
    try:
        parseEndpoint(reactor, options["port"])
    except BadEndpoint as exc:
        raise SystemExit(f"ratchetpy: {exc}") from None
    try:
        server = buildServer(component, options)
    except (StackError, ValueError) as exc:
        raise SystemExit(f"ratchetpy: {exc}") from None
    if supervising:
        return _SupervisorService(options)
    endpoint = ReusePortEndpoint(reactor, options["port"]) if options["reuse-port"] else options["port"]
    service = _TapService(server, endpoint)
    service.metrics = serverMetrics(server, options, broker)
    service.options = options
    service.announce = lambda port: _announce(component, options, port)
    service.broker = broker
    return service


def _isWampServer(component: object) -> bool:
    from .wamp import WampServer

    return isinstance(component, WampServer)


def _wampRouter() -> Any:
    """
    A plain WAMP router: C{--wamp} without C{--component}.
    """
    from .wamp import WampServer

    return WampServer()


def logQuietly(application: Any, options: Any) -> None:
    """
    Have twistd log where it would, without Twisted's port lines (ratchetpy
    logs one line per port): the application's L{ILogObserver<twisted.logger.ILogObserver>}, which
    twistd uses when it starts logging, after the service is made.
    """
    from twisted.logger import ILogObserver

    from ._twisted import twistdLogObserver
    from .server.logs import withoutPortChatter

    config = getattr(options, "parent", None)
    setComponent = getattr(application, "setComponent", None)
    if config is None or setComponent is None or application.getComponent(ILogObserver, None) is not None:
        return
    try:
        observer = twistdLogObserver(config)
    except Exception:  # pragma: no cover - a twistd that changed: log as it would
        return
    setComponent(ILogObserver, withoutPortChatter(observer))


def _announce(component: Any, options: Options, port: Any) -> Any:
    """
    Log what is served besides the component, once listening: an App's
    routes, the publish endpoint.
    """
    from .app import App

    if isinstance(component, App):
        component.logRoutes(port)
    path = options["publish-path"]
    if path is not None:
        address = port.getHost()
        host = getattr(address, "host", "localhost")
        host = "localhost" if host in ("0.0.0.0", "::", "127.0.0.1", "::1") else host
        base = f"http://{host}:{address.port}" if hasattr(address, "port") else "http://localhost"
        prefix = path.rstrip("/")
        log.info(
            "publish endpoint: POST {base}{prefix}/CHANNEL, {prefix}/user/USERID, {prefix}/user/USERID/disconnect "
            "(with the secret as a bearer token)",
            base=base,
            prefix=prefix,
        )
    return port


def _whereAnAppListens(component: Any, options: Options) -> None:
    """
    Serve an L{App} where it says (C{App("localhost", 8080)}: on
    127.0.0.1:8080) unless C{--port} says otherwise; either way, say why it
    listens where it does.
    """
    from .app import App

    if not isinstance(component, App):
        return
    says = component.server.endpoint
    if not isinstance(says, str):
        return
    if getattr(options, "portGiven", True):
        if options["port"] != says:
            log.info(
                "serving the App on {port} (--port), not on {says} as its App(...) says",
                port=options["port"],
                says=says,
            )
        return
    options["port"] = says
    log.info("serving the App on {says}, as its App(...) says (--port to listen elsewhere)", says=says)


class _SupervisorService(WorkerSupervisor):
    """
    The twistd process of C{--workers N}: SIGTERM is a graceful stop of every
    worker and exit status 0; an address that cannot be listened on is one
    line and exit status 1. With C{--metrics}, it serves the sum of its
    workers' metrics (L{ratchetpy.metrics.aggregate}).
    """

    def __init__(self, options: Any, reactor: Any = None) -> None:
        super().__init__(options, reactor)
        from .metrics.service import supervisorMetrics

        self.metrics = supervisorMetrics(self, options["metrics"])

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except OSError as exc:
            removeOwnPidfile(self.options)
            raise cannotListen(self.options["port"], exc) from None
        listenForMetrics(self.metrics, self.options, removeOwnPidfile)

    def startService(self) -> None:
        super().startService()
        stopOnTerminate(self.reactor, "received {signal}: stopping the workers")

    def stopService(self) -> Any:
        if self.metrics is None:
            return super().stopService()
        self.metrics.drain()
        return super().stopService().addBoth(lambda _: self.metrics.shutdown())


def _given(options: Options, layer: str) -> dict[str, Any]:
    """
    The options of C{layer} given on the command line (those that differ
    from their defaults), by keyword.
    """
    return {o.name: options[_key(o)] for o in _LAYER_OPTIONS if o.layer == layer and options[_key(o)] != o.default}


def buildServer(component: Any, options: Options) -> IoServer:
    """
    The stack the options describe (see L{buildStack}):
        - a message component: C{IoServer(HttpServer(WsServer(component)))},
          or C{IoServer(component)} with C{--raw};
        - an HTTP-layer component (a L{Router}, a L{WsServer} you built):
          C{IoServer(HttpServer(component))};
        - an L{App}: its own stack, on C{--port}.

    Options for a layer that is not built here are refused, not ignored.

    @raise StackError: the options do not fit the component.
    """
    wsOptions = _given(options, WS_SERVER)
    if options["static"]:
        from .http.static import StaticFiles

        wsOptions["http"] = StaticFiles(options["static"])
    return buildStack(
        component,
        options["port"],
        raw=options["raw"],
        ioOptions=_given(options, IO_SERVER),
        httpOptions=_given(options, HTTP_SERVER),
        wsOptions=wsOptions,
        publishPath=options["publish-path"],
        publishSecret=getattr(options, "publishSecret", None),
        auth=authenticators(options),
        allowedOrigins=originsFor(component, options),
        name=options["component"] or "wamp",
        names=_flag,
    )
