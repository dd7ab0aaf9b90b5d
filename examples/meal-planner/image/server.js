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
// Meal planner API stand-in: GET /health (the guide's handler: database + cache, 200 healthy / 503),
// the same under /api/v1/health, GET /api/v1/recipes, POST /api/v1/auth/login, GET|POST /api/v1/meal-plans.
// Reads DATABASE_URL, REDIS_URL, PORT. SIGTERM: stops accepting, finishes in-flight requests.
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const { Pool } = require('pg');
const redis = require('redis');

const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');
const missing = ['DATABASE_URL', 'REDIS_URL'].filter((n) => !process.env[n]);
if (missing.length) {
  console.error(`refusing to start: missing environment ${missing.join(', ')}`);
  process.exit(1);
}
const db = new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 10000 });
db.on('error', (err) => console.error(`database: ${err.message}`));
const cache = redis.createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 5000 } });
cache.on('error', (err) => console.error(`redis: ${err.message}`));
cache.connect().catch(() => {});
const started = Date.now();
const within = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

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

// The guide's checks (database, then cache), run every second in the background; /health answers from the
// last result at once (a load balancer's health check has a short timeout).
let checked = { status: 'unhealthy', database: 'unknown', cache: 'unknown' };
async function check() {
  const h = { status: 'healthy', database: 'unknown', cache: 'unknown' };
  try { await within(db.query('SELECT 1'), 3000); h.database = 'healthy'; } catch {
    h.database = 'unhealthy'; h.status = 'unhealthy';
  }
  try { await within(cache.ping(), 3000); h.cache = 'healthy'; } catch {
    h.cache = 'unhealthy'; if (h.status === 'healthy') h.status = 'degraded';
  }
  checked = h;
}
(function watch() { check().finally(() => setTimeout(watch, 1000)); })();
async function health() {
  return { status: checked.status, timestamp: new Date().toISOString(), uptime: (Date.now() - started) / 1000,
    database: checked.database, cache: checked.cache };
}

async function route(req, res) {
  const path = req.url.split('?')[0];
  if (NEVER_READY) return send(res, 503, { status: 'unavailable', reason: 'never-ready test build' });
  if (req.method === 'GET' && (path === '/health' || path === '/api/v1/health')) {
    const h = await health();
    return send(res, h.status === 'healthy' ? 200 : 503, h);
  }
  if (req.method === 'GET' && path === '/api/v1/recipes') {
    const cached = await cache.get('recipes').catch(() => null);
    if (cached) return send(res, 200, { data: JSON.parse(cached), cached: true });
    const { rows } = await db.query('SELECT * FROM "Recipe" ORDER BY "id"');
    await cache.set('recipes', JSON.stringify(rows), { EX: 5 }).catch(() => {});
    return send(res, 200, { data: rows, cached: false });
  }
  if (req.method === 'POST' && path === '/api/v1/auth/login') {
    const body = await readBody(req);
    if (!body.email) return send(res, 400, { error: 'email required' });
    const accessToken = crypto.randomBytes(16).toString('hex');
    await cache.set(`session:${accessToken}`, body.email, { EX: 3600 });
    return send(res, 200, { data: { tokens: { accessToken } } });
  }
  if (path === '/api/v1/meal-plans') {
    if (req.method === 'POST') {
      const body = await readBody(req);
      const { rows } = await db.query('INSERT INTO "MealPlan" ("weekStart") VALUES ($1) RETURNING *',
        [body.weekStart || new Date().toISOString().slice(0, 10)]);
      return send(res, 201, { data: rows[0] });
    }
    const { rows } = await db.query('SELECT * FROM "MealPlan" ORDER BY "id" DESC LIMIT 20');
    return send(res, 200, { data: rows });
  }
  return send(res, 404, { error: 'not found' });
}

server = http.createServer((req, res) => {
  if (req.method === 'GET') req.resume();
  route(req, res).catch((err) => send(res, 500, { error: err.message }));
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT || 3000), '0.0.0.0', () => {
  console.log(`meal-planner api listening on ${server.address().port} (version ${VERSION})`);
});
