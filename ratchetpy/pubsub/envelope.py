# -*- test-case-name: tests.pubsub.test_channels -*-
"""
How a published message travels through a broker: the channel name on the
broker and the bytes of the message.

A message is C{ORIGIN ":" KIND ":" PAYLOAD}: C{ORIGIN} names the process (or
push helper) that published it, so a server can skip its own publishes coming
back (it has already delivered them to its own subscribers); C{KIND} is C{t}
for a text message (C{PAYLOAD} is UTF-8) or C{b} for a binary one. The push
helper and every server process must agree on this, and nothing else does.
"""

from __future__ import annotations

import os

#: Broker channel names are the ratchetpy channel names under this prefix, so
#: a Redis shared with other applications keeps them apart.
CHANNEL_PREFIX = "ratchetpy:"


class BadEnvelope(ValueError):
    """
    Bytes from the broker that are not a ratchetpy message.
    """


def newOrigin(kind: str = "server") -> str:
    """
    A fresh origin name, unique across processes and machines in practice.
    """
    return f"{kind}-{os.urandom(8).hex()}"


def brokerChannel(channel: str) -> str:
    return CHANNEL_PREFIX + channel


def encode(origin: str, msg: str | bytes) -> bytes:
    """
    The bytes to publish for C{msg} (C{str}: text, C{bytes}: binary).
    """
    if isinstance(msg, str):
        return b"".join((origin.encode("ascii"), b":t:", msg.encode("utf-8")))
    return b"".join((origin.encode("ascii"), b":b:", bytes(msg)))


def decode(data: bytes) -> tuple[str, str | bytes]:
    """
    The origin and message in C{data}.

    @raise BadEnvelope: C{data} is not a ratchetpy message.
    """
    origin, sep1, rest = data.partition(b":")
    kind, sep2, payload = rest.partition(b":")
    if not (sep1 and sep2) or kind not in (b"t", b"b"):
        raise BadEnvelope(f"not a ratchetpy message: {bytes(data[:40])!r}")
    try:
        originName = origin.decode("ascii")
        return originName, payload.decode("utf-8") if kind == b"t" else payload
    except UnicodeDecodeError as exc:
        raise BadEnvelope(f"not a ratchetpy message: {exc}") from None


#: The broker channel of L{ratchetpy.pubsub.users.Users}' control messages
#: (closing a user's connections everywhere): outside C{CHANNEL_PREFIX}, so no
#: L{ratchetpy.Channels} channel can be it.
USERS_CONTROL = "ratchetpy-control:users"
