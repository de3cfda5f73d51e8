# -*- test-case-name: tests.client.test_client -*-
"""
Why a client could not connect, or why a connection it was waiting on ended.
"""

from __future__ import annotations


class ConnectFailed(Exception):
    """
    No WebSocket connection was made: the server could not be reached, TLS
    failed, or the opening handshake did not complete. C{str()} says why in
    one line.
    """


class HandshakeRefused(ConnectFailed):
    """
    The server answered the opening handshake with an HTTP status other than
    101 (C{401}: credentials are needed, C{403}: refused, C{404}: no such
    path...). Reconnecting does not retry these (see
    L{ratchetpy.client.Reconnect}), but for 408, 429 and 5xx.

    @ivar status: the HTTP status code, an C{int}.
    @ivar reason: the reason phrase of the status line (C{"Unauthorized"}).
    @ivar headers: the response's headers, a C{dict} with lower-case names
        (C{headers.get("www-authenticate")}, C{headers.get("retry-after")}).
    """

    def __init__(self, url: str, status: int, reason: str, headers: dict[str, str]) -> None:
        super().__init__(f"{url} refused the WebSocket handshake with HTTP {status} {reason}".rstrip())
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers

    @property
    def retryable(self) -> bool:
        """
        Whether the refusal may pass by itself (408, 429, 5xx), so that a
        reconnecting client tries again.
        """
        return self.status in (408, 429) or self.status >= 500


class ConnectionClosed(Exception):
    """
    The connection closed while (or before) a message was awaited with
    C{receive()}.

    @ivar code: the close code the server sent (C{1000}, C{1001}...), C{1005}
        if its close frame had none, C{1006} if the connection ended without
        a closing handshake.
    @ivar reason: the close reason the server sent (C{""} if none).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"the WebSocket connection is closed (code {code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


__all__ = ["ConnectFailed", "HandshakeRefused", "ConnectionClosed"]
