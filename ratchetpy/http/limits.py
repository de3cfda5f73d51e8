# -*- test-case-name: tests.test_limits -*-
"""
Counting open connections, in total and per client address, so that the HTTP
layer can answer 503 before one client (or all of them) takes every file
descriptor the process has.
"""

from __future__ import annotations

import resource

from ..interfaces import IConnection
from .response import HttpError

#: Default connections per client IP address.
MAX_CONNECTIONS_PER_IP = 1024
#: Default seconds a refused client is asked to wait (C{Retry-After}).
RETRY_AFTER = 10


def defaultMaxConnections() -> int:
    """
    The default limit on open connections: 90% of the process's open-file
    limit (C{ulimit -n}), leaving the rest for listening sockets, log files
    and whatever the application opens; raise C{ulimit -n} to raise it.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(1, soft * 9 // 10)


class ConnectionLimits:
    """
    Open connections, in total and per client address.

    @ivar maxConnections: the most connections served at once; C{0}: no limit.
    @ivar maxConnectionsPerIp: the most connections from one IP address;
        C{0}: no limit. Connections without an IP (UNIX sockets) only count
        toward the total.
    @ivar retryAfter: the C{Retry-After} seconds sent with a 503.
    """

    __slots__ = ("maxConnections", "maxConnectionsPerIp", "retryAfter", "count", "_perAddress")

    def __init__(self, maxConnections: int, maxConnectionsPerIp: int, retryAfter: int = RETRY_AFTER) -> None:
        if maxConnections < 0 or maxConnectionsPerIp < 0:
            raise ValueError("connection limits must be 0 (no limit) or positive")
        self.maxConnections = maxConnections
        self.maxConnectionsPerIp = maxConnectionsPerIp
        self.retryAfter = retryAfter
        self.count = 0
        self._perAddress: dict[str, int] = {}

    def opened(self, conn: IConnection) -> None:
        self.count += 1
        address = conn.remoteAddress
        if address:
            self._perAddress[address] = self._perAddress.get(address, 0) + 1

    def closed(self, conn: IConnection) -> None:
        self.count -= 1
        address = conn.remoteAddress
        if address:
            left = self._perAddress.get(address, 1) - 1
            if left:
                self._perAddress[address] = left
            else:
                self._perAddress.pop(address, None)

    def connectionsFrom(self, address: str) -> int:
        """
        How many connections from C{address} are open.
        """
        return self._perAddress.get(address, 0)

    def check(self, conn: IConnection) -> None:
        """
        @raise HttpError: 503 if C{conn} is over a limit.
        """
        retry = [("Retry-After", str(self.retryAfter))]
        if self.maxConnections and self.count > self.maxConnections:
            raise HttpError(
                503,
                f"server full: more than {self.maxConnections} connections (raise --max-connections or ulimit -n)",
                retry,
            )
        address = conn.remoteAddress
        if self.maxConnectionsPerIp and address and self._perAddress.get(address, 0) > self.maxConnectionsPerIp:
            raise HttpError(
                503,
                f"more than {self.maxConnectionsPerIp} connections from {address} (raise --max-connections-per-ip)",
                retry,
            )
