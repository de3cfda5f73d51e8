"""
Shared fixtures: real servers on loopback, log lines, twistd and Redis as
subprocesses. The helpers they are built on (and that tests import) are in
C{tests/helpers.py}.

Tests are plain functions run by pytest-twisted in the main greenlet; they
block on Deferreds with L{pytest_twisted.blockon}, so the reactor keeps running
while a client in a thread talks to the server.
"""

from __future__ import annotations

import inspect
import signal
from typing import Any

import pytest
import pytest_twisted

from ratchetpy import IoServer
from tests import credentials
from tests.helpers import RedisServer, Twistd

# ratchetpy's own pytest plugin (the ratchetpyServer fixture). Installed, it
# is loaded by its entry point, under this same name, so it is not loaded twice.
pytest_plugins = ["ratchetpy.testing.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    from twisted.logger import globalLogPublisher

    globalLogPublisher.addObserver(credentials.observe)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """
    Fail the run if a credential a test used is in any log line of it.
    """
    leaks = credentials.leaks()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"credentials in the logs of this run ({len(leaks)}):", red=True)
            for leak in leaks:
                reporter.write_line("  " + leak, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool:
    """
    Run test functions in pytest's own greenlet, not the reactor's, so that
    they may block on Deferreds with L{pytest_twisted.blockon} while the
    reactor serves.
    """
    # The function's own arguments, as pytest's default hook passes them: its
    # parameters without a default value (fixtures and parametrized values).
    parameters = inspect.signature(pyfuncitem.obj).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    arguments = {
        parameter.name: pyfuncitem.funcargs[parameter.name]
        for parameter in parameters
        if parameter.kind in named and parameter.default is inspect.Parameter.empty
    }
    pyfuncitem.obj(**arguments)
    return True


@pytest.fixture
def logged(monkeypatch):
    """
    The text of every log event during the test, as C{logged()}; the events
    themselves are C{logged.events}. The rate limits of ratchetpy's refusal
    lines start afresh, so that earlier tests cannot have used them up.
    """
    from twisted.logger import formatEvent, globalLogPublisher

    from ratchetpy._ratelimit import resetAllBudgets

    resetAllBudgets()
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)

    def texts() -> list[str]:
        return [formatEvent(event) for event in events]

    texts.events = events  # type: ignore[attr-defined]
    yield texts
    globalLogPublisher.removeObserver(events.append)


@pytest.fixture
def listen():
    """
    C{listen(component, **ioServerOptions)} serves C{component} with an
    L{IoServer} on an ephemeral loopback port and returns the L{IoServer};
    its port number is C{server.portNumber}. Every server is shut down after
    the test.
    """
    servers: list[IoServer] = []

    def _listen(component: Any, endpoint: str = "tcp:0:interface=127.0.0.1", **options: Any) -> IoServer:
        server = IoServer(component, endpoint, **options)
        port = pytest_twisted.blockon(server.listen())
        server.portNumber = getattr(port.getHost(), "port", None)  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield _listen
    for server in servers:
        server.shutdownTimeout = 1.0
        pytest_twisted.blockon(server.shutdown())


@pytest.fixture
def twistd():
    """
    C{twistd(*args)} starts a twistd subprocess; all are stopped after the test.
    """
    started: list[Twistd] = []

    def _start(*args: str, **kwargs: Any) -> Twistd:
        process = Twistd(*args, **kwargs)
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop(signal.SIGKILL, timeout=5)


@pytest.fixture
def redisServer(tmp_path):
    """
    A running L{RedisServer}, stopped after the test.
    """
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def browser() -> Any:
    """
    One headless Chromium (Debian's, driven by Playwright) for the whole
    module: the browser tests' (tests/test_browser.py, tests/http, tests/auth).
    """
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS

    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: these tests need Debian's Chromium "
            "(apt-get install chromium; .ci/run installs it in CI)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
