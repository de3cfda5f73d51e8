"""
The documentation's examples, run exactly as written.

The code blocks of C{docs/*.md} are extracted and run: the tutorial's scripts as
subprocesses on the port they name (8080), every C{twistd} command as a real
twistd (on a free loopback port instead of the one written), the component
example in-process. The tables of defaults are checked against the code.

Tests that only talk to subprocesses block directly; the in-process one uses
L{inThread}.
"""

from __future__ import annotations

import inspect
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
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect, unix_connect

from examples.chat import Chat
from ratchetpy import HttpServer, IoServer, WsServer
from ratchetpy.tap import Options

from .conftest import ROOT, Twistd, inThread, makeCertificate, waitUntil

DOCS = ROOT / "docs"
PAGES = ("index.md", "tutorial.md", "components.md", "running.md")
TUTORIAL_PORT = 8080
QUIET = 0.3  # seconds a client waits to be sure nothing arrives


# Reading the docs


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


FENCE = re.compile(r"^```(\S*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def codeBlocks(name: str, language: str | None = None) -> list[str]:
    """
    The fenced code blocks of page C{name} (in C{language}, if given), in order.
    """
    return [code for lang, code in FENCE.findall(page(name)) if language is None or lang == language]


def pythonFile(name: str, filename: str) -> str:
    """
    The python block of page C{name} that starts with the comment C{# FILENAME}.
    """
    found = [code for code in codeBlocks(name, "python") if code.startswith(f"# {filename}\n")]
    assert len(found) == 1, f"docs/{name} should have exactly one python block starting with '# {filename}'"
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


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


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
    C{python FILE} in C{directory}, with L{Twistd}'s output reading and stopping.
    """

    def __init__(self, directory: Path, filename: str) -> None:  # replaces Twistd's, which builds a twistd argv
        self.argv = [sys.executable, filename]
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
def script(tmp_path):
    """
    C{script(filename, code)} writes C{code} to C{tmp_path/filename} and runs
    it; every script still running is killed after the test.
    """
    started: list[Script] = []

    def _start(filename: str, code: str) -> Script:
        (tmp_path / filename).write_text(code, encoding="utf-8")
        process = Script(tmp_path, filename)
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop(signal.SIGKILL, timeout=5)


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


def assertGoingAway(ws) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


# The pages


def test_pagesExistAndLinksResolve():
    """
    Every page exists, the index links to the other three, and every relative
    link (and its #anchor) points at a page and heading that exist.
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
    The index's layer diagram names the layers outside in.
    """
    diagram = codeBlocks("index.md", "text")[0]
    positions = [diagram.index(layer) for layer in ("IoServer", "HttpServer", "WsServer", "your component")]
    assert positions == sorted(positions)


# The tutorial


def test_tutorialChatIsExamplesChat():
    """
    The tutorial's component is, character for character, the C{Chat} class of
    examples/chat.py, and its imports are that module's.
    """
    blocks = codeBlocks("tutorial.md", "python")
    classBlocks = [code for code in blocks if code.startswith("class Chat(")]
    assert len(classBlocks) == 1, "docs/tutorial.md should show the Chat class in one python block"
    assert classBlocks[0] == inspect.getsource(Chat)

    imports = blocks[blocks.index(classBlocks[0]) - 1]
    moduleLines = set(inspect.getsource(sys.modules[Chat.__module__]).splitlines())
    for line in imports.splitlines():
        assert not line or line in moduleLines, f"examples/chat.py has no line {line!r}"


def test_tutorialScriptServesTheChatOn8080(script, tmp_path):
    """
    The tutorial's chat_server.py, run as written, serves the chat on port 8080:
    two clients talk (text as text, binary as binary), the tutorial's
    chat_client.py prints what the tutorial shows, and SIGTERM closes clients
    with 1001 and exits with status 0.
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

    (tmp_path / "chat_client.py").write_text(pythonFile("tutorial.md", "chat_client.py"), encoding="utf-8")
    clientRun = subprocess.run(
        [sys.executable, "chat_client.py"],
        cwd=tmp_path,
        env=envWithRepo(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert clientRun.returncode == 0, clientRun.stderr
    assert clientRun.stdout.splitlines() == expectedOutput("tutorial.md", "python chat_client.py")

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


@pytest.mark.parametrize(
    "name, command",
    twistdCommands(),
    ids=[
        f"{name}:{command.partition('examples.chat:Chat')[2].strip() or 'as-is'}" for name, command in twistdCommands()
    ],
)
def test_twistdCommandRuns(twistd, tlsFiles, socketDir, name, command):
    """
    Every twistd command the docs show starts the chat on the endpoint kind it
    names (on a free loopback port or a temporary socket instead of the one
    written); two clients talk; SIGTERM closes them (WebSockets with 1001) and
    exits with status 0.
    """
    argv = shlex.split(command)
    assert argv[:3] == ["twistd", "-n", "ratchetpy"], f"docs/{name}: write twistd commands as 'twistd -n ratchetpy ...'"
    args = argv[3:]
    options = Options()
    options.parseOptions(args)
    assert options["component"] == "examples.chat:Chat", f"docs/{name}: only the chat is tested: {command}"

    kind = options["port"].partition(":")[0]
    if kind == "ssl":
        process = twistd(*withLoopbackPort(args, options["port"], socketDir), cwd=tlsFiles, env=envWithRepo())
    else:
        process = twistd(*withLoopbackPort(args, options["port"], socketDir))

    if kind == "unix":
        path = process.readUntil(r"ratchetpy listening on unix:(\S+)").group(1)

        def client():
            return unix_connect(path, "ws://localhost/")

    else:
        port = process.waitForPort()
        if kind == "ssl":
            context = ssl.create_default_context(cafile=str(tlsFiles / "cert.pem"))

            def client():
                return connect(f"wss://127.0.0.1:{port}/", ssl=context, server_hostname="localhost")

        else:

            def client():
                return connect(f"ws://127.0.0.1:{port}/")

    if options["raw"]:
        assert kind == "tcp"
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as one,
            socket.create_connection(("127.0.0.1", port), timeout=10) as two,
        ):
            process.readUntil(r"New connection! \(2\)")
            one.sendall(b"hello over telnet\r\n")
            received = b""
            while len(received) < len(b"hello over telnet\r\n"):
                received += two.recv(100)
            assert received == b"hello over telnet\r\n"
            status = process.stop(signal.SIGTERM, timeout=30)
            assert one.recv(100) == b""
    else:
        with client() as alice, client() as bob:
            assertChatRelays(alice, bob)
            status = process.stop(signal.SIGTERM, timeout=30)
            assertGoingAway(alice)
            assertGoingAway(bob)
    assert status == 0, process.output
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


# The component example


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


# The reference tables match the code


def test_twistdOptionsTable():
    """
    running.md's option table lists every option of ratchetpy.tap.Options with
    its real default.
    """
    rows = {re.search(r"`(--[\w-]+)", row[0]).group(1): row for row in tableRows("running.md") if "`--" in row[0]}
    for flag, *_ in Options.optFlags:
        assert f"--{flag}" in rows, f"running.md does not document --{flag}"
        assert rows[f"--{flag}"][1] == "off"
    for longName, shortName, default, *_ in Options.optParameters:
        assert f"--{longName}" in rows, f"running.md does not document --{longName}"
        row = rows[f"--{longName}"]
        if shortName:
            assert f"`-{shortName}`" in row[0]
        if default is None:
            assert row[1] == "required"
        else:
            assert re.match(r"`([^`]*)`", row[1]).group(1) == str(default), (longName, row)


@pytest.mark.parametrize("layer", [HttpServer, WsServer])
def test_limitsTables(layer):
    """
    running.md's limits tables give every keyword argument of HttpServer and
    WsServer (but the reactor) with its real default.
    """
    rows = {row[0][1:-1]: row for row in tableRows("running.md") if re.fullmatch(r"`\w+`", row[0])}
    parameters = inspect.signature(layer.__init__).parameters
    for parameter in parameters.values():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.name == "reactor":
            continue
        assert parameter.name in rows, f"running.md does not document {layer.__name__}({parameter.name}=...)"
        documented = re.match(r"`([^`]*)`", rows[parameter.name][1]).group(1)
        assert documented == str(parameter.default), (parameter.name, documented, parameter.default)
    assert "`IoServer(..., shutdownTimeout=5.0)`" in page("running.md")
    assert inspect.signature(IoServer.__init__).parameters["shutdownTimeout"].default == 5.0
