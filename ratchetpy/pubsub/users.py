# -*- test-case-name: tests.pubsub.test_users -*-
"""
L{Users}: messages to a user, on every connection they have open (every tab,
every device), on every server attached to the same broker.

Each user is a channel of L{Channels}, C{user:ID}: a message to a user is a
publish on it, framed once per process for all of the user's connections
there. Closing a user's connections everywhere (L{Users.disconnect}) is a
control message on one broker channel, L{envelope.USERS_CONTROL}, that every
L{Users} on the broker listens to.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable

from twisted.logger import Logger
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from ..interfaces import IBroker, IConnection
from ..websocket.codes import POLICY_VIOLATION, isSendableCloseCode
from . import BrokerUnavailable, envelope
from .channels import Channels, checkChannel

log = Logger(namespace="ratchetpy")
_problems = LogBudget(log)

_serial = itertools.count(1)

#: A user's channel is this followed by the user's id.
USER_CHANNEL_PREFIX = "user:"
#: How many connections one user may have open in one process, by default.
MAX_CONNECTIONS_PER_USER = 32
#: The close code of a connection refused because its user has too many.
TOO_MANY_CONNECTIONS = POLICY_VIOLATION
#: The close code L{Users.disconnect} sends by default: the first of the
#: application range (4000-4999), so a client can tell it from ratchetpy's own.
DISCONNECTED = 4000
#: The longest close reason, in bytes of UTF-8 (RFC 6455 section 5.5).
MAX_REASON = 123


def userChannel(userId: object) -> str:
    """
    The channel of user C{userId}: C{"user:" + userId}.

    @raise TypeError: C{userId} is not a C{str}.
    @raise ValueError: C{userId} is empty, or too long for a channel name.
    """
    if not isinstance(userId, str):
        raise TypeError(f"a user id is a str, not {type(userId).__name__}: {userId!r}")
    if not userId:
        raise ValueError("a user id must not be empty")
    return checkChannel(USER_CHANNEL_PREFIX + userId)


def checkClose(code: object, reason: object) -> None:
    """
    @raise ValueError: C{code} is not a close code an endpoint may send, or
        C{reason} is longer than L{MAX_REASON} bytes of UTF-8.
    @raise TypeError: C{code} is not an C{int} or C{reason} not a C{str}.
    """
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"a close code is an int, not {type(code).__name__}")
    if not isSendableCloseCode(code):
        raise ValueError(f"close code {code} is not one an endpoint may send: use 1000, or 4000-4999 for your own")
    if not isinstance(reason, str):
        raise TypeError(f"a close reason is a str, not {type(reason).__name__}")
    if len(reason.encode("utf-8")) > MAX_REASON:
        raise ValueError(f"a close reason is at most {MAX_REASON} bytes of UTF-8")


def encodeDisconnect(origin: str, userId: str, code: int, reason: str) -> bytes:
    """
    The bytes to publish on L{envelope.USERS_CONTROL} to close every
    connection of C{userId} (shared with L{ratchetpy.push}).
    """
    command = {"disconnect": userId, "code": code, "reason": reason}
    return envelope.encode(origin, json.dumps(command, ensure_ascii=False))


class Users:
    """
    The connections of each user (C{conn.user.id}, set by an authentication
    layer), and messages to a user wherever they are connected::

        class Chat(MessageComponent):
            def __init__(self):
                self.users = Users()

            def onOpen(self, conn):
                self.users.add(conn)

            def onMessage(self, conn, msg):
                to, _, text = msg.removeprefix("/msg ").partition(" ")
                self.users.send(to, f"{conn.user.id}: {text}")

            def onClose(self, conn):
                self.users.discard(conn)

    The component calls L{add} and L{discard} itself, as it subscribes with
    L{Channels}: it decides which connections count (anonymous ones cannot)
    and when.

    Presence across servers is L{Channels}' (C{Channels(presence=True)}):
    share one with this C{Users}, and C{channels.presenceCount(userChannel(
    userId))} says whether the user is connected anywhere. L{userJoined} and
    L{userLeft} are called for a user's first and last connection in this
    process.

    @ivar channels: the L{Channels} users' messages go through.
    @ivar maxConnectionsPerUser: how many connections a user may have open
        here (C{None}: no limit); beyond it, L{add} closes the connection
        with C{TOO_MANY_CONNECTIONS} (1008).
    @ivar refused: connections L{add} refused for that reason.
    @ivar dropped: control messages from the broker that were not valid.
    """

    def __init__(
        self,
        channels: Channels | IBroker | str | None = None,
        *,
        maxConnectionsPerUser: int | None = MAX_CONNECTIONS_PER_USER,
    ) -> None:
        """
        @param channels: a L{Channels} to share (its broker, its framing), or
            what L{Channels} takes to make one: a broker, a broker URL, or
            C{None} for the process default (twistd's C{--broker}).
        @param maxConnectionsPerUser: see the instance variable.
        @raise ValueError: C{maxConnectionsPerUser} is not positive.
        """
        if maxConnectionsPerUser is not None and maxConnectionsPerUser <= 0:
            raise ValueError(
                f"maxConnectionsPerUser must be a positive number of connections or None, not {maxConnectionsPerUser}"
            )
        self.channels = channels if isinstance(channels, Channels) else Channels(channels)
        self.maxConnectionsPerUser = maxConnectionsPerUser
        self.refused = 0
        self.dropped = 0
        # Its own: two Users sharing one Channels must hear each other's
        # control messages.
        self.origin = f"{self.channels.origin}.users{next(_serial)}"
        self._byUser: dict[str, set[IConnection]] = {}
        self._userOf: dict[IConnection, str] = {}
        self.channels.broker.subscribe(envelope.USERS_CONTROL, self._control)

    # This process's connections

    def add(self, conn: IConnection) -> bool:
        """
        Count C{conn} among its user's connections (call it in C{onOpen}),
        so that what is sent to the user reaches it. Adding twice is the same
        as once.

        @return: whether C{conn} is one of its user's connections now.
            C{False} for an anonymous connection (C{conn.user} is C{None}),
            which is left alone, and for one over L{maxConnectionsPerUser},
            which is closed with C{TOO_MANY_CONNECTIONS} (1008).
        @raise ValueError: the user's id is not valid (see L{userChannel}).
        """
        user = conn.user
        if user is None:
            return False
        userId = user.id
        channel = userChannel(userId)
        if self._userOf.get(conn) == userId:
            return True
        connections = self._byUser.get(userId)
        if (
            connections is not None
            and self.maxConnectionsPerUser is not None
            and len(connections) >= self.maxConnectionsPerUser
        ):
            self.refused += 1
            _problems.info(
                "user-limit",
                "closed connection {id} from {address} of user {user!r}: the user has {max} connections open here "
                "already (maxConnectionsPerUser)",
                id=conn.resourceId,
                address=conn.remoteAddress or "(no address)",
                user=userId,
                max=self.maxConnectionsPerUser,
            )
            conn.close(TOO_MANY_CONNECTIONS, "too many connections for this user")
            return False
        self.discard(conn)  # it was someone else's: its user changed
        first = connections is None
        if connections is None:
            connections = self._byUser[userId] = set()
        connections.add(conn)
        self._userOf[conn] = userId
        self.channels.subscribe(conn, channel)
        if first:
            self.userJoined(userId)
        return True

    def discard(self, conn: IConnection) -> None:
        """
        Forget C{conn} (call it in C{onClose}); nothing happens if it was not
        added.
        """
        userId = self._userOf.pop(conn, None)
        if userId is None:
            return
        self.channels.unsubscribe(conn, userChannel(userId))
        connections = self._byUser[userId]
        connections.discard(conn)
        if not connections:
            del self._byUser[userId]
            self.userLeft(userId)

    def connections(self, userId: str) -> frozenset[IConnection]:
        """
        The connections of C{userId} in this process (of this C{Users}).
        """
        return frozenset(self._byUser.get(userId, ()))

    def online(self, userId: str) -> bool:
        """
        Whether C{userId} has a connection in this process (of this
        C{Users}). Other processes are not asked: for that, see
        L{Channels.presenceCount}.
        """
        return userId in self._byUser

    @property
    def users(self) -> list[str]:
        """
        The ids of the users with connections in this process.
        """
        return list(self._byUser)

    def userJoined(self, userId: str) -> None:
        """
        C{userId} opened their first connection in this process. Does
        nothing; override it (with L{userLeft}) to act on it.
        """

    def userLeft(self, userId: str) -> None:
        """
        C{userId} closed their last connection in this process. Does
        nothing; see L{userJoined}.
        """

    # To a user, everywhere

    def send(self, userId: str, msg: str | bytes, exclude: IConnection | Iterable[IConnection] | None = None) -> int:
        """
        Send C{msg} (C{str}: text, C{bytes}: binary) to every connection of
        C{userId} but C{exclude}: at once to those of this process, and
        through the broker to those of every other. Sending to a user who
        is connected nowhere does nothing.

        A broker that cannot take the message is logged (once per outage)
        and counted, as for L{Channels.publish}; to wait for the broker,
        publish on the user's channel yourself:
        C{await users.channels.publish(userChannel(userId), msg)}.

        @return: how many connections of this process it was sent to (of
            the L{Channels} this C{Users} is on).
        @raise TypeError: as L{Channels.publish}; or C{userId} is not a
            C{str}.
        @raise ValueError: as L{Channels.publish}; or C{userId} is not a
            valid user id.
        """
        channel = userChannel(userId)
        if isinstance(exclude, Iterable):
            # Read twice below, so not a one-shot iterator; and a generator
            # has a send() that would pass it for a connection.
            exclude = frozenset(exclude)
        self.channels.publish(channel, msg, exclude)
        # What the publish sent to at once: every connection of the user on
        # this Channels (another Users sharing it included).
        receivers = self.channels.subscribers(channel)
        if exclude is None or not len(receivers):
            return len(receivers)
        skip = exclude if isinstance(exclude, frozenset) else (exclude,)
        return len(receivers) - sum(1 for conn in skip if conn in receivers)

    def disconnect(self, userId: str, code: int = DISCONNECTED, reason: str = "") -> int:
        """
        Close every connection of C{userId}, in every process on the broker,
        with close code C{code} and C{reason} (a logout, a ban): at once
        here, through the broker elsewhere (a broker that is down is logged
        and counted, and only this process's connections are closed).

        @return: how many connections of this process were closed.
        @raise ValueError: C{code} is not one an endpoint may send (use
            4000-4999 for your own), C{reason} is longer than 123 bytes of
            UTF-8, or C{userId} is not a valid user id.
        """
        userChannel(userId)
        checkClose(code, reason)
        closed = self._close(userId, code, reason)
        command = encodeDisconnect(self.origin, userId, code, reason)
        self.channels.broker.publish(envelope.USERS_CONTROL, command).addErrback(_controlFailed)
        return closed

    def _close(self, userId: str, code: int, reason: str) -> int:
        connections = tuple(self._byUser.get(userId, ()))
        for conn in connections:
            conn.close(code, reason)
        return len(connections)

    def _control(self, brokerChannel: str, data: bytes) -> None:
        try:
            origin, text = envelope.decode(data)
            if origin == self.origin:
                return
            if not isinstance(text, str):
                raise ValueError("a control message is text")
            command = json.loads(text)
            userId, code, reason = command["disconnect"], command.get("code", DISCONNECTED), command.get("reason", "")
            userChannel(userId)
            checkClose(code, reason)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.dropped += 1
            _problems.warn("bad-control", "dropped a control message from the broker on {channel!r}: {exc}",
                           channel=brokerChannel, exc=exc)
            return
        self._close(userId, code, reason)

    def __repr__(self) -> str:
        return f"<Users {self.origin}: {len(self._byUser)} users, {len(self._userOf)} connections>"


def _controlFailed(failure: Failure) -> None:
    # The broker has logged (once per outage) and counted it.
    if not failure.check(BrokerUnavailable):
        _problems.warn("control", "publishing a control message failed: {why}", why=failure.getErrorMessage())
