# -*- test-case-name: tests.testing.test_recorders -*-
"""
Components that record the hook calls they get: L{Recorder}, a message
component, and L{HttpRecorder}, an HTTP-layer one. Put one behind a decorator
to see what reaches the component it wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from ..component import MessageComponent
from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent


class _Recording:
    """
    The recorders' common part: hook calls in C{events} as C{(hook, conn,
    *args)}; C{behaviour} run by hook name.
    """

    def __init__(self, **behaviour: Callable[..., object]) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.behaviour = behaviour

    def _record(self, hook: str, conn: IConnection, *args: Any) -> object:
        self.events.append((hook, conn, *args))
        action = self.behaviour.get(hook)
        return None if action is None else action(conn, *args)

    def onMessage(self, conn: IConnection, msg: Any) -> object:
        return self._record("onMessage", conn, msg)

    def onClose(self, conn: IConnection) -> object:
        return self._record("onClose", conn)

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        return self._record("onError", conn, exc)

    def hooks(self) -> list[str]:
        """
        The names of the hooks called, in order.
        """
        return [event[0] for event in self.events]

    def messages(self) -> list[object]:
        """
        The messages received, in order.
        """
        return [event[2] for event in self.events if event[0] == "onMessage"]

    def connections(self) -> list[IConnection]:
        """
        The connections opened, in order.
        """
        return [event[1] for event in self.events if event[0] == "onOpen"]

    @property
    def calls(self) -> list[tuple[Any, ...]]:
        """
        The hook calls without their connection, as C{(hook, *args)}.
        """
        return [(event[0], *event[2:]) for event in self.events]


class Recorder(_Recording, MessageComponent):
    """
    A message component that records its hook calls, runs C{behaviour} by
    hook name (C{Recorder(onMessage=lambda conn, msg: ...)}: what it returns
    is the hook's result), and echoes every message back with C{echo}.
    """

    def __init__(self, echo: bool = False, **behaviour: Callable[..., object]) -> None:
        super().__init__(**behaviour)
        self.echo = echo

    def onOpen(self, conn: IConnection) -> object:
        return self._record("onOpen", conn)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> object:
        result = self._record("onMessage", conn, msg)
        if self.echo:
            conn.send(msg)
        return result


@implementer(IHttpServerComponent)
class HttpRecorder(_Recording):
    """
    An HTTP-layer component (behind L{ratchetpy.HttpServer}, or a
    L{ratchetpy.Router}'s route) that records its hook calls and requests.
    """

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:
        return self._record("onOpen", conn, request)

    def request(self) -> IHttpRequest:
        """
        The request the first connection was opened with.
        """
        request: IHttpRequest = next(event[2] for event in self.events if event[0] == "onOpen")
        return request


__all__ = ["Recorder", "HttpRecorder"]
