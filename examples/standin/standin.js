'use strict';
// What every Node.js stand-in does the same way (examples/*/image*/standin.js is a link to this file); each
// image's own files keep what its guide's contract makes different: environment names, routes, bodies.
// Required first: PID 1 ignores SIGTERM without a handler, so it is installed before anything slow (module
// loading) happens. SIGTERM: every server stops accepting and finishes its in-flight requests, every stop hook
// (a worker's job in hand) completes, then the process exits (at the latest after 15 s).
const stopHooks = [];
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  if (!stopHooks.length) process.exit(0);
  Promise.all(stopHooks.map((hook) => hook())).then(() => process.exit(0), () => process.exit(0));
  setTimeout(() => process.exit(0), 15000).unref();
});

const fs = require('fs');
const http = require('http');

// Baked at build (standin-build.sh); a version containing `never-ready` answers 503 to every request.
const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');

// Refuses to start naming the missing variables, never printing a value.
function requireEnv(names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    console.error(`refusing to start: missing environment ${missing.join(', ')}`);
    process.exit(1);
  }
}

function requireSecretLength(name, min) {
  if (process.env[name].length < min) {
    console.error(`refusing to start: ${name} must have at least ${min} characters`);
    process.exit(1);
  }
}

// A JSON body (the default) or a text one of the given type; `Connection: close` once stopping.
function send(res, status, body, type = 'application/json') {
  const text = type === 'application/json' ? JSON.stringify(body) : body;
  const headers = { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) };
  if (stopping) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => { try { resolve(JSON.parse(data || '{}')); } catch { resolve({}); } });
  });
}

// The HTTP server on $PORT (default `port`), logging `<banner> <port> (version <v>)` once listening. `route`
// (req, res) may be async; what it throws is a 500. A never-ready build answers `unready` ([body, type]) instead.
function serve(banner, route, { port = 3000, unready = [{ status: 'unavailable', reason: 'never-ready test build' }] } = {}) {
  const server = http.createServer((req, res) => {
    if (NEVER_READY) { req.resume(); return send(res, 503, ...unready); }
    return Promise.resolve().then(() => route(req, res)).catch((err) => send(res, 500, { error: err.message }));
  });
  server.keepAliveTimeout = 65000;
  stopHooks.push(() => new Promise((resolve) => { server.close(resolve); server.closeIdleConnections(); }));
  server.listen(Number(process.env.PORT || port), '0.0.0.0', () => {
    console.log(`${banner} ${server.address().port} (version ${VERSION})`);
  });
  return server;
}

// One pool per process (node-pg), created on first use.
let pool = null;
function db(connectionString = process.env.DATABASE_URL) {
  if (!pool) {
    const { Pool } = require('pg');
    pool = new Pool({ connectionString, max: 4, connectionTimeoutMillis: 10000 });
    pool.on('error', (err) => console.error(`database: ${err.message}`));
  }
  return pool;
}

// A connected node-redis client (connecting in the background); `options` as redis.createClient's.
function redisClient(options = { url: process.env.REDIS_URL }) {
  const redis = require('redis');
  const client = redis.createClient({ ...options, socket: { ...options.socket, connectTimeout: 5000 } });
  client.on('error', (err) => console.error(`redis: ${err.message}`));
  client.connect().catch(() => {});
  return client;
}

const within = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

// Runs the dependency check `check` every second in the background, so that a health endpoint answers from the
// last result at once (a load balancer's health check has a short timeout).
function watch(check) {
  (function again() { check().finally(() => setTimeout(again, 1000)); })();
}

// Checks each dependency ({name: () => promise}) every second, each within 3 s, as `up` or `down`; returns a
// function giving the last result ({name: state}, 'unknown' before the first check).
function watchDependencies(checks, [up, down] = ['healthy', 'unhealthy']) {
  const names = Object.keys(checks);
  let last = Object.fromEntries(names.map((n) => [n, 'unknown']));
  watch(async () => {
    const states = await Promise.all(names.map((n) => within(checks[n](), 3000).then(() => up, () => down)));
    last = Object.fromEntries(names.map((n, i) => [n, states[i]]));
  });
  return () => last;
}

module.exports = { VERSION, NEVER_READY, requireEnv, requireSecretLength, send, readBody, serve, db, redisClient,
  within, watch, watchDependencies, onStop: (hook) => stopHooks.push(hook), isStopping: () => stopping };
