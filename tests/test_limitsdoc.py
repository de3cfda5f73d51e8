"""
docs/limits.md, the limits and production settings page, against the option
registry (L{ratchetpy.options}) and the layers: every option with its real
default, its twistd flag and its argument, nothing the registry lacks, and
the App example run as written.
"""

from __future__ import annotations

import inspect
import re

import pytest

from ratchetpy import HttpHandler, HttpServer, IoServer, WsServer
from ratchetpy.auth import Authenticate
from ratchetpy.options import HTTP_HANDLER, OPTIONS, option
from ratchetpy.stack import AUTHENTICATE_KEYWORDS, WS_SERVER_KEYWORDS
from ratchetpy.tap import Options
from tests.test_docs import page, pythonFile, tableRows

LAYERS = {
    "IoServer": IoServer,
    "HttpServer": HttpServer,
    "WsServer": WsServer,
    "HttpHandler": HttpHandler,
    "Authenticate": Authenticate,
}

#: Keyword arguments of the layers that are no options of the registry.
NOT_OPTIONS = {"reactor", *WS_SERVER_KEYWORDS, *AUTHENTICATE_KEYWORDS}


def limitRows() -> dict[tuple[str, str], list[str]]:
    """
    The rows of the "Every limit" table, by the (layer, keyword) of their
    Argument column.
    """
    rows = {}
    for row in tableRows("limits.md"):
        if len(row) != 5 or row[0] == "Limit":
            continue
        match = re.fullmatch(r"`(\w+)\((\w+)=\.\.\.\)`", row[3])
        assert match, f"limits.md: the Argument of {row[0]!r} is not Layer(keyword=...): {row[3]!r}"
        rows[match.groups()] = row
    return rows


def firstCode(cell: str) -> str:
    match = re.match(r"`([^`]*)`", cell)
    assert match, cell
    return match.group(1)


def test_everyOptionIsListed():
    """
    Each option of the registry is in the table as Layer(keyword=...), with
    its default and, where it has one, its twistd flag.
    """
    rows = limitRows()
    for o in OPTIONS:
        key = (o.layer, o.name)
        assert key in rows, f"limits.md does not list {o.layer}({o.name}=...)"
        _, default, flag, _, _ = rows[key]
        assert firstCode(default) == str(o.default), (key, default, o.default)
        assert flag == (f"`{o.flag}`" if o.flag else ""), (key, flag, o.flag)


def test_nothingListedThatTheRegistryLacks():
    """
    Every row of the table is an option of the registry, and every twistd
    flag it names is that option's.
    """
    for (layer, name), row in limitRows().items():
        o = option(name, layer)
        if row[2]:
            assert row[2] == f"`{o.flag}`", (layer, name, row[2])
    assert len(limitRows()) == len(OPTIONS)


def test_whatZeroMeans():
    """
    The sentence under the table names exactly the options for which 0 is
    allowed.
    """
    sentence = re.search(r"^`0` means (.+?); every other limit must be positive\.", page("limits.md"), re.M | re.S)
    assert sentence, "limits.md should say what 0 means"
    named = set(re.findall(r"`(\w+)`", sentence.group(1)))
    assert named == {o.name for o in OPTIONS if o.zero is not None}


@pytest.mark.parametrize("layer", ["IoServer", "HttpServer", "WsServer", "Authenticate"])
def test_signaturesShowTheRegistryDefaults(layer):
    """
    The keyword arguments of each layer are its registry options, each with
    the registry's default as its signature default, and the few keywords
    that are not options.
    """
    parameters = {
        parameter.name: parameter.default
        for parameter in inspect.signature(LAYERS[layer].__init__).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name not in NOT_OPTIONS
    }
    assert parameters == {o.name: o.default for o in OPTIONS if o.layer == layer}


def test_httpHandlerDefaults():
    """
    HttpHandler's body limits default (as class attributes) to the registry's.
    """
    for o in OPTIONS:
        if o.layer == HTTP_HANDLER:
            assert getattr(HttpHandler, o.name) == o.default, o.name


def test_optionsOfTheTableParse():
    """
    The options the page names are accepted by twistd ratchetpy.
    """
    options = Options()
    options.parseOptions(
        ["--component", "examples.chat:Chat", "--max-connections-per-ip", "0", "--max-send-buffer", "262144"]
    )
    assert options["max-connections-per-ip"] == 0
    assert options["max-send-buffer"] == 262144


def test_appExampleSetsTheLimits():
    """
    The page's App example, run as written, configures the layers it says.
    """
    namespace: dict[str, object] = {"__name__": "limits_app"}
    exec(compile(pythonFile("limits.md", "limits_app.py"), "limits_app.py", "exec"), namespace)
    app = namespace["app"]
    http = app.server.component  # type: ignore[attr-defined]
    assert http.maxHeadSize == 8192
    assert http.limits.maxConnectionsPerIp == 64
    assert app.server.maxSendBuffer == 256 * 1024  # type: ignore[attr-defined]
    route = app.router.routes[0]  # type: ignore[attr-defined]
    ws = route.component.component  # behind the OriginCheck
    assert ws.maxMessageSize == 64 * 1024
    assert ws.keepAlive == 20


def test_systemdUnitRunsTheCardCommand():
    """
    The systemd unit's ExecStart is a twistd command this plugin accepts.
    """
    unit = re.search(r"^ExecStart=(.+)$", page("limits.md"), re.MULTILINE).group(1)
    argv = unit.split()
    start = argv.index("ratchetpy")
    options = Options()
    options.parseOptions(argv[start + 1 :])
    assert options["component"] == "examples.chat:Chat"
