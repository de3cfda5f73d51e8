"""
The atheris fuzz targets (C{tests/fuzz/}) still run: a short run of each,
from its built-in seeds, ends without a crash. Long runs are for people
(see each target's docstring); this keeps the targets from going stale as
the code they check changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("target", "runs"), [("fuzz_http.py", 2000), ("fuzz_lean.py", 300)])
def test_aShortRunFindsNothing(tmp_path, target, runs):
    """
    C{runs} inputs of the target, from its seeds and dictionary: exit status
    0, all of them run, no crash file written.
    """
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz" / target), f"-runs={runs}", "-seed=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"Done {runs} runs" in output, output[-3000:]
    assert not list(tmp_path.glob("crash-*"))
