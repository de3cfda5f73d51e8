"""
The client against two servers, ratchetpy's and the websockets library's
(the C{peer} fixture): messages, subprotocols, compression, close codes,
refused handshakes, TLS with certificate checks, and reconnecting after the
server restarts on the same port.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from ratchetpy import MessageComponent
from ratchetpy.client import ConnectFailed, ConnectionClosed, HandshakeRefused, Reconnect, connect, connectOnce
from tests.client.conftest import GOOD_TOKEN
from tests.helpers import makeCertificate, waitUntil

block = pytest_twisted.blockon


def closeAndWait(conn):
    conn.close()
    return block(conn.whenClosed())


def test_echo(peer):
    server = peer()
    conn = block(connectOnce(f"ws://127.0.0.1:{server.port}/", subProtocols=["chat.v1"]))
    assert conn.subProtocol == "chat.v1"
    # permessage-deflate, offered by the client, agreed by both servers.
    assert conn._protocol._perMessageCompress is not None
    for message in ("text", b"\x00binary", "z" * 100_000):
        conn.send(message)
        assert block(conn.receive()) == message
    assert closeAndWait(conn)[0] == 1000


def test_serverCloses(peer):
    server = peer()
    conn = block(connectOnce(f"ws://127.0.0.1:{server.port}/"))
    conn.send("close me")
    with pytest.raises(ConnectionClosed) as closed:
        block(conn.receive())
    assert (closed.value.code, closed.value.reason) == (4001, "as you asked")


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-Token": "bad"}, 403)])
def test_refused(peer, headers, status):
    server = peer()
    url = f"ws://127.0.0.1:{server.port}/auth"
    with pytest.raises(HandshakeRefused) as refused:
        block(connectOnce(url, headers=headers))
    assert refused.value.status == status
    client = connect(url, MessageComponent(), headers=headers, reconnect=Reconnect(initialDelay=0.01))
    with pytest.raises(HandshakeRefused):
        block(client.whenStopped())
    closeAndWait(block(connectOnce(url, headers={"X-Token": GOOD_TOKEN})))


def test_tls(peer, tmp_path):
    """
    wss:// verifies the certificate: trusted through ca=, refused without
    (the error says what to do), accepted by anyone with verify=False.
    """
    key, cert = makeCertificate(tmp_path)
    server = peer((key, cert))
    url = f"wss://localhost:{server.port}/"
    conn = block(connectOnce(url, ca=cert))
    conn.send("secret")
    assert block(conn.receive()) == "secret"
    assert conn._protocol._transport_details.is_secure
    closeAndWait(conn)
    with pytest.raises(ConnectFailed, match="certificate verify failed.*ca=") as failed:
        block(connectOnce(url))
    assert not isinstance(failed.value, HandshakeRefused)
    closeAndWait(block(connectOnce(url, verify=False)))


def test_tlsHostNameChecked(peer, tmp_path):
    """
    A trusted certificate for another name is refused: the server's is for
    elsewhere.example, and the client connects to localhost.
    """
    key, cert = makeCertificate(tmp_path, "elsewhere.example")
    server = peer((key, cert))
    with pytest.raises(ConnectFailed, match="certificate is not for localhost; connect with a name"):
        block(connectOnce(f"wss://localhost:{server.port}/", ca=cert))


def test_reconnectAfterRestart(peer, logged):
    """
    The server goes away and comes back on the same port: the client tries
    until it is there, and onOpen runs on the new connection.
    """
    server = peer()
    opened = []
    closed = []

    class Bot(MessageComponent):
        def onOpen(self, conn):
            opened.append(conn)
            conn.send(f"hello {len(opened)}")

        def onMessage(self, conn, msg):
            conn.state.heard = msg

        def onClose(self, conn):
            closed.append(conn.closeCode)

    client = connect(f"ws://127.0.0.1:{server.port}/", Bot(), reconnect=Reconnect(initialDelay=0.05, maxDelay=0.2))
    waitUntil(lambda: opened and getattr(opened[0].state, "heard", None) == "hello 1")
    server.stop()
    waitUntil(lambda: closed, what="the first connection to close")
    waitUntil(lambda: any("retrying in" in line for line in logged()), what="a failed attempt")
    server.start()
    waitUntil(lambda: len(opened) == 2 and getattr(opened[1].state, "heard", None) == "hello 2")
    assert opened[0] is not opened[1]
    assert closed[0] in (1001, 1006)
    block(client.stop())
    assert closed[1] == 1000
