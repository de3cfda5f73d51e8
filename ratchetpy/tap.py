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
from .server.io import ENDPOINT_EXAMPLES, BadEndpoint, IoServer, parseEndpoint
from .service import IoServerService
from .websocket.server import KEEPALIVE_INTERVAL, MAX_MESSAGE_SIZE

log = Logger(namespace="ratchetpy")


class Options(usage.Options):
    synopsis = "--component MODULE:NAME [--port ENDPOINT] [--raw] [options]"
    longdesc = (
        "Serve a ratchetpy component. NAME is a component class (instantiated with no "
        "arguments), a factory callable, or an instance. The current directory is "
        "importable, so `--component examples.chat:Chat` works from a checkout."
    )
    optFlags = [
        ["raw", None, "Serve the component over plain TCP (IoServer alone), without HTTP or WebSocket."],
    ]
    optParameters = [
        ["component", "c", None, "The component to serve, as MODULE:NAME."],
        ["port", "p", "tcp:8080", f"Endpoint to listen on, e.g. {ENDPOINT_EXAMPLES}."],
        ["max-message-size", None, MAX_MESSAGE_SIZE, "Largest WebSocket message accepted, in bytes.", int],
        ["keepalive", None, KEEPALIVE_INTERVAL, "Seconds between WebSocket keepalive pings; 0 turns them off.", float],
        ["shutdown-timeout", None, 5.0, "Seconds to wait for connections to close on shutdown.", float],
        ["static", None, None, "Serve the files in this directory to plain HTTP requests (a browser opening the page)."],
    ]

    def postOptions(self) -> None:
        if not self["component"]:
            raise usage.UsageError("--component MODULE:NAME is required, e.g. --component examples.chat:Chat")
        if self["max-message-size"] <= 0:
            raise usage.UsageError("--max-message-size must be a positive number of bytes")
        if self["shutdown-timeout"] < 0:
            raise usage.UsageError("--shutdown-timeout must be 0 or a positive number of seconds")
        if self["keepalive"] < 0:
            raise usage.UsageError("--keepalive must be 0 (off) or a positive number of seconds")
        if self["static"] is not None and not os.path.isdir(self["static"]):
            raise usage.UsageError(f"--static {self['static']}: no such directory")
        if self["static"] is not None and self["raw"]:
            raise usage.UsageError("--static needs HTTP: it cannot be combined with --raw")


class _TapService(IoServerService):
    """
    Turns a port that cannot be listened on into one clear line and exit status
    1, and makes SIGTERM a graceful stop that exits with status 0.
    """

    def startService(self) -> None:
        super().startService()
        from twisted.internet import reactor

        # Twisted's own SIGTERM handler makes twistd re-raise the signal after
        # shutting down, so the process "dies of SIGTERM"; a service manager
        # asking for a graceful stop should see a clean exit instead.
        reactor.callWhenRunning(signal.signal, signal.SIGTERM, self._terminate)

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
    return _TapService(server, options["port"])


def buildServer(component: Any, options: Options) -> IoServer:
    """
    The stack the options describe:
        - a message component: C{IoServer(HttpServer(WsServer(component)))},
          or C{IoServer(component)} with C{--raw};
        - an HTTP-layer component (a L{Router}, a L{WsServer} you built):
          C{IoServer(HttpServer(component))};
        - an L{App}: its own stack, on C{--port}.

    @raise ValueError: the options do not fit the component.
    """
    from .app import App
    from .http.server import HttpServer
    from .http.static import StaticFiles
    from .interfaces import IHttpServerComponent
    from .websocket.server import WsServer

    if isinstance(component, App) or IHttpServerComponent.providedBy(component):
        if options["raw"] or options["static"]:
            raise ValueError(
                f"{options['component']} is an App or HTTP-layer component: --raw and --static "
                "apply to message components only"
            )
        inner = component.server.component if isinstance(component, App) else HttpServer(component)
    elif options["raw"]:
        inner = component
    else:
        inner = HttpServer(
            WsServer(
                component,
                maxMessageSize=options["max-message-size"],
                keepAlive=options["keepalive"],
                http=StaticFiles(options["static"]) if options["static"] else None,
            )
        )
    return IoServer(inner, options["port"], shutdownTimeout=options["shutdown-timeout"])
