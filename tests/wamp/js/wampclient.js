#!/usr/bin/env node
// A tiny WAMP v2 client on autobahn-js (npm `autobahn`), driven by its command
// line or by JSON lines on stdin; it reports everything as JSON lines on stdout.
//
//   node wampclient.js --url ws://127.0.0.1:8080/ [--realm realm1]
//        [--serializer json|msgpack|cbor] [--stdin] [--timeout S]
//        [--authmethod ticket|wampcra --authid ID --secret SECRET] STEP...
//
// Steps run in order once the session has joined; each argument after the
// step's name is JSON (a bare word that is not JSON is taken as a string):
//   subscribe TOPIC [OPTIONS]                 -> {"type":"subscribed"} then one
//                                                {"type":"event"} per event
//   unsubscribe TOPIC                         -> {"type":"unsubscribed"}
//   publish TOPIC [ARGS [KWARGS [OPTIONS]]]   -> {"type":"published"} (with an id
//                                                when OPTIONS has acknowledge)
//   call PROC [ARGS [KWARGS [OPTIONS]]]       -> {"type":"progress"}..., then
//                                                {"type":"result"} or {"type":"error"}
//   register PROC [BEHAVIOUR [OPTIONS]]       -> {"type":"registered"}; each
//       invocation prints {"type":"invocation"} and answers by BEHAVIOUR:
//       "echo" (default: the call's args and kwargs back), "error:URI" (an
//       ERROR with that URI), "progress:N" (N progressive results, then the args),
//       "return:JSON" (that value), "hang" (never answers)
//   unregister PROC                           -> {"type":"unregistered"}
//   wait N                                    wait until N events in all arrived
//   sleep MS
//   leave                                     GOODBYE, then exit
// With --stdin, after the steps every stdin line is one more step as a JSON
// array (["publish", "com.x", [1]]); the client leaves at the end of stdin.
// Without --stdin or a final leave, it leaves once the steps are done.
// Every line carries "ts" (ms since the epoch); a step's failure prints
// {"type":"error"} and goes on; --timeout S (default 30) bounds the whole run.
// Exit status: 0 after a clean leave, 1 if the session never joined or was lost.
'use strict';

// autobahn 26.x uses the global WebSocket, which Node has only from 22 on: on an
// older Node, the `ws` package. autobahn-js sets no onerror (a browser fires
// close after error anyway); `ws` would throw an unhandled 'error' event, so the
// polyfill listens for it and lets the close that follows report the failure.
if (typeof globalThis.WebSocket === 'undefined') {
  const WS = require('ws');
  globalThis.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      this.on('error', (e) => out({ type: 'transport-error', message: String(e.message || e) }));
    }
  };
}
// Only this script's JSON lines go to stdout: autobahn-js's own console output goes to stderr.
console.log = (...a) => console.error(...a);
const autobahn = require('autobahn');
const readline = require('readline');

function out(obj) {
  process.stdout.write(JSON.stringify({ ts: Date.now(), ...obj }) + '\n');
}

function parseArgs(argv) {
  const opts = { realm: 'realm1', serializer: 'json', stdin: false, timeout: 30 };
  const steps = [];
  let current = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--stdin') opts.stdin = true;
    else if (a.startsWith('--')) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (STEPS.has(a)) {
      current = [a];
      steps.push(current);
    } else if (current) current.push(jsonOrWord(a));
    else throw new Error(`unexpected argument ${a}: a step (${[...STEPS].join(', ')}) must come first`);
  }
  if (!opts.url) throw new Error('--url ws://HOST:PORT/PATH is required');
  return { opts, steps };
}

function jsonOrWord(s) {
  try { return JSON.parse(s); } catch (e) { return s; }
}

function serializerFor(name) {
  const s = autobahn.serializer;
  const make = { json: () => new s.JSONSerializer(), msgpack: () => new s.MsgpackSerializer(),
                 cbor: () => new s.CBORSerializer() }[name];
  if (!make) throw new Error(`unknown serializer ${name}: json, msgpack or cbor`);
  return make();
}

// A call's value as autobahn-js resolves it: a Result, or one positional value.
function resultParts(res) {
  if (res instanceof autobahn.Result) return { args: res.args || [], kwargs: res.kwargs || {} };
  return { args: res === undefined ? [] : [res], kwargs: {} };
}

function errorParts(err) {
  if (err instanceof autobahn.Error) return { error: err.error, args: err.args || [], kwargs: err.kwargs || {} };
  return { error: String(err && err.error || err), args: [], kwargs: {} };
}

const STEPS = new Set(['subscribe', 'unsubscribe', 'publish', 'call', 'register', 'unregister', 'wait', 'sleep',
                       'leave']);

function endpointFor(proc, behaviour) {
  behaviour = behaviour || 'echo';
  return (args, kwargs, details) => {
    out({ type: 'invocation', proc, procedure: details.procedure || proc, args, kwargs,
          caller: details.caller === undefined ? null : details.caller });
    if (behaviour === 'echo') return new autobahn.Result(args, kwargs);
    if (behaviour === 'hang') return new Promise(() => {});
    if (behaviour.startsWith('return:')) return JSON.parse(behaviour.slice(7));
    if (behaviour.startsWith('error:')) throw new autobahn.Error(behaviour.slice(6), args, kwargs);
    if (behaviour.startsWith('progress:')) {
      const n = Number(behaviour.slice(9));
      for (let i = 0; i < n; i++) {
        if (details.progress) details.progress([i]);
      }
      return new autobahn.Result(args, kwargs);
    }
    throw new Error(`unknown behaviour ${behaviour}`);
  };
}

class Client {
  constructor(session) {
    this.session = session;
    this.subscriptions = new Map();
    this.registrations = new Map();
    this.events = 0;
    this.waiters = [];
  }

  onEvent(topic, args, kwargs, details) {
    this.events += 1;
    out({ type: 'event', topic: details.topic || topic, subscribed: topic, args, kwargs,
          publisher: details.publisher === undefined ? null : details.publisher,
          publication: details.publication });
    this.waiters = this.waiters.filter(([n, resolve]) => (this.events >= n ? (resolve(), false) : true));
  }

  async run(step) {
    const [name, ...a] = step;
    const s = this.session;
    try {
      switch (name) {
        case 'subscribe': {
          const [topic, options] = a;
          const sub = await s.subscribe(topic, (args, kwargs, details) => this.onEvent(topic, args, kwargs, details),
                                        options || {});
          this.subscriptions.set(topic, sub);
          out({ type: 'subscribed', topic, id: sub.id });
          break;
        }
        case 'unsubscribe': {
          const [topic] = a;
          await s.unsubscribe(this.subscriptions.get(topic));
          this.subscriptions.delete(topic);
          out({ type: 'unsubscribed', topic });
          break;
        }
        case 'publish': {
          const [topic, args, kwargs, options] = a;
          const pub = await s.publish(topic, args || [], kwargs || {}, options || {});
          out({ type: 'published', topic, id: pub ? pub.id : null });
          break;
        }
        case 'call': {
          const [proc, args, kwargs, options] = a;
          const res = await s.call(proc, args || [], kwargs || {}, options || {}).then(
            (r) => r, (e) => { throw e; }, (p) => out({ type: 'progress', proc, ...resultParts(p) }));
          out({ type: 'result', proc, ...resultParts(res) });
          break;
        }
        case 'register': {
          const [proc, behaviour, options] = a;
          const reg = await s.register(proc, endpointFor(proc, behaviour), options || {});
          this.registrations.set(proc, reg);
          out({ type: 'registered', proc, id: reg.id });
          break;
        }
        case 'unregister': {
          const [proc] = a;
          await s.unregister(this.registrations.get(proc));
          this.registrations.delete(proc);
          out({ type: 'unregistered', proc });
          break;
        }
        case 'wait': {
          const [n] = a;
          if (this.events < n) await new Promise((resolve) => this.waiters.push([n, resolve]));
          out({ type: 'waited', events: this.events });
          break;
        }
        case 'sleep':
          await new Promise((resolve) => setTimeout(resolve, Number(a[0])));
          break;
        case 'leave':
          return false;
        default:
          throw new Error(`unknown step ${name}`);
      }
    } catch (e) {
      out({ type: 'error', step: name, target: a[0], ...errorParts(e) });
    }
    return true;
  }
}

async function stdinSteps(client) {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let step;
    try {
      step = JSON.parse(line);
      if (!Array.isArray(step) || !STEPS.has(step[0])) throw new Error(`not a step: ${line}`);
    } catch (e) {
      out({ type: 'error', step: 'stdin', error: String(e.message || e) });
      continue;
    }
    if (!(await client.run(step))) return;
  }
}

function main() {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`wampclient.js: ${e.message}\n`);
    process.exit(2);
  }
  const { opts, steps } = parsed;
  let joined = false;
  let leaving = false;
  const timer = setTimeout(() => {
    out({ type: 'timeout', seconds: Number(opts.timeout) });
    process.exit(1);
  }, Number(opts.timeout) * 1000);
  const options = { url: opts.url, realm: opts.realm, serializers: [serializerFor(opts.serializer)], max_retries: 0 };
  if (opts.authmethod) {
    // ticket: the secret is the ticket; wampcra: the HMAC of the router's challenge under the secret.
    options.authmethods = [opts.authmethod];
    options.authid = opts.authid;
    options.onchallenge = (session, method, extra) => {
      if (method === 'ticket') return opts.secret;
      if (method === 'wampcra') {
        const key = extra.salt ? autobahn.auth_cra.derive_key(opts.secret, extra.salt, extra.iterations,
                                                               extra.keylen) : opts.secret;
        return autobahn.auth_cra.sign(key, extra.challenge);
      }
      throw new Error(`unexpected challenge ${method}`);
    };
  }
  const connection = new autobahn.Connection(options);
  connection.onopen = async (session, details) => {
    joined = true;
    out({ type: 'joined', session: session.id, realm: details.realm, authid: details.authid || null,
          authrole: details.authrole || null, serializer: opts.serializer, roles: details.roles });
    const client = new Client(session);
    let go = true;
    for (const step of steps) {
      if (!(go = await client.run(step))) break;
    }
    if (go && opts.stdin) await stdinSteps(client);
    leaving = true;
    session.leave('wamp.close.normal');
  };
  connection.onclose = (reason, details) => {
    out({ type: 'closed', reason, wampReason: details && details.reason || null,
          message: details && details.message || null });
    clearTimeout(timer);
    // autobahn-js reports a clean GOODBYE as "closed"; anything else is a failure.
    process.exitCode = joined && leaving ? 0 : 1;
    setImmediate(() => process.exit());
    return true; // no reconnection
  };
  connection.open();
}

main();
