"""
The chat with names, the Flask side: a login page, logout, and the chat page,
whose WebSocket goes to the ratchetpy server (C{server.py}) with Flask's
session cookie. Both read the same secret key:

    openssl rand -hex 32 > flask_chat.key
    python -m examples.flask_chat.server --key-file flask_chat.key --port 8080
    python -m examples.flask_chat.app --key-file flask_chat.key --port 5000 --ws-port 8080

then open http://127.0.0.1:5000/ and log in as ann or bob (in two browsers).
"""

import argparse
import hmac
from pathlib import Path

from flask import Flask, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

#: The demo users, by login: the id the session keeps under "_user_id" (Flask-Login's key), the name others see.
USERS = {
    "ann": {"id": "1", "name": "Ann", "password": "ann-password"},
    "bob": {"id": "2", "name": "Bob", "password": "bob-password"},
}


def createApp(secretKey: str, wsPort: int = 8080) -> Flask:
    app = Flask(__name__)
    app.secret_key = secretKey
    # Sent on same-site requests only: the WebSocket from our own page, not one opened by another site.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    @app.get("/")
    def index() -> ResponseReturnValue:
        return redirect(url_for("chat" if "_user_id" in session else "login"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        if request.method == "GET":
            return render_template("login.html", error=None, users=USERS)
        user = USERS.get(request.form.get("username", "").strip().lower())
        password = request.form.get("password", "").encode()
        if user is None or not hmac.compare_digest(password, user["password"].encode()):
            return render_template("login.html", error="Unknown user or wrong password.", users=USERS), 401
        # A new session for the new user (what Flask-Login's login_user leaves to you).
        session.clear()
        session["_user_id"] = user["id"]
        session["name"] = user["name"]
        return redirect(url_for("chat"))

    @app.post("/logout")
    def logout() -> ResponseReturnValue:
        session.clear()
        return redirect(url_for("login"))

    @app.get("/chat")
    def chat() -> ResponseReturnValue:
        if "_user_id" not in session:
            return redirect(url_for("login"))
        return render_template("chat.html", name=session["name"], wsPort=wsPort)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="The Flask side of the chat with names.")
    parser.add_argument("--key-file", type=Path, required=True, help="the secret key, shared with server.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--ws-port", type=int, default=8080, help="the port of server.py")
    args = parser.parse_args()
    app = createApp(args.key_file.read_text().strip(), wsPort=args.ws_port)
    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
