# -*- test-case-name: tests.websocket.test_lean -*-
"""
The framing arithmetic of the lean path (L{ratchetpy.websocket._autobahn}):
recognising a complete plain data frame from a client, unmasking it, and
framing a message from the server, in a few whole-string operations.

Only the common case lives here: a frame that is anything else is left to
Autobahn's engine, which stays the authority on the protocol (RFC 6455). No
Autobahn import, no state: every function is pure, so that
C{tests/websocket/test_lean.py} can check it against Autobahn's own parser
and framer byte for byte.
"""

from __future__ import annotations

#: The first byte of a final, uncompressed text or binary frame (FIN set,
#: RSV clear, opcode 1 or 2).
TEXT = 0x81
BINARY = 0x82

#: The largest payload RFC 6455 section 5.2 allows (a 63-bit length).
MAX_PAYLOAD = 0x7FFFFFFFFFFFFFFF

_fromBytes = int.from_bytes


def plainFrame(buf: bytes, pos: int, end: int, limit: int) -> tuple[int, int, int] | None:
    """
    The complete plain client data frame at C{buf[pos:end]}, if there is one.

    A plain frame is final, has no RSV bit, is masked, is text or binary,
    encodes its length minimally, and carries at most C{limit} bytes; it is
    complete when all of it is in C{buf} before C{end}.

    @return: C{(first byte, offset of the mask, end of the payload)} (the
        payload starts 4 bytes after the mask), or C{None}: the frame is not
        plain, is malformed, or is not all there yet.
    """
    first = buf[pos]
    if first != TEXT and first != BINARY:
        return None
    second = buf[pos + 1]
    if second < 0x80:
        # Unmasked: a protocol error, for Autobahn to answer.
        return None
    length = second & 0x7F
    if length < 126:
        mask = pos + 2
    elif length == 126:
        mask = pos + 4
        if mask > end:
            return None
        length = _fromBytes(buf[pos + 2 : mask], "big")
        if length < 126:
            return None
    else:
        mask = pos + 10
        if mask > end:
            return None
        length = _fromBytes(buf[pos + 2 : mask], "big")
        if length < 0x10000 or length > MAX_PAYLOAD:
            return None
    if length > limit:
        return None
    stop = mask + 4 + length
    if stop > end:
        return None
    return first, mask, stop


def unmask(mask: bytes, payload: bytes) -> bytes:
    """
    C{payload} XORed with the 4-byte C{mask} repeated (RFC 6455 section
    5.3), as one big-integer operation rather than a loop over bytes.
    """
    size = len(payload)
    if not size:
        return b""
    key = (mask * ((size >> 2) + 1))[:size]
    return (_fromBytes(payload, "little") ^ _fromBytes(key, "little")).to_bytes(size, "little")


def serverFrame(first: int, payload: bytes) -> bytes:
    """
    One unmasked server frame: C{first} (L{TEXT} or L{BINARY}) and the
    length of C{payload}, then C{payload}; the bytes Autobahn's
    C{sendFrame} and C{PreparedMessage} build for it.
    """
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 0x10000:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


__all__ = ["TEXT", "BINARY", "MAX_PAYLOAD", "plainFrame", "unmask", "serverFrame"]
