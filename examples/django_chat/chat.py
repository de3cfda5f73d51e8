"""
The chat with names on Django's sessions: NamedChat (names from conn.user.info,
which DjangoSessionAuth fills with the Django username), and each message
counted in the sender's Django session, which the chat page shows.
"""

from examples.named_chat import NamedChat
from ratchetpy import IConnection


class SessionChat(NamedChat):
    async def onMessage(self, conn: IConnection, msg: str | bytes) -> None:
        super().onMessage(conn, msg)
        # conn.session is the browser's Django session, read-write: Django's next page shows the count.
        session = conn.session
        assert session is not None  # DjangoSessionAuth sets it before onOpen
        session["sent"] = session.get("sent", 0) + 1
        await session.save()
