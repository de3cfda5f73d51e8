"""
The documentation site (docs/conf.py): the Markdown pages and pydoctor's API
reference build with warnings as errors, every public name of ratchetpy has
its page, and a broken C{L{...}} in a docstring fails the build.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import ratchetpy
from tests.helpers import ROOT

DOCS = ROOT / "docs"


def build(output: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """
    C{sphinx-build -W -b html docs OUTPUT}, the README's command.
    """
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(output)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("site")
    result = build(output)
    assert result.returncode == 0, f"the docs build failed:\n{result.stdout}\n{result.stderr}"
    return output


def inventory(path: Path) -> dict[str, str]:
    """
    The names of a Sphinx inventory (C{objects.inv}), with their URIs.
    """
    data = path.read_bytes()
    lines = data.split(b"\n", 4)
    assert lines[0] == b"# Sphinx inventory version 2", lines[0]
    entries = {}
    for line in zlib.decompress(lines[4]).decode().splitlines():
        name, _, _, uri, *_ = line.split(" ", 4)
        entries[name] = uri
    return entries


def resolve(fullName: str) -> object:
    """
    The object C{fullName} names (C{ratchetpy.server.io.IoServer}).
    """
    parts = fullName.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise LookupError(fullName)


def test_everyPageIsBuilt(site):
    """
    Every Markdown page of docs/ is a page of the site, and the API
    reference is there, linked from the navigation.
    """
    for page in DOCS.glob("*.md"):
        assert (site / f"{page.stem}.html").is_file(), f"{page.name} was not built"
    assert (site / "api" / "index.html").is_file()
    assert 'href="api/index.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_everyPublicNameHasItsPage(site):
    """
    Every name of C{ratchetpy.__all__} is documented: the inventory names an
    API page for that very object.
    """
    entries = inventory(site / "api" / "objects.inv")
    documented: dict[int, str] = {}
    for name, uri in entries.items():
        # A __main__ module runs when imported (python -m ratchetpy.client).
        if name.startswith("ratchetpy.") and "__main__" not in name.split("."):
            try:
                documented.setdefault(id(resolve(name)), uri)
            except (AttributeError, LookupError):
                continue
    missing = [name for name in ratchetpy.__all__ if id(getattr(ratchetpy, name)) not in documented]
    assert not missing, f"no API page for {missing}"
    for name in ratchetpy.__all__:
        page = documented[id(getattr(ratchetpy, name))].split("#")[0]
        assert (site / "api" / page).is_file(), page


def test_theReadmeCommand():
    """
    The README gives the command this module runs.
    """
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "sphinx-build -W -b html docs docs/_build/html" in readme


def test_aBrokenLinkFailsTheBuild(tmp_path):
    """
    A docstring's C{L{...}} that names nothing fails the build, naming it.
    """
    package = tmp_path / "brokenlinks"
    package.mkdir()
    (package / "__init__.py").write_text('"""\nSee L{nowhere.toBeFound}.\n"""\n')
    result = build(tmp_path / "site", RATCHETPY_DOCS_PACKAGE=str(package))
    assert result.returncode != 0
    assert 'Cannot find link target for "nowhere.toBeFound"' in result.stderr, result.stderr
