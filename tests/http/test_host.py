"""
parseHost, the one reader of C{host[:port]} values (Host headers, the
authority of Origin headers): case, ports, IPv6 brackets, malformed values.
"""

from __future__ import annotations

import pytest

from ratchetpy.http.host import DEFAULT_PORTS, HostAndPort, parseHost


@pytest.mark.parametrize(
    "value, expected",
    [
        ("example.com", ("example.com", None)),
        ("Example.COM", ("example.com", None)),
        (" example.com ", ("example.com", None)),
        ("example.com:8080", ("example.com", 8080)),
        ("EXAMPLE.com:08080", ("example.com", 8080)),
        ("example.com:0", ("example.com", 0)),
        ("example.com:65535", ("example.com", 65535)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("localhost:3000", ("localhost", 3000)),
        ("xn--caf-dma.example", ("xn--caf-dma.example", None)),
        # IPv6: in brackets, which are not part of the host.
        ("[::1]", ("::1", None)),
        ("[::1]:8080", ("::1", 8080)),
        ("[2001:DB8::1]:443", ("2001:db8::1", 443)),
        ("[::ffff:127.0.0.1]", ("::ffff:127.0.0.1", None)),
        # An empty port (RFC 3986 allows it) is the default port.
        ("example.com:", ("example.com", None)),
        ("[::1]:", ("::1", None)),
    ],
)
def test_parseHost(value, expected):
    """
    The host is lower case, without surrounding whitespace or IPv6
    brackets; the port is an int, or None without one.
    """
    assert parseHost(value) == expected


def test_defaultPort():
    """
    A value without a port (or with an empty one) has the default port
    given; a value with one keeps its own.
    """
    assert parseHost("example.com", 443) == HostAndPort("example.com", 443)
    assert parseHost("[::1]", DEFAULT_PORTS["ws"]) == HostAndPort("::1", 80)
    assert parseHost("example.com:", 80) == HostAndPort("example.com", 80)
    assert parseHost("example.com:8443", 443) == HostAndPort("example.com", 8443)
    assert parseHost("example.com:8443").port == 8443


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        ":8080",
        # Ports that are not a number from 0 to 65535.
        "example.com:abc",
        "example.com:99999",
        "example.com:-1",
        "example.com:+80",
        "example.com: 80",
        "example.com:8080:80",
        # IPv6 without brackets, with bad brackets, or not IPv6 at all.
        "::1",
        "2001:db8::1",
        "[::1",
        "::1]",
        "[::1]8080",
        "[::1]:abc",
        "[not-ipv6]",
        "[127.0.0.1]",
        "[]",
        # Not a host: userinfo, a path, spaces, other stray characters.
        "user@example.com",
        "example.com/path",
        "exa mple.com",
        "example.com?x",
        "example.com#x",
        "éxample.com",
    ],
)
def test_malformedNamesNoHost(value):
    """
    A value that names no host gives None, so that it matches nothing.
    """
    assert parseHost(value) is None
    assert parseHost(value, 80) is None
