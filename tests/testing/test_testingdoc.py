"""
docs/testing.md as written: each of its Python blocks is a test file
(C{# tests/test_NAME.py} on its first line), imported and its tests run here,
with the plugin's fixtures.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.helpers import ROOT

PAGE = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\S*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
BLOCKS = [code for language, code in FENCE.findall(PAGE) if language == "python"]
FILES = {code.split("\n", 1)[0].removeprefix("# "): code for code in BLOCKS}


def test_everyPythonBlockIsATestFile():
    """
    No Python block escapes being run: each names the test file it is.
    """
    assert len(FILES) == len(BLOCKS) >= 5
    assert all(re.fullmatch(r"tests/test_\w+\.py", name) for name in FILES), list(FILES)


@pytest.mark.parametrize("filename", sorted(FILES))
def test_fileRuns(filename, tmp_path, ratchetpyServer, ratchetpyClient):
    """
    The file's tests pass, as pytest would run them: coroutines (C{async def}
    with C{pytest_twisted.ensureDeferred}) on the reactor, fixtures by name.
    """
    path = tmp_path / filename.removeprefix("tests/")
    path.write_text(FILES[filename], encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"testingdoc_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    tests = [value for name, value in vars(module).items() if name.startswith("test_") and callable(value)]
    assert tests, f"{filename} has no tests"
    fixtures = {"ratchetpyServer": ratchetpyServer, "ratchetpyClient": ratchetpyClient, "tmp_path": tmp_path}
    for test in tests:
        result = test(**{name: fixtures[name] for name in inspect.signature(test).parameters})
        if inspect.iscoroutine(result):
            pytest_twisted.blockon(defer.ensureDeferred(result))
