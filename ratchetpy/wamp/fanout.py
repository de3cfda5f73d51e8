# -*- test-case-name: tests.wamp.test_processes -*-
"""
L{FanOut}: a realm's publications carried to the same realm in every other
process attached to the same broker, through L{ratchetpy.Channels}, so that
C{--workers} and several servers behind one Redis are one broker for
pub/sub.

RPC stays per process: a registration lives where its callee's connection
is, and a call must reach that connection and its answer come back to the
caller's, with timeouts and cancellation; over a broker that delivers at
most once, without presence of callees, that would make every call depend
on Redis and on every other process being alive. So a call reaches the
procedures registered in its own process (run callees behind a load
balancer that keeps a procedure's callers and callees together, or one
router process for RPC).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack  # type: ignore[import-untyped]
from twisted.logger import Logger

from .._ratelimit import LogBudget

if TYPE_CHECKING:
    from ..broadcast import SharedMessage
    from ..pubsub.channels import Channels
    from .realm import Realm

__all__ = ["FanOut", "ChannelListener"]

log = Logger(namespace="ratchetpy.wamp")
_problems = LogBudget(log)

#: The options of a publication that travel with it (the rest applied here).
_CARRIED = (
    "exclude",
    "exclude_authid",
    "exclude_authrole",
    "eligible",
    "eligible_authid",
    "eligible_authrole",
    "publisher",
    "publisher_authid",
    "publisher_authrole",
)


class FanOut:
    """
    Publishes a realm's publications on the L{Channels} channel
    C{wamp.<realm>} and routes those of other processes into the realm's
    broker. It is itself the channel's one local subscriber (a connection
    in Channels' eyes).
    """

    def __init__(self, realm: Realm, channels: Channels) -> None:
        self.realm = realm
        self.channels = channels
        self.channel = f"wamp.{realm.name}"
        self.resourceId = 0
        self.remoteAddress = ""
        channels.subscribe(self, self.channel)  # type: ignore[arg-type]
        realm.broker.fanOut = self.publish

    def publish(self, uri: str, args: Any, kwargs: Any, options: dict[str, Any]) -> None:
        carried = {key: options[key] for key in _CARRIED if options.get(key) is not None}
        try:
            data = msgpack.packb([uri, args, kwargs, carried], use_bin_type=True)
            self.channels.publish(self.channel, data, exclude=self).addErrback(lambda f: None)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            _problems.warn(
                "wamp-fanout",
                "a publication to {uri} reached this process's subscribers only: {why}",
                uri=uri,
                why=exc,
            )

    # What Channels sends its subscriber: another process's publication.

    def send(self, data: str | bytes) -> None:
        if not isinstance(data, bytes):
            return
        try:
            uri, args, kwargs, options = msgpack.unpackb(data, raw=False)
            if not isinstance(uri, str) or not isinstance(options, dict):
                raise ValueError("not a publication")
        except Exception as exc:
            _problems.warn("wamp-fanout-in", "dropped a WAMP publication from the broker: {why}", why=exc)
            return
        self.realm.broker.publish(None, uri, args, kwargs, options, fanOut=False)

    def sendShared(self, message: SharedMessage) -> None:
        self.send(message.data)

    def close(self) -> None:
        self.channels.unsubscribeAll(self)  # type: ignore[arg-type]
        self.realm.broker.fanOut = None


class ChannelListener:
    """
    Calls C{handler(msg)} for every message published on a L{Channels}
    channel (by L{ratchetpy.push}, a publish endpoint, or any process's
    C{Channels.publish}): Ratchet's push tutorial's C{onBlogEntry}. It is
    the channel's subscriber (a connection in Channels' eyes); a failing
    handler is logged.
    """

    resourceId = 0
    remoteAddress = ""

    def __init__(self, channels: Channels, channel: str, handler: Any) -> None:
        self.channels = channels
        self.channel = channel
        self.handler = handler
        channels.subscribe(self, channel)  # type: ignore[arg-type]

    def send(self, data: str | bytes) -> None:
        from twisted.internet.defer import maybeDeferred

        maybeDeferred(self.handler, data).addErrback(
            lambda f: log.failure("the handler of channel {channel} failed", f, channel=self.channel)
        )

    def sendShared(self, message: SharedMessage) -> None:
        self.send(message.data)

    def close(self) -> None:
        """
        Stop listening.
        """
        self.channels.unsubscribe(self, self.channel)  # type: ignore[arg-type]
