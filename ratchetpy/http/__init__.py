"""
The HTTP layer: L{HttpServer}, the request it parses, the responses it sends,
and the components that sit behind it: L{Router}, L{OriginCheck},
L{StaticFiles} and the L{HttpHandler} base.
"""

from .handler import HttpHandler
from .origin import OriginCheck
from .request import Headers, HttpRequest
from .response import HttpError, Response, closeWithResponse
from .router import Router
from .server import HttpServer
from .static import StaticFiles

__all__ = [
    "HttpServer",
    "HttpRequest",
    "Headers",
    "HttpError",
    "Response",
    "closeWithResponse",
    "Router",
    "OriginCheck",
    "StaticFiles",
    "HttpHandler",
]
