"""
ratchetpy's side of the Django chat: the WebSocket at /chat, for the users
logged in to the Django site, on port 8080 (DJANGO_CHAT_WS_PORT). From the
repository root:

    python -m examples.django_chat.server
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_chat.settings")

from django.conf import settings  # noqa: E402
from twisted.logger import globalLogBeginner, textFileLogObserver  # noqa: E402

from examples.django_chat.chat import SessionChat  # noqa: E402
from ratchetpy import App  # noqa: E402
from ratchetpy.auth import DjangoSessionAuth  # noqa: E402

# The chat page comes from Django's server (port 8000): the same host name, so App.route's OriginCheck allows it.
app = App("127.0.0.1", settings.CHAT_WEBSOCKET_PORT)
app.route("/chat", SessionChat(), auth=DjangoSessionAuth())

if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    app.run()
