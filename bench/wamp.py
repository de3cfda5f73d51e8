#!/usr/bin/env python3
"""
Benchmark ratchetpy's WAMP router side by side with Crossbar.io, and with
ratchetpy's plain-WebSocket broadcast as the reference.

    pip install .                                   # the INSTALLED ratchetpy is measured
    (cd bench/load && npm ci) && (cd tests/wamp/js && npm ci)
    python3 -m venv /tmp/crossbarvenv && /tmp/crossbarvenv/bin/pip install crossbar   # optional, a few minutes
    python bench/wamp.py                            # 3 repetitions (about 5-8 minutes)
    python bench/wamp.py --quick                    # smoke run: 1 rep, small sizes (about 1-2 minutes)
    PYTHONPATH=$PWD python bench/wamp.py --quick    # the working tree, no install

Scenarios (tests/wamp/js/wampbench.js; full sizes, --quick sizes in brackets):
  fanout-json, fanout-msgpack   1,000 [200] subscribers of one topic, one publisher sends 200 [50]
                                events of 64 B at once: EVENT deliveries/s
  rpc-json, rpc-msgpack         one caller keeps 16 calls in flight to a procedure another client
                                registered (CALL -> INVOCATION -> YIELD -> RESULT), 5 s [2 s]: calls/s
  broadcast-ws                  the reference: examples.chat:Chat over plain WebSocket, run by
                                bench/run_baselines.sh's broadcast scenario (bench/load/loadgen.js)
                                with the same receivers, messages and size: deliveries/s

Servers: ratchetpy-wamp (`twistd -n ratchetpy --wamp`, a plain router on realm1,
anonymous), crossbar (/tmp/crossbarvenv/bin/crossbar, or --crossbar PATH; a router
worker with one WebSocket transport, realm1, anonymous with every permission) and
ratchetpy (the chat component, broadcast-ws only). Each server is started once per
repetition, pinned to --server-cpu, and runs every scenario of that repetition; the
generator runs on --client-cpu. The machine is shared: read medians and ratios, not
absolute figures. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
JS = REPO / "tests" / "wamp" / "js"
WAMPBENCH = JS / "wampbench.js"
DEFAULT_CROSSBAR = Path("/tmp/crossbarvenv/bin/crossbar")

_spec = importlib.util.spec_from_file_location("bench_run", HERE / "run.py")
assert _spec and _spec.loader
benchrun = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchrun)

WAMP = "ratchetpy-wamp"
CROSSBAR = "crossbar"
WS = "ratchetpy"
SCENARIOS = ["fanout-json", "fanout-msgpack", "rpc-json", "rpc-msgpack", "broadcast-ws"]


def crossbarConfig(port: int) -> dict:
    """
    A Crossbar node as close to ratchetpy's plain router as Crossbar allows: realm1, anonymous, every URI
    allowed, caller and publisher disclosure left to the clients, one WebSocket transport on loopback.
    """
    permissions = [{"uri": "", "match": "prefix", "cache": True,
                    "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
                    "disclose": {"caller": False, "publisher": False}}]
    return {"version": 2, "controller": {}, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": permissions}]}],
        "transports": [{"type": "websocket", "serializers": ["json", "msgpack"],
                        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}],
    }]}


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listenerPid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:port (Crossbar's router worker, not its controller)."""
    r = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    for part in r.stdout.split("pid=")[1:]:
        return int(part.split(",")[0])
    return None


class Server:
    """One server process (and its children, in their own process group), pinned to a core."""

    def __init__(self, name: str, argv: list[str], cpu: str, log: Path, cwd: Path = REPO,
                 startTimeout: float = 90, prepare: Callable[[int], None] | None = None) -> None:
        self.name, self.port, self.prepare = name, freePort(), prepare
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.cpu, self.log, self.cwd, self.startTimeout = cpu, log, cwd, startTimeout
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None

    def __enter__(self) -> Server:
        if self.prepare is not None:
            self.prepare(self.port)
        with open(self.log, "a") as log:
            log.write(f"+ [cpu {self.cpu}] {shlex.join(self.argv)}\n")
            log.flush()
            self.process = subprocess.Popen(["taskset", "-c", self.cpu, *self.argv], cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startTimeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.process.returncode}: see {self.log}")
            self.pid = listenerPid(self.port)
            if self.pid:
                time.sleep(0.3)
                return self
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within {self.startTimeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wampSizes(quick: bool) -> dict:
    return ({"receivers": 200, "events": 50, "duration": 2} if quick
            else {"receivers": 1000, "events": 200, "duration": 5})


def wampbench(server: Server, scenario: str, sizes: dict, cpu: str, path: str, log: Path) -> dict:
    kind, serializer = scenario.split("-")
    args = ["--scenario", kind, "--serializer", serializer, "--server-pid", str(server.pid)]
    if kind == "fanout":
        args += ["--receivers", str(sizes["receivers"]), "--events", str(sizes["events"]), "--size", "64"]
    else:
        args += ["--duration", str(sizes["duration"]), "--window", "16", "--size", "64"]
    node = os.environ.get("NODE", "node")
    url = f"ws://127.0.0.1:{server.port}{path}"
    with open(log, "a") as err:
        r = subprocess.run(["taskset", "-c", cpu, node, str(WAMPBENCH), "--url", url, *args], stdout=subprocess.PIPE,
                           stderr=err, text=True, timeout=300)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": f"no output (status {r.returncode})"}


def broadcastReference(python: str, twistd: str, sizes: dict, args: argparse.Namespace, out: Path) -> list[dict]:
    """
    The plain-WebSocket reference through bench/run_baselines.sh (its pinning, quiet wait and loadgen's broadcast
    scenario), one repetition: ratchetpy's chat component, the same receivers and message count as fanout.
    """
    spec = next(s for s in benchrun.server_specs(python, twistd, args.ratchetpy_arg) if s.startswith(f"{WS}|chat|"))
    rdir = out / "broadcast-ws"
    env = {**os.environ, "REPS": "1", "QUICK": "1" if args.quick else "0", "SCENARIOS": "broadcast",
           "OUT": str(rdir), "PY": python, "SERVER_CPU": args.server_cpu, "CLIENT_CPU": args.client_cpu,
           "QUIET_WAIT": str(args.quiet_wait)}
    before = len((rdir / "raw.jsonl").read_text().splitlines()) if (rdir / "raw.jsonl").exists() else 0
    with open(out / "run_baselines.out", "a") as log:
        subprocess.run(["bash", str(benchrun.RUN_BASELINES), "--server", spec], env=env, stdout=log,
                       stderr=subprocess.STDOUT)
    lines = (rdir / "raw.jsonl").read_text().splitlines()[before:] if (rdir / "raw.jsonl").exists() else []
    rows = []
    for line in lines:
        r = json.loads(line)
        benchrun.derive(r)
        rows.append({"deliveries_per_s": r.get("deliveries_per_s"), "delivered": r.get("delivered"),
                     "server_cpu_us_per_delivery": r.get("cpu_us_per_delivery"), "error": r.get("error")})
    return rows


def waitQuiet(seconds: float, busyMax: float = 10) -> float:
    """Wait (bounded) for the whole machine to be under busyMax % busy; the last reading."""
    def busy() -> float:
        def read() -> list[int]:
            with open("/proc/stat") as f:
                return [int(x) for x in f.readline().split()[1:9]]
        a = read()
        time.sleep(1)
        b = read()
        d = [y - x for x, y in zip(a, b, strict=True)]
        return 100 * (1 - (d[3] + d[4]) / max(1, sum(d)))
    deadline = time.monotonic() + seconds
    b = busy()
    while b > busyMax and time.monotonic() < deadline:
        b = busy()
    return b


def servers(args: argparse.Namespace, twistd: str, cbdir: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, WebSocket path) of every WAMP server of the run."""
    # A plain router: realm1, anonymous.
    wamp = [twistd, "-n", "--pidfile=", "ratchetpy", "--wamp",
            "--port", "tcp:{port}:interface=127.0.0.1", "--max-connections-per-ip", "0", "--shutdown-timeout", "0",
            *args.ratchetpy_arg]
    found = [(WAMP, wamp, "/")]
    if args.crossbar:
        found.append((CROSSBAR, [str(args.crossbar), "start", "--cbdir", str(cbdir)], "/"))
    return found


def run(args: argparse.Namespace) -> Path:
    python = sys.executable
    twistd = str(Path(python).with_name("twistd"))
    info = benchrun.check_setup(python, twistd)
    if not (JS / "node_modules" / "autobahn").is_dir():
        sys.exit(f"bench/wamp.py: cannot run: the WAMP load generator is not installed: (cd {JS} && npm ci)")
    out = Path(args.out or Path(os.environ.get("TMPDIR", "/tmp")) / "ratchetpy-bench" /
               ("wamp-" + time.strftime("%Y%m%d-%H%M%S")))
    out.mkdir(parents=True, exist_ok=True)
    sizes = wampSizes(args.quick)
    cbdir = Path(tempfile.mkdtemp(prefix="crossbar-", dir=out))
    info["crossbar"] = str(args.crossbar) if args.crossbar else None
    (out / "versions.json").write_text(json.dumps(info, indent=2))
    print(f"ratchetpy {info.get('ratchetpy')} ({info.get('ratchetpy_file')}); crossbar: "
          f"{args.crossbar or 'not found (' + str(DEFAULT_CROSSBAR) + '), skipped'}; server on cpu {args.server_cpu}, "
          f"generator on cpu {args.client_cpu}; {args.reps} rep(s){' (quick)' if args.quick else ''}; {sizes}; "
          f"results in {out}", flush=True)
    raw = out / "raw.jsonl"
    wampScenarios = [s for s in args.scenarios if s != "broadcast-ws"]
    for rep in range(1, args.reps + 1):
        order = servers(args, twistd, cbdir)
        if rep % 2 == 0:
            order.reverse()  # drift of the machine's load does not always favour the same server
        for name, argv, path in order:
            prepare = (lambda port: (cbdir / "config.json").write_text(json.dumps(crossbarConfig(port)))
                       ) if name == CROSSBAR else None
            try:
                with Server(name, argv, args.server_cpu, out / "server.log", prepare=prepare) as server:
                    for scenario in wampScenarios:
                        busy = waitQuiet(args.quiet_wait)
                        r = wampbench(server, scenario, sizes, args.client_cpu, path, out / "run.log")
                        r.update(target=name, bench=scenario, rep=rep, busy_before=busy)
                        print(f"   {name} {scenario} rep {rep}: {summaryOf(r)}", flush=True)
                        with open(raw, "a") as f:
                            f.write(json.dumps(r) + "\n")
            except RuntimeError as e:
                print(f"   {name}: {e}", flush=True)
                with open(raw, "a") as f:
                    f.write(json.dumps({"target": name, "bench": "start", "rep": rep, "error": str(e)}) + "\n")
        if "broadcast-ws" in args.scenarios:
            for r in broadcastReference(python, twistd, sizes, args, out):
                r.update(target=WS, bench="broadcast-ws", rep=rep)
                print(f"   {WS} broadcast-ws rep {rep}: {summaryOf(r)}", flush=True)
                with open(raw, "a") as f:
                    f.write(json.dumps(r) + "\n")
    return out


def summaryOf(r: dict) -> str:
    if r.get("error"):
        return "error: " + str(r["error"])[:200]
    rate = r.get("deliveries_per_s") or r.get("calls_per_s")
    cpu = r.get("server_cpu_us_per_delivery") or r.get("server_cpu_us_per_call")
    extra = f", {r['delivered']}/{r['expected']} delivered" if r.get("expected") else ""
    return f"{benchrun.fmt(rate)}/s, server CPU {benchrun.fmt(cpu)} µs each{extra}"


ROWS = [
    ("fan-out deliveries/s, JSON", "fanout-json", "deliveries_per_s"),
    ("fan-out deliveries/s, msgpack", "fanout-msgpack", "deliveries_per_s"),
    ("fan-out: server CPU µs per delivery, JSON", "fanout-json", "server_cpu_us_per_delivery"),
    ("fan-out: server CPU µs per delivery, msgpack", "fanout-msgpack", "server_cpu_us_per_delivery"),
    ("RPC calls/s, JSON (16 in flight)", "rpc-json", "calls_per_s"),
    ("RPC calls/s, msgpack (16 in flight)", "rpc-msgpack", "calls_per_s"),
    ("RPC: server CPU µs per call, JSON", "rpc-json", "server_cpu_us_per_call"),
    ("RPC: server CPU µs per call, msgpack", "rpc-msgpack", "server_cpu_us_per_call"),
    ("plain WebSocket broadcast deliveries/s (reference)", "broadcast-ws", "deliveries_per_s"),
    ("plain WebSocket: server CPU µs per delivery", "broadcast-ws", "server_cpu_us_per_delivery"),
]


def summarize(out: Path) -> str:
    groups: dict[tuple[str, str], list[dict]] = {}
    notes = []
    for line in (out / "raw.jsonl").read_text().splitlines() if (out / "raw.jsonl").exists() else []:
        r = json.loads(line)
        groups.setdefault((r.get("target"), r.get("bench")), []).append(r)
        if r.get("error"):
            notes.append(f"{r.get('target')} {r.get('bench')} rep {r.get('rep')}: {str(r['error'])[:160]}")
        elif r.get("expected") and r.get("delivered") != r.get("expected"):
            notes.append(f"{r['target']} {r['bench']} rep {r['rep']}: {r['delivered']}/{r['expected']} delivered")

    def median(server: str, bench: str, key: str) -> tuple[float | None, str]:
        vs = [r[key] for r in groups.get((server, bench), []) if isinstance(r.get(key), (int, float))]
        if not vs:
            return None, "-"
        m = statistics.median(vs)
        spread = f" ±{round(100 * (max(vs) - min(vs)) / 2 / abs(m))}%" if len(vs) > 1 and m else ""
        return m, benchrun.fmt(m) + spread

    names = [WAMP, CROSSBAR, WS]
    lines = ["| scenario | " + " | ".join(names) + " | ratchetpy-wamp / crossbar | ratchetpy-wamp / plain WS |",
             "|---|" + "---:|" * (len(names) + 2)]
    reference = {key: median(WS, "broadcast-ws", key)[0]
                 for key in ("deliveries_per_s", "server_cpu_us_per_delivery")}
    for label, bench, key in ROWS:
        cells = {n: median(n, bench, key) for n in names}
        ours, theirs = cells[WAMP][0], cells[CROSSBAR][0]
        vsCrossbar = benchrun.fmt_ratio(ours / theirs) if ours and theirs else "-"
        ref = reference.get(key) if bench.startswith("fanout") else None
        vsWs = benchrun.fmt_ratio(ours / ref) if ours and ref else "-"
        lines.append(f"| {label} | " + " | ".join(cells[n][1] for n in names) + f" | {vsCrossbar} | {vsWs} |")
    text = "\n".join(lines) + ("\n\nMedians of the repetitions (± half the range); ratios are of medians. "
                               "Lower is better for CPU µs.")
    if notes:
        text += "\n\nNotes:\n" + "\n".join("- " + n for n in notes)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog="See bench/README.md.")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 200 subscribers, 50 events, 2 s of RPC")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default: $REPS or 3; 1 with --quick)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list among: " + ", ".join(SCENARIOS))
    ap.add_argument("--crossbar", default=None,
                    help=f"the crossbar executable (default {DEFAULT_CROSSBAR} if it exists; 'none' skips Crossbar)")
    ap.add_argument("--server-cpu", default=os.environ.get("SERVER_CPU", "0"))
    ap.add_argument("--client-cpu", default=os.environ.get("CLIENT_CPU", "1"))
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="seconds to wait for a quiet machine before each run (default 10; 2 with --quick)")
    ap.add_argument("--ratchetpy-arg", action="append", default=[],
                    help="extra `twistd ratchetpy` option for the ratchetpy servers (repeatable)")
    ap.add_argument("--out", help="results directory (default $TMPDIR/ratchetpy-bench/wamp-<timestamp>)")
    ap.add_argument("--summarize", metavar="DIR", help="only print the table for an earlier run's results directory")
    args = ap.parse_args(argv)
    if args.summarize:
        print(summarize(Path(args.summarize)))
        return 0
    if args.crossbar == "none":
        args.crossbar = None
    elif args.crossbar is None:
        args.crossbar = DEFAULT_CROSSBAR if DEFAULT_CROSSBAR.exists() else shutil.which("crossbar")
    if os.environ.get("PYTHONPATH"):
        os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(e) if e else e
                                                   for e in os.environ["PYTHONPATH"].split(os.pathsep))
    if args.reps is None:
        args.reps = 1 if args.quick else int(os.environ.get("REPS", "3"))
    if args.quiet_wait is None:
        args.quiet_wait = 2 if args.quick else 10
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(sorted(unknown))}: choose among {', '.join(SCENARIOS)}")
    out = run(args)
    print()
    print(summarize(out))
    print(f"\nraw results and logs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
