"""
The transport layer: L{IoServer}, its connections, and L{IpBlackList}.
"""

from .blacklist import IpBlackList
from .connection import IoConnection
from .io import BadEndpoint, IoServer

__all__ = ["IoServer", "IoConnection", "BadEndpoint", "IpBlackList"]
