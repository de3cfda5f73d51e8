# -*- test-case-name: tests.test_push -*-
"""
L{PublishEndpoint}: an authenticated HTTP endpoint that publishes a
request's body to a channel, so that a web application can push to the
WebSocket clients of a server without a broker of its own (see
L{ratchetpy.push}).

Never on by default: twistd's C{--publish-path PATH} with a secret
(C{--publish-secret-file FILE} or the C{RATCHETPY_PUBLISH_SECRET}
environment variable) puts one in front of the component, through
L{PublishFront}; in Python it is a route::

    app.route("/publish/{channel}", PublishEndpoint(secret), methods=("POST",))
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .._ratelimit import LogBudget
from ..http.handler import HttpHandler
from ..http.response import HttpError, Response
from ..http.router import RequestSwitch
from ..interfaces import IBroker, IHttpRequest, IHttpServerComponent
from . import BrokerUnavailable, brokerFor, defaultBroker, envelope
from .channels import Channels, checkChannel
from .users import DISCONNECTED, checkClose, encodeDisconnect, userChannel

log = Logger(namespace="ratchetpy")
_refusals = LogBudget(log)

#: The shortest secret accepted, in bytes of UTF-8.
MIN_SECRET = 16


@implementer(IBroker)
class _Counting:
    """
    A broker that passes everything to another and keeps, for the latest
    publish, what it answered: how many subscriptions received the message
    (which L{Channels.publish} does not return).
    """

    def __init__(self, broker: IBroker) -> None:
        self._broker = broker
        self.origin = broker.origin
        self.stats = broker.stats
        self.lastCount: list[int | None] = [None]

    def publish(self, channel: str, data: bytes) -> defer.Deferred[int]:
        count = self.lastCount = [None]

        def note(received: int) -> int:
            count[0] = received
            return received

        return self._broker.publish(channel, data).addCallback(note)

    def subscribe(self, channel: str, callback: Callable[[str, bytes], object]) -> None:
        self._broker.subscribe(channel, callback)

    def unsubscribe(self, channel: str, callback: Callable[[str, bytes], object]) -> None:
        self._broker.unsubscribe(channel, callback)

    def start(self) -> None:
        self._broker.start()

    def stop(self) -> defer.Deferred[None]:
        return self._broker.stop()


def _json(status: int, **fields: Any) -> Response:
    return Response(status, json.dumps(fields) + "\n", contentType="application/json")


class PublishEndpoint(HttpHandler):
    """
    C{POST .../CHANNEL} with C{Authorization: Bearer SECRET} publishes the
    request body to C{CHANNEL} (the last path segment, percent-decoded, or
    the C{{channel}} parameter of a route) and answers 202 with
    C{{"channel": CHANNEL, "receivers": N}}, C{N} being what the broker
    counted: the server processes (Redis) or the L{Channels} of this process
    (C{memory://}) subscribed to the channel.

    C{POST .../user/USERID} (or a route's C{{user}}) sends the body to every
    connection of that user (L{ratchetpy.Users}: the channel
    C{user:USERID}), and answers C{{"user": USERID, "receivers": N}}.
    C{POST .../user/USERID/disconnect} closes them all (as
    L{ratchetpy.Users.disconnect}) with the C{code} and C{reason} of a JSON
    body (C{{"code": 4000, "reason": "logged out"}}; empty: code 4000), and
    answers C{{"user": USERID, "disconnect": true, "receivers": N}}, C{N}
    being the L{ratchetpy.Users} (processes) that heard it.

    The body is a text message when there is no C{Content-Type} or it is
    anything but C{application/octet-stream} (and must then be UTF-8), and
    a binary message for C{application/octet-stream}.

    Refused, logged (rate-limited) and answered with JSON saying why: no
    secret, 401 (with C{WWW-Authenticate: Bearer}); a wrong one, 403; a
    method other than C{POST}, 405; a bad channel name or user id, or a text
    body that is not UTF-8, 400; a body larger than C{maxBodySize}, 413. A broker
    that cannot take the message: 503 (this process's subscribers got it).
    """

    def __init__(
        self,
        secret: str | bytes,
        channels: Channels | IBroker | str | None = None,
        *,
        maxBodySize: int | None = None,
        bodyTimeout: float | None = None,
        reactor: Any = None,
    ) -> None:
        """
        @param secret: the shared secret clients send as C{Authorization:
            Bearer SECRET}; at least L{MIN_SECRET} bytes.
        @param channels: where to publish: a L{Channels} (its broker), a
            broker or broker URL, or C{None} for the process default broker
            (twistd's C{--broker}).
        @param maxBodySize: see L{HttpHandler.__init__}.
        @param bodyTimeout: see L{HttpHandler.__init__}.
        @param reactor: see L{HttpHandler.__init__}.
        @raise ValueError: the secret is too short.
        """
        super().__init__(maxBodySize=maxBodySize, bodyTimeout=bodyTimeout, reactor=reactor)
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(self._secret) < MIN_SECRET:
            raise ValueError(
                f"the publish secret is {len(self._secret)} bytes; use at least {MIN_SECRET} random bytes, "
                'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        if isinstance(channels, Channels):
            broker = channels.broker
        elif isinstance(channels, str):
            broker = brokerFor(channels)
        elif channels is None:
            broker = defaultBroker()
        else:
            broker = channels
        self._counting = _Counting(broker)
        # Its own Channels on the same broker: the component's Channels get
        # the message from the broker like any other publisher's.
        self.channels = Channels(self._counting)

    def _refusal(
        self, request: IHttpRequest, status: int, why: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        _refusals.info(
            f"publish-{status}",
            "publish endpoint answered {status} to {method} {path}: {why}",
            status=status,
            method=request.method,
            path=request.path,
            why=why,
        )
        response = _json(status, error=why)
        response.headers.extend(headers)
        return response

    def _target(self, request: IHttpRequest) -> tuple[str, str | None, str | None]:
        """
        The channel to publish on, the user whose channel it is (or
        C{None}), and the command for that user (C{"disconnect"}, or
        C{None} to send the body): from the route's C{{user}} (and
        C{{command}}) or C{{channel}}, else from the path,
        C{.../user/USERID/disconnect}, C{.../user/USERID} or C{.../CHANNEL}
        (percent-decoded).

        @raise ValueError: the channel, user id or command is not valid.
        """
        params = getattr(request, "routeParams", None) or {}
        if "user" in params:
            user, command = params["user"], params.get("command")
        elif "channel" in params:
            return self._checked(checkChannel, "channel name", params["channel"]), None, None
        else:
            segments = request.path.split("/")
            try:
                segments[-2:] = [unquote(segment, errors="strict") for segment in segments[-2:]]
            except UnicodeDecodeError as exc:
                raise ValueError(f"bad channel name or user id: {exc}") from None
            if len(segments) >= 3 and segments[-3] == "user" and segments[-1] == "disconnect":
                user, command = segments[-2], "disconnect"
            elif len(segments) >= 2 and segments[-2] == "user":
                user, command = segments[-1], None
            else:
                return self._checked(checkChannel, "channel name", segments[-1]), None, None
        if command not in (None, "disconnect"):
            raise ValueError(f"unknown command {command!r}: POST .../user/USERID/disconnect")
        return self._checked(userChannel, "user id", user), user, command

    @staticmethod
    def _checked(check: Callable[[str], str], what: str, value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise ValueError(f"bad {what}: {exc}") from None

    def onRequest(self, request: IHttpRequest) -> Any:
        if request.method != "POST":
            return self._refusal(request, 405, f"use POST, not {request.method}", (("Allow", "POST"),))
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._refusal(
                request, 401, "send the secret as Authorization: Bearer SECRET", (("WWW-Authenticate", "Bearer"),)
            )
        # Header values are the bytes received, decoded as Latin-1: encoding
        # them back gives those bytes, a UTF-8 secret's included.
        if not hmac.compare_digest(token.strip().encode("latin-1"), self._secret):
            return self._refusal(request, 403, "wrong secret")
        try:
            channel, user, command = self._target(request)
        except ValueError as exc:
            return self._refusal(request, 400, str(exc))
        body = request.body
        if command == "disconnect":
            return self._disconnect(request, user, body)  # type: ignore[arg-type]
        contentType = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        msg: str | bytes
        if contentType == "application/octet-stream":
            msg = body
        else:
            try:
                msg = body.decode("utf-8")
            except UnicodeDecodeError:
                return self._refusal(
                    request, 400, "a text body must be UTF-8; send binary as Content-Type: application/octet-stream"
                )
        try:
            published = self.channels.publish(channel, msg)
        except ValueError as exc:
            return self._refusal(request, 413, str(exc))
        count = self._counting.lastCount

        def accepted(_: object) -> Response:
            if user is not None:
                return _json(202, user=user, receivers=count[0] or 0)
            return _json(202, channel=channel, receivers=count[0] or 0)

        def failed(failure: Failure) -> Response:
            failure.trap(BrokerUnavailable)
            return self._refusal(request, 503, f"the broker did not take the message: {failure.getErrorMessage()}")

        return published.addCallbacks(accepted, failed)

    def _disconnect(self, request: IHttpRequest, user: str, body: bytes) -> Any:
        """
        Close every connection of C{user} on every server (as
        L{ratchetpy.Users.disconnect}), with the C{code} and C{reason} of the
        JSON object in C{body} (an empty body: the defaults).
        """
        try:
            options = json.loads(body) if body.strip() else {}
            if not isinstance(options, dict):
                raise ValueError("the body is a JSON object")
            code, reason = options.get("code", DISCONNECTED), options.get("reason", "")
            checkClose(code, reason)
        except (ValueError, TypeError) as exc:
            return self._refusal(request, 400, f'bad disconnect: {exc}; send {{"code": 4000, "reason": "..."}}')
        command = encodeDisconnect(self.channels.origin, user, code, reason)

        def failed(failure: Failure) -> Response:
            failure.trap(BrokerUnavailable)
            return self._refusal(request, 503, f"the broker did not take the message: {failure.getErrorMessage()}")

        published = self._counting.publish(envelope.USERS_CONTROL, command)
        return published.addCallbacks(lambda count: _json(202, user=user, disconnect=True, receivers=count), failed)

    def __repr__(self) -> str:
        return f"<PublishEndpoint on {self._counting._broker!r}>"


class PublishFront(RequestSwitch):
    """
    An HTTP-layer component that sends the requests whose path is C{prefix}
    or below it to a L{PublishEndpoint}, and every other request to
    C{component}: what twistd's C{--publish-path} puts in front of the
    component. Under C{prefix}, a path that is not C{prefix/CHANNEL},
    C{prefix/user/USERID} or C{prefix/user/USERID/disconnect} gets 404, and
    neither hears of it.
    """

    def __init__(self, endpoint: PublishEndpoint, prefix: str, component: IHttpServerComponent) -> None:
        if not prefix.startswith("/") or prefix == "/":
            raise ValueError(f"the publish path must start with / and name something, e.g. /publish, not {prefix!r}")
        super().__init__()
        self.endpoint = endpoint
        self.prefix = prefix.rstrip("/")
        self.component = component

    def choose(self, request: IHttpRequest) -> IHttpServerComponent:
        path = request.path
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return self.component
        rest = path[len(self.prefix) + 1 :].split("/")
        params = {}
        if 2 <= len(rest) <= 3 and rest[0] == "user" and rest[1] and rest[2:] in ([], ["disconnect"]):
            params["user"] = rest[1]
            if len(rest) == 3:
                params["command"] = rest[2]
        elif len(rest) == 1 and rest[0]:
            params["channel"] = rest[0]
        else:
            raise HttpError(
                404,
                f"publish to {self.prefix}/CHANNEL or {self.prefix}/user/USERID, or POST "
                f"{self.prefix}/user/USERID/disconnect (percent-encode a / in them)",
            )
        try:
            # As a Router route's placeholders would be: the endpoint reads
            # them there, whatever the prefix is.
            request.routeParams = {name: unquote(value, errors="strict") for name, value in params.items()}
        except UnicodeDecodeError:
            pass  # the endpoint refuses it with 400, once the secret is checked
        return self.endpoint
