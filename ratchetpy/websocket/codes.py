# -*- test-case-name: tests.websocket.test_server -*-
"""
WebSocket close codes (RFC 6455 section 7.4, and the IANA registry) that
ratchetpy sends, in one place.

Import-light on purpose: the layers below the WebSocket one (the server's
shutdown, the slow-consumer policy, the hook dispatcher) close connections
with these codes without depending on the WebSocket engine.
"""

from __future__ import annotations

#: The purpose of the connection was fulfilled.
NORMAL_CLOSURE = 1000
#: The server is shutting down (or a browser leaves the page).
GOING_AWAY = 1001
#: The peer broke a rule that is not about the protocol or message size: here,
#: falling too far behind in reading (the slow-consumer policy).
POLICY_VIOLATION = 1008
#: A message was larger than the server accepts.
MESSAGE_TOO_BIG = 1009
#: A hook of the component failed.
INTERNAL_ERROR = 1011


def isSendableCloseCode(code: int) -> bool:
    """
    Whether an endpoint may send close code C{code}: 1000-1003, 1007-1014
    and 3000-4999 (1004-1006 and 1015 are reserved, and are never put on
    the wire).
    """
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


__all__ = [
    "NORMAL_CLOSURE",
    "GOING_AWAY",
    "POLICY_VIOLATION",
    "MESSAGE_TOO_BIG",
    "INTERNAL_ERROR",
    "isSendableCloseCode",
]
