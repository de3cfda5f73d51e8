# -*- test-case-name: tests.wamp.test_protocol -*-
"""
WAMP's serializers as WebSocket subprotocols: Autobahn's serializers, one
shared instance per subprotocol, so that a message sent to many sessions
(one EVENT) is encoded once per serializer (Autobahn caches a message's bytes
per serializer instance).
"""

from __future__ import annotations

import json
from typing import Any

from autobahn.wamp.exception import InvalidUriError, ProtocolError
from autobahn.wamp.message import Message
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

__all__ = ["SUBPROTOCOLS", "Codec", "codecFor", "MalformedMessage", "BadUri"]


class MalformedMessage(Exception):
    """
    A WebSocket message that is no WAMP message (bad encoding, not a list,
    unknown type, wrong arity or types): a protocol violation.
    """


class BadUri(Exception):
    """
    A request whose URI is invalid: answerable with ERROR
    C{wamp.error.invalid_uri} when its type and request id are known.

    @ivar messageType: the request's WAMP message type code.
    @ivar request: the request id, or C{None} if it has none readable.
    @ivar options: the request's options (C{{}} if unreadable).
    """

    def __init__(self, messageType: int, request: int | None, why: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(why)
        self.messageType = messageType
        self.request = request
        self.options = options or {}


class Codec:
    """
    One WAMP serializer: decodes a WebSocket message into Autobahn message
    objects and encodes messages into what C{conn.send} takes (C{str} for
    JSON, whose frames are text; C{bytes} otherwise).

    @ivar subProtocol: the subprotocol name, C{"wamp.2.json"}.
    """

    def __init__(self, serializer: Any) -> None:
        self.serializer = serializer
        self.objectSerializer: Any = serializer._serializer
        self.binary: bool = bool(serializer._serializer.BINARY)
        self.subProtocol = "wamp.2." + str(serializer.SERIALIZER_ID)
        self._types: dict[int, Any] = serializer.MESSAGE_TYPE_MAP

    def decode(self, payload: str | bytes) -> list[tuple[Message, list[Any]]]:
        """
        The messages of one WebSocket message, each with the raw list it was
        parsed from (options Autobahn does not keep are read from it).

        @raise MalformedMessage: it is not a WAMP message of this serializer.
        @raise BadUri: a request carries an invalid URI.
        """
        if isinstance(payload, str):
            if self.binary:
                raise MalformedMessage(f"a text message on {self.subProtocol}, which is binary")
        elif not self.binary:
            raise MalformedMessage(f"a binary message on {self.subProtocol}, which is text")
        try:
            if isinstance(payload, str) and "\\u0000" not in payload:
                # No binary string in it (Autobahn's JSON writes bytes as
                # "\u0000" + base64): the standard library's decoder in C
                # gives what Autobahn's (in Python, ten times slower) would.
                raws = [json.loads(payload)]
            else:
                raws = self.objectSerializer.unserialize(
                    payload.encode("utf-8") if isinstance(payload, str) else payload
                )
        except Exception as e:
            raise MalformedMessage(f"cannot decode the message: {type(e).__name__}") from None
        decoded = []
        for raw in raws:
            if type(raw) is not list or not raw or type(raw[0]) is not int:
                raise MalformedMessage("a WAMP message is a list that starts with its type code")
            klass = self._types.get(raw[0])
            if klass is None:
                raise MalformedMessage(f"unknown WAMP message type {raw[0]}")
            try:
                msg = klass.parse(raw)
            except InvalidUriError as e:
                request = raw[1] if len(raw) > 1 and type(raw[1]) is int else None
                options = raw[2] if len(raw) > 2 and isinstance(raw[2], dict) else None
                raise BadUri(raw[0], request, str(e), options) from None
            except ProtocolError as e:
                raise MalformedMessage(str(e)) from None
            except Exception as e:  # Autobahn's parse of odd input (a bad dict) may raise anything
                raise MalformedMessage(f"malformed {klass.__name__}: {type(e).__name__}") from None
            decoded.append((msg, raw))
        return decoded

    def encode(self, msg: Message) -> str | bytes:
        """
        C{msg} as the payload of one WebSocket message (cached on C{msg}:
        encoding it again for another receiver costs nothing).
        """
        data: bytes = msg.serialize(self.objectSerializer)
        return data if self.binary else data.decode("utf-8")


def _codecs() -> dict[str, Codec]:
    codecs = {}
    for serializer in (JsonSerializer(), MsgPackSerializer(), CBORSerializer()):
        codec = Codec(serializer)
        codecs[codec.subProtocol] = codec
    return codecs


_CODECS = _codecs()

#: The subprotocols offered, in the server's order of preference.
SUBPROTOCOLS = ("wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor")


def codecFor(subProtocol: str | None) -> Codec | None:
    """
    The shared L{Codec} of C{subProtocol}, or C{None} if it is no WAMP
    subprotocol this router speaks.
    """
    return _CODECS.get(subProtocol) if subProtocol else None
