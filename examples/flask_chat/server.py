"""
The chat with names, the WebSocket side: examples.named_chat's NamedChat at
/chat, for users logged in to the Flask application (C{app.py}), recognised
by its session cookie, signed with the same secret key:

    python -m examples.flask_chat.server --key-file flask_chat.key --port 8080

App's origin check lets pages of this server's own host name (on any port,
so the Flask application's) open the WebSocket; --allowed-origin adds others.
"""

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from twisted.logger import globalLogBeginner, textFileLogObserver

from examples.named_chat import NamedChat
from ratchetpy import App
from ratchetpy.auth import FlaskSessionAuth


def makeApp(secretKey: str, port: int = 8080, allowedOrigins: Iterable[str] = ()) -> App:
    app = App("localhost", port)
    # Flask-Login's key for the user's id; "name" is what app.py stores beside it, for the others to see.
    auth = FlaskSessionAuth(secretKey, userKey="_user_id", info=["name"])
    app.route("/chat", NamedChat(), allowedOrigins=allowedOrigins, auth=auth)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="The WebSocket side of the chat with names.")
    parser.add_argument("--key-file", type=Path, required=True, help="the Flask application's secret key")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--allowed-origin", action="append", default=[], help="another origin of the Flask pages")
    args = parser.parse_args()
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    makeApp(args.key_file.read_text().strip(), args.port, args.allowed_origin).run()


if __name__ == "__main__":
    main()
