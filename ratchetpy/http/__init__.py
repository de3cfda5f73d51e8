"""
The HTTP layer: L{HttpServer}, the request it parses, the responses it sends.
"""

from .request import Headers, HttpRequest
from .response import HttpError, closeWithResponse
from .server import HttpServer

__all__ = ["HttpServer", "HttpRequest", "Headers", "HttpError", "closeWithResponse"]
