# -*- test-case-name: tests.http.test_forwarded -*-
"""
Who the client is behind HTTP proxies: C{X-Forwarded-For} and C{Forwarded}
(RFC 7239), believed only as far as trusted proxies wrote them.

Every proxy appends the address it received the request from, so a header's
entries read, from right to left, the path back to the client: the rightmost
was written by the proxy that connected to us, the one before it by the proxy
before that, and so on. Only the entries written by proxies we trust mean
anything; everything to their left is whatever the client sent. So the
client is found by walking right to left from the socket's peer, past every
address that is a trusted proxy, and taking the first that is not. Never the
leftmost entry (anyone can write it), never a fixed number of hops (the
number of proxies is a deployment detail a header cannot be trusted to
state).

All the lines of a header are read, in order, as one list (RFC 9110 section
5.3): a proxy that adds a line of its own (HAProxy's C{option forwardfor})
and one that appends to the line it got (nginx's
C{$proxy_add_x_forwarded_for}) both put their entry on the right.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

from ..server.addresses import AddressSet, normalizeAddress

#: The headers a trusted proxy may say who the client is with; one is chosen
#: per server (C{HttpServer(forwardedHeader=...)}), for a proxy that sets one
#: and passes the other on from the client would otherwise be bypassed.
X_FORWARDED_FOR = "X-Forwarded-For"
FORWARDED = "Forwarded"

_PORT = re.compile(r"[0-9]{1,5}|_[A-Za-z0-9._-]+")


class Hop(NamedTuple):
    """
    One entry of a forwarding header.

    @ivar address: the IP address it names, canonical (see
        L{normalizeAddress}); C{None} if it names none.
    @ivar text: the entry as sent, for log lines.
    """

    address: str | None
    text: str

    @property
    def isHidden(self) -> bool:
        """
        Whether the entry withholds the address on purpose, as RFC 7239
        allows (C{unknown}, or an obfuscated C{_identifier}), rather than
        being malformed.
        """
        host = self.text.strip().strip('"')
        return host.lower() == "unknown" or host.startswith("_") or host == ""


def parseNode(text: str) -> str | None:
    """
    The IP address of one node, as either header writes it: C{192.0.2.60},
    C{192.0.2.60:4711}, C{2001:db8::17}, C{[2001:db8::17]} or
    C{[2001:db8::17]:4711}; C{None} for anything else (C{unknown}, an
    obfuscated name, garbage).
    """
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:])):
            return None
        return _ipOf(host, version=6)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not _PORT.fullmatch(port):
            return None
        return _ipOf(host, version=4)
    return _ipOf(text)


def _ipOf(text: str, version: int | None = None) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if version is not None and ip.version != version:
        return None
    return normalizeAddress(str(ip))


def parseXForwardedFor(values: Iterable[str]) -> list[Hop]:
    """
    The entries of the C{X-Forwarded-For} lines C{values}, left to right.
    """
    return [Hop(parseNode(entry), entry.strip()) for value in values for entry in value.split(",")]


def parseForwarded(values: Iterable[str]) -> list[Hop]:
    """
    The C{for} of each element of the C{Forwarded} lines C{values}, left to
    right (C{for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"}). An
    element without exactly one C{for}, or that cannot be parsed, is a hop
    without an address.
    """
    hops = []
    for value in values:
        for element in _split(value, ","):
            found = []
            malformed = False
            for pair in _split(element, ";"):
                if not pair.strip():
                    continue
                name, sep, raw = pair.partition("=")
                if not sep:
                    malformed = True
                    continue
                if name.strip().lower() == "for":
                    found.append(raw.strip())
            if len(found) != 1 or malformed:
                hops.append(Hop(None, element.strip() if (malformed or found) else ""))
                continue
            node = _unquote(found[0])
            hops.append(Hop(None if node is None else parseNode(node), found[0]))
    return hops


def _split(text: str, separator: str) -> list[str]:
    """
    C{text} split at C{separator} outside quoted strings.
    """
    parts, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str | None:
    """
    A token as it is, a quoted string without its quotes and escapes;
    C{None} if the quotes do not close.
    """
    if not value.startswith('"'):
        return value
    if len(value) < 2 or not value.endswith('"'):
        return None
    return re.sub(r"\\(.)", r"\1", value[1:-1])


def parseHeader(header: str, values: Iterable[str]) -> list[Hop]:
    """
    The hops of C{header} (L{X_FORWARDED_FOR} or L{FORWARDED}) from its
    lines C{values}.
    """
    return parseForwarded(values) if header == FORWARDED else parseXForwardedFor(values)


class Resolved(NamedTuple):
    """
    What L{resolveClient} found.

    @ivar address: the client's address.
    @ivar malformed: the entry that stopped the walk if it was neither an
        address nor a deliberately hidden one (a proxy or client writing
        garbage), for a log line; else C{None}.
    """

    address: str
    malformed: str | None = None


def resolveClient(peer: str, hops: list[Hop], trusted: AddressSet) -> Resolved:
    """
    The client's address, for a request from C{peer} (the socket's peer, as
    canonical text) that carries forwarding C{hops}.

    C{peer} itself unless it is a trusted proxy; else the rightmost hop that
    is not a trusted proxy. An entry that names no address (C{unknown}, an
    obfuscated name, garbage) ends the walk there: nothing to its left can be
    believed, and the client is the last proxy that could be (so limits and
    blacklists key on the nearest address known). If every hop is a trusted
    proxy, the leftmost is the client (a client on the proxies' own network).
    """
    if peer not in trusted:
        return Resolved(peer)
    address = peer
    for hop in reversed(hops):
        if hop.address is None:
            return Resolved(address, None if hop.isHidden else hop.text)
        address = hop.address
        if address not in trusted:
            break
    return Resolved(address)


__all__ = [
    "X_FORWARDED_FOR",
    "FORWARDED",
    "Hop",
    "Resolved",
    "parseNode",
    "parseXForwardedFor",
    "parseForwarded",
    "parseHeader",
    "resolveClient",
]
