'use strict';
// Household mobile API stand-in (Express-shaped): GET /health, /health/ready (database + Redis),
// /health/live, the same under /api/health*, POST /api/invites {email} (queued for the background jobs
// in Redis list `household:jobs`), GET /api/invites/<id>.
const lib = require('./lib');

lib.requireEnv(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']);
const cache = lib.redisClient();
const started = Date.now();
// Database and Redis are checked every second in the background; /health/ready answers from the last check
// at once (a load balancer's health check has a short timeout).
let checks = { database: 'unknown', redis: 'unknown' };
async function checkDependencies() {
  const [database, redis] = await Promise.all([
    lib.within(lib.db().query('SELECT 1'), 3000).then(() => 'healthy', () => 'unhealthy'),
    lib.within(cache.ping(), 3000).then(() => 'healthy', () => 'unhealthy'),
  ]);
  checks = { database, redis };
}
(function watch() { checkDependencies().finally(() => setTimeout(watch, 1000)); })();
const QUEUE = 'household:jobs';

async function route(req, res) {
  const path = req.url.split('?')[0].replace(/^\/api(?=\/health)/, '');
  if (req.method === 'GET' && path === '/health') {
    return lib.send(res, 200, { status: 'healthy', timestamp: new Date().toISOString(), version: lib.VERSION });
  }
  if (req.method === 'GET' && path === '/health/live') {
    return lib.send(res, 200, { status: 'alive', uptime: Math.round((Date.now() - started) / 1000) });
  }
  if (req.method === 'GET' && path === '/health/ready') {
    const ok = checks.database === 'healthy' && checks.redis === 'healthy';
    return lib.send(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', checks });
  }
  if (req.method === 'POST' && path === '/api/invites') {
    const body = await lib.readBody(req);
    if (!body.email) return lib.send(res, 400, { error: 'email required' });
    const { rows } = await lib.db().query('INSERT INTO invites (email) VALUES ($1) RETURNING id, email, status', [body.email]);
    await cache.lPush(QUEUE, JSON.stringify({ kind: 'invite', id: rows[0].id }));
    return lib.send(res, 202, rows[0]);
  }
  const m = path.match(/^\/api\/invites\/(\d+)$/);
  if (req.method === 'GET' && m) {
    const { rows } = await lib.db().query('SELECT * FROM invites WHERE id = $1', [Number(m[1])]);
    return rows.length ? lib.send(res, 200, rows[0]) : lib.send(res, 404, { error: 'no such invite' });
  }
  req.resume();
  return lib.send(res, 404, { error: 'not found' });
}

lib.serve('household api', route);
