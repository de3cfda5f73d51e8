# -*- test-case-name: tests.server.test_io -*-
"""
Addresses as ratchetpy shows and compares them: the one place that turns
Twisted's L{IAddress} objects and IP text into what connections carry
(C{remoteAddress}), what limits count and blacklists match, and what log
lines print.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress


def normalizeAddress(address: str) -> str:
    """
    C{address} in canonical form (C{"::FFFF:10.0.0.1"} → C{"10.0.0.1"},
    C{"2001:DB8::0001"} → C{"2001:db8::1"}); unchanged if it is not an IP
    address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def hostOf(address: IAddress) -> str:
    """
    The IP address of C{address} as canonical text (IPv6 without brackets,
    IPv4-mapped IPv6 as IPv4), so that one client is counted and matched as
    one address however it reached the socket; C{""} for addresses that
    have none (UNIX sockets).
    """
    if isinstance(address, (IPv4Address, IPv6Address)):
        host = address.host
        return normalizeAddress(host) if ":" in host else host
    return ""


def describePeer(transport: Any) -> str:
    """
    The peer of C{transport} as C{host:port} (C{[host]:port} for IPv6), for
    log lines; C{"local peer"} for a UNIX socket.
    """
    try:
        address = transport.getPeer()
    except Exception:
        return "unknown peer"
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    return "local peer"


def describeClient(conn: Any) -> str:
    """
    Who C{conn} is for log lines: its C{remoteAddress} (C{"local peer"} for
    a UNIX socket), followed by the socket's peer when a proxy in front said
    who the client is (C{"203.0.113.7 via 10.0.0.2"}), so that a line names
    both the client and the proxy it came through.
    """
    remote = conn.remoteAddress or "local peer"
    # A connection of a layer of one's own may have no peerAddress.
    peer = getattr(conn, "peerAddress", conn.remoteAddress)
    return remote if peer == conn.remoteAddress else f"{remote} via {peer or 'local peer'}"


def parseNetwork(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """
    An IP address (C{"127.0.0.1"}, C{"::1"}) or network (C{"10.0.0.0/8"}) as
    a network; host bits set in a network are ignored.

    @raise ValueError: C{entry} is neither.
    """
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP address or network (such as 10.0.0.0/8)") from None


#: The entry of an L{AddressSet} that stands for peers without an IP address:
#: a proxy on the same machine connecting over a UNIX socket.
UNIX_PEERS = "unix"


class AddressSet:
    """
    A fixed set of IP addresses and networks, such as the proxies whose
    forwarding headers are believed: C{"127.0.0.1" in AddressSet(["127.0.0.0/8"])}.
    Addresses are matched in their canonical form (see L{normalizeAddress}),
    so an IPv4 client of an IPv6 socket matches its IPv4 network. The entry
    L{UNIX_PEERS} (C{"unix"}) matches C{""}, the address of a UNIX socket's
    peer.

    @ivar entries: the entries as given, for messages and C{repr}.
    """

    __slots__ = ("entries", "_networks", "_unix")

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.entries = tuple(entries)
        self._unix = any(entry.strip() == UNIX_PEERS for entry in self.entries)
        self._networks = tuple(parseNetwork(entry) for entry in self.entries if entry.strip() != UNIX_PEERS)

    def __contains__(self, address: object) -> bool:
        if address == "":
            return self._unix
        if not self._networks or not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(normalizeAddress(address))
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def __bool__(self) -> bool:
        return bool(self._networks) or self._unix

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.entries)!r})"


def describeAddress(address: object) -> str:
    """
    A listening address as an endpoint-like string for log lines, e.g.
    C{tcp:127.0.0.1:8080}, C{tcp:[::1]:8080}, C{unix:/run/app.sock}.
    """
    kind = getattr(address, "type", None)
    if kind in ("TCP", "TCP4", "TCP6"):
        host = getattr(address, "host", "")
        if ":" in host:
            host = f"[{host}]"
        return f"tcp:{host}:{address.port}"  # type: ignore[attr-defined]
    name = getattr(address, "name", None)
    if name is not None:
        return f"unix:{name.decode() if isinstance(name, bytes) else name}"
    return str(address)


__all__ = [
    "normalizeAddress",
    "hostOf",
    "describePeer",
    "describeClient",
    "describeAddress",
    "parseNetwork",
    "AddressSet",
    "UNIX_PEERS",
]
