"""
Two components on one port with App, as in Ratchet's README: the chat (and its
page) at /, an echo server at /echo.

    twistd -n ratchetpy --component examples.app:app
    python -m examples.app
"""

from examples.chat import Chat
from examples.echo import Echo
from ratchetpy import App

app = App("localhost", 8080)
app.route("/", Chat())
app.route("/echo", Echo(), allowedOrigins=["*"])

if __name__ == "__main__":
    app.run()
