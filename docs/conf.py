"""
The documentation site: the Markdown pages of C{docs/} (MyST) and the API
reference that pydoctor builds from ratchetpy's epytext docstrings, as
Twisted's documentation is built.

    sphinx-build -W -b html docs docs/_build/html

C{-W} turns every warning into an error, pydoctor's too: a broken
C{L{...}} in a docstring, a broken link between pages. The API reference
links to Twisted's, Autobahn's and Python's references through inventories
made here, from the installed modules, with no network
(L{externalInventories}).
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
#: The package the API reference documents (tests/test_apidocs.py builds one
#: with a broken link, to see the build fail).
PACKAGE = Path(os.environ.get("RATCHETPY_DOCS_PACKAGE", ROOT / "ratchetpy"))

project = "ratchetpy"
author = "the ratchetpy authors"
root_doc = "index"
extensions = ["myst_parser", "sphinx.ext.intersphinx", "pydoctor.sphinx_ext.build_apidocs"]
# The API reference, for links from the pages (pydoctor adds it; nothing is fetched).
intersphinx_mapping: dict[str, object] = {}
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
# Links to headings within and between pages ([...](channels.md#presence)).
myst_heading_anchors = 4
html_theme = "alabaster"
html_title = "ratchetpy"

#: The order of the pages in the navigation: the index's, tutorials first.
PAGES = [
    "hello-world",
    "tutorial",
    "app",
    "decorators",
    "testing",
    "client",
    "components",
    "identity",
    "running",
    "channels",
    "users",
    "push",
    "wamp",
    "scaling",
    "limits",
    "operations",
    "performance",
    "api/index",
]

#: Where the Twisted, Autobahn and Python names the docstrings link to are
#: documented.
TWISTED_API = "https://docs.twisted.org/en/stable/api/"
AUTOBAHN_API = "https://autobahn.readthedocs.io/en/latest/"
PYTHON_LIBRARY = "https://docs.python.org/3/library/"

#: The modules whose public names the docstrings may link to, by project.
TWISTED_MODULES = (
    "twisted.application.service",
    "twisted.internet.defer",
    "twisted.internet.endpoints",
    "twisted.internet.error",
    "twisted.internet.interfaces",
    "twisted.internet.protocol",
    "twisted.internet.task",
    "twisted.internet.testing",
    "twisted.internet.threads",
    "twisted.internet._producer_helpers",
    "twisted.logger",
    "twisted.protocols.haproxy",
    "twisted.protocols.haproxy._wrapper",
    "twisted.protocols.policies",
    "twisted.python.failure",
    "twisted.runner.procmon",
)
AUTOBAHN_MODULES = (
    "autobahn.twisted.websocket",
    "autobahn.wamp.exception",
    "autobahn.wamp.message",
    "autobahn.wamp.types",
    "autobahn.websocket.compress",
    "autobahn.websocket.protocol",
    "autobahn.websocket.types",
)
PYTHON_MODULES = ("asyncio", "datetime", "secrets", "types")


def _members(moduleName: str) -> list[tuple[str, str, str]]:
    """
    (full name, page, anchor) for the classes, functions and methods that
    C{moduleName} defines or exports, as pydoctor lays Twisted's out.
    """
    module = importlib.import_module(moduleName)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("__")]
    entries = [(moduleName, f"{moduleName}.html", "")]
    for name in names:
        value = getattr(module, name, None)
        full = f"{moduleName}.{name}"
        if inspect.isclass(value):
            entries.append((full, f"{full}.html", ""))
            # Where it is defined, too: what pydoctor resolves an imported name to.
            defined = f"{value.__module__}.{value.__qualname__}"
            if defined != full:
                entries.append((defined, f"{full}.html", ""))
            for attribute in vars(value):
                if not attribute.startswith("__"):
                    entries.append((f"{full}.{attribute}", f"{full}.html", attribute))
        elif value is not None:
            entries.append((full, f"{moduleName}.html", name))
    return entries


def _inventory(project: str, lines: list[str]) -> bytes:
    header = f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
    header += "# The remainder of this file is compressed using zlib.\n"
    return header.encode() + zlib.compress("".join(line + "\n" for line in lines).encode())


def externalInventories(directory: Path) -> list[str]:
    """
    Write Sphinx inventories (C{objects.inv}) of the Twisted, Autobahn and
    Python names the docstrings link to into C{directory}, from the
    installed modules; return pydoctor's C{--intersphinx-file} arguments for
    them.
    """
    twisted = []
    for moduleName in TWISTED_MODULES:
        for full, page, anchor in _members(moduleName):
            twisted.append(f"{full} py:obj 1 {page}{'#' + anchor if anchor else ''} -")
    # Autobahn's reference is Sphinx's autodoc: a page per subpackage.
    autobahn = []
    for moduleName in AUTOBAHN_MODULES:
        page = "reference/" + ".".join(moduleName.split(".")[:2]) + ".html"
        for full, _, _anchor in _members(moduleName):
            autobahn.append(f"{full} py:obj 1 {page}#{full} -")
    python = []
    for moduleName in PYTHON_MODULES:
        for full, _, _anchor in _members(moduleName):
            python.append(f"{full} py:obj 1 {moduleName}.html#{full} -")
    import builtins

    for name, value in vars(builtins).items():
        if inspect.isclass(value) and issubclass(value, BaseException):
            python.append(f"{name} py:exception 1 exceptions.html#{name} -")
        elif not name.startswith("_"):
            python.append(f"{name} py:obj 1 functions.html#{name} -")
    arguments = []
    projects = (
        ("Twisted", twisted, TWISTED_API),
        ("Autobahn", autobahn, AUTOBAHN_API),
        ("Python", python, PYTHON_LIBRARY),
    )
    for name, lines, base in projects:
        path = directory / f"{name.lower()}.inv"
        path.write_bytes(_inventory(name, lines))
        arguments.append(f"--intersphinx-file={path}::{base}")
    return arguments


_inventories = Path(tempfile.mkdtemp(prefix="ratchetpy-docs-"))
atexit.register(shutil.rmtree, _inventories, True)

pydoctor_args = [
    "--project-name=ratchetpy",
    "--project-base-dir=" + str(PACKAGE.parent),
    "--docformat=epytext",
    "--html-output={outdir}/api",
    # The reference is of the public API: private modules and names are left out.
    f"--privacy=HIDDEN:{PACKAGE.name}._*",
    f"--privacy=HIDDEN:{PACKAGE.name}.**._*",
    *externalInventories(_inventories),
    str(PACKAGE),
]
pydoctor_url_path = "api/"


def _addNavigation(app: object, docname: str, source: list[str]) -> None:
    # The pages' own links stay as they are (they read the same on GitHub);
    # the navigation, a hidden table of contents, is added to the index here.
    if docname == root_doc:
        source[0] += "\n\n```{toctree}\n:hidden:\n\n" + "\n".join(PAGES) + "\n```\n"


def setup(app: object) -> None:
    from pygments.lexers.special import TextLexer

    app.connect("source-read", _addNavigation)  # type: ignore[attr-defined]
    # Code blocks in languages Pygments does not know, shown as they are.
    for language in ("haproxy",):
        app.add_lexer(language, TextLexer)  # type: ignore[attr-defined]
