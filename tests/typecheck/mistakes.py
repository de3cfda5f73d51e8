"""
Mistakes that mypy must report, each on the line marked with its error
code (L{tests.test_typing}): proof that the type check can fail. It is
type-checked, never run.
"""

from ratchetpy import Channels, IConnection, MessageComponent, Response


class Wrong(MessageComponent):
    def onOpen(self, conn: IConnection) -> None:
        conn.send(42)  # error: arg-type
        conn.close("going away")  # error: arg-type
        conn.close(1000, 42)  # error: arg-type
        conn.sned("hi")  # error: attr-defined
        Channels().subscribe(conn, 1)  # error: arg-type
        agent: str = conn.httpRequest.headers["user-agent"]  # error: union-attr
        userId: int = conn.resourceId
        name: int = conn.remoteAddress  # error: assignment
        print(agent, userId, name, Response(body=42))  # error: arg-type
