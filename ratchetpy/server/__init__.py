"""
The transport layer: L{IoServer} and its connections.
"""

from .connection import IoConnection
from .io import BadEndpoint, IoServer

__all__ = ["IoServer", "IoConnection", "BadEndpoint"]
