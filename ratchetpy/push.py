# -*- test-case-name: tests.test_push -*-
"""
Push a message to a channel from outside the server: a Django or Flask view,
a script, a cron job. Synchronous, no reactor::

    from ratchetpy.push import publish

    publish("redis://127.0.0.1:6379/0", "blog", '{"title": "Hello"}')
    publish("https://ws.example.com/publish", "blog", "hi", secret=SECRET)

A C{redis://} URL publishes straight into the broker the servers share (their
C{--broker}); an C{http://} or C{https://} URL posts to a server's publish
endpoint (twistd's C{--publish-path}, L{ratchetpy.pubsub.endpoint}).

L{sendToUser} does the same for every connection of one user
(L{ratchetpy.Users}), wherever they are connected.

L{disconnectUser} closes them all (on logout).

From a shell: C{python -m ratchetpy.push URL CHANNEL MESSAGE}, or
C{python -m ratchetpy.push --user USERID URL MESSAGE}, or
C{python -m ratchetpy.push --user USERID --disconnect URL}.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

from .pubsub import envelope
from .pubsub.channels import checkChannel
from .pubsub.url import parseRedisUrl
from .pubsub.users import DISCONNECTED, checkClose, encodeDisconnect, userChannel

#: Seconds a push may take, connecting included, by default.
TIMEOUT = 5.0

__all__ = ["PushError", "publish", "sendToUser", "disconnectUser", "TIMEOUT"]


class PushError(Exception):
    """
    A push failed; the message says what went wrong and what to do.
    """


def publish(url: str, channel: str, msg: str | bytes, *, timeout: float = TIMEOUT, secret: str | None = None) -> int:
    """
    Publish C{msg} (C{str}: a text message, C{bytes}: binary) to C{channel}.

    @param url: C{redis://[[user]:password@]host[:port][/db]}: the broker
        the servers use (their C{--broker}); or the C{http://} or
        C{https://} URL of a server's publish endpoint (its
        C{--publish-path}), to which C{/CHANNEL} is added.
    @param timeout: seconds the whole push may take; it never hangs longer.
    @param secret: the endpoint's shared secret (HTTP only), sent as
        C{Authorization: Bearer SECRET}.
    @return: with Redis, the number of server processes subscribed to the
        channel that received it (0: no process has a subscriber to it); over
        HTTP, the count the endpoint's broker gave: the same with Redis, the
        number of the endpoint server's L{ratchetpy.Channels} with
        subscribers to the channel with C{memory://}.
    @raise PushError: the URL, channel or message is not valid, the broker or
        server is unreachable or too slow, or the secret was refused.
    """
    try:
        checkChannel(channel)
    except (TypeError, ValueError) as exc:
        raise PushError(f"bad channel: {exc}") from None
    return _push(url, _toRedis(channel, msg), quote(channel, safe=""), msg, timeout, secret)


def sendToUser(
    url: str, userId: str, msg: str | bytes, *, timeout: float = TIMEOUT, secret: str | None = None
) -> int:
    """
    Send C{msg} (C{str}: a text message, C{bytes}: binary) to every
    connection of user C{userId} that a L{ratchetpy.Users} of the servers
    has, on every server: a publish on the user's channel, C{user:USERID}.

    @param url: as for L{publish}; over HTTP, C{/user/USERID} is added to
        the endpoint's URL.
    @param timeout: as for L{publish}.
    @param secret: as for L{publish}.
    @return: as for L{publish}: with Redis, the number of server processes
        where the user is connected (0: nowhere).
    @raise PushError: as for L{publish}; or C{userId} is not a valid user id.
    """
    try:
        channel = userChannel(userId)
    except (TypeError, ValueError) as exc:
        raise PushError(f"bad user id: {exc}") from None
    return _push(url, _toRedis(channel, msg), "user/" + quote(userId, safe=""), msg, timeout, secret)


def disconnectUser(
    url: str,
    userId: str,
    *,
    code: int = DISCONNECTED,
    reason: str = "",
    timeout: float = TIMEOUT,
    secret: str | None = None,
) -> int:
    """
    Close every connection of user C{userId} on every server (as
    L{ratchetpy.Users.disconnect}), with close code C{code} and C{reason}:
    on logout, say.

    @param url: as for L{publish}; over HTTP, C{/user/USERID/disconnect}
        is added to the endpoint's URL.
    @return: the number of L{ratchetpy.Users} (through Redis: of server
        processes) that heard it, whether or not the user is connected there.
    @raise PushError: as for L{publish}; or C{userId}, C{code} or C{reason}
        is not valid.
    """
    try:
        userChannel(userId)
        checkClose(code, reason)
    except (TypeError, ValueError) as exc:
        raise PushError(f"bad disconnect: {exc}") from None
    origin = envelope.newOrigin("push")
    command = json.dumps({"code": code, "reason": reason})
    return _push(
        url,
        (envelope.USERS_CONTROL, encodeDisconnect(origin, userId, code, reason)),
        f"user/{quote(userId, safe='')}/disconnect",
        command,
        timeout,
        secret,
    )


def _toRedis(channel: str, msg: object) -> tuple[str, bytes]:
    """
    The broker channel and bytes that publish C{msg} on C{channel}.
    """
    if isinstance(msg, (bytearray, memoryview)):
        msg = bytes(msg)
    if not isinstance(msg, (str, bytes)):
        raise PushError(f"a message is str (text) or bytes (binary), not {type(msg).__name__}")
    return envelope.brokerChannel(channel), envelope.encode(envelope.newOrigin("push"), msg)


def _push(
    url: str, redisMessage: tuple[str, bytes], path: str, msg: str | bytes, timeout: float, secret: str | None
) -> int:
    """
    Publish C{redisMessage} (a broker channel and its bytes) into Redis, or
    post C{msg} (checked by L{_toRedis} already) to the endpoint at
    C{url/path}.
    """
    if isinstance(msg, (bytearray, memoryview)):
        msg = bytes(msg)
    if not isinstance(url, str):
        raise PushError(f"the URL is a str, not {type(url).__name__}")
    scheme = url.partition(":")[0].lower()
    if scheme == "redis":
        return _publishRedis(url, *redisMessage, timeout)
    if scheme in ("http", "https"):
        return _publishHttp(url, path, msg, timeout, secret)
    raise PushError(
        f"bad URL {url!r}: use redis://[:password@]host[:port][/db] (the servers' --broker) "
        "or http(s)://host[:port]/PATH (a server's --publish-path)"
    )


def _publishRedis(url: str, brokerChannel: str, data: bytes, timeout: float) -> int:
    try:
        address = parseRedisUrl(url)
    except ValueError as exc:
        raise PushError(f"bad URL: {exc}") from None
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise PushError("pushing through Redis needs redis-py: pip install 'ratchetpy[redis]'") from None
    client = redis.Redis(
        host=address.host,
        port=address.port,
        db=address.db,
        username=address.username,
        password=address.password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # One attempt: redis-py's default retries with backoff would make a
        # Redis that is down take seconds to report, beyond the timeout.
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return int(client.publish(brokerChannel, data))
    except redis.AuthenticationError as exc:
        if address.password is None:
            raise PushError(
                f"Redis at {address.display()} requires a password ({exc}): "
                "put it in the URL, redis://:PASSWORD@host:port/db"
            ) from None
        raise PushError(
            f"Redis at {address.display()} refused the password ({exc}): check the URL's password"
        ) from None
    except redis.TimeoutError:
        raise PushError(
            f"Redis at {address.display()} did not answer within {timeout:g} seconds: is it overloaded? "
            "Check it with redis-cli, or pass a longer timeout"
        ) from None
    except redis.ConnectionError as exc:
        raise PushError(
            f"cannot reach Redis at {address.display()} ({exc}): is redis-server running there, "
            "and is this the servers' --broker URL?"
        ) from None
    except redis.RedisError as exc:
        raise PushError(f"Redis at {address.display()} refused the publish ({exc}): check the URL") from None
    finally:
        client.close()


def _publishHttp(url: str, path: str, msg: str | bytes, timeout: float, secret: str | None) -> int:
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment:
        raise PushError(f"bad URL {url!r}: use http(s)://host[:port]/PATH, the server's --publish-path")
    target = url.rstrip("/") + "/" + path
    if isinstance(msg, str):
        body, contentType = msg.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        body, contentType = msg, "application/octet-stream"
    headers = {"Content-Type": contentType}
    if secret is not None:
        if not secret or any(c in secret for c in "\r\n\0"):
            raise PushError("bad secret: it is empty or has a line break; pass the secret alone, without a newline")
        # As UTF-8 bytes: http.client would encode a str as Latin-1, or fail.
        headers["Authorization"] = b"Bearer " + secret.encode("utf-8")  # type: ignore[assignment]
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        detail = exc.read(1024).decode("utf-8", "replace").strip()
        hint = {
            401: "pass the endpoint's secret (secret=..., or --secret)",
            403: "the secret is wrong: use the one in the server's --publish-secret-file",
            404: "no publish endpoint there: check the URL against the server's --publish-path",
            405: "no publish endpoint there: check the URL against the server's --publish-path",
            503: "the server's broker is unreachable: check its Redis",
        }.get(exc.code, "see the server's log")
        raise PushError(f"{target} answered {exc.code} ({detail or exc.reason}): {hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise PushError(f"{target} did not answer within {timeout:g} seconds: is the server overloaded?") from None
        raise PushError(f"cannot reach {target} ({reason}): is the server running there?") from None
    try:
        return int(json.loads(answer)["receivers"])
    except (ValueError, KeyError, TypeError):
        raise PushError(f"{target} did not answer as a ratchetpy publish endpoint: check the URL") from None


def main(argv: list[str] | None = None) -> int:
    """
    C{python -m ratchetpy.push URL CHANNEL MESSAGE [--secret-file FILE]}, or
    C{python -m ratchetpy.push --user USERID URL MESSAGE ...} to send to a
    user (L{sendToUser}), or C{--user USERID --disconnect URL [--code CODE]
    [--reason REASON]} to close their connections (L{disconnectUser}):
    prints the count returned; on failure, one line on standard error and
    exit status 1.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ratchetpy.push",
        usage="%(prog)s [options] URL CHANNEL MESSAGE\n       %(prog)s [options] --user USERID URL MESSAGE\n"
        "       %(prog)s [options] --user USERID --disconnect URL [--code CODE] [--reason REASON]",
        description="Publish a text message to a channel, send it to a user, or close a user's connections.",
    )
    parser.add_argument("url", help="redis://host[:port][/db] (the servers' --broker) or a publish endpoint URL")
    parser.add_argument("words", nargs="*", metavar="[CHANNEL] MESSAGE", help="the channel (not with --user), the text")
    parser.add_argument("--user", metavar="USERID", help="send to every connection of this user instead of a channel")
    parser.add_argument("--disconnect", action="store_true", help="close every connection of --user instead")
    parser.add_argument("--code", type=int, default=DISCONNECTED, help="close code (default: %(default)s)")
    parser.add_argument("--reason", default="", help="close reason (default: none)")
    parser.add_argument("--secret-file", help="file holding the publish endpoint's secret (HTTP only)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.disconnect and args.user is None:
        parser.error("--disconnect needs --user USERID")
    if len(args.words) != (0 if args.disconnect else 1 if args.user is not None else 2):
        parser.error("give URL alone with --disconnect, URL MESSAGE with --user, URL CHANNEL MESSAGE without")
    try:
        secret = None
        if args.secret_file:
            try:
                with open(args.secret_file, encoding="utf-8") as f:
                    secret = f.read().strip()
            except OSError as exc:
                raise PushError(f"cannot read --secret-file: {exc}") from None
        if args.disconnect:
            count = disconnectUser(
                args.url, args.user, code=args.code, reason=args.reason, timeout=args.timeout, secret=secret
            )
        elif args.user is not None:
            count = sendToUser(args.url, args.user, args.words[0], timeout=args.timeout, secret=secret)
        else:
            count = publish(args.url, *args.words, timeout=args.timeout, secret=secret)
    except PushError as exc:
        print(f"ratchetpy.push: {exc}", file=sys.stderr)
        return 1
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
