"""
Type checking, as users and CI do it: C{mypy --strict} with the mypy-zope
plugin (the repository's C{[mypy]} configuration, in C{setup.cfg}) finds
nothing wrong in ratchetpy, its examples, and code written as a user writes
it (C{tests/typecheck/usercode.py}); and it does find the mistakes of
C{tests/typecheck/mistakes.py}, each on the line that says so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MISTAKES = "tests/typecheck/mistakes.py"

#: One message of mypy's: path, line, severity, text, error code.
_MESSAGE = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+): (?P<severity>error|note): (?P<text>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)


class MypyRun:
    """
    One run of mypy over the configured files and L{MISTAKES}.

    @ivar output: what mypy printed.
    @ivar errors: C{(path, line, code)} of each error, in the order printed.
    """

    def __init__(self, output: str) -> None:
        self.output = output
        self.errors: list[tuple[str, int, str | None]] = []
        for line in output.splitlines():
            match = _MESSAGE.match(line)
            if match is not None and match["severity"] == "error":
                self.errors.append((Path(match["path"]).as_posix(), int(match["line"]), match["code"]))


@pytest.fixture(scope="module")
def mypyRun(tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    """
    Run mypy once, in a subprocess, for every test of this module: the
    configuration's C{files} (ratchetpy, examples, the user's code) and
    L{MISTAKES}, with a cache of its own.
    """
    cache = tmp_path_factory.mktemp("mypy-cache")
    command = [
        sys.executable, "-m", "mypy",
        "--config-file", str(ROOT / "setup.cfg"),
        "--cache-dir", str(cache),
        "--no-pretty", "--show-error-codes", "--no-color-output",
        "ratchetpy", "examples", "tests/typecheck/usercode.py", MISTAKES,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    if done.returncode not in (0, 1):
        pytest.fail(f"mypy could not run (exit {done.returncode}):\n{output}")
    return MypyRun(output)


def _expected() -> dict[int, list[str]]:
    """
    The error codes that L{MISTAKES} says mypy reports, by line: a
    C{# error: CODE} comment.
    """
    expected: dict[int, list[str]] = defaultdict(list)
    text = (ROOT / MISTAKES).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.search(r"#\s*error:\s*([\w-]+)", line)
        if marker is not None:
            expected[number].append(marker.group(1))
    return dict(expected)


def test_noErrors(mypyRun: MypyRun) -> None:
    """
    ratchetpy, the examples and the user's code type-check: C{mypy --strict}
    with the mypy-zope plugin reports no error outside L{MISTAKES}.
    """
    errors = [error for error in mypyRun.errors if error[0] != MISTAKES]
    assert not errors, f"mypy reports {len(errors)} errors:\n{mypyRun.output}"


def test_mistakesAreReported(mypyRun: MypyRun) -> None:
    """
    The check can fail: every mistake of L{MISTAKES} is reported, on its
    line and with its code, and nothing else there is.
    """
    found: dict[int, list[str]] = defaultdict(list)
    for path, line, code in mypyRun.errors:
        if path == MISTAKES:
            found[line].append(code or "")
    assert _expected(), f"{MISTAKES} marks no mistake"
    assert dict(found) == _expected(), f"mypy's errors in {MISTAKES} are not the ones marked:\n{mypyRun.output}"
