"""
Two components on one port with App, as in Ratchet's README: the chat (and its
page) at /, an echo server at /echo.

    twistd -n ratchetpy --component examples.app:app
    python -m examples.app
"""

if not __package__:
    # Run as a file (python examples/app.py): the examples package is beside it.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.chat import Chat  # noqa: E402
from examples.echo import Echo  # noqa: E402
from ratchetpy import App  # noqa: E402

app = App("localhost", 8080)
app.route("/", Chat())
app.route("/echo", Echo(), allowedOrigins=["*"])

if __name__ == "__main__":
    app.run()
