"""
The chat example in a real browser: C{twistd -n ratchetpy --component
examples.chat:Chat} serves C{examples/chat_page/index.html} to plain HTTP
requests and the chat to WebSockets on the same port, and two headless
Chromium pages (Debian's C{/usr/bin/chromium}, driven by Playwright) talk
through it.

Chromium is required, not optional: CI installs it (C{.ci/run}), and without
it these tests fail saying how to install it. Playwright's own browser
download is not used.

These tests never need the reactor (the server is a subprocess), so they block
directly; Playwright's sync API runs its own event loop beside pytest-twisted's.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import connect

from tests.helpers import ROOT, Twistd, freePort

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE = ROOT / "examples" / "chat_page" / "index.html"
XSS = '<img src=x onerror="window.__pwned=1"> <b>bold</b> <script>window.__pwned=2</script> &amp; ✓'


def serve(twistd, port: int = 0) -> tuple[Twistd, int]:
    """
    Start the chat example under twistd on a loopback port; return the process and its port.
    """
    process = twistd("--component", "examples.chat:Chat", "--port", f"tcp:{port}:interface=127.0.0.1")
    return process, process.waitForPort()


@pytest.fixture
def openChat(browser: Browser) -> Iterator[Callable[[int], Page]]:
    """
    C{openChat(port)} opens the chat page served on C{port} in a new page (of
    a browser context of the test's own) and waits until it shows it is
    connected. After the test, the pages must not have raised any JavaScript
    error.
    """
    context = browser.new_context()
    errors: list[str] = []

    def _open(port: int, name: str | None = "Alice") -> Page:
        # Each page its own context: names are kept per browser (localStorage), as two people's browsers would.
        pageContext = browser.new_context()
        contexts.append(pageContext)
        page = pageContext.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        expect(page.locator("#status")).to_have_text("Connected")
        if name is not None:
            chooseName(page, name)
        return page

    contexts = [context]
    yield _open
    for each in contexts:
        each.close()
    assert errors == []


def chooseName(page: Page, name: str) -> None:
    """
    Answer the page's question for a name.
    """
    expect(page.locator("#naming")).to_be_visible()
    page.fill("#name", name)
    page.press("#name", "Enter")
    expect(page.locator("#myName")).to_have_text(name)


def say(page: Page, text: str, *, click: bool = False) -> None:
    """
    Type C{text} into the page's message field and send it with Enter (or the Send button).
    """
    page.fill("#message", text)
    if click:
        page.click("#send")
    else:
        page.press("#message", "Enter")
    expect(page.locator("#message")).to_have_value("")


def test_pageIsServedBesideTheWebSocket(twistd):
    """
    GET / answers 200 with the chat page as text/html, and ws:// on the same port still upgrades to the chat.
    """
    process, port = serve(twistd)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "text/html"
        assert response.read() == PAGE.read_bytes()

    with connect(f"ws://127.0.0.1:{port}/") as a, connect(f"ws://127.0.0.1:{port}/") as b:
        process.readUntil(r"New connection! \(\d+\)")
        process.readUntil(r"New connection! \(\d+\)")
        a.send("over the page's port")
        assert b.recv(timeout=5) == "over the page's port"


def test_twoPagesChat(twistd, openChat):
    """
    Two pages connect; a message sent with Enter in one appears in the other, and one sent with the Send button comes
    back the other way. Each page shows its own messages as its own and never gets them echoed.
    """
    _, port = serve(twistd)
    alice, bob = openChat(port, "Alice"), openChat(port, "Bob")

    say(alice, "hello from alice ✓")
    expect(bob.locator("#log li.theirs .text")).to_have_text(["hello from alice ✓"])
    expect(alice.locator("#log li.mine .text")).to_have_text(["hello from alice ✓"])

    say(bob, "hi alice", click=True)
    expect(alice.locator("#log li.theirs .text")).to_have_text(["hi alice"])
    expect(bob.locator("#log li")).to_have_count(2)
    expect(alice.locator("#log li")).to_have_count(2)


def test_messagesAreTextNotHtml(twistd, openChat):
    """
    Markup in a message is shown literally, in the receiver's page and the sender's, and none of it runs.
    """
    _, port = serve(twistd)
    alice, bob = openChat(port), openChat(port)

    say(alice, XSS)
    expect(bob.locator("#log li.theirs")).to_have_count(1)
    for page, kind in ((bob, "theirs"), (alice, "mine")):
        assert page.locator(f"#log li.{kind} .text").text_content() == XSS
        assert page.locator("#log img, #log b, #log script").count() == 0
    assert bob.evaluate("typeof window.__pwned") == "undefined"
    assert alice.evaluate("typeof window.__pwned") == "undefined"


def test_pageReconnectsToARestartedServer(twistd, openChat):
    """
    When the server goes away the page says the connection is lost and counts down to reconnecting; when a new server
    listens on the same port, the page reconnects by itself and the chat works again.
    """
    port = freePort()
    first, _ = serve(twistd, port)
    alice, bob = openChat(port), openChat(port)

    assert first.stop() == 0, first.output
    for page in (alice, bob):
        expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#status")).to_have_text(re.compile(r"Connection lost, reconnecting in \d+ s"))
        expect(page.locator("#send")).to_be_disabled()

    serve(twistd, port)
    for page in (alice, bob):
        expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=15_000)
    say(alice, "back again")
    expect(bob.locator("#log li.theirs .text")).to_have_text(["back again"])


def test_namesTimesAndTheEmptyLog(twistd, openChat):
    """
    The page asks for a name once (kept in the browser: a reload does not ask again), sends "NAME: text" as plain
    text, so that other clients read it as it is, and shows who said what and when it arrived; the empty log says
    what to do, until the first message.
    """
    process, port = serve(twistd)
    alice = openChat(port, name=None)
    expect(alice.locator("#log li.empty")).to_contain_text("No messages yet")
    expect(alice.locator("#send")).to_be_disabled()
    chooseName(alice, "Alice")
    alice.reload()
    expect(alice.locator("#status")).to_have_attribute("data-state", "connected")
    expect(alice.locator("#naming")).to_be_hidden()
    expect(alice.locator("#myName")).to_have_text("Alice")
    bob = openChat(port, "Bob")
    with connect(f"ws://127.0.0.1:{port}/") as script:
        process.readUntil(r"New connection! \(\d+\)")
        say(alice, "hello ✓")
        assert script.recv(timeout=5) == "Alice: hello ✓"
        script.send("plain text from a script")
        expect(alice.locator("#log li.theirs .text")).to_have_text(["plain text from a script"])
    expect(bob.locator("#log li.theirs .from")).to_have_text(["Alice"])
    expect(bob.locator("#log li.theirs .text")).to_have_text(["hello ✓", "plain text from a script"])
    expect(bob.locator("#log li.theirs time").first).to_have_text(re.compile(r"\d{1,2}\D\d{2}"))
    expect(bob.locator("#log li.empty")).to_have_count(0)
    expect(alice.locator("#log li.mine .from")).to_have_text(["You"])
    # Renaming is remembered too.
    alice.click("#rename")
    chooseName(alice, "Alice B")
    say(alice, "renamed")
    expect(bob.locator("#log li.theirs .from")).to_have_text(["Alice", "Alice B"])
