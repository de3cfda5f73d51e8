"""
Coverage-guided fuzzing of the WebSocket engine's lean path with atheris
(libFuzzer for Python): the counterpart, for long runs, of the hypothesis
property in C{tests/websocket/test_lean.py}, whose differential check it
reuses.

Setup, once (atheris ships binary wheels for Linux x86-64)::

    pip install '.[test]' atheris

Run from the repository root::

    python tests/fuzz/fuzz_lean.py -runs=100000          # 100,000 inputs
    python tests/fuzz/fuzz_lean.py -max_total_time=600   # ten minutes
    python tests/fuzz/fuzz_lean.py CORPUS_DIR -jobs=2    # keep a corpus

Each input is read as: byte 0 picks the connection (odd: permessage-deflate
agreed) and the limits (bit 1: a 200-byte frame limit), byte 1 seeds how the
rest is cut into reads, and the rest is the frames the client sends after
its handshake. They are fed whole, in those pieces and one byte at a time to
a server with the lean path and to one with every frame through Autobahn's
engine; any difference in the bytes written, the component's calls, the
close codes, the statistics or the engine's state is a crash: libFuzzer
prints it and writes the input to C{crash-<sha1>}; replay it with
C{python tests/fuzz/fuzz_lean.py crash-<sha1>}.

This file is not collected by pytest (its name does not start with
C{test_}).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # pragma: no cover - decode and testOneInput still import
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["ratchetpy.websocket"]):
        import ratchetpy.websocket._autobahn  # noqa: F401
        import ratchetpy.websocket._frames  # noqa: F401

from tests.helpers import frame  # noqa: E402
from tests.websocket.test_lean import assertSameOnBothPaths  # noqa: E402

SEEDS = [
    frame(1, b"hello") + frame(2, b"\x00\x01") + frame(1, b"x" * 200),
    frame(1, b"one", fin=False) + frame(9, b"ping") + frame(0, b"two"),
    frame(1, b"ok") + frame(1, b"\xed\xa0\x80") + frame(1, b"after"),
    frame(1, b"bye") + frame(8, b"\x03\xe8done"),
    frame(2, b"z" * 300) + frame(10, b"pong"),
]


def decode(data: bytes) -> tuple[dict, list[int], bytes]:
    """
    Split a fuzzer input into the server's options, cuts and the bytes sent.
    """
    header = data[:2].ljust(2, b"\x00")
    options = {"deflate": bool(header[0] & 1), "maxFrameSize": 200 if header[0] & 2 else None}
    chooser = random.Random(header[1])
    cuts = [chooser.randint(1, 64) for _ in range(chooser.randint(0, 16))]
    return options, cuts, data[2:]


def testOneInput(data: bytes) -> None:
    options, cuts, payload = decode(data)
    if not payload:
        return
    for pieces in ([], cuts, [1] * min(len(payload), 2000)):
        assertSameOnBothPaths(payload, pieces, **options)


def withDefaults(argv: list[str]) -> list[str]:
    """
    C{argv} with a seed corpus added unless given.
    """
    argv = list(argv)
    if not [arg for arg in argv[1:] if not arg.startswith("-")]:
        corpus = Path(tempfile.mkdtemp(prefix="ratchetpy-fuzz-lean-")) / "corpus"
        corpus.mkdir()
        for i, seed in enumerate(SEEDS):
            (corpus / f"seed-{i}-plain").write_bytes(b"\x00\x07" + seed)
            (corpus / f"seed-{i}-deflate").write_bytes(b"\x01\x03" + seed)
        argv.append(str(corpus))
        print(f"fuzz_lean: corpus in {corpus}", file=sys.stderr)
    return argv


def main() -> None:
    if atheris is None:
        sys.exit("fuzz_lean: atheris is not installed (pip install atheris)")
    os.chdir(ROOT)
    atheris.Setup(withDefaults(sys.argv), testOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
