'use strict';
// PID 1 ignores SIGTERM without a handler: install it before anything slow (module loading) happens.
let server = null;
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  if (!server) process.exit(0);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 15000).unref();
});
// Sports nutrition API stand-in: GET /health (ALB health check: 200 when PostgreSQL and Redis answer),
// GET /api/health (details), GET /api/foods, POST /api/auth/token (signs with JWT_SECRET).
// Reads DATABASE_URL, REDIS_URL, JWT_SECRET, PORT. SIGTERM: stops accepting, finishes in-flight requests.
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const { Pool } = require('pg');
const redis = require('redis');

const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');
const missing = ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET'].filter((n) => !process.env[n]);
if (missing.length) {
  console.error(`refusing to start: missing environment ${missing.join(', ')}`);
  process.exit(1);
}
if (process.env.JWT_SECRET.length < 32) {
  console.error('refusing to start: JWT_SECRET must have at least 32 characters');
  process.exit(1);
}

const db = new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 10000 });
db.on('error', (err) => console.error(`database: ${err.message}`));
const cache = redis.createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 5000 } });
cache.on('error', (err) => console.error(`redis: ${err.message}`));
cache.connect().catch(() => {});

const within = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);
// Dependencies are checked every second in the background; /health answers from the last check at once
// (a load balancer's health check has a short timeout).
let deps = { database: 'unknown', redis: 'unknown' };
async function dependencies() {
  const [database, cacheState] = await Promise.all([
    within(db.query('SELECT 1'), 3000).then(() => 'connected', () => 'disconnected'),
    within(cache.ping(), 3000).then(() => 'connected', () => 'disconnected'),
  ]);
  deps = { database, redis: cacheState };
}
(function watch() { dependencies().finally(() => setTimeout(watch, 1000)); })();

function send(res, status, body) {
  const text = JSON.stringify(body);
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) };
  if (stopping) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

async function route(req, res) {
  const path = req.url.split('?')[0];
  if (NEVER_READY) return send(res, 503, { status: 'unavailable', reason: 'never-ready test build' });
  if (req.method === 'GET' && (path === '/health' || path === '/api/health')) {
    const ok = deps.database === 'connected' && deps.redis === 'connected';
    return send(res, ok ? 200 : 503, { status: ok ? 'healthy' : 'unhealthy', ...deps });
  }
  if (req.method === 'GET' && path === '/api/foods') {
    const { rows } = await db.query('SELECT id, name, kcal_per_100g FROM foods ORDER BY id');
    return send(res, 200, { foods: rows });
  }
  if (req.method === 'POST' && path === '/api/auth/token') {
    const payload = Buffer.from(JSON.stringify({ sub: 'athlete', iat: Date.now() })).toString('base64url');
    const sig = crypto.createHmac('sha256', process.env.JWT_SECRET).update(payload).digest('base64url');
    await cache.incr('tokens_issued').catch(() => {});
    return send(res, 200, { token: `${payload}.${sig}` });
  }
  return send(res, 404, { error: 'not found' });
}

server = http.createServer((req, res) => {
  req.resume();
  route(req, res).catch((err) => send(res, 500, { error: err.message }));
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT || 3000), '0.0.0.0', () => {
  console.log(`Server started on port ${server.address().port} (version ${VERSION})`);
});
