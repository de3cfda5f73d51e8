"""
IpBlackList: the address bookkeeping in memory, and over loopback a blocked
peer cut before anything reads its bytes, a live connection dropped when its
address is blocked, and Ratchet's hand-built stack end to end.
"""

from __future__ import annotations

import threading

import pytest
import pytest_twisted
from twisted.internet import threads
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from zope.interface.verify import verifyObject

from examples.chat import Chat
from ratchetpy import HttpServer, IMessageComponent, IpBlackList, OriginCheck, WsServer
from ratchetpy.server.blacklist import normalizeAddress
from tests.helpers import Recorder, exchange, inThread, waitUntil

# Bookkeeping


def test_blockUnblockIsBlocked():
    """
    A blocked address is blocked, others are not; unblocking lifts it; the
    calls chain, as in Ratchet.
    """
    blacklist = IpBlackList(Recorder())
    assert blacklist.blockAddress("203.0.113.7") is blacklist
    assert blacklist.isBlocked("203.0.113.7")
    assert not blacklist.isBlocked("203.0.113.8")
    assert blacklist.unblockAddress("203.0.113.7") is blacklist
    assert not blacklist.isBlocked("203.0.113.7")
    blacklist.unblockAddress("203.0.113.7")  # unblocking twice is harmless


@pytest.mark.parametrize(
    "network, inside, outside",
    [
        ("203.0.113.0/24", ["203.0.113.0", "203.0.113.255", "::ffff:203.0.113.9"], ["203.0.114.1", "10.0.0.1"]),
        ("203.0.113.77/24", ["203.0.113.1"], ["203.0.112.255"]),  # host bits are ignored
        ("2001:db8::/32", ["2001:db8::1", "2001:DB8:ffff::1"], ["2001:db9::1", "203.0.113.1"]),
        ("0.0.0.0/0", ["1.2.3.4", "127.0.0.1"], ["::1"]),
    ],
)
def test_networks(network, inside, outside):
    """
    A network (CIDR) blocks every address in it, IPv4-mapped IPv6 forms of
    IPv4 addresses included, and nothing outside it; unblocking it lifts it.
    """
    blacklist = IpBlackList(Recorder()).blockAddress(network)
    assert [address for address in inside if not blacklist.isBlocked(address)] == []
    assert [address for address in outside if blacklist.isBlocked(address)] == []
    blacklist.unblockAddress(network)
    assert not any(blacklist.isBlocked(address) for address in inside)


@pytest.mark.parametrize(
    "blocked, peer",
    [
        ("10.0.0.1", "::ffff:10.0.0.1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::FFFF:10.0.0.1", "::ffff:10.0.0.1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("2001:db8::1", "2001:0db8:0000::0001"),
    ],
)
def test_addressesAreNormalised(blocked, peer):
    """
    An IPv4 client reaching an IPv6 socket (::ffff:a.b.c.d) matches its IPv4
    form and the other way round; IPv6 spellings match whatever the case and
    zero compression.
    """
    blacklist = IpBlackList(Recorder()).blockAddress(blocked)
    assert blacklist.isBlocked(peer)
    blacklist.unblockAddress(peer)
    assert not blacklist.isBlocked(blocked)


def test_normalizeAddress():
    """
    normalizeAddress gives the canonical text and leaves non-addresses alone.
    """
    assert normalizeAddress("::ffff:192.0.2.1") == "192.0.2.1"
    assert normalizeAddress("2001:DB8::0001") == "2001:db8::1"
    assert normalizeAddress("") == ""
    assert normalizeAddress("not-an-ip") == "not-an-ip"


def test_getBlockedAddresses():
    """
    getBlockedAddresses lists the blocked addresses (canonical form) and
    networks.
    """
    blacklist = IpBlackList(Recorder())
    blacklist.blockAddress("::ffff:192.0.2.9").blockAddress("192.0.2.1").blockAddress("198.51.100.7/24")
    assert blacklist.getBlockedAddresses() == ["192.0.2.1", "192.0.2.9", "198.51.100.0/24"]
    blacklist.unblockAddress("192.0.2.9").unblockAddress("198.51.100.0/24")
    assert blacklist.getBlockedAddresses() == ["192.0.2.1"]


@pytest.mark.parametrize("address", ["", "example.com", "300.1.2.3", "1.2.3.4/33", "10.0.0.0/abc", "::1::2"])
def test_invalidAddressIsRefused(address):
    """
    Something that is neither an IP address nor a network raises ValueError
    and blocks nothing.
    """
    blacklist = IpBlackList(Recorder())
    with pytest.raises(ValueError):
        blacklist.blockAddress(address)
    assert blacklist.getBlockedAddresses() == []


def test_peersWithoutAddressAreNotBlocked():
    """
    A connection without an IP address (a UNIX socket: remoteAddress "")
    is never blocked, whatever networks are.
    """
    blacklist = IpBlackList(Recorder()).blockAddress("0.0.0.0/0").blockAddress("::/0")
    assert not blacklist.isBlocked("")


class AbortRecorder:
    """
    A connection from C{remoteAddress} that records being aborted.
    """

    def __init__(self, remoteAddress: str, resourceId: int = 1) -> None:
        self.remoteAddress = remoteAddress
        self.resourceId = resourceId
        self.aborted = 0

    def abort(self):
        self.aborted += 1


def test_refusedConnectionsAreAbortedAndForgotten():
    """
    A blocked peer's connection is cut with conn.abort(); nothing of it
    reaches the component, and once it has closed the blacklist keeps no
    trace of it. Blocking an address aborts its open connections the same
    way, and their close still reaches the component, which saw them open.
    """
    behind = Recorder()
    blacklist = IpBlackList(behind).blockAddress("192.0.2.66")
    blocked, other = AbortRecorder("192.0.2.66", 1), AbortRecorder("192.0.2.7", 2)
    blacklist.onOpen(blocked)
    assert blocked.aborted == 1
    blacklist.onMessage(blocked, b"ignored")
    blacklist.onError(blocked, RuntimeError())
    blacklist.onClose(blocked)
    assert behind.events == []
    assert blacklist._refused is None and blacklist._open == set()

    blacklist.onOpen(other)
    blacklist.blockAddress("192.0.2.0/24")
    assert other.aborted == 1
    blacklist.onClose(other)
    assert behind.hooks() == ["onOpen", "onClose"]
    assert blacklist._open == set()


def test_isTheComponentsKind():
    """
    Around a message component, IpBlackList is one (it goes right inside
    IoServer).
    """
    verifyObject(IMessageComponent, IpBlackList(HttpServer(WsServer(Recorder()))))


# Over loopback


def endWhenDropped(url, ready, origin=None, echoed=True):
    """
    (Blocking client.) Connect, set C{ready} once connected (and, if
    C{echoed}, once a message has come back), then wait to be dropped; say
    how the connection ended.
    """
    result = "never connected"
    try:
        with connect(url, origin=origin) as ws:
            if echoed:
                ws.send("before")
                assert ws.recv(timeout=5) == "before"
            ready.set()
            try:
                ws.recv(timeout=5)
            except ConnectionClosed as closed:
                result = "dropped without a close frame" if closed.rcvd is None else f"closed with {closed.rcvd.code}"
            else:
                result = "not dropped"
    except OSError:
        pass  # closing a connection the server has cut may fail
    return result


GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n"


def test_blockedPeerIsCutBeforeAnyParsing(listen, logged):
    """
    A peer whose address is blocked is disconnected as soon as it connects,
    without a byte of response; the layers inside never hear of it (neither
    onOpen nor its bytes), and a log line says why.
    """
    behind = Recorder()
    blacklist = IpBlackList(behind).blockAddress("127.0.0.1")
    server = listen(blacklist)
    assert inThread(exchange, server.portNumber, GET, resets=True) == b""
    waitUntil(lambda: server.connectionCount == 0, what="the connection to be gone")
    assert behind.events == []
    assert blacklist._open == set()
    assert blacklist._refused is None
    assert any("refused connection" in line and "blocked address 127.0.0.1" in line for line in logged())


def test_blockedPeerNeverReachesHttp(listen):
    """
    In front of the HTTP layer, a blocked peer's request gets no response at
    all (not even a 4xx); another, unblocked, server in the same process still
    answers it with 426.
    """
    component = Recorder()
    blocked = listen(IpBlackList(HttpServer(WsServer(component))).blockAddress("127.0.0.0/8"))
    open_ = listen(IpBlackList(HttpServer(WsServer(component))).blockAddress("192.0.2.1"))
    assert inThread(exchange, blocked.portNumber, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", resets=True) == b""
    answer = inThread(exchange, open_.portNumber, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", resets=True)
    assert answer.startswith(b"HTTP/1.1 426 ")
    assert component.events == []


def test_mappedPeerIsBlockedByItsIPv4Address(listen):
    """
    On an IPv6 socket, an IPv4 client's address is ::ffff:127.0.0.1; blocking
    127.0.0.1 blocks it.
    """
    behind = Recorder()
    try:
        server = listen(IpBlackList(behind).blockAddress("127.0.0.1"), endpoint=r"tcp6:0:interface=\:\:ffff\:127.0.0.1")
    except Exception as exc:  # pragma: no cover - hosts without IPv6
        pytest.skip(f"cannot listen on ::ffff:127.0.0.1: {exc}")
    assert inThread(exchange, server.portNumber, b"hello", resets=True) == b""
    waitUntil(lambda: server.connectionCount == 0, what="the connection to be gone")
    assert behind.events == []


def test_blockingDropsLiveConnectionsAndUnblockingReadmits(listen):
    """
    Blocking the address of an open WebSocket drops it at once (no closing
    handshake) and the component hears onClose; after unblocking, the same
    address connects again.
    """
    component = Recorder(echo=True)
    blacklist = IpBlackList(HttpServer(WsServer(component)))
    server = listen(blacklist)
    url = f"ws://127.0.0.1:{server.portNumber}/"

    echoed = threading.Event()
    client = threads.deferToThread(endWhenDropped, url, echoed)
    waitUntil(echoed.is_set, what="the client's first echo")
    blacklist.blockAddress("127.0.0.1")
    assert pytest_twisted.blockon(client) == "dropped without a close frame"
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    assert blacklist._open == set()

    blacklist.unblockAddress("127.0.0.1")

    def echo():
        with connect(url) as ws:
            ws.send("after")
            return ws.recv(timeout=5)

    assert inThread(echo) == "after"


def test_ratchetsHandBuiltStack(listen):
    """
    C{IoServer(IpBlackList(HttpServer(OriginCheck(WsServer(Chat()),
    ["example.com"]))))}: clients from example.com chat, a browser opening
    the page gets it, another site's page gets 403, and blocking the
    clients' address drops them and refuses new ones.
    """
    blacklist = IpBlackList(HttpServer(OriginCheck(WsServer(Chat()), ["example.com"])))
    server = listen(blacklist)
    url = f"ws://127.0.0.1:{server.portNumber}/"

    def chat():
        with connect(url, origin="http://example.com") as a, connect(url, origin="https://example.com:8443") as b:
            a.send("hello from a")
            return b.recv(timeout=5)

    assert inThread(chat) == "hello from a"

    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    page = inThread(exchange, server.portNumber, request, resets=True)
    assert page.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/html; charset=utf-8" in page

    def refused():
        with pytest.raises(InvalidStatus) as info:
            connect(url, origin="http://evil.example")
        return info.value.response.status_code

    assert inThread(refused) == 403

    connected = threading.Event()
    client = threads.deferToThread(endWhenDropped, url, connected, "http://example.com", False)
    waitUntil(connected.is_set, what="a connected client")
    blacklist.blockAddress("127.0.0.1")
    assert pytest_twisted.blockon(client) == "dropped without a close frame"
    assert inThread(exchange, server.portNumber, GET, resets=True) == b""
