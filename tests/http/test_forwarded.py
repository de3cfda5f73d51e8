"""
Reading X-Forwarded-For and Forwarded (RFC 7239), and the rightmost-untrusted
rule that turns them into the client's address.
"""

from __future__ import annotations

import pytest

from ratchetpy.http.forwarded import (
    FORWARDED,
    X_FORWARDED_FOR,
    parseForwarded,
    parseHeader,
    parseNode,
    parseXForwardedFor,
    resolveClient,
)
from ratchetpy.server.addresses import AddressSet

PROXIES = AddressSet(["10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    "text, address",
    [
        ("192.0.2.60", "192.0.2.60"),
        (" 192.0.2.60 ", "192.0.2.60"),
        ("192.0.2.60:4711", "192.0.2.60"),
        ("2001:DB8::0017", "2001:db8::17"),
        ("[2001:db8::17]", "2001:db8::17"),
        ("[2001:db8::17]:4711", "2001:db8::17"),
        ("::ffff:192.0.2.60", "192.0.2.60"),
        ("[::ffff:192.0.2.60]:80", "192.0.2.60"),
        ("192.0.2.60:_port", "192.0.2.60"),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("example.com", None),
        ("192.0.2.256", None),
        ("192.0.2.60:port", None),
        ("192.0.2.60:123456", None),
        ("[192.0.2.60]", None),
        ("[2001:db8::17", None),
        ("[2001:db8::17]x", None),
        ("2001:db8::17:4711:", None),
        ("1.2.3.4\x00", None),
    ],
)
def test_parseNode(text, address):
    """
    Nodes are IPv4 with an optional port, IPv6 bare or in brackets with an
    optional port; anything else names no address.
    """
    assert parseNode(text) == address


def test_xForwardedForEntriesAcrossLines():
    """
    Every line's entries, in order, as one list.
    """
    hops = parseXForwardedFor(["203.0.113.9, 198.51.100.2", "10.0.0.3"])
    assert [hop.address for hop in hops] == ["203.0.113.9", "198.51.100.2", "10.0.0.3"]
    assert [hop.text for hop in hops] == ["203.0.113.9", "198.51.100.2", "10.0.0.3"]


def test_forwardedElements():
    """
    Forwarded: one element per hop, its for= parameter a token or a quoted
    string, IPv6 bracketed with its port; case-insensitive names; the other
    parameters ignored.
    """
    hops = parseForwarded(
        [
            'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"',
            'proto=https;FOR="198.51.100.7" ;host="a,b;c"',
        ]
    )
    assert [hop.address for hop in hops] == ["192.0.2.60", "2001:db8:cafe::17", "198.51.100.7"]


def test_forwardedQuotedSeparators():
    """
    Commas and semicolons inside quoted strings do not split elements.
    """
    hops = parseForwarded(['for=192.0.2.1;host="x,y", for=192.0.2.2;by="a;b"'])
    assert [hop.address for hop in hops] == ["192.0.2.1", "192.0.2.2"]


@pytest.mark.parametrize(
    "value, hidden",
    [
        ("for=unknown", True),
        ('for="_gazonk"', True),
        ("for=_SEVKISEK", True),
        ("proto=https", True),  # a hop that says nothing about who sent it
        ("for=192.0.2.1;for=192.0.2.2", False),  # two for= in one element
        ('for="192.0.2.1', False),  # an unterminated quote
        ("for=[2001:db8::1]", False),  # IPv6 must be quoted: still read
        ("garbage", False),
        ("for=example.com", False),
    ],
)
def test_forwardedWithoutAddress(value, hidden):
    """
    Hidden nodes (unknown, obfuscated), elements without a for= and malformed
    elements are hops without an address; only the malformed ones are not
    hidden.
    """
    (hop,) = parseForwarded([value])
    if value == "for=[2001:db8::1]":
        assert hop.address == "2001:db8::1"
        return
    assert hop.address is None
    assert hop.isHidden is hidden


def test_parseHeaderByName():
    assert parseHeader(FORWARDED, ["for=192.0.2.1"])[0].address == "192.0.2.1"
    assert parseHeader(X_FORWARDED_FOR, ["192.0.2.1"])[0].address == "192.0.2.1"
    assert parseHeader(X_FORWARDED_FOR, ["for=192.0.2.1"])[0].address is None


def resolve(peer, *values, header=X_FORWARDED_FOR):
    return resolveClient(peer, parseHeader(header, values), PROXIES)


def test_untrustedPeerIsTheClient():
    """
    A peer that is not a trusted proxy is the client, whatever it claims.
    """
    assert resolve("203.0.113.5", "198.51.100.1").address == "203.0.113.5"
    assert resolve("203.0.113.5", "127.0.0.1").address == "203.0.113.5"


def test_rightmostUntrusted():
    """
    From a trusted proxy: the rightmost entry that is not a trusted proxy,
    never the leftmost (which the client wrote).
    """
    assert resolve("127.0.0.1", "6.6.6.6, 203.0.113.5").address == "203.0.113.5"
    assert resolve("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3").address == "203.0.113.5"
    assert resolve("10.0.0.1", "6.6.6.6", "203.0.113.5", "10.9.9.9").address == "203.0.113.5"
    assert resolve("127.0.0.1", "2001:db8::5, 2001:db8:ffff::1").address == "2001:db8::5"
    assert resolve("127.0.0.1", "[2001:db8::5]:1234").address == "2001:db8::5"


def test_rightmostUntrustedForwarded():
    value = 'for=6.6.6.6, for="[2001:db8::5]:4711";proto=https, for=10.0.0.7'
    assert resolve("127.0.0.1", value, header=FORWARDED).address == "2001:db8::5"


def test_allTrustedIsTheLeftmost():
    """
    A client on the proxies' own network: every hop is trusted, and the
    leftmost is the client.
    """
    assert resolve("127.0.0.1", "10.0.0.5, 10.0.0.6").address == "10.0.0.5"


def test_noHeader():
    assert resolve("127.0.0.1").address == "127.0.0.1"


def test_stopsAtWhatNamesNoAddress():
    """
    An entry that names no address ends the walk: nothing left of it can be
    believed, and the last trusted hop is the client. Garbage is reported;
    a deliberately hidden node is not.
    """
    assert resolve("127.0.0.1", "6.6.6.6, unknown").address == "127.0.0.1"
    assert resolve("127.0.0.1", "6.6.6.6, unknown").malformed is None
    assert resolve("127.0.0.1", "6.6.6.6, unknown, 10.0.0.9") == ("10.0.0.9", None)
    assert resolve("127.0.0.1", "6.6.6.6, <script>") == ("127.0.0.1", "<script>")
    assert resolve("127.0.0.1", "for=_hidden", header=FORWARDED) == ("127.0.0.1", None)
    assert resolve("127.0.0.1", "for=nonsense", header=FORWARDED) == ("127.0.0.1", "nonsense")
    assert resolve("127.0.0.1", "6.6.6.6,").malformed is None  # a trailing empty entry is no address


def test_garbageIsBounded():
    """
    A long header of garbage is walked once, right to left, and stops at the
    first entry.
    """
    value = ",".join(["x" * 10] * 2000)
    assert resolve("127.0.0.1", value) == ("127.0.0.1", "x" * 10)


def test_addressSet():
    """
    Trusted proxies are IPs and networks; IPv4-mapped addresses match their
    IPv4 networks; a bad entry is a ValueError naming it.
    """
    assert "10.200.0.1" in PROXIES and "::ffff:10.0.0.1" in PROXIES and "2001:db8:ffff:1::2" in PROXIES
    assert "11.0.0.1" not in PROXIES and "" not in PROXIES and "nonsense" not in PROXIES
    assert not AddressSet() and "127.0.0.1" not in AddressSet()
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not an IP address or network"):
        AddressSet(["10.0.0.0/33"])
