'use strict';
// Shared by web.js, api.js and jobs.js. Required first: PID 1 ignores SIGTERM without a handler, so it
// is installed before anything slow (module loading) happens.
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

const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');

function requireEnv(names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    console.error(`refusing to start: missing environment ${missing.join(', ')}`);
    process.exit(1);
  }
}

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

// HTTP server; a never-ready test build answers 503 to everything. SIGTERM: stop accepting, finish in-flight.
function serve(name, route) {
  const server = http.createServer((req, res) => {
    if (NEVER_READY) { req.resume(); return send(res, 503, { status: 'unavailable', reason: 'never-ready test build' }); }
    return route(req, res).catch((err) => send(res, 500, { error: err.message }));
  });
  server.keepAliveTimeout = 65000;
  stopHooks.push(() => new Promise((resolve) => { server.close(resolve); server.closeIdleConnections(); }));
  server.listen(Number(process.env.PORT || 3000), '0.0.0.0', () => {
    console.log(`${name} listening on ${server.address().port} (version ${VERSION})`);
  });
  return server;
}

let pool = null;
function db() {
  if (!pool) {
    const { Pool } = require('pg');
    pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 10000 });
    pool.on('error', (err) => console.error(`database: ${err.message}`));
  }
  return pool;
}

function redisClient() {
  const redis = require('redis');
  const client = redis.createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 5000 } });
  client.on('error', (err) => console.error(`redis: ${err.message}`));
  client.connect().catch(() => {});
  return client;
}

const within = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

module.exports = { VERSION, NEVER_READY, requireEnv, send, readBody, serve, db, redisClient, within,
  onStop: (hook) => stopHooks.push(hook), isStopping: () => stopping };
