# -*- test-case-name: tests.wamp.test_meta -*-
"""
The session meta API of a realm: the procedures C{wamp.session.count},
C{wamp.session.list} and C{wamp.session.get}, and the events
C{wamp.session.on_join} and C{wamp.session.on_leave}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.wamp.exception import ApplicationError

if TYPE_CHECKING:
    from .realm import Realm
    from .session import WampSession

__all__ = ["SessionMeta", "installMeta"]


class SessionMeta:
    """
    The session meta API of one realm.
    """

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    def _filtered(self, filter_authroles: Any = None) -> list[WampSession]:
        sessions = list(self.realm.sessions.values())
        if filter_authroles is not None:
            if not isinstance(filter_authroles, list):
                raise ApplicationError(ApplicationError.INVALID_ARGUMENT, "filter_authroles is a list of authroles")
            sessions = [s for s in sessions if s.authrole in filter_authroles]
        return sessions

    def count(self, filter_authroles: Any = None) -> int:
        return len(self._filtered(filter_authroles))

    def list(self, filter_authroles: Any = None) -> list[int]:
        return [s.id for s in self._filtered(filter_authroles)]

    def get(self, session_id: Any) -> dict[str, Any]:
        session = self.realm.sessions.get(session_id) if isinstance(session_id, int) else None
        if session is None:
            raise ApplicationError(ApplicationError.NO_SUCH_SESSION, f"no session {session_id!r} in this realm")
        return session.details()

    def joined(self, session: WampSession) -> None:
        self.realm.broker.publish(None, "wamp.session.on_join", [session.details()], None, {}, fanOut=False)

    def left(self, session: WampSession) -> None:
        self.realm.broker.publish(
            None, "wamp.session.on_leave", [session.id, session.authid, session.authrole], None, {}, fanOut=False
        )


def installMeta(realm: Realm) -> SessionMeta:
    """
    Register the meta procedures in C{realm}, as its router's own.
    """
    meta = SessionMeta(realm)
    for name in ("count", "list", "get"):
        registration = realm.dealer.register(realm.local, f"wamp.session.{name}")
        realm.local.procedures[registration.id] = getattr(meta, name)
    return meta
