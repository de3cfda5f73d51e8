"""
What the authentication tests share: a key, tokens minted by PyJWT, a
server with an L{Authenticate} layer on loopback, and blocking clients (the
C{websockets} library) that report what the server answered.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ratchetpy import HttpServer, OriginCheck, WsServer
from ratchetpy.auth import Authenticate
from tests.credentials import remember
from tests.helpers import Recorder

#: The HMAC secret of the tests' tokens (32 bytes: PyJWT warns about shorter ones).
KEY = b"k" * 16 + b"e" * 16
OTHER_KEY = b"x" * 32
#: The origin the tests' servers allow.
ORIGIN = "http://127.0.0.1"


def mint(sub: str | None = "42", *, key: bytes = KEY, ttl: float = 3600, **claims: Any) -> str:
    """
    A token for C{sub} (left out if C{None}), expiring in C{ttl} seconds, with C{claims}.
    """
    payload: dict[str, Any] = {"exp": int(time.time() + ttl), **claims}
    if sub is not None:
        payload["sub"] = sub
    return remember(jwt.encode(payload, key, algorithm="HS256"))


class WhoAmI(Recorder):
    """
    Sends every connection, on open, its user as JSON (C{null} if anonymous); records its hooks; may speak subprotocols.
    """

    def __init__(self, subProtocols: tuple[str, ...] = (), **behaviour: Any) -> None:
        super().__init__(**behaviour)
        self.subProtocols = list(subProtocols)

    def getSubProtocols(self) -> list[str]:
        return self.subProtocols

    def onOpen(self, conn):
        user = conn.user
        conn.send(json.dumps(None if user is None else {"id": user.id, "info": user.info, "exp": user.expiresAt}))
        return super().onOpen(conn)


def serveAuthenticated(listen: Any, component: Any, *authenticators: Any, **options: Any) -> tuple[Authenticate, str]:
    """
    Serve C{HttpServer(OriginCheck(Authenticate(WsServer(component), *authenticators, **options)))} (an origin check,
    which cookie authenticators need; the tests' clients send no Origin); return the layer and the URL.
    """
    layer = Authenticate(WsServer(component), *authenticators, **options)
    server = listen(HttpServer(OriginCheck(layer, [ORIGIN])))
    return layer, f"ws://127.0.0.1:{server.portNumber}/"


def whoAmI(url: str, **connectOptions: Any) -> tuple[Any, str | None]:
    """
    (Blocking client.) Connect, read the first message as JSON; return it and the agreed subprotocol.
    """
    with connect(url, open_timeout=10, proxy=None, **connectOptions) as ws:
        return json.loads(ws.recv(timeout=10)), ws.subprotocol


def refusal(url: str, **connectOptions: Any) -> tuple[int, dict[str, str], str]:
    """
    (Blocking client.) Connect, expecting the handshake to be refused; return the status, headers and body.
    """
    try:
        with connect(url, open_timeout=10, proxy=None, **connectOptions):
            pass
    except InvalidStatus as refused:
        response = refused.response
        headers = {name.lower(): value for name, value in response.headers.raw_items()}
        return response.status_code, headers, response.body.decode("utf-8", "replace")
    raise AssertionError("the server accepted the handshake")


def bearer(token: str) -> dict[str, Any]:
    """
    The connect options that send C{token} in an C{Authorization} header.
    """
    return {"additional_headers": {"Authorization": f"Bearer {token}"}}
