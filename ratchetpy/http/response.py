# -*- test-case-name: tests.http.test_server,tests.http.test_keepalive -*-
"""
HTTP responses: what a component behind L{ratchetpy.HttpServer} writes back,
and how the HTTP layer refuses a request (PHP Ratchet's C{CloseResponseTrait}).

Connections are persistent (HTTP/1.1 keep-alive): once a response written
with L{Response.writeTo} is complete, L{ratchetpy.HttpServer} reads the
connection's next request, unless the response is the connection's last
(then it says C{Connection: close} and the connection is closed once it is
written; see L{ratchetpy.HttpServer} for when). Refusals written with
L{closeWithResponse} always close the connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import IO, Any

from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from ..interfaces import IConnection
from ..server.addresses import describeClient
from ..server.logs import connectionFields

log = Logger(namespace="ratchetpy")
_refusals = LogBudget(log)

TEXT_PLAIN = "text/plain; charset=utf-8"

#: The HTTP layer's exchange (see L{ratchetpy.http.server}) of each connection
#: it serves, by the connection's I/O, which every view of the connection
#: shares: how a response written by any component tells the HTTP layer
#: whether the connection persists and where the response ends.
_exchanges: dict[Any, Any] = {}


def _tokens(value: str) -> set[str]:
    """
    The comma-separated tokens of a header value, lower case.
    """
    return {token.strip().lower() for token in value.split(",")}


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

    def closes(self) -> bool:
        """
        Whether this response's own headers say C{Connection: close}: the
        connection is closed once it is written.
        """
        return any(name.lower() == "connection" and "close" in _tokens(value) for name, value in self.headers)

    def head(self, connection: str | None = "close") -> bytes:
        """
        The status line and headers, blank line included.

        @param connection: the value of the C{Connection} header (C{"close"},
            C{"keep-alive"}), or C{None} for none (a persistent HTTP/1.1
            connection). A response whose own headers say C{Connection:
            close} gets no second one.
        """
        phrase = HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {phrase}"]
        if self.contentType is not None:
            lines.append(f"Content-Type: {self.contentType}")
        # RFC 9110 section 8.6: none on 1xx and 204; on 304 it would have to be
        # the length of the 200 response's content, not 0.
        if self.status >= 200 and self.status not in (204, 304):
            lines.append(f"Content-Length: {self.length}")
        if connection is not None and not (connection == "close" and self.closes()):
            lines.append(f"Connection: {connection}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def writeTo(self, conn: IConnection, *, headOnly: bool = False) -> None:
        """
        Write this response to C{conn} (through its connection I/O, so that
        it is counted against the send limit like everything else). With
        C{headOnly} (a C{HEAD} request) the body is left out.

        Behind L{ratchetpy.HttpServer}, once the response is written the
        connection reads its next request, or, if this is its last response,
        is closed (the response then says C{Connection: close}); a second
        response to one request is not written, and the connection is
        closed. Elsewhere (a connection of no HTTP layer) the connection is
        closed once the response is written.
        """
        io = conn.io
        body = self.body
        exchange = _exchanges.get(io)
        persist = False
        connection: str | None = "close"
        if exchange is not None:
            started = exchange.responseStarting(self)
            if started is None:
                # Not awaited: written after the request's response, it would
                # be read as the answer to the client's next request.
                if not isinstance(body, bytes):
                    body.close()
                io.loseConnection()
                return
            persist = started
            if persist:
                connection = exchange.keepAliveHeader

        def finished() -> None:
            if persist and exchange is not None:
                exchange.responseComplete()
            else:
                io.loseConnection()

        if isinstance(body, bytes):
            io.write(self.head(connection) if headOnly else self.head(connection) + body)
            finished()
            return
        io.write(self.head(connection))
        if headOnly:
            body.close()
            finished()
            return

        def sent(result: object) -> None:
            body.close()
            if isinstance(result, Failure):
                # Cut short (the file could not be read, or the client
                # left): the client cannot tell where the response ended.
                io.loseConnection()
                return
            finished()

        # A producer, so a large file is read only as fast as the peer takes it;
        # registered with the connection I/O, which is the transport's producer.
        FileSender().beginFileTransfer(body, io).addBoth(sent)


def closeWithResponse(
    conn: IConnection,
    status: int,
    message: str = "",
    headers: Iterable[tuple[str, str]] = (),
    *,
    reason: str | None = None,
) -> None:
    """
    Answer C{conn} with a plain-text error response with C{status} saying
    C{message}, log it, and close the connection once it is written (the
    response says C{Connection: close}, also on a persistent connection).

    @param reason: a short name for why (C{"origin"}), where the status
        alone does not say it: refusals are counted by status and reason
        (the metrics' C{ratchetpy_connections_refused_total}).
    """
    respondWithError(conn, status, message, [*headers, ("Connection", "close")], reason=reason)


def respondWithError(
    conn: IConnection,
    status: int,
    message: str = "",
    headers: Iterable[tuple[str, str]] = (),
    *,
    reason: str | None = None,
) -> None:
    """
    Answer C{conn} with a plain-text error response with C{status} saying
    C{message}, and log it, as L{closeWithResponse} does, but keep a
    persistent connection open for the client's next request: for refusals
    of well-formed requests that say nothing against the client (404, 405).
    """
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}: {message}\n" if message else f"{status} {phrase}\n"
    _refusals.info(
        f"http-{status}" if reason is None else f"http-{status}-{reason}",
        "answered {status} to {peer} (connection {resourceId}): {message}",
        status=status,
        peer=describeClient(conn),
        message=message or phrase,
        **connectionFields(conn),
    )
    Response(status, body, headers=headers).writeTo(conn)
