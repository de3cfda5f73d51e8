# -*- test-case-name: tests.server.test_direct -*-
"""
An upgraded connection's bytes handed straight to the layer that reads them.

Behind L{IoServer}, every read of a WebSocket connection goes down the layers
(C{HttpServer.onMessage}, a decorator's, a router's, C{WsServer.onMessage})
before it reaches the WebSocket engine, and most of those layers only hand
the bytes on. Once the engine has the connection, L{WsServer} asks for them
directly (L{IConnectionIO.receiveDirectly}); L{passesBytesTo} says whether
every layer in between would have passed them on unchanged, and only then
does the server skip the walk: which layer gets which bytes does not change.

A layer says that it passes a connection's bytes on unchanged by two class
attributes: C{passesBytes}, a method taking the connection and returning the
layer and the view of the connection that its C{onMessage} would hand the
bytes to (or C{None}: not for this connection), and C{passesBytesOnMessage},
the C{onMessage} that does so. A subclass that overrides C{onMessage} (a
decorator that looks at messages) no longer matches, and gets every read.
"""

from __future__ import annotations

from typing import Any

from ..metrics.recorder import recording

#: Layers followed at most; a longer chain keeps the usual path.
MAX_LAYERS = 32


def passesBytesTo(component: Any, conn: Any, layer: Any, view: Any) -> bool:
    """
    Whether C{component}, given the bytes of C{conn}, would hand them
    unchanged, through each layer below it, to C{layer} as C{view}.
    """
    for _ in range(MAX_LAYERS):
        if component is layer:
            return conn is view
        kind = type(component)
        passes = getattr(kind, "passesBytes", None)
        if passes is None or getattr(kind, "onMessage", None) is not getattr(kind, "passesBytesOnMessage", None):
            return False
        if recording.on and not kind.__module__.startswith("ratchetpy."):
            # Hook metrics time the application's decorators' onMessage.
            return False
        step = passes(component, conn)
        if step is None:
            return False
        component, conn = step
    return False


__all__ = ["MAX_LAYERS", "passesBytesTo"]
