"""
docs/operations.md against the code: every metric the table lists is one a
server exposes, and every one it exposes is listed; the alert rules and
queries it shows pass Debian's C{promtool}; its scrape configuration is one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ratchetpy import HttpServer, WsServer
from tests.helpers import inThread
from tests.metrics.test_endpoint import Echoing, get, talk
from tests.test_docs import codeBlocks, tableRows

PAGE = "operations.md"
PROMTOOL = "/usr/bin/promtool"


def documentedNames() -> set[str]:
    """
    The metric names in the first cell of the metrics table (C{..._x} short for the row's first name's prefix).
    """
    names = set()
    for row in tableRows(PAGE):
        if not row[0].startswith("`ratchetpy_"):
            continue
        first = re.findall(r"`([a-z_.]+)`", row[0])
        stem = first[0].rsplit("_", 3)[0]
        for name in first:
            names.add(name.replace("...", stem) if name.startswith("...") else name)
    return names


def test_everyMetricIsDocumented(listen: Any, metrics: Any) -> None:
    """
    The table lists exactly the ratchetpy_ metrics a server exposes once clients have used it.
    """
    server = listen(HttpServer(WsServer(Echoing())))
    served = metrics(server)
    inThread(talk, f"ws://127.0.0.1:{server.portNumber}/")
    _, _, body = inThread(get, served.url + "/metrics")
    exposed = set()
    for family in text_string_to_metric_families(body):
        if family.name.startswith("ratchetpy_"):
            suffix = "_total" if family.type == "counter" else ""
            exposed.add(family.name + suffix)
    documented = documentedNames()
    assert exposed - documented == set(), "metrics the table of docs/operations.md does not list"
    assert documented - exposed == set(), "metrics docs/operations.md lists that the server does not expose"


def test_rulesAndQueries(tmp_path: Path) -> None:
    """
    The alert rules pass C{promtool check rules}; each query parses (as the expression of a rule).
    """
    (rules,) = [block for block in codeBlocks(PAGE, "yaml") if "groups:" in block]
    (tmp_path / "alerts.yml").write_text(rules)
    result = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    (queries,) = codeBlocks(PAGE, "promql")
    expressions = [line for line in queries.splitlines() if line.strip() and not line.startswith("#")]
    assert len(expressions) >= 6
    lines = ["groups:", "  - name: queries", "    rules:"]
    for n, expression in enumerate(expressions):
        lines += [f"      - record: query_{n}", f"        expr: {expression!r}"]  # a YAML single-quoted string
    (tmp_path / "queries.yml").write_text("\n".join(lines) + "\n")
    result = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrapeConfig(tmp_path: Path) -> None:
    """
    The scrape configuration passes C{promtool check config}.
    """
    (config,) = [block for block in codeBlocks(PAGE, "yaml") if "scrape_configs:" in block]
    (tmp_path / "prometheus.yml").write_text(config)
    result = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_healthPathsDocumented(path: str) -> None:
    """
    The page documents both health checks.
    """
    assert f"`GET {path}`" in (Path(__file__).parents[2] / "docs" / PAGE).read_text()
