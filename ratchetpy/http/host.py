# -*- test-case-name: tests.http.test_host -*-
"""
The one parser of C{host[:port]} values: C{Host} headers, the authority of
C{Origin} headers, and the host entries of a configuration. L{Router}'s
C{httpHost} routes and L{OriginCheck}'s same-origin rule both read the
C{Host} header through it, so that they cannot disagree about what it names.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

#: The port a URL scheme implies when none is given.
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}

# RFC 3986 reg-name (and IPv4address): unreserved, percent-encoded and
# sub-delims characters, lower case already. Anything else (userinfo's "@",
# a path, spaces, a bare IPv6 address) is not a host.
_REG_NAME = re.compile(r"[a-z0-9\-._~!$&'()*+,;=%]+")
_PORT = re.compile(r"[0-9]{1,5}")


class HostAndPort(NamedTuple):
    """
    What a C{host[:port]} value names.

    @ivar host: the host, lower case; an IPv6 address without its brackets.
    @ivar port: the port, or the default port given to L{parseHost} (which
        may be C{None}) if the value has none.
    """

    host: str
    port: int | None


def parseHost(value: str, defaultPort: int | None = None) -> HostAndPort | None:
    """
    Parse C{value}, a C{Host} header's value (RFC 9110: C{host[:port]}, an
    IPv6 address in brackets), ignoring surrounding whitespace and case.

    @param defaultPort: the port of a value that has none (or an empty one,
        C{"example.com:"}), e.g. C{DEFAULT_PORTS[scheme]}.
    @return: the host and port; C{None} for a value that names no host
        (empty, an unbracketed IPv6 address, a port that is not a number
        from 0 to 65535, stray characters), which therefore matches nothing.
    """
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, _, port = value.partition(":")
        if ":" in port or _REG_NAME.fullmatch(host) is None:
            return None
    if not port:
        return HostAndPort(host, defaultPort)
    if _PORT.fullmatch(port) is None or int(port) > 65535:
        return None
    return HostAndPort(host, int(port))
