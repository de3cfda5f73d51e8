"""
Coverage-guided fuzzing of ratchetpy's HTTP layer with atheris (libFuzzer for
Python): the counterpart, for long runs, of the hypothesis properties in
C{tests/http/test_fuzz.py}, whose checks it reuses.

Setup, once (atheris ships binary wheels for Linux x86-64; no compiler
needed)::

    pip install '.[test]' atheris

Run from the repository root::

    python tests/fuzz/fuzz_http.py -runs=100000          # 100,000 inputs
    python tests/fuzz/fuzz_http.py -max_total_time=600   # ten minutes
    python tests/fuzz/fuzz_http.py CORPUS_DIR -jobs=2    # keep a corpus

Any libFuzzer option works. Without a corpus directory the run starts from
built-in seeds (a plain GET, a WebSocket handshake, a head split by a bare
LF...) in a temporary directory, with a dictionary of HTTP tokens.

Each input is read as: byte 0 picks the limits (odd: the defaults; even:
small ones from bytes 1 and 2, so that random heads cross them), byte 3
seeds how the rest is cut into reads, and the rest is what the client sends.
The input is fed to an L{HttpServer} in memory whole, in those pieces, and one
byte at a time around the limits; after every piece the connection must be
opened with a request that is exactly its raw head, refused with a complete
4xx (or 501) response, or waiting with at most C{maxHeadSize} buffered; the
three feedings must end the same way; and the short path for plain upgrades
(C{parsePlainUpgrade}) must read the head as h11 does, handing Autobahn's
engine what its own parser reads (the check of
C{tests/http/test_request.py}). A failed check or an exception is
a crash: libFuzzer prints it and writes the input to C{crash-<sha1>}; replay
it with C{python tests/fuzz/fuzz_http.py crash-<sha1>}.

This file is not collected by pytest (its name does not start with
C{test_}).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["ratchetpy", "h11"]):
    import h11  # noqa: F401

    import ratchetpy.http.request  # noqa: F401
    import ratchetpy.http.server  # noqa: F401
    import ratchetpy.websocket._autobahn  # noqa: F401

from tests.http.test_fuzz import Limits, oneByteAtATime, run  # noqa: E402
from tests.http.test_request import shortPathAgrees  # noqa: E402

SEEDS = [
    b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x82abcd\t\x0b",
    b"POST /x HTTP/1.0\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabc",
    b"GET / HTTP/1.1\nHost: x\n\nGET /evil HTTP/1.1\r\nHost: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",
    b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]

DICTIONARY = [
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"GET",
    b"POST",
    b" HTTP/1.1",
    b" HTTP/1.0",
    b"HTTP/2.0",
    b"Host: ",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: ",
    b"Sec-WebSocket-Version: 13",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked",
    b": ",
    b"\x00",
    b"\t",
    b"%",
]


def dictionaryEntry(token: bytes) -> str:
    """
    C{token} as a libFuzzer dictionary line: printable ASCII as is, the rest
    as C{\\xNN}.
    """
    escaped = "".join(chr(byte) if 0x20 <= byte < 0x7F and byte not in b'"\\' else f"\\x{byte:02x}" for byte in token)
    return f'"{escaped}"\n'


def decode(data: bytes) -> tuple[Limits, list[int], bytes]:
    """
    Split a fuzzer input into limits, cuts and the bytes sent.
    """
    header = data[:4].ljust(4, b"\x00")
    if header[0] & 1:
        limits = Limits()
    else:
        limits = Limits(
            maxRequestLine=14 + header[1] % 187, maxHeadSize=30 + header[2] * 3, maxHeaders=1 + (header[0] >> 4)
        )
    payload = data[4:]
    chooser = random.Random(header[3])
    cuts = [chooser.randint(1, 64) for _ in range(chooser.randint(0, 16))]
    return limits, cuts, payload


def testOneInput(data: bytes) -> None:
    limits, cuts, payload = decode(data)
    whole = run(payload, [], limits)
    pieces = run(payload, cuts, limits)
    if pieces != whole:
        raise AssertionError(f"cut into {cuts}: {pieces} but whole: {whole}")
    single = run(payload, oneByteAtATime(payload, limits), limits)
    if single != whole:
        raise AssertionError(f"one byte at a time: {single} but whole: {whole}")
    # The short path for plain upgrades (parsePlainUpgrade) reads the head as
    # h11 does, and hands the engine what its own parser would read.
    end = payload.find(b"\r\n\r\n")
    if end >= 0:
        shortPathAgrees(payload[: end + 4])


def withDefaults(argv: list[str]) -> list[str]:
    """
    C{argv} with a seed corpus and the dictionary added unless given.
    """
    argv = list(argv)
    work = Path(tempfile.mkdtemp(prefix="ratchetpy-fuzz-"))
    if not any(arg.startswith("-dict=") for arg in argv):
        dictionary = work / "http.dict"
        dictionary.write_text("".join(map(dictionaryEntry, DICTIONARY)))
        argv.append(f"-dict={dictionary}")
    if not [arg for arg in argv[1:] if not arg.startswith("-")]:
        corpus = work / "corpus"
        corpus.mkdir()
        for i, seed in enumerate(SEEDS):
            (corpus / f"seed-{i}-defaults").write_bytes(b"\x01\x00\x00\x07" + seed)
            (corpus / f"seed-{i}-small").write_bytes(b"\x40\x20\x30\x03" + seed)
        argv.append(str(corpus))
        print(f"fuzz_http: corpus and dictionary in {work}", file=sys.stderr)
    return argv


def main() -> None:
    os.chdir(ROOT)
    atheris.Setup(withDefaults(sys.argv), testOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
