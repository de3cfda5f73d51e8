# -*- test-case-name: tests.pubsub.test_channels -*-
"""
L{Channels}: named channels that connections subscribe to, published to
from any process attached to the same broker.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from .._twisted import muteUnhandledFailure
from ..broadcast import ConnectionGroup
from ..interfaces import IBroker, IConnection
from ..options import MAX_MESSAGE_SIZE
from . import brokerFor, defaultBroker, envelope
from .presence import MAX_PRESENCE, PRESENCE_TTL, JoinHook, LeaveHook, PresenceTracker

log = Logger(namespace="ratchetpy")
_problems = LogBudget(log)

#: The longest channel name, in bytes of UTF-8.
MAX_CHANNEL_NAME = 256

_serial = itertools.count(1)


def checkChannel(channel: object) -> str:
    """
    @return: C{channel}, a valid channel name.
    @raise TypeError: C{channel} is not a C{str}.
    @raise ValueError: C{channel} is empty or longer than
        L{MAX_CHANNEL_NAME} bytes of UTF-8.
    """
    if not isinstance(channel, str):
        raise TypeError(f"a channel name is a str, not {type(channel).__name__}: {channel!r}")
    if not channel:
        raise ValueError("a channel name must not be empty")
    if len(channel) > MAX_CHANNEL_NAME // 4 and len(channel.encode("utf-8")) > MAX_CHANNEL_NAME:
        raise ValueError(
            f"channel name {channel[:40]!r}... is {len(channel.encode('utf-8'))} bytes of UTF-8; "
            f"the longest allowed is {MAX_CHANNEL_NAME}"
        )
    return channel


def _everyChannel(channel: str) -> bool:
    return True


def _size(msg: str | bytes, limit: int) -> int:
    """
    The size of C{msg} in bytes, as sent (UTF-8 for text); for text that
    cannot be over C{limit}, possibly less.
    """
    if not isinstance(msg, str):
        return len(msg)
    # Text is at most 4 bytes a character: encode only when that could matter.
    return len(msg) if len(msg) * 4 <= limit else len(msg.encode("utf-8"))


class Channels:
    """
    Named channels: connections subscribe to them; a message published to
    one reaches its subscribers in every process attached to the same
    broker::

        class Chat(MessageComponent):
            def __init__(self):
                self.channels = Channels()

            def onOpen(self, conn):
                self.channels.subscribe(conn, "chat")

            def onMessage(self, conn, msg):
                self.channels.publish("chat", msg, exclude=conn)

            def onClose(self, conn):
                self.channels.unsubscribeAll(conn)

    A publish goes at once to this process's subscribers, framed once for
    all of them (a L{ConnectionGroup} broadcast), and through the broker to
    every other process (and every other C{Channels} of this process), which
    each frame it once for their subscribers. Delivery across processes is at
    most once and in order per publisher; see docs/channels.md.

    @ivar broker: the L{IBroker}.
    @ivar origin: the name this C{Channels} publishes under, so that it can
        recognise its own messages coming back from the broker and skip them.
    @ivar maxMessageSize: the largest message, in bytes, that L{publish}
        takes and that is delivered from the broker.
    @ivar dropped: messages from the broker that were dropped: not ratchetpy
        messages, or larger than C{maxMessageSize}.
    @ivar onJoin: with presence, C{onJoin(channel, userId, info)} when a
        user's first connection on any server subscribes to a presence
        channel; C{None} for nothing. See docs/channels.md, "Presence".
    @ivar onLeave: with presence, C{onLeave(channel, userId, info)} when the
        user's last connection leaves it (or its server died); C{None} for
        nothing.
    """

    def __init__(
        self,
        broker: IBroker | str | None = None,
        *,
        maxMessageSize: int = MAX_MESSAGE_SIZE,
        presence: bool | Callable[[str], bool] = False,
        presenceTtl: float = PRESENCE_TTL,
        maxPresence: int = MAX_PRESENCE,
        onJoin: JoinHook | None = None,
        onLeave: LeaveHook | None = None,
        reactor: Any = None,
    ) -> None:
        """
        @param broker: the broker: an L{IBroker}, a broker URL (C{memory://},
            C{redis://[:password@]host[:port][/db]}: one broker per URL in a
            process), or C{None} for the process default
            (L{ratchetpy.pubsub.defaultBroker}, which twistd's C{--broker}
            sets). It is started if it was not.
        @param maxMessageSize: the largest message, in bytes (UTF-8 for
            text), that L{publish} takes; by default the WebSocket layer's
            default C{maxMessageSize}, 1 MiB, so that anything a client could
            send can be relayed.
        @param presence: keep presence (L{presence}, L{presenceCount},
            C{onJoin}, C{onLeave}): C{True} for every channel, a callable
            C{presence(channel) -> bool} for the channels it says, C{False}
            (the default) for none.
        @param presenceTtl: seconds this server's presence entries outlive
            it in Redis if it dies; it refreshes them every third of that.
        @param maxPresence: the most users L{presence} returns (a channel
            with more fails with
            L{ratchetpy.pubsub.presence.PresenceTooLarge}).
        @param onJoin: see the instance variable.
        @param onLeave: see the instance variable.
        @param reactor: the reactor presence refreshes on; default: the
            broker's, else the installed one.
        @raise ValueError: C{broker} is a string that is not a broker URL,
            or a presence limit is not positive.
        @raise TypeError: presence is asked of a broker that cannot keep it
            (neither a L{ratchetpy.pubsub.local.LocalBroker} nor a
            L{ratchetpy.pubsub.redis.RedisBroker}).
        """
        if broker is None:
            broker = defaultBroker()
        elif isinstance(broker, str):
            broker = brokerFor(broker)
        if maxMessageSize <= 0:
            raise ValueError(f"maxMessageSize must be a positive number of bytes, not {maxMessageSize}")
        if presenceTtl <= 0:
            raise ValueError(f"presenceTtl must be a positive number of seconds, not {presenceTtl}")
        if maxPresence <= 0:
            raise ValueError(f"maxPresence must be a positive number of users, not {maxPresence}")
        self.broker = broker
        self.origin = f"{broker.origin}.{next(_serial)}"
        self.maxMessageSize = maxMessageSize
        self.dropped = 0
        self.onJoin = onJoin
        self.onLeave = onLeave
        self._groups: dict[str, ConnectionGroup] = {}
        self._channelsOf: dict[IConnection, set[str]] = {}
        self._presence: PresenceTracker | None = None
        if presence:
            select = presence if callable(presence) else _everyChannel
            self._presence = PresenceTracker(self, select, ttl=presenceTtl, maxPresence=maxPresence, reactor=reactor)
        broker.start()

    # Subscribing

    def subscribe(self, conn: IConnection, channel: str) -> None:
        """
        Subscribe C{conn} to C{channel}; subscribing twice has no effect.

        @raise ValueError: C{channel} is empty or too long (see
            L{MAX_CHANNEL_NAME}).
        """
        group = self._groups.get(channel)
        if group is None:
            checkChannel(channel)
            group = self._groups[channel] = ConnectionGroup()
            self.broker.subscribe(envelope.brokerChannel(channel), self._received)
        elif conn in group:
            return
        group.add(conn)
        self._channelsOf.setdefault(conn, set()).add(channel)
        if self._presence is not None:
            self._presence.subscribed(conn, channel)

    def unsubscribe(self, conn: IConnection, channel: str) -> None:
        """
        Unsubscribe C{conn} from C{channel}, if it was subscribed.
        """
        channels = self._channelsOf.get(conn)
        if channels is None or channel not in channels:
            return
        channels.discard(channel)
        if not channels:
            del self._channelsOf[conn]
        self._leave(conn, channel)

    def unsubscribeAll(self, conn: IConnection) -> None:
        """
        Unsubscribe C{conn} from every channel: what C{onClose} should do.
        """
        for channel in self._channelsOf.pop(conn, ()):
            self._leave(conn, channel)

    def _leave(self, conn: IConnection, channel: str) -> None:
        group = self._groups[channel]
        group.discard(conn)
        emptied = not len(group)
        if emptied:
            # No one left here: stop receiving the channel from the broker.
            del self._groups[channel]
            self.broker.unsubscribe(envelope.brokerChannel(channel), self._received)
        if self._presence is not None:
            self._presence.unsubscribed(conn, channel, emptied)

    def subscribers(self, channel: str) -> ConnectionGroup:
        """
        This process's subscribers to C{channel} (of this C{Channels}), as a
        L{ConnectionGroup}; an empty one if there are none. Read it, don't
        change it: use L{subscribe} and L{unsubscribe}.
        """
        return self._groups.get(channel) or ConnectionGroup()

    def channelsOf(self, conn: IConnection) -> frozenset[str]:
        """
        The channels C{conn} is subscribed to.
        """
        return frozenset(self._channelsOf.get(conn, ()))

    @property
    def channels(self) -> list[str]:
        """
        The channels with subscribers in this C{Channels}.
        """
        return list(self._groups)

    # Presence

    def presence(self, channel: str) -> defer.Deferred[dict[str, dict[str, Any]]]:
        """
        The users present in C{channel} on every server on the broker: those
        with a connection subscribed to it (anonymous ones do not count), each
        once however many connections they have.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} firing with a C{dict} of user id to the user's
            C{info} (as C{conn.user.info} was when they joined; C{{}} if it
            was over 4 KiB of JSON), or failing with
            L{ratchetpy.pubsub.presence.PresenceTooLarge} if there are more than C{maxPresence}
            users, or with L{ratchetpy.pubsub.BrokerUnavailable} (within the
            broker's timeout) if Redis cannot be asked.
        @raise ValueError: presence is not kept for C{channel} (see the
            C{presence} parameter), or C{channel} is not a valid name.
        """
        return self._presenceFor(channel).presence(channel)

    def presenceCount(self, channel: str) -> defer.Deferred[int]:
        """
        How many users are present in C{channel} on every server, without
        reading who they are: for channels of any size.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} firing with the number of users, or failing
            as L{presence} does (but never with
            L{ratchetpy.pubsub.presence.PresenceTooLarge}).
        @raise ValueError: as L{presence}.
        """
        return self._presenceFor(channel).count(channel)

    def _presenceFor(self, channel: str) -> PresenceTracker:
        checkChannel(channel)
        if self._presence is None or not self._presence.select(channel):
            raise ValueError(f"presence is not kept for channel {channel!r}: make the Channels with presence=...")
        return self._presence

    # Publishing

    def publish(
        self,
        channel: str,
        msg: str | bytes,
        exclude: IConnection | Iterable[IConnection] | None = None,
    ) -> defer.Deferred[None]:
        """
        Send C{msg} (C{str}: a text message, C{bytes}: binary) to every
        subscriber of C{channel}: at once to this process's subscribers but
        C{exclude} (one connection, or several), and through the broker to
        the subscribers of every other process.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} that fires with C{None} once the broker has
            accepted the message, or fails with
            L{ratchetpy.pubsub.BrokerUnavailable} (within the broker's
            timeout; it never hangs) if it did not, in which case only this
            process's subscribers got it. The broker logs (once per outage)
            and counts such failures, so ignoring the result is fine.
        @raise TypeError: C{msg} is neither C{str} nor C{bytes}, or
            C{channel} is not a C{str}.
        @raise ValueError: C{msg} is larger than C{maxMessageSize}, or
            C{channel} is not a valid name (empty, or too long).
        """
        if not isinstance(msg, (str, bytes)):
            if not isinstance(msg, (bytearray, memoryview)):
                raise TypeError(f"a message is str (text) or bytes (binary), not {type(msg).__name__}")
            msg = bytes(msg)
        size = _size(msg, self.maxMessageSize)
        if size > self.maxMessageSize:
            raise ValueError(
                f"a message of {size} bytes is larger than this Channels' maxMessageSize ({self.maxMessageSize}); "
                "split it, or pass a larger maxMessageSize to Channels(...)"
            )
        group = self._groups.get(channel)
        if group is not None:
            group.broadcast(msg, exclude)
        else:
            checkChannel(channel)
        accepted = self.broker.publish(envelope.brokerChannel(channel), envelope.encode(self.origin, msg))
        result: defer.Deferred[None] = defer.Deferred()

        def done(outcome: object) -> None:
            if isinstance(outcome, Failure):
                result.errback(outcome)
                # The broker has logged (once per outage) and counted the
                # failure: a component that ignores what publish returns, as
                # a chat does, must not log one traceback per message when
                # the Deferred is collected. An errback added later still
                # gets the failure.
                muteUnhandledFailure(result, outcome)
            else:
                result.callback(None)

        accepted.addBoth(done)
        return result

    # From the broker

    def _received(self, brokerChannel: str, data: bytes) -> None:
        try:
            origin, msg = envelope.decode(data)
        except envelope.BadEnvelope as exc:
            self.dropped += 1
            _problems.warn("bad-envelope", "dropped a message from the broker on {channel!r}: {exc}",
                           channel=brokerChannel, exc=exc)
            return
        if origin == self.origin:
            # Our own publish, delivered locally already.
            return
        size = _size(msg, self.maxMessageSize)
        if size > self.maxMessageSize:
            self.dropped += 1
            _problems.warn(
                "oversized",
                "dropped a message of {size} bytes from the broker on {channel!r}: larger than maxMessageSize ({max})",
                size=size,
                channel=brokerChannel,
                max=self.maxMessageSize,
            )
            return
        group = self._groups.get(brokerChannel[len(envelope.CHANNEL_PREFIX) :])
        if group is not None:
            group.broadcast(msg)

    def __repr__(self) -> str:
        return f"<Channels {self.origin}: {len(self._groups)} channels, {len(self._channelsOf)} subscribers>"
