"""
docs/limits.md, the limits and production settings page, against the code: every
limit with its real default, its twistd option and its argument, and the App
example run as written.
"""

from __future__ import annotations

import inspect
import re

from ratchetpy import HttpServer, IoServer, WsServer
from ratchetpy.tap import _LIMITS, Options

from .test_docs import page, pythonFile, tableRows

#: Keyword arguments that are not limits (documented with their layers).
NOT_LIMITS = {"reactor", "compression", "strictSubProtocols", "http"}


def limitRows() -> list[list[str]]:
    return [row for row in tableRows("limits.md") if len(row) == 5 and row[0] != "Limit"]


def test_everyLimitOptionIsListedWithItsDefault():
    """
    Each limit option of the twistd plugin is in the table, with the default
    the code has.
    """
    rows = {re.search(r"`(--[\w-]+)`", row[2]).group(1): row for row in limitRows() if "`--" in row[2]}
    for name, default, *_ in _LIMITS:
        assert f"--{name}" in rows, f"limits.md does not list --{name}"
        documented = re.match(r"`([^`]*)`", rows[f"--{name}"][1]).group(1)
        assert documented == str(default), (name, documented, default)
    assert set(rows) == {f"--{name}" for name, *_ in _LIMITS} | {"--slow-consumer-policy"}


def test_everyLimitArgumentIsListedWithItsDefault():
    """
    Each limiting keyword argument of IoServer, HttpServer and WsServer is in
    the table, under its layer, with its real default.
    """
    rows = {}
    for row in limitRows():
        match = re.fullmatch(r"`(\w+)\((\w+)=\.\.\.\)`", row[3])
        if match:
            rows[match.groups()] = row
    for layer in (IoServer, HttpServer, WsServer):
        for parameter in inspect.signature(layer.__init__).parameters.values():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.name in NOT_LIMITS:
                continue
            key = (layer.__name__, parameter.name)
            assert key in rows, f"limits.md does not list {layer.__name__}({parameter.name}=...)"
            documented = re.match(r"`([^`]*)`", rows[key][1]).group(1)
            assert documented == str(parameter.default), (key, documented, parameter.default)


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
