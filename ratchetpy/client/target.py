# -*- test-case-name: tests.client.test_client -*-
"""
Where a client connects: the URL (C{ws://} or C{wss://}), and the Twisted
client endpoint that reaches it (TCP, TLS over TCP, or a UNIX socket).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autobahn.websocket.util import parse_url
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import Certificate, CertificateOptions, optionsForClientTLS, trustRootFromCertificates

from ..http.redact import REDACTED, redactTarget

#: Default seconds to wait for the TCP (or UNIX socket) connection.
CONNECT_TIMEOUT = 10.0

_PEM_END = b"-----END CERTIFICATE-----"


@dataclass(frozen=True)
class Target:
    """
    A WebSocket URL, parsed.

    @ivar url: the URL as given.
    @ivar secure: C{True} for C{wss://} (TLS).
    @ivar host: the host name or address (IPv6 without brackets).
    @ivar port: the port (80 and 443 by default).
    @ivar resource: the path and query string sent in the request line.
    @ivar unix: the path of the UNIX socket to connect to instead of
        C{host} and C{port}, which then only name the server in the C{Host}
        header (and, for C{wss://}, the certificate's name).
    """

    url: str
    secure: bool
    host: str
    port: int
    resource: str
    unix: str | None = None

    @property
    def shown(self) -> str:
        """
        The URL as log lines and errors show it: without credentials (a
        user and password, a token in the query: see
        L{ratchetpy.http.redact}).
        """
        return redactURL(self.url)


def redactURL(url: str) -> str:
    """
    C{url} without the credentials it may carry: its user information and
    the values of token-like query parameters are C{[redacted]}.
    """
    scheme, slashes, rest = url.partition("://")
    if not slashes:
        return url
    netloc, slash, target = rest.partition("/")
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    target = target.partition("#")[0]
    return f"{scheme}://{netloc}{slash}{redactTarget(target)}"


def parseTarget(url: str, unix: str | None = None) -> Target:
    """
    Parse C{url}, a C{ws://} or C{wss://} URL.

    @param unix: a UNIX socket path to connect to instead of the URL's host
        and port.
    @raise ValueError: C{url} is not a WebSocket URL.
    """
    try:
        secure, host, port, resource, _path, _params = parse_url(url)
        if host == "unix":
            raise ValueError("for a UNIX socket, pass unix=PATH and name the host in the URL")
    except Exception as exc:
        # Autobahn's message quotes a fragment, which may be a credential.
        why = "it has a #fragment" if "fragment" in str(exc) else str(exc).removeprefix("invalid WebSocket URL: ")
        raise ValueError(
            f"bad WebSocket URL {redactURL(url)!r}: {why}; write ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"
        ) from None
    return Target(url, bool(secure), host, int(port), resource, unix)


def loadCertificates(path: str | Path) -> list[Certificate]:
    """
    Every certificate of the PEM file at C{path}.

    @raise ValueError: the file has none.
    """
    data = Path(path).read_bytes()
    blocks = [block + _PEM_END for block in data.split(_PEM_END) if b"-----BEGIN CERTIFICATE-----" in block]
    if not blocks:
        raise ValueError(f"{path} has no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return [Certificate.loadPEM(block) for block in blocks]


def tlsOptions(host: str, ca: str | Path | None = None, verify: bool = True) -> Any:
    """
    The TLS client options for a server named C{host}: its certificate is
    verified against the system's trusted CAs, or those of the PEM file
    C{ca}, and must be for C{host} (Twisted's C{optionsForClientTLS}).
    C{verify=False} accepts any certificate, for development only: anyone on
    the path can then read and change the traffic.
    """
    if not verify:
        return CertificateOptions(verify=False)
    trustRoot = trustRootFromCertificates(loadCertificates(ca)) if ca is not None else None
    return optionsForClientTLS(host, trustRoot=trustRoot)


def clientEndpoint(
    reactor: Any,
    target: Target,
    *,
    ca: str | Path | None = None,
    verify: bool = True,
    timeout: float = CONNECT_TIMEOUT,
) -> IStreamClientEndpoint:
    """
    The endpoint that connects to C{target}: TCP (any address of the host
    name, as C{HostnameEndpoint} tries them) or a UNIX socket, inside TLS for
    C{wss://} (see L{tlsOptions} for C{ca} and C{verify}).
    """
    endpoint: IStreamClientEndpoint
    if target.unix is not None:
        endpoint = UNIXClientEndpoint(reactor, target.unix, timeout=timeout)
    else:
        endpoint = HostnameEndpoint(reactor, target.host, target.port, timeout=timeout)
    if target.secure:
        endpoint = wrapClientTLS(tlsOptions(target.host, ca, verify), endpoint)
    return endpoint


__all__ = ["CONNECT_TIMEOUT", "Target", "parseTarget", "redactURL", "loadCertificates", "tlsOptions", "clientEndpoint"]
