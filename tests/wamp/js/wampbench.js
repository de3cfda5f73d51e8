#!/usr/bin/env node
// WAMP v2 load generator for bench/wamp.py: the fewest client-side steps per
// message that a WAMP router still sees as ordinary sessions, so that the router
// is what gets measured (bench/load/loadgen.js does the same for plain WebSocket).
//
//   node wampbench.js --url ws://127.0.0.1:PORT/ --scenario fanout|rpc [options]
//
// Prints ONE JSON line with the results on stdout; progress goes to stderr.
//   fanout  --receivers N (1000) --events M (200) --size S (64) [--connect-concurrency C (100)]
//           N sessions subscribe to one topic; one more session publishes M events
//           (S bytes of payload each) as fast as it can; the window runs from the
//           first PUBLISH to the last EVENT received. Receivers count EVENT frames
//           (the first one of each is decoded and checked).
//           -> deliveries_per_s = delivered / window
//   rpc     --duration T (5) --warmup W (1) --window K (16) --size S (64)
//           one callee registers a procedure that returns its arguments; one caller
//           keeps K calls in flight (CALL -> INVOCATION -> YIELD -> RESULT) for T s.
//           -> calls_per_s
// Common: --serializer json|msgpack (json) --realm realm1 --timeout S (120)
//         --server-pid PID (sample the server's CPU time over the window, Linux)
//         --meta JSON (merged into the output line)
// Request ids are session-scoped and sequential from 1 (the spec's rule; routers
// may enforce it). Sessions announce the four client roles with no features.
'use strict';

const fs = require('fs');
const WebSocket = require('ws');
const msgpack = require('msgpack5')({ forceFloat64: true });

const HELLO = 1, WELCOME = 2, ABORT = 3, GOODBYE = 6, ERROR = 8, PUBLISH = 16, SUBSCRIBE = 32, SUBSCRIBED = 33,
  EVENT = 36, CALL = 48, RESULT = 50, REGISTER = 64, REGISTERED = 65, INVOCATION = 68, YIELD = 70;
const ROLES = { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} } };

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) o[a.slice(2)] = true;
    else { o[a.slice(2)] = v; i++; }
  }
  return o;
}

const DEFAULTS = { scenario: 'fanout', serializer: 'json', realm: 'realm1', receivers: 1000, events: 200, size: 64,
  'connect-concurrency': 100, duration: 5, warmup: 1, window: 16, timeout: 120 };
const raw = parseArgs(process.argv.slice(2));
const opt = { ...DEFAULTS, ...raw };
for (const k of ['receivers', 'events', 'size', 'connect-concurrency', 'duration', 'warmup', 'window', 'timeout']) {
  opt[k] = Number(opt[k]);
}
if (!opt.url) { process.stderr.write('wampbench.js: --url is required\n'); process.exit(2); }
const BINARY = { json: false, msgpack: true }[opt.serializer];
if (BINARY === undefined) { process.stderr.write('wampbench.js: --serializer json or msgpack\n'); process.exit(2); }
const encode = BINARY ? (m) => msgpack.encode(m) : (m) => JSON.stringify(m);
const decode = BINARY ? (d) => msgpack.decode(d) : (d) => JSON.parse(d.toString());
const log = (s) => process.stderr.write(`[wampbench] ${s}\n`);

// One WAMP session on a raw ws connection; onMessage(msg) gets decoded messages
// until the caller switches to counting frames (session.count = true).
class Session {
  constructor() { this.nextRequest = 1; this.handlers = new Map(); this.onOther = null; }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(opt.url, [`wamp.2.${opt.serializer}`], { perMessageDeflate: false });
      this.ws = ws;
      ws.on('error', reject);
      ws.on('close', (code, reason) => {
        if (!this.closing) reject(new Error(`closed ${code} ${reason}`));
        if (this.onClose) this.onClose(code, String(reason));
      });
      ws.once('open', () => this.send([HELLO, opt.realm, ROLES]));
      ws.on('message', (data) => {
        if (this.onFrame) { this.onFrame(data); return; }
        const msg = decode(data);
        if (msg[0] === WELCOME) { this.id = msg[1]; resolve(this); return; }
        if (msg[0] === ABORT) { reject(new Error(`ABORT ${JSON.stringify(msg)}`)); return; }
        const h = (msg[0] === SUBSCRIBED || msg[0] === REGISTERED || msg[0] === RESULT || msg[0] === ERROR)
          ? this.handlers.get(msg[0] === ERROR ? msg[2] : msg[1]) : null;
        if (h) { this.handlers.delete(msg[0] === ERROR ? msg[2] : msg[1]); h(msg); return; }
        if (this.onOther) this.onOther(msg);
        else log(`unexpected ${JSON.stringify(msg).slice(0, 200)}`);
      });
    });
  }

  send(msg) { this.ws.send(encode(msg), { binary: BINARY }); }

  request(build) {
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.handlers.set(id, (msg) => (msg[0] === ERROR ? reject(new Error(JSON.stringify(msg))) : resolve(msg)));
      this.send(build(id));
    });
  }

  close() { this.closing = true; try { this.ws.close(1000); } catch (e) { /* gone */ } }
}

function cpuTicks(pid) {
  if (!pid) return null;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);  // utime + stime, clock ticks
  } catch (e) { return null; }
}
const TICK = 100;  // USER_HZ on Linux

async function openMany(n, concurrency) {
  const sessions = [];
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      sessions.push(await new Session().open());
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return sessions;
}

async function fanout() {
  const topic = 'bench.fanout';
  const receivers = await openMany(opt.receivers, opt['connect-concurrency']);
  await Promise.all(receivers.map((s) => s.request((id) => [SUBSCRIBE, id, {}, topic])));
  log(`${receivers.length} receivers subscribed`);
  const publisher = await new Session().open();
  const total = opt.receivers * opt.events;
  let delivered = 0, bad = 0, t0 = 0, tLast = 0, doneResolve;
  const done = new Promise((resolve) => { doneResolve = resolve; });
  for (const s of receivers) {
    let first = true;
    s.onFrame = (data) => {
      if (first) { first = false; const m = decode(data); if (m[0] !== EVENT) { bad++; return; } }
      delivered++;
      if (delivered === total) { tLast = performance.now(); doneResolve(); }
    };
  }
  const payload = 'x'.repeat(opt.size);
  const cpu0 = cpuTicks(opt['server-pid']);
  t0 = performance.now();
  for (let i = 0; i < opt.events; i++) {
    publisher.send([PUBLISH, publisher.nextRequest++, {}, topic, [payload]]);
  }
  const timeout = new Promise((resolve) => setTimeout(resolve, opt.timeout * 1000));
  await Promise.race([done, timeout]);
  if (!tLast) tLast = performance.now();
  const cpu1 = cpuTicks(opt['server-pid']);
  const window = (tLast - t0) / 1000;
  const result = { scenario: 'fanout', serializer: opt.serializer, receivers: opt.receivers, events: opt.events,
    size: opt.size, delivered, expected: total, non_event_first_frames: bad, window_s: window,
    deliveries_per_s: delivered / window, events_per_s: delivered / opt.receivers / window };
  if (cpu0 !== null && cpu1 !== null) result.server_cpu_us_per_delivery = ((cpu1 - cpu0) / TICK) * 1e6 / delivered;
  for (const s of [...receivers, publisher]) s.close();
  return result;
}

async function rpc() {
  const proc = 'bench.echo';
  const callee = await new Session().open();
  await callee.request((id) => [REGISTER, id, {}, proc]);
  callee.onOther = (msg) => {
    if (msg[0] === INVOCATION) callee.send([YIELD, msg[1], {}, msg[4] || []]);
  };
  const caller = await new Session().open();
  const args = ['x'.repeat(opt.size)];
  let counting = false, calls = 0, errors = 0, stop = false, cpu0 = null, t0 = 0;
  let stopped;
  const finished = new Promise((resolve) => { stopped = resolve; });
  let inFlight = 0;
  function one() {
    inFlight++;
    caller.request((id) => [CALL, id, {}, proc, args]).then(
      () => { if (counting) calls++; }, () => { errors++; }).then(() => {
      inFlight--;
      if (!stop) one(); else if (inFlight === 0) stopped();
    });
  }
  for (let i = 0; i < opt.window; i++) one();
  await new Promise((resolve) => setTimeout(resolve, opt.warmup * 1000));
  counting = true; cpu0 = cpuTicks(opt['server-pid']); t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, opt.duration * 1000));
  counting = false;
  const window = (performance.now() - t0) / 1000;
  const cpu1 = cpuTicks(opt['server-pid']);
  stop = true;
  await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 5000))]);
  const result = { scenario: 'rpc', serializer: opt.serializer, window: opt.window, size: opt.size, calls, errors,
    window_s: window, calls_per_s: calls / window };
  if (cpu0 !== null && cpu1 !== null) result.server_cpu_us_per_call = ((cpu1 - cpu0) / TICK) * 1e6 / calls;
  caller.close(); callee.close();
  return result;
}

async function main() {
  const meta = opt.meta ? JSON.parse(opt.meta) : {};
  const watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ...meta, error: `timeout after ${opt.timeout + 30} s` }) + '\n');
    process.exit(1);
  }, (opt.timeout + 30) * 1000);
  try {
    const r = opt.scenario === 'rpc' ? await rpc() : await fanout();
    process.stdout.write(JSON.stringify({ ...meta, ...r }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ...meta, error: String(e.message || e) }) + '\n');
    process.exitCode = 1;
  }
  clearTimeout(watchdog);
  setTimeout(() => process.exit(), 200);
}

main();
