# -*- test-case-name: tests.test_httpserver -*-
"""
Answering a request the HTTP layer or a component behind it refuses
(PHP Ratchet's C{CloseResponseTrait}).
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from twisted.logger import Logger

from ..interfaces import IConnection

log = Logger(namespace="ratchetpy")


class HttpError(Exception):
    """
    A request that gets an HTTP error response instead of being served.

    @ivar status: the HTTP status code.
    @ivar message: one line for the client and the log, saying what was wrong.
    @ivar headers: extra response headers, as C{(name, value)} pairs.
    """

    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


def closeWithResponse(
    conn: IConnection, status: int, message: str = "", headers: Iterable[tuple[str, str]] = ()
) -> None:
    """
    Write a complete plain-text HTTP response with C{status} to C{conn}'s
    transport, log it, and close the connection once it is written.
    """
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}: {message}\n".encode() if message else f"{status} {phrase}\n".encode()
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    lines.extend(f"{name}: {value}" for name, value in headers)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    log.info(
        "answered {status} to {peer} (connection {resourceId}): {message}",
        status=status,
        peer=conn.remoteAddress or "local peer",
        resourceId=conn.resourceId,
        message=message or phrase,
    )
    conn.transport.write(head + body)
    conn.transport.loseConnection()
