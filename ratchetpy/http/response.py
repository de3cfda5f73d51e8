# -*- test-case-name: tests.http.test_server -*-
"""
HTTP responses: what a component behind L{ratchetpy.HttpServer} writes back,
and how the HTTP layer refuses a request (PHP Ratchet's C{CloseResponseTrait}).

ratchetpy answers one request per connection: every response says
C{Connection: close} and the connection is closed once it is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import IO

from twisted.logger import Logger
from twisted.protocols.basic import FileSender

from .._ratelimit import LogBudget
from ..interfaces import IConnection
from ..server.addresses import describeClient

log = Logger(namespace="ratchetpy")
_refusals = LogBudget(log)

TEXT_PLAIN = "text/plain; charset=utf-8"


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


class Response:
    """
    A complete HTTP/1.1 response.

    @param status: the status code.
    @param body: C{bytes}, C{str} (sent as UTF-8), or a binary file object
        opened for reading, which is streamed (with C{length} its size) and
        closed when sent.
    @param contentType: the C{Content-Type}; omitted when C{None}.
    @param headers: more headers, as C{(name, value)} pairs.
    @param length: the body's size when C{body} is a file.
    """

    def __init__(
        self,
        status: int = 200,
        body: bytes | str | IO[bytes] = b"",
        *,
        contentType: str | None = TEXT_PLAIN,
        headers: Iterable[tuple[str, str]] = (),
        length: int | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.contentType = contentType
        self.headers = list(headers)
        if isinstance(self.body, bytes):
            length = len(self.body)
        elif length is None:
            raise ValueError("a file body needs its length")
        self.length = length

    def head(self) -> bytes:
        """
        The status line and headers, blank line included.
        """
        phrase = HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {phrase}"]
        if self.contentType is not None:
            lines.append(f"Content-Type: {self.contentType}")
        # RFC 9110 section 8.6: none on 1xx and 204; on 304 it would have to be
        # the length of the 200 response's content, not 0.
        if self.status >= 200 and self.status not in (204, 304):
            lines.append(f"Content-Length: {self.length}")
        lines.append("Connection: close")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def writeTo(self, conn: IConnection, *, headOnly: bool = False) -> None:
        """
        Write this response to C{conn} (through its connection I/O, so that
        it is counted against the send limit like everything else) and close
        the connection once it is written. With C{headOnly} (a C{HEAD}
        request) the body is left out.
        """
        io = conn.io
        body = self.body
        if isinstance(body, bytes):
            io.write(self.head() if headOnly else self.head() + body)
            io.loseConnection()
            return
        io.write(self.head())
        if headOnly:
            body.close()
            io.loseConnection()
            return

        def sent(result: object) -> None:
            body.close()
            io.loseConnection()

        # A producer, so a large file is read only as fast as the peer takes it;
        # registered with the connection I/O, which is the transport's producer.
        FileSender().beginFileTransfer(body, io).addBoth(sent)


def closeWithResponse(
    conn: IConnection, status: int, message: str = "", headers: Iterable[tuple[str, str]] = ()
) -> None:
    """
    Answer C{conn} with a plain-text error response with C{status} saying
    C{message}, log it, and close the connection once it is written.
    """
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}: {message}\n" if message else f"{status} {phrase}\n"
    _refusals.info(
        f"http-{status}",
        "answered {status} to {peer} (connection {resourceId}): {message}",
        status=status,
        peer=describeClient(conn),
        resourceId=conn.resourceId,
        message=message or phrase,
    )
    Response(status, body, headers=headers).writeTo(conn)
