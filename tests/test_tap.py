"""
The twistd plugin, end to end: a real C{twistd -n ratchetpy ...} subprocess
started from the repository root, talked to by real WebSocket clients (the
C{websockets} library) and plain sockets.

These tests never need the reactor, so they block directly.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from twisted.application.service import IService, IServiceMaker
from twisted.plugin import getPlugins
from twisted.python import usage
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import twisted.plugins
from ratchetpy import App, HttpServer, OriginCheck, Router, StaticFiles, WsServer
from ratchetpy.loader import ComponentError, loadComponent
from ratchetpy.options import OPTIONS, optionName, useCommandLineNames
from ratchetpy.pubsub.endpoint import PublishFront
from ratchetpy.stack import StackError
from ratchetpy.tap import Options, buildServer, makeService
from tests.helpers import ROOT, Twistd

TWISTD = str(Path(sys.executable).with_name("twistd"))
LOOPBACK = "tcp:0:interface=127.0.0.1"
QUIET = 0.3  # seconds a client waits to be sure nothing arrives


def serve(twistd, component: str, *args: str, **kwargs) -> tuple[Twistd, int]:
    """
    Start C{twistd -n ratchetpy --component COMPONENT} on a loopback port;
    return the process and its port.
    """
    process = twistd("--component", component, "--port", LOOPBACK, *args, **kwargs)
    return process, process.waitForPort()


def runToExit(twistd, *args: str, timeout: float = 15.0) -> tuple[int, str]:
    """
    Start twistd with C{args}, let it exit on its own; return its exit status and output.
    """
    process = twistd(*args)
    try:
        process.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.stop()
        pytest.fail(f"twistd {' '.join(args)} kept running; output:\n{process.output}")
    return process.stop(), process.output


def assertNothingArrives(ws) -> None:
    with pytest.raises(TimeoutError):
        ws.recv(timeout=QUIET)


def wsUrl(port: int) -> str:
    return f"ws://127.0.0.1:{port}/"


# The plugin


def test_twistdHelpListsRatchetpy():
    """
    C{twistd --help} lists the ratchetpy subcommand.
    """
    result = subprocess.run([TWISTD, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s+ratchetpy\s", result.stdout, re.MULTILINE), result.stdout


def test_pluginIsDiscoverable():
    """
    Twisted's plugin system finds a service maker with tapname "ratchetpy".
    """
    tapnames = [maker.tapname for maker in getPlugins(IServiceMaker)]
    assert "ratchetpy" in tapnames


def test_pluginIsInstalledWithoutPackageInitFiles():
    """
    The plugin module is installed under site-packages/twisted/plugins, and the
    repository does not turn twisted/ or twisted/plugins/ into packages.
    """
    installed = [Path(p) / "ratchetpy_plugin.py" for p in twisted.plugins.__path__]
    assert any(path.is_file() and "site-packages" in path.parts for path in installed), installed
    assert not (ROOT / "twisted" / "__init__.py").exists()
    assert not (ROOT / "twisted" / "plugins" / "__init__.py").exists()


# makeService in-process


def parsed(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


@pytest.fixture
def fromRoot(monkeypatch):
    """
    Run in the repository root, undoing makeService's addition of it to sys.path, and its switch to command-line
    option names, afterwards.
    """
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    useCommandLineNames(False)


def test_makeServiceReturnsAService(fromRoot):
    """
    makeService builds an IService wrapping the WebSocket stack around the component, without listening.
    """
    service = makeService(parsed("--component", "examples.echo:Echo", "--port", "tcp:0"))
    assert IService.providedBy(service)
    assert not service.running
    assert service.port is None
    assert isinstance(service.ioServer.component, HttpServer)


def test_makeServiceRawServesTheComponentDirectly(fromRoot):
    """
    With --raw, the IoServer serves the component itself, with no HTTP or WebSocket layer.
    """
    service = makeService(parsed("--component", "examples.echo:Echo", "--port", "tcp:0", "--raw"))
    assert IService.providedBy(service)
    from examples.echo import Echo

    assert isinstance(service.ioServer.component, Echo)


# Examples over WebSocket


def test_chatRelaysToEveryoneButTheSender(twistd):
    """
    The chat relays each message verbatim to every other client, never the sender; text stays str, binary bytes.
    """
    process, port = serve(twistd, "examples.chat:Chat")
    with connect(wsUrl(port)) as a, connect(wsUrl(port)) as b, connect(wsUrl(port)) as c:
        opened = [process.readUntil(r"New connection! \((\d+)\)").group(1) for _ in range(3)]

        a.send("héllo from a ✓")
        assert b.recv(timeout=5) == "héllo from a ✓"
        assert c.recv(timeout=5) == "héllo from a ✓"
        assertNothingArrives(a)

        payload = bytes(range(256))
        b.send(payload)
        for receiver in (a, c):
            received = receiver.recv(timeout=5)
            assert isinstance(received, bytes)
            assert received == payload
        assertNothingArrives(b)

        c.send("")
        assert a.recv(timeout=5) == ""
        assert b.recv(timeout=5) == ""
        assertNothingArrives(c)

    closed = [process.readUntil(r"Connection (\d+) has disconnected").group(1) for _ in range(3)]
    assert len(set(opened)) == 3
    assert sorted(closed) == sorted(opened)


def test_echoEchoesTextAndBinary(twistd):
    """
    The echo example sends text back as text and binary back as binary.
    """
    _, port = serve(twistd, "examples.echo:Echo")
    with connect(wsUrl(port)) as ws:
        ws.send("ping ✓")
        assert ws.recv(timeout=5) == "ping ✓"
        ws.send(b"\x00\xffbinary")
        received = ws.recv(timeout=5)
        assert isinstance(received, bytes)
        assert received == b"\x00\xffbinary"


# --raw


def test_rawChatOverPlainTcp(twistd):
    """
    With --raw, a line typed in one TCP connection reaches the other byte-for-byte and is not echoed to the sender.
    """
    process, port = serve(twistd, "examples.chat:Chat", "--raw")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as one,
        socket.create_connection(("127.0.0.1", port), timeout=5) as two,
    ):
        process.readUntil(r"New connection! \(\d+\)")
        process.readUntil(r"New connection! \(\d+\)")
        line = "hello, telnet ✓\r\n".encode()
        one.sendall(line)
        received = b""
        while len(received) < len(line):
            chunk = two.recv(4096)
            assert chunk, "connection closed early"
            received += chunk
        assert received == line
        one.settimeout(QUIET)
        with pytest.raises(TimeoutError):
            one.recv(4096)


# Mistakes


@pytest.mark.parametrize(
    ("component", "expected"),
    [
        ("nosuchmodule:Chat", r"no module named 'nosuchmodule'.*run from the directory that contains it"),
        ("examples.chat:Nope", r"examples\.chat has no 'Nope'; did you mean examples\.chat:Chat\?"),
        ("os:sep", r"'/' is not a component; subclass ratchetpy\.MessageComponent"),
        ("errno:ENOENT", r"2 is not a component; subclass ratchetpy\.MessageComponent"),
        ("examples.chat", r"expected MODULE:NAME, e\.g\. examples\.chat:Chat"),
    ],
    ids=["moduleNotFound", "nameNotFound", "notAComponentStr", "notAComponentInt", "noName"],
)
def test_badComponentIsOneClearLine(twistd, component, expected):
    """
    A component that cannot be found or is not one ends twistd with one line saying why and what to do, and status 1.
    """
    status, output = runToExit(twistd, "--component", component, "--port", LOOPBACK)
    assert status != 0
    lines = [line for line in output.splitlines() if line.startswith("ratchetpy:")]
    assert len(lines) == 1, output
    assert re.match(rf"ratchetpy: --component '?{re.escape(component)}'?: ", lines[0]), output
    assert re.search(expected, lines[0]), output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "source, summary, line",
    [
        ("class Broken(MessageComponent):\n    def __init__(self):\n        self.rooms = {}['lobby']\n",
         r"calling Broken\(\) failed: KeyError: 'lobby'", "self.rooms = {}['lobby']"),
        ("import no_such_dependency_xyz\n", r"importing brokenmod failed: No module named 'no_such_dependency_xyz'",
         "import no_such_dependency_xyz"),
    ],
    ids=["constructor", "import"],
)
def test_failingComponentShowsTheUsersTraceback(twistd, tmp_path, source, summary, line):
    """
    A component whose constructor (or module) fails: the one-line summary, then the traceback of the user's code,
    ending at the line that failed, without importlib's or ratchetpy's frames.
    """
    (tmp_path / "brokenmod.py").write_text("from ratchetpy import MessageComponent\n\n\n" + source)
    process = twistd("--component", "brokenmod:Broken", "--port", LOOPBACK, cwd=tmp_path)
    status = process.stop(timeout=15) if process.process.wait(timeout=15) is not None else None
    output = process.output
    assert status == 1, output
    lines = output.splitlines()
    first = next(i for i, text in enumerate(lines) if "ratchetpy: --component brokenmod:Broken:" in text)
    assert re.search(summary, lines[first]), output
    rest = "\n".join(lines[first + 1 :])
    assert "brokenmod.py" in rest and line in rest, output
    assert "importlib" not in rest and "ratchetpy/loader.py" not in rest, output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", LOOPBACK], r"--component MODULE:NAME is required, e.g. --component examples.chat:Chat"),
        (["--component", "examples.chat:Chat", "--workers", "2"], r"--workers 2 needs a broker the processes share"),
        (["--component", "examples.chat:Chat", "--max-message-size", "16KB"], r"--max-message-size: a size is bytes"),
        (["--component", "examples.chat:Chat", "--keepalive", "often"], r"--keepalive takes a number of seconds"),
    ],
)
def test_usageMistakeIsOneLine(twistd, args, message):
    """
    A usage mistake is one "ratchetpy: ..." line (no twistd help in front of it) and exit status 2.
    """
    status, output = runToExit(twistd, *args)
    assert status == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("ratchetpy: ") and re.search(message, lines[0]), output
    assert lines[0].endswith("(see twistd ratchetpy --help)")


def test_foregroundWritesNoPidfile(tmp_path):
    """
    Two servers started in the foreground in one directory both run (no twistd.pid); an explicit --pidfile is
    written, and removed when the server cannot listen.
    """
    env = dict(__import__("os").environ, PYTHONPATH=str(ROOT))
    twistd = str(Path(sys.executable).with_name("twistd"))
    servers = [
        subprocess.Popen([twistd, "-n", "ratchetpy", "--component", "examples.chat:Chat", "--port", LOOPBACK],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        for server in servers:
            for line in server.stdout:
                if "ratchetpy listening on" in line:
                    break
            assert server.poll() is None
        assert not (tmp_path / "twistd.pid").exists()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
            failed = subprocess.run(
                [twistd, "-n", "--pidfile=mine.pid", "ratchetpy", "--component", "examples.chat:Chat", "--port", busy],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
            )
        assert failed.returncode == 1 and "cannot listen" in failed.stderr + failed.stdout
        assert not (tmp_path / "mine.pid").exists()
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)


def test_barePortIsTcp():
    """
    --port 9001 means tcp:9001, as Daphne's -p does.
    """
    options = Options()
    options.parseOptions(["--component", "examples.chat:Chat", "--port", "9001"])
    assert options["port"] == "tcp:9001"


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        ("tcp:80800", r"bad endpoint 'tcp:80800': the port must be 0-65535, not 80800"),
        ("ssl:port=70000:privateKey=k.pem", r"the port must be 0-65535, not 70000"),
        ("tcp:9001:interface=10.255.255.254", r"no such address: check interface="),
    ],
)
def test_badPortOrInterfaceIsOneLine(twistd, endpoint, expected):
    """
    A port out of range or an interface this machine lacks is one line naming it, not a traceback, and never
    blamed on another server.
    """
    status, output = runToExit(twistd, "--component", "examples.chat:Chat", "--port", endpoint)
    assert status != 0
    lines = [line for line in output.splitlines() if "ratchetpy:" in line]
    assert len(lines) == 1, output
    assert re.search(expected, lines[0]), output
    assert "another server" not in output and "Traceback" not in output


def test_badEndpointIsOneClearLine(twistd):
    """
    An endpoint Twisted cannot parse ends twistd with one line naming it and showing examples, and a non-zero status.
    """
    status, output = runToExit(twistd, "--component", "examples.chat:Chat", "--port", "bogus:123")
    assert status != 0
    lines = [line for line in output.splitlines() if "bad endpoint" in line]
    assert len(lines) == 1, output
    assert "'bogus:123'" in lines[0]
    assert "Examples: tcp:8080" in lines[0]
    assert "Traceback" not in output


def test_portInUseIsOneClearLine(twistd):
    """
    A port already in use ends twistd with one line naming the endpoint and suggesting --port, and a non-zero status.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
        status, output = runToExit(twistd, "--component", "examples.chat:Chat", "--port", endpoint)
    assert status != 0
    lines = [line for line in output.splitlines() if "cannot listen" in line]
    assert len(lines) == 1, output
    assert endpoint in lines[0]
    assert "in use" in lines[0]
    assert "--port" in lines[0]
    assert "Traceback" not in output


# Options


@pytest.mark.parametrize("size", ["1000", "0.9765625k"])
def test_maxMessageSize(twistd, size):
    """
    With --max-message-size 1000 (or in k), a 2000-byte message is refused with close code 1009 while a 500-byte one
    is echoed.
    """
    _, port = serve(twistd, "examples.echo:Echo", "--max-message-size", size)
    with connect(wsUrl(port)) as ws:
        ws.send("x" * 2000)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009

    with connect(wsUrl(port)) as ws:
        ws.send("y" * 500)
        assert ws.recv(timeout=5) == "y" * 500


# Shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigtermClosesClientsWithGoingAway(twistd, sig):
    """
    SIGTERM, and SIGINT (Ctrl-C) alike, closes every WebSocket client with 1001 Going Away and twistd shuts down
    cleanly within a few seconds, with exit status 0.
    """
    process, port = serve(twistd, "examples.chat:Chat")
    with connect(wsUrl(port)) as a, connect(wsUrl(port)) as b:
        process.readUntil(r"New connection! \(\d+\)")
        process.readUntil(r"New connection! \(\d+\)")
        started = time.monotonic()
        process.process.send_signal(sig)
        for ws in (a, b):
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1001
        status = process.process.wait(timeout=5)
        elapsed = time.monotonic() - started
    process.stop()
    output = process.output
    assert status == 0, output
    assert elapsed < 5, output
    assert "Traceback" not in output
    assert "Unhandled" not in output
    assert "Main loop terminated" in output
    assert "Server Shut Down" in output
    assert f"received {sig.name}: closing connections and stopping" in output


# Component forms


COMPONENTS = """
from ratchetpy import MessageComponent


class Shout(MessageComponent):
    def __init__(self, prefix):
        self.prefix = prefix

    def onMessage(self, conn, msg):
        conn.send(self.prefix + msg.upper())


def makeShout():
    return Shout("factory:")


shout = Shout("instance:")
"""


@pytest.mark.parametrize(("name", "prefix"), [("makeShout", "factory:"), ("shout", "instance:")])
def test_componentAsFactoryOrInstance(twistd, tmp_path, name, prefix):
    """
    A component given as a factory function or an instance, from a module in the current directory, is served.
    """
    (tmp_path / "shoutmod.py").write_text(COMPONENTS)
    _, port = serve(twistd, f"shoutmod:{name}", cwd=tmp_path)
    with connect(wsUrl(port)) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == prefix + "HI"


# The options, from the registry

#: The flags of the layers' options, spelt as they have always been.
LAYER_FLAGS = {
    "--shutdown-timeout",
    "--max-send-buffer",
    "--slow-consumer-policy",
    "--max-head-size",
    "--max-headers",
    "--max-request-line",
    "--head-timeout",
    "--max-connections",
    "--max-connections-per-ip",
    "--max-message-size",
    "--max-frame-size",
    "--keepalive",
    "--keepalive-timeout",
    "--trusted-proxies",
    "--forwarded-header",
}


def padded(parameter: list) -> list:
    """
    An entry of optParameters with its coercion, None if it has none.
    """
    return [*parameter, None][:5]


def test_layerOptionsComeFromTheRegistry():
    """
    Every option of the registry that has a flag is a twistd option with the
    registry's default and type; the flags are the ones twistd has always had.
    """
    parameters = {f"--{name}": (default, coerce) for name, _, default, _, coerce in map(padded, Options.optParameters)}
    flagged = [o for o in OPTIONS if o.flag is not None]
    assert {o.flag for o in flagged} == LAYER_FLAGS
    for o in flagged:
        coerce = None if o.kind is str else o.fromCommandLine
        # A list's twistd default is None (shown as none), the registry's after parsing.
        default = None if o.kind is tuple else o.default
        assert parameters[o.flag] == (default, coerce), o.flag
        assert parsed("--component", "examples.chat:Chat")[o.flag[2:]] == o.default, o.flag


@pytest.mark.parametrize(
    "args, error",
    [
        (["--max-message-size", "-1"], "--max-message-size must be a positive number of bytes, not -1"),
        (["--max-frame-size", "0"], "--max-frame-size must be a positive number of bytes, not 0"),
        (["--max-connections", "-1"], "--max-connections must be 0 (no limit) or a positive number, not -1"),
        (["--head-timeout", "0"], "--head-timeout must be a positive number of seconds, not 0"),
        (["--keepalive", "0.5"], "--keepalive must be 0 (off) or at least 1 second, not 0.5"),
        (["--keepalive-timeout", "0"], "--keepalive-timeout must be at least 1 second, not 0"),
        (["--shutdown-timeout", "-2.5"], "--shutdown-timeout must be 0 (cut at once) or a positive number"),
        (["--slow-consumer-policy", "kill"], "--slow-consumer-policy must be one of: close, drop, not 'kill'"),
    ],
)
def test_badLayerOptionsNameTheFlag(args, error):
    """
    A value a layer does not allow is a usage error naming the flag and
    saying what is allowed.
    """
    with pytest.raises(usage.UsageError) as info:
        parsed("--component", "examples.chat:Chat", *args)
    assert str(info.value).startswith(error), str(info.value)


@pytest.mark.parametrize("args", [["--max-connections", "0"], ["--keepalive", "0"], ["--shutdown-timeout", "0"]])
def test_zeroWhereItMeansSomething(args):
    """
    0 is accepted where it has a meaning (no limit, off, cut at once).
    """
    assert parsed("--component", "examples.chat:Chat", *args)[args[0][2:]] == 0


def test_makeServiceSwitchesToFlagNames(fromRoot):
    """
    Once makeService has run, the library names options by their flags in
    what it tells the user; before, by their keywords.
    """
    assert optionName("maxConnections") == "maxConnections"
    makeService(parsed("--component", "examples.echo:Echo", "--port", "tcp:0"))
    assert optionName("maxConnections") == "--max-connections"
    assert optionName("keepAlive") == "--keepalive"
    assert optionName("retryAfter") == "retryAfter"  # no flag: its keyword


# The stack the options describe


def test_optionsReachTheirLayers():
    """
    The layers' options given on the command line reach the layers built.
    """
    server = buildServer(
        loadComponent("examples.echo:Echo"),
        parsed(
            "--component",
            "examples.echo:Echo",
            "--max-head-size",
            "4096",
            "--max-message-size",
            "1000",
            "--keepalive",
            "0",
            "--shutdown-timeout",
            "1",
        ),
    )
    http = server.component
    assert isinstance(http, HttpServer) and http.maxHeadSize == 4096
    # Behind the OriginCheck twistd puts in front by default (the server's own host name).
    assert isinstance(http.component, OriginCheck) and http.component.allowedOrigins == []
    ws = http.component.component
    assert isinstance(ws, WsServer)
    assert (ws.maxMessageSize, ws.keepAlive) == (1000, 0)
    assert server.shutdownTimeout == 1


@pytest.mark.parametrize(
    "component, args, message",
    [
        (
            Router(),
            ["--max-message-size", "10", "--keepalive", "0"],
            "--max-message-size, --keepalive cannot apply to x:y, an HTTP-layer component; WebSocket options go to "
            "the WsServer you built",
        ),
        (App(), ["--max-head-size", "100"], "--max-head-size cannot apply to x:y, an App; give them to App(...)"),
        (App(), ["--static", "."], "--static cannot apply to x:y, an App; give them to App(...)"),
        (
            loadComponent("examples.chat:Chat"),
            ["--raw", "--max-connections", "5"],
            "--max-connections cannot apply to x:y, served raw; leave out --raw to use them",
        ),
        (Router(), ["--raw"], "--raw cannot apply to x:y, an HTTP-layer component: it needs the HTTP layer"),
    ],
    ids=["wsOptionsForRouter", "httpOptionsForApp", "staticForApp", "httpOptionsRaw", "rawRouter"],
)
def test_optionsForALayerNotBuiltAreRefused(component, args, message):
    """
    An option for a layer that is not built is refused, naming the flags,
    the component and what to do instead.
    """
    with pytest.raises(StackError) as info:
        buildServer(component, parsed("--component", "x:y", *args))
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("kind", ["message", "http", "app"])
def test_publishEndpointInFrontOfHttp(kind, monkeypatch):
    """
    --publish-path puts the publish endpoint in front of whatever answers
    HTTP, when the stack is built: for an App, in front of its router, with
    the App's HTTP options.
    """
    monkeypatch.setenv("RATCHETPY_PUBLISH_SECRET", "s" * 32)
    static = StaticFiles(ROOT / "examples" / "chat_page")
    app = App(maxHeadSize=2048)
    component = {"message": loadComponent("examples.echo:Echo"), "http": static, "app": app}[kind]
    server = buildServer(component, parsed("--component", "x:y", "--publish-path", "/publish"))
    front = server.component.component
    assert isinstance(front, PublishFront) and front.prefix == "/publish"
    if kind == "message":
        assert isinstance(front.component, OriginCheck) and isinstance(front.component.component, WsServer)
    elif kind == "http":
        assert isinstance(front.component, OriginCheck) and front.component.component is static
    else:
        assert front.component is app.router
        assert server.component.maxHeadSize == 2048


def test_appIoOptionsUnlessGiven():
    """
    An App served by twistd keeps its own IoServer options unless the flag
    is given.
    """
    app = App(shutdownTimeout=2.0, maxSendBuffer=4096)
    server = buildServer(app, parsed("--component", "x:y"))
    assert (server.shutdownTimeout, server.maxSendBuffer) == (2.0, 4096)
    server = buildServer(app, parsed("--component", "x:y", "--shutdown-timeout", "7"))
    assert (server.shutdownTimeout, server.maxSendBuffer) == (7.0, 4096)


# The loader


@pytest.mark.parametrize(
    "spec, reason",
    [
        ("examples.chat", "expected MODULE:NAME, e.g. examples.chat:Chat"),
        ("examples.chat:Nope", "examples.chat has no 'Nope'; did you mean examples.chat:Chat?"),
        ("os:sep", "'/' is not a component; subclass ratchetpy.MessageComponent"),
    ],
)
def test_loaderErrorsNameNoFlags(spec, reason):
    """
    The loader's errors are the library's: they name the spec, not
    --component (which makeService adds).
    """
    with pytest.raises(ComponentError) as info:
        loadComponent(spec)
    assert info.value.spec == spec
    assert info.value.reason.startswith(reason), info.value.reason
    assert str(info.value) == f"{spec!r}: {info.value.reason}"
    assert "--component" not in str(info.value)


def test_safeByDefault(twistd):
    """
    Without options, twistd serves as an App does: on loopback only, and only to pages of the server's own host name
    (and to clients that send no Origin); --allowed-origins lets other sites in.
    """
    assert parsed("--component", "examples.chat:Chat")["port"] == "tcp:8080:interface=127.0.0.1"
    _, port = serve(twistd, "examples.echo:Echo")
    url = wsUrl(port)
    with connect(url, origin=f"http://127.0.0.1:{port + 1}") as ws:  # the server's host name, another port
        ws.send("same site")
        assert ws.recv(timeout=5) == "same site"
    with connect(url) as ws:  # no Origin: not a browser
        ws.send("script")
        assert ws.recv(timeout=5) == "script"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    _, port = serve(twistd, "examples.echo:Echo", "--allowed-origins", "evil.example")
    with connect(wsUrl(port), origin="https://evil.example") as ws:
        ws.send("now allowed")
        assert ws.recv(timeout=5) == "now allowed"
