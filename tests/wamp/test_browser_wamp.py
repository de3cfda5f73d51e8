"""
The WAMP examples in a real headless Chromium, each page on autobahn-js's
browser build (autobahn-browser 22.11.1, examples/wamp_pages/autobahn.min.js),
served by twistd: examples/wamp_pubsub.py (Ratchet's BasicPubSub),
examples/wamp_push.py (the push tutorial, posts pushed through Redis with
ratchetpy.push) and examples/wamp_rpc.py (calls both ways).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time

from playwright.sync_api import expect

from ratchetpy.push import publish
from tests.helpers import ROOT
from tests.wamp.test_node_router import node  # noqa: F401  (the fixture)

PAGES = ROOT / "examples" / "wamp_pages"
POST_BLOG = ROOT / "examples" / "post_blog.py"


def serve(twistd, component: str, *args: str):
    process = twistd("--component", component, "--port", "tcp:0:interface=127.0.0.1", *args)
    return process, process.waitForPort()


def openPage(context, url: str, errors: list[str]):
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    return page


def test_vendoredAutobahnIsNpms():
    """The pages' autobahn.min.js is autobahn-browser 22.11.1's, byte for byte (tests/wamp/js's npm ci)."""
    npm = ROOT / "tests" / "wamp" / "js" / "node_modules" / "autobahn-browser"
    assert json.loads((npm / "package.json").read_text())["version"] == "22.11.1"
    digest = hashlib.sha256((PAGES / "autobahn.min.js").read_bytes()).hexdigest()
    assert digest == hashlib.sha256((npm / "autobahn.min.js").read_bytes()).hexdigest()


def test_pubSubInBrowser(twistd, browser):
    """
    Two tabs of examples/wamp_pubsub.py: what one publishes appears in the other (once: the router delivers it,
    BasicPubSub.onPublish adds nothing) and not as an event in its own; a tab on another topic gets nothing.
    """
    _process, port = serve(twistd, "examples.wamp_pubsub:BasicPubSub")
    context = browser.new_context()
    errors: list[str] = []
    try:
        reader = openPage(context, f"http://127.0.0.1:{port}/", errors)
        writer = openPage(context, f"http://127.0.0.1:{port}/", errors)
        other = openPage(context, f"http://127.0.0.1:{port}/#com.example.other", errors)
        for page in (reader, writer, other):
            expect(page.locator("body")).to_have_attribute("data-subscribed", "yes")
        expect(reader.locator("#topic")).to_have_text("com.example.chat")
        writer.fill("#message", "<b>hello</b> from the writer")
        writer.click("#publish button")
        expect(reader.locator("#events li")).to_have_text(["<b>hello</b> from the writer"])
        expect(writer.locator("#events li")).to_have_text(["(you) <b>hello</b> from the writer"])
        reader.fill("#message", "and back")
        reader.click("#publish button")
        expect(writer.locator("#events li").first).to_have_text("and back")
        expect(writer.locator("#events li")).to_have_count(2)
        expect(reader.locator("#events li")).to_have_count(2)
        assert reader.locator("#events b").count() == 0
        expect(other.locator("#events li")).to_have_count(0)
    finally:
        context.close()
    assert errors == []


def test_pubSubCallInBrowser(twistd, browser):
    """The page's "Try a call" gets BasicPubSub.onCall's error: Ratchet's "RPC not supported on this demo"."""
    _process, port = serve(twistd, "examples.wamp_pubsub:BasicPubSub")
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = openPage(context, f"http://127.0.0.1:{port}/", errors)
        expect(page.locator("body")).to_have_attribute("data-subscribed", "yes")
        page.click("#call")
        expect(page.locator("#callResult")).to_have_text(
            "error: com.example.anything: RPC not supported on this demo", timeout=5000
        )
    finally:
        context.close()
    assert errors == []


def test_pushInBrowser(twistd, redisServer, browser):
    """
    Pages of examples/wamp_push.py follow a category each; examples/post_blog.py publishes a post through
    Redis and the "blog" page shows it, as text; a post with a category reaches only that category's page.
    """
    process, port = serve(twistd, "examples.wamp_push:Pusher", "--broker", redisServer.url)
    process.readUntil("connected to Redis")
    context = browser.new_context()
    errors: list[str] = []
    try:
        blog = openPage(context, f"http://127.0.0.1:{port}/", errors)
        kittens = openPage(context, f"http://127.0.0.1:{port}/#kittens", errors)
        for page in (blog, kittens):
            expect(page.locator("body")).to_have_attribute("data-subscribed", "yes")
        expect(kittens.locator("#category")).to_have_text("kittens")
        title = '<img src=x onerror="window.__pwned=1"> first post'
        deadline = time.monotonic() + 10
        while True:
            ran = subprocess.run(
                [sys.executable, str(POST_BLOG), title, "--url", redisServer.url, "--channel", "wamp-push",
                 "--link", "https://example.com/p/1"],
                capture_output=True, text=True, cwd=ROOT,
            )
            assert ran.returncode == 0, ran.stderr
            if "1 subscribed" in ran.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ran.stdout == "published: 1 subscribed receiver(s) got it\n"
        expect(blog.locator("#posts li a")).to_have_text([title])
        assert blog.locator("#posts li a").first.get_attribute("href") == "https://example.com/p/1"
        assert blog.evaluate("window.__pwned") is None
        expect(blog.locator("#empty")).to_be_hidden()

        post = json.dumps({"title": "a kitten", "category": "kittens", "url": "javascript:alert(1)"})
        assert publish(redisServer.url, "wamp-push", post) == 1
        expect(kittens.locator("#posts li a")).to_have_text(["a kitten"])
        assert kittens.locator("#posts li a").first.get_attribute("href") is None
        # Nobody follows "dogs": the Pusher drops it (Ratchet's "no one is subscribed" return).
        assert publish(redisServer.url, "wamp-push", json.dumps({"title": "a dog", "category": "dogs"})) == 1
        assert publish(redisServer.url, "wamp-push", json.dumps({"title": "second"})) == 1
        expect(blog.locator("#posts li a")).to_have_text(["second", title])
        expect(kittens.locator("#posts li a")).to_have_text(["a kitten"])
    finally:
        context.close()
    assert errors == []


def test_rpcInBrowser(twistd, browser):
    """
    The page of examples/wamp_rpc.py calls com.example.add (Python) and gets the sum or its error; for
    com.example.hello, Python calls the procedure the page registered and answers with what it said.
    """
    _process, port = serve(twistd, "examples.wamp_rpc:Rpc")
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = openPage(context, f"http://127.0.0.1:{port}/", errors)
        expect(page.locator("body")).to_have_attribute("data-registered", "yes")
        page.click("#add button")
        expect(page.locator("#sum")).to_have_text("5")
        page.fill("#a", "x")
        page.click("#add button")
        expect(page.locator("#sum")).to_have_text("error: com.example.error.not_a_number: add takes two numbers")
        page.fill("#name", "Chromium")
        page.click("#hello button")
        expect(page.locator("#greeting")).to_have_text("Hello Chromium: your page says 'ratchetpy WAMP RPC'")
        expect(page.locator("#calls li")).to_have_count(1)
        # A second tab registers a procedure of its own and gets its own answer.
        second = openPage(context, f"http://127.0.0.1:{port}/", errors)
        expect(second.locator("body")).to_have_attribute("data-registered", "yes")
        second.click("#hello button")
        expect(second.locator("#greeting")).to_have_text("Hello browser: your page says 'ratchetpy WAMP RPC'")
        expect(page.locator("#calls li")).to_have_count(1)
    finally:
        context.close()
    assert errors == []


def test_docsPageSnippetInBrowser(twistd, node, browser, tmp_path):  # noqa: F811
    """
    docs/wamp.md's HTML block, as a page twistd --wamp serves (--static) beside autobahn.min.js, joins
    realm1: the "hello" it publishes reaches an autobahn-js subscriber under Node.
    """
    from tests.test_docs import codeBlocks

    (html,) = codeBlocks("wamp.md", "html")
    (tmp_path / "index.html").write_text(html)
    shutil.copy(PAGES / "autobahn.min.js", tmp_path / "autobahn.min.js")
    process = twistd("--wamp", "--static", str(tmp_path), "--port", "tcp:0:interface=127.0.0.1")
    port = process.waitForPort()
    subscriber = node(f"ws://127.0.0.1:{port}/", ["subscribe", "com.example.chat"])
    subscriber.expect("subscribed")
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{port}/")
        assert subscriber.expect("event")["args"] == ["hello"]
    finally:
        context.close()
    assert errors == []
