#!/usr/bin/env python3
"""
Where a ratchetpy server's time goes under the echo and broadcast loads, by library.

    pip install . py-spy                            # the INSTALLED ratchetpy is profiled
    (cd bench/load && npm ci)                        # the load generator (Node.js ws), once
    python bench/profile.py                         # ratchetpy and bare Autobahn, echo and broadcast
    python bench/profile.py --server ratchetpy --paths echo --seconds 30
    python bench/profile.py --paths connect          # a plain handshake, ratchetpy and bare Autobahn

For each server and path, starts the server fresh (pinned to --server-cpu), drives it with
bench/load/loadgen.js (pinned to --client-cpu) and samples it with py-spy once the
load generator's connections are open: echo is 100 connections x 32-byte messages, closed loop,
against examples.echo:Echo; broadcast is examples.chat:Chat relaying --messages 64-byte messages,
all sent at once, to 1,000 receivers; connect is --conns handshakes against examples.echo:Echo,
100 in flight, sampled from the generator's start (the connections are then held idle, which
py-spy does not sample). Servers: ratchetpy (twistd plugin), bare Autobahn
(bench/servers/autobahn_server.py, framing per connection) and, for broadcast,
Autobahn with prepareMessage (frame once).

Every sample's innermost Python frame is charged to one part: Twisted, Autobahn (+ txaio),
ratchetpy, the application (the component in examples/, or the peer server's own protocol class),
the Python standard library, or other (zope.interface, h11, ...). py-spy sees Python frames
only (unless --native), so time spent in C under a Python function (socket send/recv, bytes
operations, the interpreter itself) is charged to that function's part: Twisted's
doRead/writeSomeData carry the system calls. Prints, per path, each
part's share of the samples and its cost per message (server CPU / messages), then the top
functions. py-spy needs ptrace rights (root, CAP_SYS_PTRACE or kernel.yama.ptrace_scope=0).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from idle import REPO, SHARED_BENCH, Server, cpuSeconds  # noqa: E402

LOADGEN = SHARED_BENCH / "load" / "loadgen.js"
PARTS = ("Twisted", "Autobahn + txaio", "ratchetpy", "application", "Python stdlib", "other")
PATHS = ("echo", "broadcast", "connect")
# Which servers run which path, and in which server mode.
SERVERS = {
    "echo": ("ratchetpy", "autobahn"),
    "broadcast": ("ratchetpy", "autobahn", "autobahn-prepared"),
    "connect": ("ratchetpy", "autobahn"),
}
STDLIB = sysconfig.get_paths()["stdlib"]
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def part(filename: str) -> str:
    """The part of the stack a source file belongs to."""
    f = filename.replace("\\", "/")
    if "/ratchetpy/" in f or f.startswith("ratchetpy/"):
        return "ratchetpy"
    if "/autobahn/" in f or "/txaio/" in f or f.startswith(("autobahn/", "txaio/")):
        return "Autobahn + txaio"
    if "/twisted/" in f or f.startswith("twisted/"):
        return "Twisted"
    if "/examples/" in f or f.startswith("examples/") or f.endswith("/autobahn_server.py"):
        return "application"  # the component, or the peer server's protocol class
    if "site-packages" not in f and (f.startswith(STDLIB) or f.startswith("<frozen")):
        return "Python stdlib"
    return "other"


def shortName(filename: str) -> str:
    f = filename.replace("\\", "/")
    if "site-packages/" in f:
        return f.split("site-packages/", 1)[1]
    if f.startswith(STDLIB):
        return "stdlib/" + f[len(STDLIB):].lstrip("/")
    if f.startswith(str(REPO)):
        return f[len(str(REPO)):].lstrip("/")
    return f


@functools.cache
def debugLogLines(filename: str) -> frozenset[int]:
    """
    The lines of C{filename} inside a C{log.debug(...)} or C{log.trace(...)} call: with those
    levels off, the call and the arguments built for it are thrown away.
    """
    try:
        tree = ast.parse(Path(filename).read_text())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("debug", "trace"):
            target = node.func.value
            if (isinstance(target, ast.Attribute) and target.attr == "log") or (
                    isinstance(target, ast.Name) and target.id == "log"):
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def parseRaw(path: Path) -> dict:
    """
    Own samples per part and per function, the samples with a frame of each part anywhere on
    the stack, and those inside a debug-level log call, from py-spy's raw (collapsed stack)
    output.
    """
    own: Counter[str] = Counter()
    functions: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[str] = Counter()
    total = debugLog = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = []
        inDebugLog = False
        for frame in stack.split(";"):
            m = FRAME.match(frame)
            frames.append((m["function"], m["file"]) if m else (frame, "?"))
            if m and m["line"] and int(m["line"]) in debugLogLines(m["file"]):
                inDebugLog = True
        debugLog += n * inDebugLog
        leafFunction, leafFile = frames[-1]
        leafPart = part(leafFile)
        own[leafPart] += n
        functions[(leafPart, f"{leafFunction} ({shortName(leafFile)})")] += n
        for p in {part(f) for _, f in frames}:
            inclusive[p] += n
        total += n
    return {"total": total, "own": dict(own), "inclusive": dict(inclusive), "debug_log": debugLog,
            "functions": [[p, name, n] for (p, name), n in functions.most_common(40)]}


def loadgenArgs(path: str, args) -> list[str]:
    if path == "echo":
        # The window runs past py-spy's: sampling starts once the connections are open.
        return ["--scenario", "echo", "--conns", "100", "--size", "32", "--warmup", "1",
                "--duration", str(args.seconds + 2)]
    if path == "connect":
        return ["--scenario", "connect", "--conns", str(args.conns), "--concurrency", "100", "--hold", "1"]
    return ["--scenario", "broadcast", "--receivers", str(args.receivers), "--messages", str(args.messages),
            "--size", "64", "--rate", "0"]


def taskset(cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu] if cpu is not None and shutil.which("taskset") else []


def profileOne(name: str, path: str, args, out: Path) -> dict:
    mode = "chat" if path == "broadcast" else "echo"
    extra = args.ratchetpy_arg if name == "ratchetpy" else []
    server = Server(name, max(2000, args.conns), args.server_cpu, out, extra, mode)
    raw = out / f"{name}-{path}.raw"
    result: dict = {"server": name, "path": path}
    spy = None
    try:
        server.waitListening()
        time.sleep(1.0)  # py-spy cannot read an interpreter that is still starting
        gen = subprocess.Popen(
            [*taskset(args.client_cpu), "node", str(LOADGEN), "--url", f"ws://127.0.0.1:{server.port}/",
             "--server-pid", str(server.pid), *loadgenArgs(path, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        opened = threading.Event()
        allOpen = threading.Event()
        genLog: list[str] = []

        def readErr() -> None:
            for line in gen.stderr:  # type: ignore[union-attr]
                genLog.append(line)
                if "opened " in line:
                    opened.set()
                if "ALL_OPEN" in line:
                    allOpen.set()

        threading.Thread(target=readErr, daemon=True).start()
        if path != "connect" and not opened.wait(120):
            raise RuntimeError(f"the load generator opened no connections: {''.join(genLog)[-500:]}")
        spyArgs = [*taskset(args.client_cpu), args.py_spy, "record", "--pid", str(server.pid), "--rate",
                   str(args.rate), "--format", "raw", "--full-filenames", "-o", str(raw)]
        if path == "echo":
            spyArgs += ["--duration", str(args.seconds)]
        if args.native:
            spyArgs.append("--native")
        if args.nonblocking:
            spyArgs.append("--nonblocking")
        cpu0, t0 = cpuSeconds(server.pid), time.monotonic()
        spy = subprocess.Popen(spyArgs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if path == "echo":
            spyOut = spy.communicate(timeout=args.seconds + 60)[0]
            cpu1, t1 = cpuSeconds(server.pid), time.monotonic()
            genOut = gen.communicate(timeout=120)[0]
        elif path == "connect":
            # Sampled while the connections open, not while they close at the end.
            allOpen.wait(300)
            cpu1, t1 = cpuSeconds(server.pid), time.monotonic()
            spy.send_signal(signal.SIGINT)
            spyOut = spy.communicate(timeout=60)[0]
            genOut = gen.communicate(timeout=300)[0]
        else:
            genOut = gen.communicate(timeout=300)[0]
            cpu1, t1 = cpuSeconds(server.pid), time.monotonic()
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            spyOut = spy.communicate(timeout=60)[0]
        spy = None
        result["py_spy"] = spyOut.strip().splitlines()[-2:] if spyOut else []
        lines = [ln for ln in genOut.splitlines() if ln.startswith("{")]
        load = json.loads(lines[-1]) if lines else {"error": "no output from the load generator"}
        result["load"] = load
        result["server_cpu_pct"] = None if cpu0 is None or cpu1 is None else 100 * (cpu1 - cpu0) / (t1 - t0)
        rate = load.get({"echo": "msgs_per_s", "connect": "conns_per_s"}.get(path, "deliveries_per_s"))
        result["rate"] = rate
        cpuPct = (load.get("server") or {}).get("cpu_pct") or result["server_cpu_pct"]
        result["us_per_msg"] = 1e4 * cpuPct / rate if rate and cpuPct else None
        result.update(parseRaw(raw) if raw.exists() else {"total": 0, "own": {}, "inclusive": {}, "functions": []})
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait()
        server.stop()
    return result


def report(results: list[dict], top: int) -> str:
    lines = []
    for path in PATHS:
        rs = [r for r in results if r["path"] == path]
        if not rs:
            continue
        unit, units = {"echo": ("msg", "msgs"), "connect": ("handshake", "handshakes")}.get(
            path, ("delivery", "deliveries"))
        what = ("echo, 100 connections x 32 B, closed loop" if path == "echo"
                else f"connect, {rs[0]['load'].get('conns', '?')} handshakes, 100 in flight (then held idle)"
                if path == "connect"
                else f"broadcast, {rs[0]['load'].get('receivers', '?')} receivers x "
                f"{rs[0]['load'].get('messages', '?')} messages of 64 B")
        lines += [f"## {what}", ""]
        for r in rs:
            pct = (r["load"].get("server") or {}).get("cpu_pct")
            lines.append(f"- {r['server']}: {fmtNum(r.get('rate'))} {units}/s while sampled, server CPU "
                         f"{fmtNum(pct)}%, {fmtNum(r.get('us_per_msg'), 2)} us of server CPU per {unit}; "
                         f"{r['total']:,} samples")
        lines.append("")
        head = "| own time in | " + " | ".join(f"{r['server']} % | us/{unit}" for r in rs) + " |"
        lines += [head, "|---|" + "---:|---:|" * len(rs)]
        for p in PARTS:
            cells = []
            for r in rs:
                share = r["own"].get(p, 0) / r["total"] if r["total"] else 0
                us = share * r["us_per_msg"] if r.get("us_per_msg") else None
                cells += [f"{100 * share:.1f}", fmtNum(us, 2)]
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
        cells = []
        for r in rs:
            share = r["inclusive"].get("ratchetpy", 0) / r["total"] if r["total"] else 0
            cells += [f"{100 * share:.1f}", ""]
        lines.append("| (ratchetpy frame anywhere on the stack) | " + " | ".join(cells) + " |")
        cells = []
        for r in rs:
            share = r.get("debug_log", 0) / r["total"] if r["total"] else 0
            us = share * r["us_per_msg"] if r.get("us_per_msg") else None
            cells += [f"{100 * share:.1f}", fmtNum(us, 2)]
        lines.append("| (inside a log.debug/trace call, level off) | " + " | ".join(cells) + " |")
        lines.append("")
        for r in rs:
            lines += [f"Top functions by own time, {r['server']} {path}:", "", "| % | part | function |",
                      "|---:|---|---|"]
            for p, name, n in r["functions"][:top]:
                lines.append(f"| {100 * n / r['total']:.1f} | {p} | {name.replace('|', '/')} |")
            lines.append("")
    return "\n".join(lines)


def fmtNum(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def nodeFindsWs(directory: Path) -> bool:
    """
    Whether node finds the C{ws} package from C{directory} by other means
    (C{NODE_PATH}, a C{node_modules} further up), as C{bench/run.py} accepts.
    """
    try:
        found = subprocess.run(
            [os.environ.get("NODE", "node"), "-e", f"require.resolve('ws', {{paths: [{json.dumps(str(directory))}]}})"],
            capture_output=True,
        )
    except OSError:
        return False
    return found.returncode == 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog="See bench/README.md.")
    ap.add_argument("--server", choices=["ratchetpy", "autobahn", "both"], default="both",
                    help="ratchetpy, bare Autobahn (with and without prepareMessage for broadcast), or both")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma list among: echo, broadcast, connect")
    ap.add_argument("--seconds", type=int, default=15, help="seconds of echo load sampled (default 15)")
    ap.add_argument("--messages", type=int, default=1500,
                    help="broadcast: messages sent, all at once (default 1,500; sampled until all are delivered)")
    ap.add_argument("--receivers", type=int, default=1000, help="broadcast receivers (default 1,000)")
    ap.add_argument("--conns", type=int, default=2000,
                    help="connect: handshakes, 100 in flight, sampled from the first (default 2,000)")
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    ap.add_argument("--native", action="store_true", help="py-spy --native: C frames too (charged as 'other')")
    ap.add_argument("--nonblocking", action="store_true",
                    help="py-spy --nonblocking: never pause the server (some samples fail to read)")
    ap.add_argument("--top", type=int, default=12, help="top functions shown per run (default 12)")
    ap.add_argument("--server-cpu", default=os.environ.get("SERVER_CPU", "0"))
    ap.add_argument("--client-cpu", default=os.environ.get("CLIENT_CPU", "1"))
    ap.add_argument("--ratchetpy-arg", action="append", default=[],
                    help="extra `twistd ratchetpy` option (repeatable), e.g. --ratchetpy-arg=--keepalive=0")
    ap.add_argument("--out", help="directory for py-spy's raw stacks, server logs and results.json "
                    "(default $TMPDIR/ratchetpy-bench/profile-<timestamp>)")
    ap.add_argument("--summarize", metavar="DIR", help="only print the tables of an earlier run's results.json")
    args = ap.parse_args(argv)
    if args.summarize:
        print(report(json.loads((Path(args.summarize) / "results.json").read_text()), args.top))
        return 0
    args.py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    problems = []
    if not args.py_spy:
        problems.append("py-spy not found: pip install py-spy")
    if not (LOADGEN.parent / "node_modules" / "ws").is_dir() and not nodeFindsWs(LOADGEN.parent):
        problems.append(f"load generator not installed: (cd {LOADGEN.parent} && npm ci)")
    if not os.access(Path(sys.executable).with_name("twistd"), os.X_OK):
        problems.append(f"no twistd next to {sys.executable}: run from the venv where you did `pip install .`")
    if problems:
        sys.exit("bench/profile.py: cannot run:\n  " + "\n  ".join(problems))
    if (os.cpu_count() or 1) < 2:
        args.server_cpu = args.client_cpu = None
    out = Path(args.out or Path(os.environ.get("TMPDIR", "/tmp")) / "ratchetpy-bench"
               / time.strftime("profile-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    for p in paths:
        if p not in PATHS:
            sys.exit(f"bench/profile.py: unknown path {p!r}; choose among {', '.join(PATHS)}")
    results = []
    for path in paths:
        for name in SERVERS[path]:
            if args.server != "both" and not name.startswith(args.server):
                continue
            print(f"profiling {name} {path} ...", flush=True)
            results.append(profileOne(name, path, args, out))
            (out / "results.json").write_text(json.dumps(results, indent=2))
    print()
    print(report(results, args.top))
    print(f"py-spy raw stacks (flamegraph.pl input), server logs and results.json: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
