"""
docs/identity.md's Flask tutorial as written, in a real browser: its commands
run (the key, C{examples/flask_chat/server.py}, C{examples/flask_chat/app.py},
on free loopback ports), and two headless Chromium contexts (Debian's
C{/usr/bin/chromium}, driven by Playwright, as in C{tests/test_browser.py})
log in to the Flask application as two users and chat by name. The code the
section shows is the example's, and its signature the code's.

These tests never need the reactor (the servers are subprocesses), so they
block directly.
"""

from __future__ import annotations

import inspect
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from examples.flask_chat import app as flaskApp
from examples.flask_chat import server as flaskServer
from ratchetpy.auth import FlaskSessionAuth, FlaskSessionStore
from tests.helpers import ROOT, Twistd, freePort

PAGE = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
HEADING = "## A tutorial: the chat with names, on Flask's sessions\n"
# The section, up to the next second-level heading.
SECTION = re.split(r"^## ", PAGE.split(HEADING, 1)[1], flags=re.MULTILINE)[0]
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [textwrap.dedent(code) for _, lang, code in FENCE.findall(SECTION) if lang == language]


def shellLines() -> list[str]:
    return [line for block in blocks("sh") for line in block.splitlines() if line.strip()]


class Process(Twistd):
    """
    C{ARGV} from the repository root, with L{Twistd}'s output reading and stopping.
    """

    def __init__(self, argv: list[str]) -> None:  # replaces Twistd's, which builds a twistd argv
        env = os.environ.copy()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        self.argv = argv
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


@pytest.fixture
def start() -> Iterator:
    """
    C{start(argv)} starts a L{Process}; all are killed after the test.
    """
    started: list[Process] = []

    def _start(argv: list[str]) -> Process:
        process = Process(argv)
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop(signal.SIGKILL, timeout=5)


def logIn(browser: Browser, base: str, login: str, password: str, errors: list[str]) -> Page:
    """
    A page of a browser context of its own, logged in through the login form, on the chat once it is connected.
    """
    page = browser.new_context().new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login")
    page.fill("#username", login)
    page.fill("#password", password)
    page.click("#login")
    expect(page).to_have_url(f"{base}/chat")
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    return page


def say(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")
    expect(page.locator("#message")).to_have_value("")


def test_tutorialInChromium(tmp_path: Path, start, browser: Browser) -> None:
    """
    The tutorial's commands, as written (on free ports): Ann and Bob log in with the Flask login form in two
    browser contexts; Ann sees Bob join; what each says reaches the other with the sender's name, as text, never
    HTML. A visitor who is not logged in is sent to the login page, and a WebSocket opened without the session
    cookie is refused. No session cookie reaches the WebSocket server's log.
    """
    key, serverCommand, appCommand = shellLines()
    assert key == "openssl rand -hex 32 > flask_chat.key"
    subprocess.run(["openssl", "rand", "-hex", "32"], stdout=(tmp_path / "flask_chat.key").open("w"), check=True)
    wsPort, webPort = freePort(), freePort()
    replacements = {"flask_chat.key": str(tmp_path / "flask_chat.key"), "8080": str(wsPort), "5000": str(webPort)}

    def argv(command: str) -> list[str]:
        words = shlex.split(command)
        assert words[0] == "python"
        return [sys.executable, *(replacements.get(word, word) for word in words[1:])]

    server = start(argv(serverCommand))
    server.readUntil(rf"routes: http://localhost:{wsPort}/chat")
    web = start(argv(appCommand))
    web.readUntil(rf"Running on http://127\.0\.0\.1:{webPort}")
    base = f"http://127.0.0.1:{webPort}"

    errors: list[str] = []
    ann = logIn(browser, base, "ann", "ann-password", errors)
    bob = logIn(browser, base, "bob", "bob-password", errors)
    expect(ann.locator("#me")).to_have_text("Ann")
    expect(ann.locator("#log li.theirs")).to_have_text(["* Bob joined"])

    say(ann, "hello from Ann ✓")
    expect(bob.locator("#log li.theirs")).to_have_text(["Ann: hello from Ann ✓"])
    expect(ann.locator("#log li.mine")).to_have_text(["Ann: hello from Ann ✓"])

    say(bob, "<b>hi</b> Ann")
    expect(ann.locator("#log li.theirs")).to_have_text(["* Bob joined", "Bob: <b>hi</b> Ann"])
    assert ann.locator("#log b").count() == 0

    stranger = browser.new_context().new_page()
    stranger.goto(f"{base}/chat")
    expect(stranger).to_have_url(f"{base}/login")
    opened = stranger.evaluate(
        """url => new Promise(done => {
            const ws = new WebSocket(url);
            ws.onopen = () => done("open");
            ws.onclose = () => done("refused");
        })""",
        f"ws://127.0.0.1:{wsPort}/chat",
    )
    assert opened == "refused"
    server.readUntil(r"answered 401 to .*: no credentials")

    cookies = [c["value"] for page in (ann, bob) for c in page.context.cookies() if c["name"] == "session"]
    assert len(cookies) == 2
    bob.click("#logout")
    expect(bob).to_have_url(f"{base}/login")
    assert [c for c in bob.context.cookies() if c["name"] == "session"] == []

    assert errors == []
    assert server.stop() == 0, server.output
    assert "Ann connected" in server.output and "Bob connected" in server.output
    assert not any(cookie in server.output for cookie in cookies)


def test_sectionShowsTheExamplesCode() -> None:
    """
    The section's server code is examples/flask_chat/server.py's makeApp, and its login lines are app.py's.
    """
    serverBlock, = [code for code in blocks("python") if "def makeApp(" in code]
    assert serverBlock == inspect.getsource(flaskServer.makeApp)
    loginBlock, = [code for code in blocks("python") if 'session["_user_id"]' in code and "def " not in code]
    source = inspect.getsource(flaskApp.createApp)
    for line in loginBlock.splitlines():
        assert "        " + line in source.splitlines()


def test_sectionSignatureIsTheCodes() -> None:
    """
    The signature the section writes out is FlaskSessionAuth's with FlaskSessionStore's options, defaults included.
    """
    auth = inspect.signature(FlaskSessionAuth.__init__).parameters
    store = inspect.signature(FlaskSessionStore.__init__).parameters
    parts = ["secretKey", "*", "userKey", f"info={auth['info'].default!r}"]
    for name, parameter in store.items():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            default = parameter.default
            shown = f'"{default}"' if isinstance(default, str) else repr(default).replace("datetime.", "")
            parts.append(f"{name}={shown}")
    written = " ".join(f"`FlaskSessionAuth({', '.join(parts)})`".split())
    assert written in " ".join(SECTION.split())
