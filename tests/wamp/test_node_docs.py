"""
docs/wamp.md, checked as tests/test_docs.py checks the other pages: the code it
shows from examples/ is the examples' code, every twistd and node command it
shows runs (twistd on a free loopback port; autobahn-js clients under Node
check what it says the server does), and its tables say what the code does.
"""

from __future__ import annotations

import inspect
import re
import shlex
import subprocess
import sys
import time

import pytest
from autobahn.wamp.role import RoleBrokerFeatures, RoleDealerFeatures

import examples.wamp_pubsub
import examples.wamp_push
import examples.wamp_rpc
from ratchetpy.wamp import WampServer
from ratchetpy.wamp.protocol import ROUTER_ROLES
from tests.helpers import ROOT
from tests.test_docs import codeBlocks, consoleCommands, pythonFile
from tests.wamp.test_node_router import NODE, WAMPCLIENT, node  # noqa: F401  (the fixture)

PAGE = "wamp.md"


@pytest.mark.parametrize(
    "module, cls",
    [
        (examples.wamp_pubsub, examples.wamp_pubsub.BasicPubSub),
        (examples.wamp_push, examples.wamp_push.Pusher),
        (examples.wamp_rpc, examples.wamp_rpc.Rpc),
    ],
    ids=["pubsub", "push", "rpc"],
)
def test_examplesAsShown(module, cls):
    """The components the page shows are the examples' own, line for line."""
    filename = f"examples/{module.__name__.split('.')[-1]}.py"
    assert pythonFile(PAGE, filename) == f"# {filename}\n" + inspect.getsource(cls)


def twistdCommands() -> list[str]:
    return [command for command, _ in consoleCommands(PAGE) if command.startswith("twistd")]


def served(command: str) -> str:
    """What a twistd command serves: its --component, or "--wamp"."""
    argv = shlex.split(command)
    return argv[argv.index("--component") + 1] if "--component" in argv else "--wamp"


def test_everyTwistdCommandIsChecked():
    assert [served(c) for c in twistdCommands()] == [
        "--wamp",
        "examples.wamp_pubsub:BasicPubSub",
        "examples.wamp_push:Pusher",
        "examples.wamp_rpc:Rpc",
    ]


@pytest.mark.parametrize("command", twistdCommands(), ids=served)
def test_twistdCommandRuns(twistd, node, request, command):  # noqa: F811
    """
    Every twistd command of the page serves what the page says (on a free port, and on the test's Redis
    instead of the one written); autobahn-js clients check it.
    """
    argv = shlex.split(command)
    assert argv[:3] == ["twistd", "-n", "ratchetpy"]
    args = argv[3:]
    redis = None
    if "--broker" in args:
        redis = request.getfixturevalue("redisServer")
        args[args.index("--broker") + 1] = redis.url
    process = twistd(*args, "--port", "tcp:0:interface=127.0.0.1")
    url = f"ws://127.0.0.1:{process.waitForPort()}/"
    component = served(command)
    if component == "--wamp":
        subscriber = node(url, ["subscribe", "com.example.chat"])
        subscriber.expect("subscribed")
        node(url, ["publish", "com.example.chat", ["hello"]])
        assert subscriber.expect("event")["args"] == ["hello"]
    elif component == "examples.wamp_pubsub:BasicPubSub":
        subscriber = node(url, ["subscribe", "com.example.chat"])
        subscriber.expect("subscribed")
        node(url, ["publish", "com.example.chat", ["hi"]])
        assert subscriber.expect("event")["args"] == ["hi"]
    elif component == "examples.wamp_push:Pusher":
        process.readUntil("connected to Redis")
        reader = node(url, ["subscribe", "blog"])
        reader.expect("subscribed")
        # The page's next command: a post through Redis, as a web application would publish it.
        post = next(c for c, _ in consoleCommands(PAGE) if c.startswith("python examples/post_blog.py"))
        postArgv = [sys.executable if a == "python" else a for a in shlex.split(post)]
        postArgv[postArgv.index("--url") + 1] = redis.url
        ran = subprocess.run(postArgv, cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert (ran.returncode, ran.stdout) == (0, "published: 1 subscribed receiver(s) got it\n"), ran.stderr
        event = reader.expect("event")
        assert event["args"][0]["title"] == "Hello, world"
        assert event["args"][0]["url"].startswith("https://")
    elif component == "examples.wamp_rpc:Rpc":
        client = node(url, ["call", "com.example.add", [2, 3]])
        assert client.expect("result")["args"] == [5]
    else:
        raise AssertionError(f"no check for {component}")


def test_pubSubTurnsCallsDown(twistd, node):  # noqa: F811
    """examples/wamp_pubsub.py answers a call with BasicPubSub.onCall's error, as the page says."""
    process = twistd("--component", "examples.wamp_pubsub:BasicPubSub", "--port", "tcp:0:interface=127.0.0.1")
    caller = node(f"ws://127.0.0.1:{process.waitForPort()}/", ["call", "com.example.anything", [1]])
    error = caller.expect("error", target="com.example.anything", timeout=5)
    assert (error["error"], error["args"]) == ("com.example.anything", ["RPC not supported on this demo"])


def test_nodeCommands(twistd):
    """The page's two wampclient.js commands: the first gets the event the second publishes."""
    commands = [c for c, _ in consoleCommands(PAGE) if c.startswith("node ")]
    assert len(commands) == 2
    process = twistd("--wamp", "--port", "tcp:0:interface=127.0.0.1")
    url = f"ws://127.0.0.1:{process.waitForPort()}/"

    def argv(command: str) -> list[str]:
        words = shlex.split(command.replace("ws://127.0.0.1:8080/", url))
        assert words[:2] == ["node", "tests/wamp/js/wampclient.js"]
        return [NODE, str(WAMPCLIENT), *words[2:]]

    subscriber = subprocess.Popen(argv(commands[0]), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert subscriber.stdout is not None
        deadline = time.monotonic() + 15
        for line in subscriber.stdout:
            if '"subscribed"' in line or time.monotonic() > deadline:
                break
        publisher = subprocess.run(argv(commands[1]), cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert publisher.returncode == 0, publisher.stdout
        assert '"type":"published"' in publisher.stdout
        rest, _ = subscriber.communicate(timeout=30)
        assert '"type":"event"' in rest and '"args":["hello"]' in rest
        assert subscriber.returncode == 0
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()


def sectionRows(heading: str) -> list[list[str]]:
    """The body rows of the table under C{## heading}."""
    section = re.split(r"^## ", open(ROOT / "docs" / PAGE, encoding="utf-8").read(), flags=re.MULTILINE)
    (text,) = [s for s in section if s.startswith(heading + "\n")]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line)
    ][1:]


def test_limitsTable():
    """The Limits table is WampServer's keyword arguments and their defaults."""
    parameters = inspect.signature(WampServer).parameters.items()
    defaults = {name: p.default for name, p in parameters if name.startswith(("max", "call", "join"))}
    shown = {row[0].strip("`"): float(row[1]) for row in sectionRows("Limits")}
    assert shown == {name: float(value) for name, value in defaults.items()}


def test_featuresTable():
    """Every Advanced Profile feature of the table is "yes" exactly when WELCOME announces it."""
    announced = {name for features in ROUTER_ROLES.values() for name, on in vars(features).items() if on}
    known = set(vars(RoleBrokerFeatures())) | set(vars(RoleDealerFeatures()))
    rows = sectionRows("What is supported")
    table = {row[0].strip("`"): row[1] for row in rows if re.fullmatch(r"`\w+`", row[0])}
    assert set(table) <= known, set(table) - known
    assert {name for name, supported in table.items() if supported == "yes"} == announced
    assert all(table[name] == "no" for name in table if name not in announced)


def test_javascriptBlocksParse():
    """The page's JavaScript (and the script of its HTML block) is valid JavaScript for Node."""
    scripts = codeBlocks(PAGE, "javascript") + [
        re.search(r"<script>\n(.*?)</script>", html, re.S).group(1) for html in codeBlocks(PAGE, "html")
    ]
    assert len(scripts) == 2
    for script in scripts:
        ran = subprocess.run([NODE, "--check", "-"], input=script, capture_output=True, text=True, timeout=30)
        assert ran.returncode == 0, ran.stderr
