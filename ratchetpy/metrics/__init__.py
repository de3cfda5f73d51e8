"""
Prometheus metrics, health checks (C{/healthz}, C{/readyz}) and what they
read: see C{docs/operations.md}.

C{serveMetrics(server, "tcp:9100:interface=127.0.0.1")} serves them from
Python, twistd's C{--metrics ENDPOINT} on the command line. Needs
C{prometheus_client} (C{pip install 'ratchetpy[metrics]'});
L{ratchetpy.metrics.recorder}, which the layers import, does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .endpoint import MetricsServer, serveMetrics

_LAZY = {"MetricsServer", "serveMetrics"}


def __getattr__(name: str) -> Any:
    # prometheus_client is imported only when the endpoint is used.
    if name in _LAZY:
        from . import endpoint

        return getattr(endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MetricsServer", "serveMetrics"]
