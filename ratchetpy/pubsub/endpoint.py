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
from . import BrokerUnavailable, brokerFor, defaultBroker
from .channels import Channels, checkChannel
from .users import userChannel

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

        return self._broker.publish(channel, data).addCallback(note)  # type: ignore[attr-defined,no-any-return]

    def subscribe(self, channel: str, callback: Any) -> None:
        self._broker.subscribe(channel, callback)

    def unsubscribe(self, channel: str, callback: Any) -> None:
        self._broker.unsubscribe(channel, callback)

    def start(self) -> None:
        self._broker.start()

    def stop(self) -> Any:
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

    def _refuse(
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

    def _target(self, request: IHttpRequest) -> tuple[str, str | None]:
        """
        The channel to publish on, and the user whose channel it is (or
        C{None}): from the route's C{{user}} or C{{channel}}, else from the
        path, C{.../user/USERID} or C{.../CHANNEL} (percent-decoded).

        @raise ValueError: the channel or user id is not valid.
        """
        params = getattr(request, "routeParams", None) or {}
        if "user" in params:
            user = params["user"]
        elif "channel" in params:
            return self._checked(checkChannel, "channel name", params["channel"]), None
        else:
            head, _, last = request.path.rpartition("/")
            try:
                last = unquote(last, errors="strict")
            except UnicodeDecodeError as exc:
                raise ValueError(f"bad channel name: {exc}") from None
            if not head.endswith("/user"):
                return self._checked(checkChannel, "channel name", last), None
            user = last
        return self._checked(userChannel, "user id", user), user

    @staticmethod
    def _checked(check: Any, what: str, value: str) -> str:
        try:
            return check(value)  # type: ignore[no-any-return]
        except ValueError as exc:
            raise ValueError(f"bad {what}: {exc}") from None

    def onRequest(self, request: IHttpRequest) -> Any:
        if request.method != "POST":
            return self._refuse(request, 405, f"use POST, not {request.method}", (("Allow", "POST"),))
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._refuse(
                request, 401, "send the secret as Authorization: Bearer SECRET", (("WWW-Authenticate", "Bearer"),)
            )
        # Header values are the bytes received, decoded as Latin-1: encoding
        # them back gives those bytes, a UTF-8 secret's included.
        if not hmac.compare_digest(token.strip().encode("latin-1"), self._secret):
            return self._refuse(request, 403, "wrong secret")
        try:
            channel, user = self._target(request)
        except ValueError as exc:
            return self._refuse(request, 400, str(exc))
        body: bytes = request.body  # type: ignore[attr-defined]
        contentType = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        msg: str | bytes
        if contentType == "application/octet-stream":
            msg = body
        else:
            try:
                msg = body.decode("utf-8")
            except UnicodeDecodeError:
                return self._refuse(
                    request, 400, "a text body must be UTF-8; send binary as Content-Type: application/octet-stream"
                )
        try:
            published = self.channels.publish(channel, msg)
        except ValueError as exc:
            return self._refuse(request, 413, str(exc))
        count = self._counting.lastCount

        def accepted(_: object) -> Response:
            if user is not None:
                return _json(202, user=user, receivers=count[0] or 0)
            return _json(202, channel=channel, receivers=count[0] or 0)

        def failed(failure: Failure) -> Response:
            failure.trap(BrokerUnavailable)
            return self._refuse(request, 503, f"the broker did not take the message: {failure.getErrorMessage()}")

        return published.addCallbacks(accepted, failed)

    def __repr__(self) -> str:
        return f"<PublishEndpoint on {self._counting._broker!r}>"


class PublishFront(RequestSwitch):
    """
    An HTTP-layer component that sends the requests whose path is C{prefix}
    or below it to a L{PublishEndpoint}, and every other request to
    C{component}: what twistd's C{--publish-path} puts in front of the
    component. Under C{prefix}, a path that is neither C{prefix/CHANNEL} nor
    C{prefix/user/USERID} gets 404, and neither hears of it.
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
        if len(rest) == 2 and rest[0] == "user" and rest[1]:
            name, value = "user", rest[1]
        elif len(rest) == 1 and rest[0]:
            name, value = "channel", rest[0]
        else:
            raise HttpError(
                404, f"publish to {self.prefix}/CHANNEL or {self.prefix}/user/USERID (percent-encode a / in them)"
            )
        try:
            # As a Router route's placeholder would be: the endpoint reads it
            # there, whatever the prefix is.
            request.routeParams = {name: unquote(value, errors="strict")}  # type: ignore[misc]
        except UnicodeDecodeError:
            pass  # the endpoint refuses it with 400, once the secret is checked
        return self.endpoint
