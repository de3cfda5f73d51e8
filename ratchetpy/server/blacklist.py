# -*- test-case-name: tests.server.test_blacklist -*-
"""
L{IpBlackList}: refuses connections from blocked addresses before any of their
bytes are read (PHP Ratchet's C{IpBlackList}).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.logger import Logger

from .._ratelimit import LogBudget
from ..decorator import ComponentDecorator
from ..interfaces import IConnection, IMessageComponent
from .addresses import describeClient, normalizeAddress

log = Logger(namespace="ratchetpy")
_refusals = LogBudget(log)

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpBlackList(ComponentDecorator):
    """
    Wraps the component a L{ratchetpy.IoServer} serves and drops every
    connection from a blocked address as it opens, before the layers inside
    parse anything; the component never hears of it. Blocking an address
    also drops its connections that are already open.

    Addresses are single IPs (C{"203.0.113.7"}, C{"2001:db8::1"}) or networks
    (C{"203.0.113.0/24"}); IPv4 clients reaching an IPv6 socket
    (C{"::ffff:203.0.113.7"}) match their IPv4 form.
    """

    def __init__(self, component: IMessageComponent) -> None:
        super().__init__(component)
        self._addresses: set[str] = set()
        self._networks: dict[str, _Network] = {}
        self._open: set[IConnection] = set()

    def blockAddress(self, address: str) -> IpBlackList:
        """
        Block C{address} (an IP or a network), drop its open connections,
        and return this blacklist (calls chain, as in Ratchet).

        @raise ValueError: C{address} is neither an IP address nor a network.
        """
        if "/" in address:
            network = ipaddress.ip_network(address, strict=False)
            self._networks[str(network)] = network
        else:
            ipaddress.ip_address(address)
            self._addresses.add(normalizeAddress(address))
        for conn in [conn for conn in self._open if self.isBlocked(conn.remoteAddress)]:
            log.info(
                "dropping connection {resourceId} from {peer}: its address was just blocked",
                resourceId=conn.resourceId,
                peer=describeClient(conn),
            )
            conn.abort()
        return self

    def unblockAddress(self, address: str) -> IpBlackList:
        """
        Stop blocking C{address} (as given to L{blockAddress}).
        """
        if "/" in address:
            self._networks.pop(str(ipaddress.ip_network(address, strict=False)), None)
        else:
            self._addresses.discard(normalizeAddress(address))
        return self

    def isBlocked(self, address: str) -> bool:
        """
        Whether connections from C{address} are refused.
        """
        address = normalizeAddress(address)
        if address in self._addresses:
            return True
        if not self._networks or not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks.values())

    def getBlockedAddresses(self) -> list[str]:
        """
        Every blocked address and network.
        """
        return sorted(self._addresses) + sorted(self._networks)

    def onOpen(self, conn: IConnection, *args: Any) -> object:
        if self.isBlocked(conn.remoteAddress):
            _refusals.info(
                "blocked",
                "refused connection {resourceId} from blocked address {peer}",
                resourceId=conn.resourceId,
                peer=describeClient(conn),
            )
            self.refuse(conn)
            conn.abort()
            return None
        # For blockAddress, which drops the open connections of an address.
        self._open.add(conn)
        return super().onOpen(conn, *args)

    def onClose(self, conn: IConnection) -> object:
        self._open.discard(conn)
        return super().onClose(conn)
