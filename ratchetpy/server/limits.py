# -*- test-case-name: tests.server.test_limits -*-
"""
Counting open connections, in total and per client address, and the limits
on them, so that a server can refuse a connection before one client (or all
of them) takes every file descriptor the process has.

L{IoServer} counts every connection it accepts, keyed by its one resolved
address (C{conn.remoteAddress}); the layers that refuse (the HTTP layer,
with 503) compare those counts with a L{ConnectionLimits}.
"""

from __future__ import annotations

import resource

from ..options import RETRY_AFTER, checkOptions, optionName


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


class ConnectionCounter:
    """
    The connections one server has open: C{count} in all, and how many from
    each address; C{everOpened}: how many it has counted since it was made.
    """

    __slots__ = ("count", "everOpened", "_perAddress")

    def __init__(self) -> None:
        self.count = 0
        self.everOpened = 0
        self._perAddress: dict[str, int] = {}

    def opened(self, address: str) -> None:
        """
        A connection from C{address} (C{""}: one without an IP, such as a
        UNIX socket, which counts only toward the total) was opened.
        """
        self.count += 1
        self.everOpened += 1
        if address:
            self._perAddress[address] = self._perAddress.get(address, 0) + 1

    def closed(self, address: str) -> None:
        """
        A connection from C{address} counted by L{opened} is gone.
        """
        self.count -= 1
        if address:
            left = self._perAddress.get(address, 1) - 1
            if left:
                self._perAddress[address] = left
            else:
                self._perAddress.pop(address, None)

    def moved(self, old: str, new: str) -> None:
        """
        A connection counted as from C{old} turned out to be from C{new}: a
        proxy said who its client is. The total is unchanged.
        """
        if old == new:
            return
        if old:
            left = self._perAddress.get(old, 0) - 1
            if left > 0:
                self._perAddress[old] = left
            else:
                self._perAddress.pop(old, None)
        if new:
            self._perAddress[new] = self._perAddress.get(new, 0) + 1

    def connectionsFrom(self, address: str) -> int:
        """
        How many connections from C{address} are open.
        """
        return self._perAddress.get(address, 0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.count} open from {len(self._perAddress)} addresses>"


class ConnectionLimits:
    """
    The most connections a server serves at once, in total and per address.

    @ivar maxConnections: the most connections served at once; C{0}: no limit.
    @ivar maxConnectionsPerIp: the most connections from one IP address;
        C{0}: no limit. Connections without an IP (UNIX sockets) only count
        toward the total.
    @ivar retryAfter: the seconds a refused client is asked to wait.
    @ivar refusedFull: connections refused because the server was full, and
        C{refusedPerIp} because their address had too many (for metrics).
    """

    __slots__ = ("maxConnections", "maxConnectionsPerIp", "retryAfter", "refusedFull", "refusedPerIp")

    def __init__(self, maxConnections: int, maxConnectionsPerIp: int, retryAfter: int = RETRY_AFTER) -> None:
        checkOptions(
            "HttpServer",
            maxConnections=maxConnections,
            maxConnectionsPerIp=maxConnectionsPerIp,
            retryAfter=retryAfter,
        )
        self.maxConnections = maxConnections
        self.maxConnectionsPerIp = maxConnectionsPerIp
        self.retryAfter = retryAfter
        self.refusedFull = self.refusedPerIp = 0

    def refusal(self, counter: ConnectionCounter, address: str) -> str | None:
        """
        Why a connection from C{address}, counted in C{counter}, is over a
        limit, in one line; C{None} if it is not.
        """
        if self.maxConnections and counter.count > self.maxConnections:
            self.refusedFull += 1
            return (
                f"server full: more than {self.maxConnections} connections "
                f"(raise {optionName('maxConnections')} or ulimit -n)"
            )
        if self.maxConnectionsPerIp and address and counter.connectionsFrom(address) > self.maxConnectionsPerIp:
            self.refusedPerIp += 1
            return (
                f"more than {self.maxConnectionsPerIp} connections from {address} "
                f"(raise {optionName('maxConnectionsPerIp')})"
            )
        return None


__all__ = [
    "ConnectionCounter",
    "ConnectionLimits",
    "defaultMaxConnections",
]
