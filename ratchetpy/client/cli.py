# -*- test-case-name: tests.client.test_cli -*-
"""
C{python -m ratchetpy.client URL}: a command-line WebSocket client, like
C{wscat}. Each line of standard input goes out as one text message; each
message received is printed on standard output (a text message as it is, a
binary one as C{<binary N bytes: HEX>}). When standard input ends the client
closes the connection (1000), after C{--wait} seconds if given (for the
server's answers to the last lines), and waits for the server's close;
C{--keep-open} waits for the server to close instead.

Exit status: L{EXIT_CLOSED} (0) once the connection closed normally (1000
or 1001); L{EXIT_ABNORMAL} (1) if it closed with another code or without a
closing handshake; 2 for bad arguments; L{EXIT_UNREACHABLE} (3) if no
connection was made (network, TLS, a handshake that failed);
L{EXIT_REFUSED} (4) if the server refused the handshake (an HTTP status,
printed). Problems are reported on standard error, one line each. Ctrl-C
(SIGINT) or SIGTERM closes the connection with 1000 first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet import stdio
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import deferLater, react
from twisted.protocols.basic import LineOnlyReceiver

from ..component import MessageComponent
from ..interfaces import IConnection
from ..options import MAX_MESSAGE_SIZE, parseSize
from ..server.logs import startLoggingUnlessConfigured
from .connection import ClientConnection
from .connector import Client
from .errors import ConnectFailed, HandshakeRefused

EXIT_CLOSED = 0
EXIT_ABNORMAL = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4

#: The close codes of a normal end.
NORMAL_CODES = (1000, 1001)


def parser() -> argparse.ArgumentParser:
    """
    The command line's parser.
    """
    p = argparse.ArgumentParser(
        prog="python -m ratchetpy.client",
        description="Send the lines of standard input to a WebSocket server as text messages; print what it sends.",
        epilog="Exit status: 0 closed normally (1000/1001), 1 closed otherwise, 2 bad arguments, "
        "3 could not connect, 4 handshake refused (HTTP status).",
    )
    p.add_argument("url", help="ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH")
    p.add_argument(
        "-H", "--header", action="append", default=[], metavar="'NAME: VALUE'", help="a request header (repeatable)"
    )
    p.add_argument(
        "-s", "--subprotocol", action="append", default=[], metavar="NAME", help="a subprotocol to offer (repeatable)"
    )
    p.add_argument("--unix", metavar="PATH", help="connect to this UNIX socket (the URL names the host and path)")
    p.add_argument("--ca", metavar="FILE", help="trust the CA certificates of this PEM file for wss://")
    p.add_argument("-k", "--insecure", action="store_true", help="accept any TLS certificate (development only)")
    p.add_argument("--keep-open", action="store_true", help="when standard input ends, wait for the server to close")
    p.add_argument(
        "-w",
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when standard input ends, wait this long for answers before closing (default: 0)",
    )
    p.add_argument(
        "--max-message-size",
        type=parseSize,
        default=MAX_MESSAGE_SIZE,
        metavar="BYTES",
        help="the largest message accepted from the server (default: 1 MiB)",
    )
    p.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log the attempt and what happens to it on standard error"
    )
    return p


def parseHeaders(lines: Sequence[str]) -> dict[str, str]:
    """
    C{["Name: value", ...]} as a C{dict}.

    @raise ValueError: a line has no colon.
    """
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"bad --header {line!r}: write it as 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def show(message: str | bytes) -> str:
    """
    How a received message is printed.
    """
    if isinstance(message, str):
        return message
    return f"<binary {len(message)} bytes: {message.hex()}>"


class _Lines(LineOnlyReceiver):
    """
    Standard input: each line a text message; its end, the end.
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_MESSAGE_SIZE

    def __init__(self, conn: ClientConnection, ended: Deferred[None]) -> None:
        self.conn = conn
        self.ended = ended

    def lineReceived(self, line: bytes) -> None:
        self.conn.send(line.rstrip(b"\r").decode("utf-8", "replace"))

    def lineLengthExceeded(self, line: bytes) -> None:
        sys.stderr.write(f"a line of standard input is longer than {self.MAX_LENGTH} bytes; not sent\n")

    def connectionLost(self, reason: Any = None) -> None:
        if not self.ended.called:
            self.ended.callback(None)


class _Printer(MessageComponent):
    """
    The component: prints every message.
    """

    def onMessage(self, conn: IConnection, msg: str | bytes) -> None:
        sys.stdout.write(show(msg) + "\n")
        sys.stdout.flush()


async def run(reactor: Any, args: argparse.Namespace) -> int:
    """
    Connect as C{args} say, pump standard input and output; the exit status.
    """
    if args.verbose:
        startLoggingUnlessConfigured(sys.stderr)
    try:
        client = Client(
            args.url,
            _Printer(),
            subProtocols=args.subprotocol,
            headers=parseHeaders(args.header),
            reconnect=None,
            reactor=reactor,
            unix=args.unix,
            ca=args.ca,
            verify=not args.insecure,
            maxMessageSize=args.max_message_size,
            compression=not args.no_compression,
        )
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    client.start()
    try:
        conn = await client.whenConnected()
    except HandshakeRefused as refused:
        sys.stderr.write(f"{refused}\n")
        return EXIT_REFUSED
    except ConnectFailed as failed:
        sys.stderr.write(f"{failed}\n")
        return EXIT_UNREACHABLE
    if conn.subProtocol is not None:
        sys.stderr.write(f"connected (subprotocol {conn.subProtocol})\n")
    else:
        sys.stderr.write("connected\n")
    ended: Deferred[None] = Deferred()
    stdin = stdio.StandardIO(_Lines(conn, ended), reactor=reactor)
    if not args.keep_open:
        ended.addCallback(lambda _: deferLater(reactor, max(0.0, args.wait), conn.close, 1000, ""))
    # Ctrl-C (or SIGTERM) closes the connection properly before the reactor stops.
    closed = conn.whenClosed()

    def closeFirst() -> Deferred[tuple[int, str]]:
        conn.close(1000, "")
        return conn.whenClosed()

    reactor.addSystemEventTrigger("before", "shutdown", closeFirst)
    code, reason = await closed
    stdin.loseConnection()
    normal = code in NORMAL_CODES
    if not normal or reason:
        sys.stderr.write(f"closed: {code}{' ' + reason if reason else ''}\n")
    return EXIT_CLOSED if normal else EXIT_ABNORMAL


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the command line client; exits with its status.
    """
    args = parser().parse_args(argv)

    def start(reactor: Any) -> Deferred[None]:
        async def status() -> None:
            raise SystemExit(await run(reactor, args))

        return ensureDeferred(status())

    react(start)


__all__ = [
    "main",
    "run",
    "parser",
    "parseHeaders",
    "show",
    "EXIT_CLOSED",
    "EXIT_ABNORMAL",
    "EXIT_UNREACHABLE",
    "EXIT_REFUSED",
    "EXIT_USAGE",
]
