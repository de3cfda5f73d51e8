# -*- test-case-name: tests.test_app,tests.test_tap,tests.test_tapapp -*-
"""
Building the stack of layers a component is served by, for L{App} and the
twistd plugin alike, and telling which kind of component something is.

A message component is served as C{IoServer(HttpServer(WsServer(component)))}
(or C{IoServer(component)} raw), an HTTP-layer component as
C{IoServer(HttpServer(component))}, an L{App} as
C{IoServer(HttpServer(app.router))} with the App's options. Options for a
layer that is not built are refused, not ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from .interfaces import IHttpServerComponent, IMessageComponent
from .options import AUTHENTICATE, HTTP_SERVER, IO_SERVER, WS_SERVER, checkKeywords, optionName

if TYPE_CHECKING:
    from .server.io import IoServer

_HOOKS = ("onOpen", "onMessage", "onClose", "onError")

#: What to do with something that is not a component.
NOT_A_COMPONENT = "subclass ratchetpy.MessageComponent (or implement onOpen, onMessage, onClose and onError)"

#: The keywords of L{WsServer} that are not limits, so not in the registry.
WS_SERVER_KEYWORDS = ("compression", "strictSubProtocols", "http")

#: The keywords of L{ratchetpy.auth.Authenticate} that are not limits.
AUTHENTICATE_KEYWORDS = ("allowAnonymous", "throttle")


class ComponentKind(Enum):
    """
    The kinds of component, each named as messages describe it.
    """

    #: An L{App}: a whole server, its routes and its HTTP layer.
    APP = "an App"
    #: An L{IHttpServerComponent}, served by L{HttpServer}: a L{Router}, a
    #: L{WsServer}, L{StaticFiles}, an L{HttpHandler}, a decorator of one.
    HTTP = "an HTTP-layer component"
    #: An L{IMessageComponent}, or an object with its four hooks: served by a
    #: L{WsServer}, or by L{IoServer} alone over raw TCP.
    MESSAGE = "a message component"


class StackError(TypeError):
    """
    A component and options that do not go together: an option for a layer
    that is not built, or something that is not a component. The message
    says what to do instead.
    """


def componentKind(candidate: object) -> ComponentKind | None:
    """
    Which kind of component C{candidate} is; C{None}: it is none. A class is
    the kind its instances are.
    """
    from .app import App

    if isinstance(candidate, type):
        if issubclass(candidate, App):
            return ComponentKind.APP
        if IHttpServerComponent.implementedBy(candidate):
            return ComponentKind.HTTP
        declared = IMessageComponent.implementedBy(candidate)
    else:
        if isinstance(candidate, App):
            return ComponentKind.APP
        # Before the hooks: an HTTP-layer component has them too.
        if IHttpServerComponent.providedBy(candidate):
            return ComponentKind.HTTP
        declared = IMessageComponent.providedBy(candidate)
    if declared or all(callable(getattr(candidate, hook, None)) for hook in _HOOKS):
        return ComponentKind.MESSAGE
    return None


def _refuse(given: Iterable[str], name: str, what: str, instead: str, names: Callable[[str], str]) -> None:
    """
    @raise StackError: some option was C{given} that cannot apply to the
        component C{name}, being C{what}; C{instead} says what to do.
    """
    shown = [names(keyword) for keyword in given]
    if shown:
        raise StackError(f"{', '.join(shown)} cannot apply to {name}, {what}; {instead}")


def _userName(keyword: str) -> str:
    """
    How the user knows the keyword C{keyword}: see L{optionName}; a keyword
    that is not in the registry is its own name.
    """
    try:
        return optionName(keyword)
    except KeyError:
        return keyword


def authenticators(auth: Any) -> list[Any]:
    """
    C{auth} as given to L{serveOverHttp} or L{ratchetpy.App.route}: one
    authenticator or a list of them; C{None}: none.
    """
    if auth is None:
        return []
    if isinstance(auth, (list, tuple)):
        return list(auth)
    return [auth]


def checkCookieAuth(component: Any, name: str) -> None:
    """
    @raise StackError: an L{ratchetpy.auth.Authenticate} among C{component}'s
        layers reads cookies, and no L{ratchetpy.OriginCheck} is in front of
        it.
    """
    from .auth.authenticate import CSWSH, findUnguardedCookieAuth

    found = findUnguardedCookieAuth(component)
    if found is not None:
        raise StackError(
            f"{name}: a cookie authenticator ({', '.join(map(repr, _cookieReaders(found)))}) needs an OriginCheck "
            f"in front of it: {CSWSH}; allow your site's origins (App.route(..., allowedOrigins=[...]) or "
            "OriginCheck(...)) instead of '*'"
        )


def _cookieReaders(layer: Any) -> list[Any]:
    # An Authenticate's authenticators, or a SessionProvider's store.
    readers = getattr(layer, "authenticators", None)
    return list(readers) if readers is not None else [layer.store]


def serveOverHttp(
    component: Any,
    wsOptions: dict[str, Any] | None = None,
    *,
    auth: Any = None,
    authOptions: dict[str, Any] | None = None,
    reactor: Any = None,
    name: str | None = None,
    names: Callable[[str], str] = _userName,
) -> IHttpServerComponent:
    """
    The HTTP-layer component that serves C{component}: a message component
    in a L{WsServer} with C{wsOptions}, an HTTP-layer component as it is;
    behind an L{ratchetpy.auth.Authenticate} with the authenticators C{auth}
    if given.

    @param wsOptions: keyword arguments for L{WsServer}: the ones the
        caller was given, for they are refused with an HTTP-layer component.
    @param auth: an authenticator, or a list of them, for
        L{ratchetpy.auth.Authenticate}; C{None}: no authentication.
    @param authOptions: keyword arguments for L{ratchetpy.auth.Authenticate}
        (C{allowAnonymous}, C{throttle}, its limits).
    @param name: C{component} as messages name it; C{repr} by default.
    @param names: how the user spells a keyword, for messages.
    @raise StackError: C{component} is an App or no component, or
        C{wsOptions} are given for an HTTP-layer component.
    @raise TypeError: an unknown keyword in C{wsOptions}.
    @raise ValueError: a value in C{wsOptions} is not allowed.
    """
    from .websocket.server import WsServer

    wsOptions = wsOptions or {}
    checkKeywords(wsOptions, (WS_SERVER,), "WsServer()", WS_SERVER_KEYWORDS)
    authOptions = authOptions or {}
    checkKeywords(authOptions, (AUTHENTICATE,), "Authenticate()", AUTHENTICATE_KEYWORDS)
    name = repr(component) if name is None else name
    kind = componentKind(component)
    if kind is ComponentKind.HTTP:
        _refuse(
            wsOptions,
            name,
            kind.value,
            "WebSocket options go to the WsServer you built, or give a message component",
            names,
        )
        served: IHttpServerComponent = component
    elif kind is ComponentKind.APP:
        raise StackError(f"{name} is an App, a whole server: serve it on its own, or route its components")
    elif kind is None:
        raise StackError(f"{name} is not a component; {NOT_A_COMPONENT}")
    else:
        served = WsServer(component, reactor=reactor, **wsOptions)
    given = authenticators(auth)
    if given or authOptions:
        from .auth.authenticate import Authenticate

        # A decorator provides what it wraps: an IHttpServerComponent.
        served = cast(IHttpServerComponent, Authenticate(served, *given, reactor=reactor, **authOptions))
    return served


def buildStack(
    component: Any,
    endpoint: Any = "tcp:8080",
    *,
    raw: bool = False,
    ioOptions: dict[str, Any] | None = None,
    httpOptions: dict[str, Any] | None = None,
    wsOptions: dict[str, Any] | None = None,
    publishPath: str | None = None,
    publishSecret: str | None = None,
    auth: Any = None,
    authOptions: dict[str, Any] | None = None,
    allowedOrigins: Iterable[str] | None = None,
    reactor: Any = None,
    name: str | None = None,
    names: Callable[[str], str] = _userName,
) -> IoServer:
    """
    The L{IoServer} serving C{component} on C{endpoint}:
        - a message component: C{IoServer(HttpServer(WsServer(component)))},
          or C{IoServer(component)} with C{raw};
        - an HTTP-layer component: C{IoServer(HttpServer(component))};
        - an L{App}: C{IoServer(HttpServer(app.router))}, with the App's
          HTTP options, its I/O options updated with C{ioOptions}, and its
          reactor.

    The option dicts hold the keyword arguments the caller was given for
    each layer (those for a layer that is not built are refused).

    @param publishPath: serve a L{PublishEndpoint} with C{publishSecret} at
        this path, in front of whatever answers HTTP requests.
    @param auth: authenticators for an L{ratchetpy.auth.Authenticate} in
        front of the component's L{WsServer} (see L{serveOverHttp}); not for
        an App (give them to its routes) nor raw.
    @param allowedOrigins: if given, an L{ratchetpy.OriginCheck} with
        these origins goes in front of the component (and its
        L{ratchetpy.auth.Authenticate}); the page's own host name is always
        allowed. Not for an App (its routes have theirs) nor raw.
    @param name: C{component} as messages name it; C{repr} by default.
    @param names: how the user spells a keyword (C{"raw"} too), for
        messages; see L{optionName}.
    @return: the L{IoServer}, not listening yet.
    @raise StackError: the component and the options do not go together.
    @raise TypeError: an unknown keyword in an option dict.
    @raise ValueError: an option's value is not allowed.
    """
    from .http.server import HttpServer
    from .server.io import IoServer

    ioOptions, httpOptions, wsOptions = dict(ioOptions or {}), dict(httpOptions or {}), dict(wsOptions or {})
    checkKeywords(ioOptions, (IO_SERVER,), "IoServer()")
    checkKeywords(httpOptions, (HTTP_SERVER,), "HttpServer()")
    name = repr(component) if name is None else name
    kind = componentKind(component)
    if kind is None:
        raise StackError(f"{name} is not a component; {NOT_A_COMPONENT}")
    if raw:
        if kind is not ComponentKind.MESSAGE:
            why = "it serves HTTP and WebSockets" if kind is ComponentKind.APP else "it needs the HTTP layer"
            raise StackError(f"{names('raw')} cannot apply to {name}, {kind.value}: {why}")
        publishing = ["publishPath"] if publishPath is not None else []
        authenticating = ["auth"] if auth is not None else []
        authenticating += ["allowedOrigins"] if allowedOrigins is not None else []
        instead = f"leave out {names('raw')} to use them"
        _refuse([*httpOptions, *wsOptions, *publishing, *authenticating], name, "served raw", instead, names)
        return IoServer(component, endpoint, reactor=reactor, **ioOptions)
    if kind is ComponentKind.APP:
        _refuse(
            [
                *httpOptions,
                *wsOptions,
                *(["auth"] if auth is not None else []),
                *(["allowedOrigins"] if allowedOrigins is not None else []),
            ],
            name,
            kind.value,
            "give them to App(...) and app.route(...) (a StaticFiles route for pages) instead",
            names,
        )
        inner = component.router
        httpOptions = component.httpOptions
        ioOptions = {**component.ioOptions, **ioOptions}
        reactor = component.reactor if reactor is None else reactor
    else:
        inner = serveOverHttp(
            component, wsOptions, auth=auth, authOptions=authOptions, reactor=reactor, name=name, names=names
        )
        if allowedOrigins is not None:
            from .http.origin import OriginCheck

            inner = OriginCheck(inner, allowedOrigins)
    checkCookieAuth(inner, name)
    if publishPath is not None:
        from .pubsub.endpoint import PublishEndpoint, PublishFront

        if publishSecret is None:
            raise StackError(f"{names('publishPath')} needs the endpoint's secret")
        # In front of whatever answers HTTP: only requests under the path reach the endpoint.
        inner = PublishFront(PublishEndpoint(publishSecret), publishPath, inner)
    return IoServer(HttpServer(inner, reactor=reactor, **httpOptions), endpoint, reactor=reactor, **ioOptions)


__all__ = [
    "ComponentKind",
    "StackError",
    "componentKind",
    "serveOverHttp",
    "buildStack",
    "authenticators",
    "checkCookieAuth",
    "AUTHENTICATE_KEYWORDS",
    "NOT_A_COMPONENT",
    "WS_SERVER_KEYWORDS",
]
