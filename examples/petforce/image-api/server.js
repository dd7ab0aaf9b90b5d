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
// PetForce mobile API stand-in (Express-shaped): GET /health (the guide's body: status, version, checks),
// GET|POST /api/households. Environment: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL,
// REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_TLS_ENABLED, JWT_SECRET, PORT (4000).
const fs = require('fs');
const http = require('http');
const { Pool } = require('pg');
const redis = require('redis');

const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');
const missing = ['SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_DB_URL', 'REDIS_HOST', 'REDIS_PASSWORD', 'JWT_SECRET']
  .filter((n) => !process.env[n]);
if (missing.length) {
  console.error(`refusing to start: missing environment ${missing.join(', ')}`);
  process.exit(1);
}
if (process.env.JWT_SECRET.length < 32) {
  console.error('refusing to start: JWT_SECRET must have at least 32 characters');
  process.exit(1);
}
const db = new Pool({ connectionString: process.env.SUPABASE_DB_URL, max: 4, connectionTimeoutMillis: 10000 });
db.on('error', (err) => console.error(`database: ${err.message}`));
const cache = redis.createClient({
  socket: { host: process.env.REDIS_HOST, port: Number(process.env.REDIS_PORT || 6379),
    tls: process.env.REDIS_TLS_ENABLED === 'true', connectTimeout: 5000 },
  password: process.env.REDIS_PASSWORD,
});
cache.on('error', (err) => console.error(`redis: ${err.message}`));
cache.connect().catch(() => {});
const withinMs = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

// Database and Redis are checked every second in the background; /health answers from the last check at
// once (a load balancer's health check has a short timeout).
let deps = { database: 'unknown', redis: 'unknown' };
async function checkDependencies() {
  const [database, redisState] = await Promise.all([
    withinMs(db.query('SELECT 1'), 3000).then(() => 'healthy', () => 'unhealthy'),
    withinMs(cache.ping(), 3000).then(() => 'healthy', () => 'unhealthy'),
  ]);
  deps = { database, redis: redisState };
}
(function watch() { checkDependencies().finally(() => setTimeout(watch, 1000)); })();

function send(res, status, body) {
  const text = JSON.stringify(body);
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) };
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

async function route(req, res) {
  const path = req.url.split('?')[0];
  if (NEVER_READY) { req.resume(); return send(res, 503, { status: 'unavailable', reason: 'never-ready test build' }); }
  if (req.method === 'GET' && path === '/health') {
    const { database, redis: cacheState } = deps;
    const supabase = /^https?:\/\//.test(process.env.SUPABASE_URL) ? 'healthy' : 'unhealthy';
    const ok = database === 'healthy' && cacheState === 'healthy' && supabase === 'healthy';
    return send(res, ok ? 200 : 503, { status: ok ? 'healthy' : 'unhealthy', version: VERSION,
      checks: { database, redis: cacheState, supabase }, timestamp: new Date().toISOString() });
  }
  if (path === '/api/households') {
    if (req.method === 'POST') {
      const body = await readBody(req);
      const { rows } = await db.query('INSERT INTO households (name) VALUES ($1) RETURNING id, name', [body.name || 'home']);
      await cache.incr('households_created').catch(() => {});
      return send(res, 201, rows[0]);
    }
    const { rows } = await db.query('SELECT id, name FROM households ORDER BY id DESC LIMIT 20');
    return send(res, 200, { households: rows });
  }
  req.resume();
  return send(res, 404, { error: 'not found' });
}

server = http.createServer((req, res) => { route(req, res).catch((err) => send(res, 500, { error: err.message })); });
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT || 4000), '0.0.0.0', () => {
  console.log(`petforce api listening on ${server.address().port} (version ${VERSION})`);
});
