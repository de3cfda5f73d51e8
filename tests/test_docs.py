"""
The documentation's examples, run exactly as written.

The code blocks of C{docs/*.md} are extracted and run: the tutorials' scripts
as subprocesses on the port they name (8080), every C{twistd} command as a real
twistd (on a free loopback port instead of the one written), the component,
handler and decorator examples in-process against real servers, the C{pycon}
sessions as doctests. The code shown from C{examples/} is compared with the
modules, and the tables of defaults with the code.

Tests that only talk to subprocesses block directly; the in-process ones use
L{inThread}.
"""

from __future__ import annotations

import ast
import doctest
import http.client
import inspect
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_twisted
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect, unix_connect

import examples.app
import examples.chat
import examples.logger
from examples.chat import Chat
from examples.echo import Echo
from ratchetpy import (
    App,
    ComponentDecorator,
    HttpServer,
    IoServer,
    IpBlackList,
    OriginCheck,
    Response,
    Router,
    StaticFiles,
    WsServer,
)
from ratchetpy.options import OPTIONS
from ratchetpy.tap import Options
from tests.helpers import ROOT, Twistd, inThread, makeCertificate, waitUntil

DOCS = ROOT / "docs"
PAGES = (
    "index.md",
    "hello-world.md",
    "tutorial.md",
    "app.md",
    "decorators.md",
    "components.md",
    "running.md",
    "limits.md",
    "channels.md",
    "push.md",
    "scaling.md",
    "performance.md",
    "operations.md",
    "identity.md",
    "testing.md",
    "client.md",
)
TUTORIAL_PORT = 8080
QUIET = 0.3  # seconds a client waits to be sure nothing arrives
CHAT_PAGE = (ROOT / "examples" / "chat_page" / "index.html").read_bytes()


# Reading the docs


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


FENCE = re.compile(r"^```(\S*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def codeBlocks(name: str, language: str | None = None, text: str | None = None) -> list[str]:
    """
    The fenced code blocks of page C{name} (in C{language}, if given), in order.
    """
    source = page(name) if text is None else text
    return [code for lang, code in FENCE.findall(source) if language is None or lang == language]


def pythonFile(name: str, filename: str) -> str:
    """
    The python block of page C{name} that starts with the comment C{# FILENAME}.
    """
    found = [code for code in codeBlocks(name, "python") if code.startswith(f"# {filename}\n")]
    assert len(found) == 1, f"docs/{name} should have exactly one python block starting with '# {filename}'"
    return found[0]


def pythonBlock(name: str, marker: str) -> str:
    """
    The one python block of page C{name} that contains C{marker}.
    """
    found = [code for code in codeBlocks(name, "python") if marker in code]
    assert len(found) == 1, f"docs/{name} should have exactly one python block with {marker!r}"
    return found[0]


def consoleCommands(name: str) -> list[tuple[str, list[str]]]:
    """
    The C{$ command} lines of page C{name}'s console blocks, each with the
    output lines shown after it.
    """
    commands: list[tuple[str, list[str]]] = []
    for block in codeBlocks(name, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            else:
                assert commands, f"docs/{name}: console block output before any '$ ' command: {block!r}"
                commands[-1][1].append(line)
    return commands


def expectedOutput(name: str, command: str) -> list[str]:
    found = [output for cmd, output in consoleCommands(name) if cmd == command]
    assert found, f"docs/{name} shows no '$ {command}'"
    return found[0]


def twistdCommands() -> list[tuple[str, str]]:
    return [(name, command) for name in PAGES for command, _ in consoleCommands(name) if command.startswith("twistd")]


def tableRows(name: str) -> list[list[str]]:
    """
    The cells of every Markdown table row of page C{name}.
    """
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in page(name).splitlines()
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line)
    ]


def tableWith(name: str, firstCell: str) -> dict[str, list[str]]:
    """
    The table of page C{name} that has a row whose first cell is
    C{`firstCell`}, as its rows keyed by their first cell without backticks.
    """
    tables: list[list[str]] = [[]]
    for line in page(name).splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    for table in tables:
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table[2:]]
        if any(row[0] == f"`{firstCell}`" for row in rows):
            return {row[0].strip("`"): row for row in rows}
    raise AssertionError(f"docs/{name} has no table with a row for `{firstCell}`")


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def moduleBody(module: ModuleType) -> str:
    """
    The source of C{module} after its docstring, as the docs show it: without
    the lines that let it run as a file too (C{if not __package__:}, up to
    the first import of the examples, and their C{noqa} marks).
    """
    source = inspect.getsource(module)
    docstring = ast.parse(source).body[0]
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
    body = "".join(source.splitlines(keepends=True)[docstring.end_lineno :]).lstrip("\n")
    body = re.sub(r"\Aif not __package__:\n(?:(?:    .*)?\n)*?\n(?=from )", "", body)
    return body.replace("  # noqa: E402", "")


def signatureText(name: str, function: Callable[..., Any]) -> str:
    """
    C{name(a, b, *, c="x")}: C{function}'s parameters (but C{self}) as the docs
    write them.
    """

    def literal(value: object) -> str:
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, tuple):
            items = [literal(item) for item in value]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return repr(value)

    parts: list[str] = []
    starred = False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name == "self" or parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not starred:
            parts.append("*")
            starred = True
        if parameter.default is inspect.Parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={literal(parameter.default)}")
    return f"{name}({', '.join(parts)})"


# Subprocesses


def envWithRepo() -> dict[str, str]:
    """
    The environment for a doc script: the repository root importable (for
    C{examples.chat}) and output unbuffered (so lines can be waited for).
    """
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Script(Twistd):
    """
    C{python ARGS} in C{directory}, with L{Twistd}'s output reading and stopping.
    """

    def __init__(self, args: list[str], directory: Path) -> None:  # replaces Twistd's, which builds a twistd argv
        self.argv = [sys.executable, *args]
        self.process = subprocess.Popen(
            self.argv,
            cwd=directory,
            env=envWithRepo(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


@pytest.fixture
def python(tmp_path):
    """
    C{python(*args, cwd=tmp_path)} starts C{python ARGS}; every process still
    running is killed after the test.
    """
    started: list[Script] = []

    def _start(*args: str, cwd: Path = tmp_path) -> Script:
        process = Script(list(args), cwd)
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop(signal.SIGKILL, timeout=5)


@pytest.fixture
def script(python, tmp_path):
    """
    C{script(filename, code, cwd=tmp_path)} writes C{code} to
    C{tmp_path/filename} and runs it in C{cwd}.
    """

    def _start(filename: str, code: str, cwd: Path = tmp_path) -> Script:
        (tmp_path / filename).write_text(code, encoding="utf-8")
        return python(str(tmp_path / filename), cwd=cwd)

    return _start


@pytest.fixture
def client(tmp_path):
    """
    C{client(name, filename)} runs page C{name}'s client script C{filename} to
    completion and checks that it prints what the page shows after
    C{$ python FILENAME}.
    """

    def _run(name: str, filename: str) -> None:
        (tmp_path / filename).write_text(pythonFile(name, filename), encoding="utf-8")
        run = subprocess.run(
            [sys.executable, filename],
            cwd=tmp_path,
            env=envWithRepo(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == expectedOutput(name, f"python {filename}")

    return _run


def requirePortFree(port: int) -> None:
    """
    Fail clearly if something already listens on C{port}, which the docs'
    scripts use as written.
    """
    with socket.socket() as probe:
        # As Twisted does: only a listening socket, not TIME_WAIT leftovers, blocks the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            pytest.fail(
                f"port {port} (127.0.0.1:{port}) is already in use ({exc}); the docs' scripts listen on it as "
                "written, so stop whatever is using it and run again"
            )


def waitForListening(process: Twistd, pattern: str, port: int) -> None:
    try:
        process.readUntil(pattern, timeout=30)
    except AssertionError:
        if "Address already in use" in process.output:
            pytest.fail(f"port {port} is already in use, so the script could not listen:\n{process.output}")
        raise


def waitForPortOpen(process: Script, port: int, timeout: float = 30.0) -> None:
    """
    Wait until C{process}, which logs nothing, accepts connections on C{port}.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            process.stop()
            pytest.fail(f"{process.argv} exited with status {process.process.returncode}:\n{process.output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{process.argv} did not listen on port {port} within {timeout} seconds")


def httpRequest(port: int, path: str = "/", method: str = "GET", **headers: str) -> tuple[int, str | None, bytes]:
    """
    One plain HTTP request to 127.0.0.1:C{port}: its status, C{Content-Type}
    and body.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def assertServesChatPage(port: int, path: str = "/") -> None:
    assert httpRequest(port, path) == (200, "text/html; charset=utf-8", CHAT_PAGE)


def assertNothingArrives(ws) -> None:
    with pytest.raises(TimeoutError):
        ws.recv(timeout=QUIET)


def assertChatRelays(alice, bob) -> None:
    """
    Text from C{alice} reaches C{bob} as text, binary from C{bob} reaches
    C{alice} as binary, and neither gets its own message back.
    """
    alice.send("hello from alice ✓")
    assert bob.recv(timeout=10) == "hello from alice ✓"
    bob.send(b"\x00\xffbinary")
    received = alice.recv(timeout=10)
    assert isinstance(received, bytes)
    assert received == b"\x00\xffbinary"
    assertNothingArrives(alice)
    assertNothingArrives(bob)


def assertEchoes(ws) -> None:
    ws.send("echo ✓")
    assert ws.recv(timeout=10) == "echo ✓"
    ws.send(b"\x00\xff")
    assert ws.recv(timeout=10) == b"\x00\xff"


def assertRefused(status: int, url: str, **options: Any) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, **options)
    assert refused.value.response.status_code == status


def assertGoingAway(ws) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


# The pages


def test_pagesExistAndLinksResolve():
    """
    Every page exists, the index links to the others, and every relative link
    (and its #anchor) points at a page and heading that exist.
    """
    for name in PAGES:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
    index = page("index.md")
    for name in PAGES[1:]:
        assert f"]({name})" in index, f"docs/index.md does not link to {name}"
    for name in PAGES:
        for target, anchor in re.findall(r"\]\(([\w\-]*\.md)?(?:#([\w\-]+))?\)", page(name)):
            targetPage = target or name
            assert (DOCS / targetPage).is_file(), f"docs/{name} links to missing {targetPage}"
            if anchor:
                headings = [slug(h) for h in re.findall(r"^#+ (.+)$", page(targetPage), re.MULTILINE)]
                assert anchor in headings, f"docs/{name} links to missing #{anchor} in {targetPage}"


def test_everyCodeBlockHasALanguage():
    """
    Every fenced code block opens with a language tag.
    """
    for name in PAGES:
        fences = re.findall(r"^```(\S*)", page(name), re.MULTILINE)
        assert len(fences) % 2 == 0, f"docs/{name} has an unclosed code block"
        openings = fences[0::2]
        assert all(openings), f"docs/{name} has a code block without a language: {openings}"
        assert not any(fences[1::2]), f"docs/{name} has a closing fence with text after it"


def test_stackDiagramOrder():
    """
    The index's layer diagram names the layers outside in, the optional ones
    where they slot in.
    """
    diagram = codeBlocks("index.md", "text")[0]
    layers = ("IoServer", "IpBlackList", "HttpServer", "Router", "OriginCheck", "WsServer", "your component")
    positions = [diagram.index(layer) for layer in layers]
    assert positions == sorted(positions)


# The code shown from examples/ is the examples' code


def test_chatClassIsExamplesChat():
    """
    The hello world's component is, character for character, the C{Chat}
    class of examples/chat.py, and its imports are that module's; no other
    page shows another version of it.
    """
    blocks = codeBlocks("hello-world.md", "python")
    classBlocks = [code for code in blocks if code.startswith("class Chat(")]
    assert len(classBlocks) == 1, "docs/hello-world.md should show the Chat class in one python block"
    assert classBlocks[0] == inspect.getsource(Chat)

    imports = blocks[blocks.index(classBlocks[0]) - 1]
    moduleLines = set(inspect.getsource(examples.chat).splitlines())
    for line in imports.splitlines():
        assert not line or line in moduleLines, f"examples/chat.py has no line {line!r}"
    for name in PAGES:
        for code in codeBlocks(name, "python"):
            assert "class Chat(" not in code or code == inspect.getsource(Chat), f"docs/{name} shows another Chat"


def test_loggerIsExamplesLogger():
    """
    decorators.md shows examples/logger.py as it is (but its docstring).
    """
    assert pythonBlock("decorators.md", "class MessageLogger(") == moduleBody(examples.logger)


def test_appIsExamplesApp():
    """
    app.md shows examples/app.py as it is (but its docstring), and the
    README's App example is the same without the C{__main__} guard.
    """
    assert pythonBlock("app.md", 'app.route("/", Chat())') == moduleBody(examples.app)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readmeApps = [code for code in codeBlocks("", "python", text=readme) if "app = App(" in code]
    assert len(readmeApps) == 1
    assert readmeApps[0] == moduleBody(examples.app).replace('\nif __name__ == "__main__":\n    app.run()', "app.run()")


def test_signatures():
    """
    The signatures written out in the docs are the code's.
    """
    for name, text in [
        ("components.md", signatureText("StaticFiles", StaticFiles.__init__)),
        ("app.md", signatureText("addRoute", Router.addRoute)),
        ("running.md", signatureText("enableKeepAlive", WsServer.enableKeepAlive)),
    ]:
        assert text in page(name), f"docs/{name} should show `{text}`"


# Hello world over telnet


def test_helloWorldScriptServesTheRawChatOn8080(script):
    """
    hello-world.md's chat_server.py, run as written, serves the chat over plain
    TCP on port 8080: what one telnet sends reaches the other, and SIGTERM
    closes both and exits with status 0.
    """
    assert "$ python chat_server.py" in page("hello-world.md")
    assert "$ telnet localhost 8080" in page("hello-world.md")
    server = pythonFile("hello-world.md", "chat_server.py")
    assert "IoServer.factory(Chat(), 8080).run()" in server

    requirePortFree(TUTORIAL_PORT)
    process = script("chat_server.py", server)
    waitForListening(process, rf"ratchetpy listening on tcp:0\.0\.0\.0:{TUTORIAL_PORT}\b", TUTORIAL_PORT)
    assertTelnetChat(process, TUTORIAL_PORT)


def assertTelnetChat(process: Twistd, port: int) -> None:
    """
    Two telnet-like clients of the raw chat on C{port} talk; SIGTERM closes
    them and ends C{process} with status 0.
    """
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as one,
        socket.create_connection(("127.0.0.1", port), timeout=10) as two,
    ):
        process.readUntil(r"New connection! \(\d+\)")
        process.readUntil(r"New connection! \(\d+\)")
        one.sendall(b"Hello World!\r\n")
        received = b""
        while len(received) < len(b"Hello World!\r\n"):
            received += two.recv(100)
        assert received == b"Hello World!\r\n"
        status = process.stop(signal.SIGTERM, timeout=30)
        assert one.recv(100) == b""
        assert two.recv(100) == b""
    assert status == 0, process.output
    assert "has disconnected" in process.output


# The WebSocket chat


def test_tutorialScriptServesTheChatOn8080(script, client):
    """
    The tutorial's chat_server.py, run as written, serves the chat and its page
    on port 8080: two clients talk (text as text, binary as binary), a browser
    gets the page, the tutorial's chat_client.py prints what the tutorial
    shows, and SIGTERM closes clients with 1001 and exits with status 0.
    """
    assert "$ python chat_server.py" in page("tutorial.md")
    server = pythonFile("tutorial.md", "chat_server.py")
    assert "IoServer.factory(HttpServer(WsServer(Chat())), 8080).run()" in server
    assert "from examples.chat import Chat" in server

    requirePortFree(TUTORIAL_PORT)
    process = script("chat_server.py", server)
    waitForListening(process, rf"ratchetpy listening on tcp:0\.0\.0\.0:{TUTORIAL_PORT}\b", TUTORIAL_PORT)

    url = f"ws://127.0.0.1:{TUTORIAL_PORT}/"
    with connect(url) as alice, connect(url) as bob:
        assertChatRelays(alice, bob)
    assertServesChatPage(TUTORIAL_PORT)
    client("tutorial.md", "chat_client.py")

    with connect(url) as ws:
        status = process.stop(signal.SIGTERM, timeout=30)
        assertGoingAway(ws)
    assert status == 0, process.output


# The twistd commands


@pytest.fixture(scope="module")
def tlsFiles(tmp_path_factory) -> Path:
    """
    A directory holding a self-signed key.pem and cert.pem for localhost.
    """
    directory = tmp_path_factory.mktemp("tls")
    makeCertificate(directory)
    return directory


@pytest.fixture
def socketDir():
    """
    A temporary directory with a short path: UNIX socket paths are limited to
    about 100 bytes, which pytest's tmp_path can exceed.
    """
    directory = Path(tempfile.mkdtemp(prefix="rpdocs"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def withLoopbackPort(args: list[str], port: str, socketDir: Path) -> list[str]:
    """
    C{args} with the endpoint C{port} made testable: TCP gets an extra
    C{--port tcp:0:interface=127.0.0.1}; TLS keeps its key options but gets
    port 0 on loopback; a UNIX socket moves into C{socketDir}.
    """
    kind, _, rest = port.partition(":")
    if kind == "tcp":
        return [*args, "--port", "tcp:0:interface=127.0.0.1"]
    if kind == "ssl":
        options = [part for part in rest.split(":")[1:] if not part.startswith("interface=")]
        return [*args, "--port", ":".join(["ssl", "0", "interface=127.0.0.1", *options])]
    if kind == "unix":
        return [*args, "--port", f"unix:{socketDir / Path(rest).name}"]
    raise AssertionError(f"no way to test endpoint {port!r}; extend withLoopbackPort")


def loggedChatLines() -> list[str]:
    """
    The log lines decorators.md shows for LoggedChat, without their timestamps.
    """
    blocks = [code for code in codeBlocks("decorators.md", "text") if "MessageLogger#info" in code]
    assert len(blocks) == 1
    return [line.split(" ", 1)[1] for line in blocks[0].splitlines()]


def exerciseTwistd(component: str, process: Twistd, openClient: Callable[[str], Any], port: int | None) -> list[Any]:
    """
    Check that twistd serves C{component} as the docs say, through WebSocket
    clients made by C{openClient(path)} and, with a TCP C{port}, plain HTTP
    requests. Return the clients to see closed on shutdown.
    """
    if component == "examples.chat:Chat":
        alice, bob = openClient("/"), openClient("/")
        assertChatRelays(alice, bob)
        clients = [alice, bob]
    elif component == "examples.logger:LoggedChat":
        # What the tutorial's chat_client.py does, which decorators.md shows the log of.
        alice, bob = openClient("/"), openClient("/")
        alice.send("Hello World!")
        assert bob.recv(timeout=10) == "Hello World!"
        bob.send(b"\x01\x02\x03")
        assert alice.recv(timeout=10) == b"\x01\x02\x03"
        for line in loggedChatLines():
            process.readUntil(re.escape(line))
        clients = [alice, bob]
    elif component == "examples.echo:Echo":
        ws = openClient("/")
        assertEchoes(ws)
        clients = [ws]
    elif component == "examples.app:app":
        alice, bob, echo = openClient("/"), openClient("/"), openClient("/echo")
        assertChatRelays(alice, bob)
        assertEchoes(echo)
        assertNothingArrives(alice)
        clients = [alice, bob, echo]
        if port is not None:
            assert httpRequest(port, "/nowhere")[0] == 404
            assert httpRequest(port, "/", method="POST")[0] == 405
            assert httpRequest(port, "/echo")[0] == 426
            assert httpRequest(port, "/", Origin="https://evil.example")[0] == 403
    else:
        raise AssertionError(f"no check for --component {component}; add one to exerciseTwistd")
    if port is not None:
        # Every component the docs serve with twistd has the chat page: its own, or --static's.
        assertServesChatPage(port)
    return clients


@pytest.mark.parametrize(
    "name, command",
    twistdCommands(),
    ids=[f"{name}:{command.partition('--component ')[2]}" for name, command in twistdCommands()],
)
def test_twistdCommandRuns(twistd, tlsFiles, socketDir, monkeypatch, name, command):
    """
    Every twistd command the docs show serves its component on the endpoint
    kind it names (on a free loopback port or a temporary socket instead of
    the one written), as the docs describe it; SIGTERM closes the clients
    (WebSockets with 1001) and exits with status 0.
    """
    argv = shlex.split(command)
    assert argv[:3] == ["twistd", "-n", "ratchetpy"], f"docs/{name}: write twistd commands as 'twistd -n ratchetpy ...'"
    args = argv[3:]
    monkeypatch.chdir(ROOT)  # where twistd runs, for the paths the options name
    options = Options()
    options.parseOptions(args)
    component = options["component"]

    kind = options["port"].partition(":")[0]
    if kind == "ssl":
        process = twistd(*withLoopbackPort(args, options["port"], socketDir), cwd=tlsFiles, env=envWithRepo())
    else:
        process = twistd(*withLoopbackPort(args, options["port"], socketDir))

    port = None
    if kind == "unix":
        path = process.readUntil(r"ratchetpy listening on unix:(\S+)").group(1)

        def openClient(target: str):
            return unix_connect(path, f"ws://localhost{target}")

    else:
        port = process.waitForPort()
        if kind == "ssl":
            context = ssl.create_default_context(cafile=str(tlsFiles / "cert.pem"))

            def openClient(target: str):
                return connect(f"wss://127.0.0.1:{port}{target}", ssl=context, server_hostname="localhost")

        else:

            def openClient(target: str):
                return connect(f"ws://127.0.0.1:{port}{target}")

    if options["raw"]:
        assert kind == "tcp" and component == "examples.chat:Chat", f"docs/{name}: only the raw chat is tested"
        assertTelnetChat(process, port)
        return

    with ExitStack() as stack:

        def openAndClose(target: str):
            return stack.enter_context(openClient(target))

        clients = exerciseTwistd(component, process, openAndClose, port if kind == "tcp" else None)
        status = process.stop(signal.SIGTERM, timeout=30)
        for ws in clients:
            assertGoingAway(ws)
    assert status == 0, process.output
    if component != "examples.echo:Echo":
        assert "has disconnected" in process.output


# Running inside a Twisted program


def test_runningAppScript(script):
    """
    running.md's chat_app.py, run as written, listens on 8080 through
    C{IoServer.listen()}, prints what the page shows, serves the chat, and
    stops gracefully (1001, exit status 0) on SIGTERM.
    """
    code = pythonFile("running.md", "chat_app.py")
    assert "await server.listen()" in code

    requirePortFree(TUTORIAL_PORT)
    process = script("chat_app.py", code)
    expected = expectedOutput("running.md", "python chat_app.py")
    waitForListening(process, re.escape(expected[0]), TUTORIAL_PORT)

    url = f"ws://127.0.0.1:{TUTORIAL_PORT}/"
    with connect(url) as alice, connect(url) as bob:
        assertChatRelays(alice, bob)
        status = process.stop(signal.SIGTERM, timeout=30)
        assertGoingAway(alice)
    assert status == 0, process.output
    assert process.lines[: len(expected)] == [line + "\n" for line in expected]


# Several components on one port


def test_appModuleRuns(python):
    """
    C{python -m examples.app}, as app.md shows it, serves the chat and its page
    at / and the echo server at /echo on 127.0.0.1:8080, and stops
    gracefully on SIGTERM.
    """
    assert "$ python -m examples.app" in page("app.md")
    requirePortFree(TUTORIAL_PORT)
    process = python("-m", "examples.app", cwd=ROOT)
    waitForPortOpen(process, TUTORIAL_PORT)

    base = f"ws://127.0.0.1:{TUTORIAL_PORT}"
    with connect(f"{base}/") as alice, connect(f"{base}/") as bob, connect(f"{base}/echo") as echo:
        assertChatRelays(alice, bob)
        assertEchoes(echo)
        assertServesChatPage(TUTORIAL_PORT)
        assert httpRequest(TUTORIAL_PORT, "/nowhere")[0] == 404
        status = process.stop(signal.SIGTERM, timeout=30)
        for ws in (alice, bob, echo):
            assertGoingAway(ws)
    assert status == 0, process.output


def test_roomsApp(script, client):
    """
    app.md's rooms_app.py, run from the repository root as written, serves
    its five routes on port 8080 as the page describes: rooms_client.py and
    check_routes.py print what the page shows; the routes have the origins,
    keepalive and subprotocol options the page gives them.
    """
    assert "$ python rooms_app.py" in page("app.md")
    requirePortFree(TUTORIAL_PORT)
    process = script("rooms_app.py", pythonFile("app.md", "rooms_app.py"), cwd=ROOT)
    routes = re.search(r"It logs `(routes: [^`]*)\.\.\.` once it listens", page("app.md"))
    assert routes, "app.md should say which routes rooms_app.py logs"
    waitForListening(process, re.escape(routes.group(1)), TUTORIAL_PORT)

    client("app.md", "rooms_client.py")
    client("app.md", "check_routes.py")

    base = f"ws://127.0.0.1:{TUTORIAL_PORT}"
    assert httpRequest(TUTORIAL_PORT, "/docs/app.md") == (
        200,
        "text/markdown; charset=utf-8",
        (DOCS / "app.md").read_bytes(),
    )
    assertRefused(404, f"{base}/docs")
    with connect(f"{base}/rooms/a", origin="https://example.com:8443") as one, connect(f"{base}/rooms/a") as two:
        assertChatRelays(one, two)
    assertRefused(403, f"{base}/rooms/a", origin="http://evil.example")
    with connect(f"{base}/echo", origin="https://anywhere.example") as echo:
        assertEchoes(echo)
    assertRefused(404, f"{base}/admin/echo")

    with connect(f"{base}/rooms/lobby") as ws:
        status = process.stop(signal.SIGTERM, timeout=30)
        assertGoingAway(ws)
    assert status == 0, process.output


def test_routerScript(python, script):
    """
    app.md's router_server.py, the hand-built examples/app.py, serves the same
    on 127.0.0.1:8080: the chat and its page at /, behind the default origin
    check, and the echo server at /echo for any origin.
    """
    assert "$ python router_server.py" in page("app.md")
    requirePortFree(TUTORIAL_PORT)
    process = script("router_server.py", pythonFile("app.md", "router_server.py"))
    waitForPortOpen(process, TUTORIAL_PORT)

    base = f"ws://127.0.0.1:{TUTORIAL_PORT}"
    assertServesChatPage(TUTORIAL_PORT)
    assertRefused(403, f"{base}/", origin="https://evil.example")
    assert httpRequest(TUTORIAL_PORT, "/nowhere")[0] == 404
    with (
        connect(f"{base}/", origin=f"http://127.0.0.1:{TUTORIAL_PORT}") as alice,
        connect(f"{base}/") as bob,
        connect(f"{base}/echo", origin="https://evil.example") as echo,
    ):
        assertChatRelays(alice, bob)
        assertEchoes(echo)
        status = process.stop(signal.SIGTERM, timeout=30)
        assertGoingAway(alice)
    assert status == 0, process.output


def test_appTables():
    """
    app.md's tables give every argument of App and App.route with its real
    default.
    """
    for function, firstRow, skip in [(App.__init__, "port", {"reactor"}), (App.route, "allowedOrigins", set())]:
        assertTableMatches("app.md", firstRow, function, skip)


def assertTableMatches(name: str, firstRow: str, function: Callable[..., Any], skip: set[str]) -> None:
    """
    The table of page C{name} that has a row for C{firstRow} lists every
    parameter of C{function} (but C{self}, C{**kwargs} and C{skip}) with its
    default, and nothing else.
    """
    rows = tableWith(name, firstRow)
    parameters = [
        parameter
        for parameter in inspect.signature(function).parameters.values()
        if parameter.name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
        if parameter.name not in skip
    ]
    assert sorted(rows) == sorted(parameter.name for parameter in parameters), f"docs/{name}: {function.__qualname__}"
    for parameter in parameters:
        documented = rows[parameter.name][1]
        if parameter.default is inspect.Parameter.empty:
            assert documented == "required", (function.__qualname__, parameter.name)
        else:
            value = ast.literal_eval(re.match(r"`([^`]*)`", documented).group(1))
            assert value == parameter.default, (function.__qualname__, parameter.name, value, parameter.default)


# Writing a decorator


def test_guardedScript(script):
    """
    decorators.md's guarded_server.py, run as written, serves the chat and its
    page on port 8080 behind its IpBlackList and OriginCheck: example.com's
    pages, the page's own origin and clients without Origin get in, other
    sites get 403.
    """
    assert "$ python guarded_server.py" in page("decorators.md")
    server = pythonFile("decorators.md", "guarded_server.py")
    assert 'IpBlackList(HttpServer(OriginCheck(WsServer(Chat()), ["example.com"])))' in server
    requirePortFree(TUTORIAL_PORT)
    process = script("guarded_server.py", server)
    waitForListening(process, rf"ratchetpy listening on tcp:0\.0\.0\.0:{TUTORIAL_PORT}\b", TUTORIAL_PORT)

    base = f"ws://127.0.0.1:{TUTORIAL_PORT}/"
    assertServesChatPage(TUTORIAL_PORT)
    assertRefused(403, base, origin="https://evil.example")
    process.readUntil(r"answered 403 to 127\.0\.0\.1 \(connection \d+\): origin 'https://evil.example' is not allowed")
    with connect(base, origin="https://example.com:8443") as alice, connect(base) as bob:
        assertChatRelays(alice, bob)
    with connect(base, origin=f"http://127.0.0.1:{TUTORIAL_PORT}") as carol, connect(base) as dave:
        assertChatRelays(carol, dave)
        status = process.stop(signal.SIGTERM, timeout=30)
        assertGoingAway(carol)
    assert status == 0, process.output


def test_requireTokenExample(listen):
    """
    decorators.md's RequireToken, served as the page says, answers 401 to
    clients without the token, never shows them to the chat, and lets the
    others chat.
    """
    assert 'IoServer.factory(HttpServer(RequireToken(WsServer(Chat()), "s3cret")), 8080).run()' in page("decorators.md")
    namespace: dict[str, Any] = {"__name__": "docs_decorators_example"}
    exec(compile(pythonBlock("decorators.md", "class RequireToken("), str(DOCS / "decorators.md"), "exec"), namespace)
    chat = Chat()
    guard = namespace["RequireToken"](WsServer(chat), "s3cret")
    server = listen(HttpServer(guard))
    base = f"ws://127.0.0.1:{server.portNumber}/"

    def talk() -> None:
        assertRefused(401, base)
        assertRefused(401, base + "?token=guess")
        assertRefused(401, base + "?token=s3cr%C3%A9t")
        with connect(base + "?token=s3cret") as alice, connect(base + "?room=1&token=s3cret") as bob:
            assertChatRelays(alice, bob)
            assert len(chat.channels.subscribers("chat")) == 2

    inThread(talk)
    waitUntil(lambda: server.connectionCount == 0, timeout=10, what="every connection closed")
    assert len(chat.channels.subscribers("chat")) == 0
    assert guard._refused is None, "refused connections are forgotten once closed"


def test_doctests():
    """
    Every pycon session in the docs gives the output shown.
    """
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    sessions = 0
    for name in PAGES:
        for number, block in enumerate(codeBlocks(name, "pycon")):
            test = parser.get_doctest(block, {}, f"docs/{name} pycon block {number + 1}", name, 0)
            runner.run(test)
            sessions += 1
    assert sessions
    failed, attempted = runner.summarize(verbose=False)
    assert attempted and not failed


def test_decoratorTables():
    """
    decorators.md's IpBlackList table lists its public methods (but the
    hooks and what every ComponentDecorator has), and its OriginCheck table
    every argument with its real default.
    """
    rows = tableWith("decorators.md", "isBlocked(address)")
    methods = {
        name
        for name, _ in inspect.getmembers(IpBlackList, inspect.isfunction)
        if not name.startswith("_") and not name.startswith("on") and name not in vars(ComponentDecorator)
    }
    assert {re.match(r"\w+", row).group(0) for row in rows} == methods
    for row in rows:
        function = getattr(IpBlackList, re.match(r"\w+", row).group(0))
        assert row == signatureText(function.__name__, function)
    assertTableMatches("decorators.md", "allowMissing", OriginCheck.__init__, {"component"})


# Components


def test_componentsExample(listen):
    """
    components.md's Rooms example works as the page describes: rooms from the
    query string, the agreed subprotocol, the censor run in a thread, binary
    relayed as binary, and /quit closing with 4000.
    """
    blocks = [code for code in codeBlocks("components.md", "python") if "class Rooms(" in code]
    assert len(blocks) == 1
    namespace: dict[str, object] = {"__name__": "docs_components_example"}
    exec(compile(blocks[0], str(DOCS / "components.md"), "exec"), namespace)
    rooms = namespace["Rooms"]()  # type: ignore[operator]
    server = listen(HttpServer(WsServer(rooms)))
    base = f"ws://127.0.0.1:{server.portNumber}/"

    def talk() -> None:
        with (
            connect(base + "?room=a", subprotocols=["other", "chat.v1"]) as a1,
            connect(base + "?room=a") as a2,
            connect(base) as lobby,
        ):
            assert a1.subprotocol == "chat.v1"
            assert a2.subprotocol is None
            assert re.fullmatch(r"#\d+ joined a", a1.recv(timeout=10))
            assert re.fullmatch(r"#\d+ joined a", a2.recv(timeout=10))
            assert re.fullmatch(r"#\d+ joined lobby", lobby.recv(timeout=10))

            a1.send("darn it")
            assert a2.recv(timeout=10) == "d**n it"
            a2.send(b"\x00\x01")
            assert a1.recv(timeout=10) == b"\x00\x01"
            assertNothingArrives(lobby)

            a1.send("/quit")
            with pytest.raises(ConnectionClosed) as closed:
                a1.recv(timeout=10)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye")

    inThread(talk)
    waitUntil(lambda: server.connectionCount == 0, timeout=10, what="every connection closed")
    assert rooms.rooms == {"a": set(), "lobby": set()}  # type: ignore[attr-defined]


def test_httpHandlerExample(listen):
    """
    components.md's Hello handler, served both ways the page shows (a route of
    its own, and a WsServer's http component), answers GET and HEAD with the
    greeting (the name escaped), other methods with 405, and leaves the
    WebSockets beside it working.
    """
    code = pythonBlock("components.md", "class Hello(HttpHandler)")
    assert 'app.route("/hello/{name}", Hello())' in page("components.md")
    assert "WsServer(Chat(), http=Hello())" in page("components.md")
    namespace: dict[str, Any] = {"__name__": "docs_components_handler"}
    exec(compile(code, str(DOCS / "components.md"), "exec"), namespace)
    Hello = namespace["Hello"]

    app = App("localhost", 0)
    app.route("/hello/{name}", Hello())
    app.route("/", WsServer(Chat(), http=Hello()))
    appPort = pytest_twisted.blockon(app.listen()).getHost().port
    plain = listen(HttpServer(WsServer(Echo(), http=Hello())))

    def requests() -> None:
        status, contentType, body = httpRequest(appPort, "/hello/%3Cb%3Eann%3C%2Fb%3E")
        assert (status, contentType) == (200, "text/html; charset=utf-8")
        assert "<p>Hello, &lt;b&gt;ann&lt;/b&gt;!</p>" in body.decode()
        assert httpRequest(appPort, "/hello/ann", method="HEAD") == (200, "text/html; charset=utf-8", b"")
        assert "<p>Hello, world!</p>" in httpRequest(appPort, "/")[2].decode()
        with connect(f"ws://127.0.0.1:{appPort}/") as alice, connect(f"ws://127.0.0.1:{appPort}/") as bob:
            assertChatRelays(alice, bob)
        assert httpRequest(plain.portNumber, "/", method="POST")[:2] == (405, "text/plain; charset=utf-8")
        assert "<p>Hello, world!</p>" in httpRequest(plain.portNumber, "/anything")[2].decode()
        with connect(f"ws://127.0.0.1:{plain.portNumber}/") as echo:
            assertEchoes(echo)

    try:
        inThread(requests)
    finally:
        app.server.shutdownTimeout = 1.0
        pytest_twisted.blockon(app.shutdown())


# The reference tables match the code


def test_twistdOptionsTable():
    """
    running.md's option table lists every option of ratchetpy.tap.Options with
    its real default, but the limits, which limits.md lists (see
    tests/test_limitsdoc.py) and running.md names.
    """
    rows = {re.search(r"`(--[\w-]+)", row[0]).group(1): row for row in tableRows("running.md") if "`--" in row[0]}
    for flag, *_ in Options.optFlags:
        assert f"--{flag}" in rows, f"running.md does not document --{flag}"
        assert rows[f"--{flag}"][1] == "off"
    limits = {o.flag[2:] for o in OPTIONS if o.flag}
    for longName, shortName, default, *_ in Options.optParameters:
        if longName in limits and f"--{longName}" not in rows:
            assert f"`--{longName}`" in page("running.md"), f"running.md does not name --{longName}"
            continue
        assert f"--{longName}" in rows, f"running.md does not document --{longName}"
        row = rows[f"--{longName}"]
        if shortName:
            assert f"`-{shortName}`" in row[0]
        if longName == "component":
            assert row[1] == "required"
        elif default is None:
            assert row[1] != "required", (longName, row)  # e.g. none, or another option's value
        else:
            assert re.match(r"`([^`]*)`", row[1]).group(1) == str(default), (longName, row)


@pytest.mark.parametrize("layer", [IoServer, HttpServer, WsServer])
def test_limitsTables(layer):
    """
    Every keyword argument of IoServer, HttpServer and WsServer (but the
    reactor) is documented with its real default: the limits in limits.md's
    table, the others in running.md's.
    """
    rows = {row[0][1:-1]: row for row in tableRows("running.md") if re.fullmatch(r"`\w+`", row[0])}
    limitRows = {}
    for row in tableRows("limits.md"):
        match = len(row) == 5 and re.fullmatch(r"`(\w+)\((\w+)=\.\.\.\)`", row[3])
        if match and match.group(1) == layer.__name__:
            limitRows[match.group(2)] = row
    parameters = inspect.signature(layer.__init__).parameters
    for parameter in parameters.values():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.name == "reactor":
            continue
        row = limitRows.get(parameter.name) or rows.get(parameter.name)
        assert row is not None, f"neither limits.md nor running.md documents {layer.__name__}({parameter.name}=...)"
        documented = re.match(r"`([^`]*)`", row[1]).group(1)
        assert documented == str(parameter.default), (parameter.name, documented, parameter.default)


def test_responseTable():
    """
    components.md's Response table gives every argument with its real default.
    """
    assertTableMatches("components.md", "contentType", Response.__init__, set())
