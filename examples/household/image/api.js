'use strict';
// Household mobile API stand-in (Express-shaped): GET /health, /health/ready (database + Redis),
// /health/live, the same under /api/health*, POST /api/invites {email} (queued for the background jobs
// in Redis list `household:jobs`), GET /api/invites/<id>.
const standin = require('./standin'); // first: it installs the SIGTERM handler

standin.requireEnv(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']);
const cache = standin.redisClient();
const started = Date.now();
// Database and Redis are checked every second in the background (/health/ready answers from the last check).
const deps = standin.watchDependencies({ database: () => standin.db().query('SELECT 1'), redis: () => cache.ping() });
const QUEUE = 'household:jobs';

async function route(req, res) {
  const path = req.url.split('?')[0].replace(/^\/api(?=\/health)/, '');
  if (req.method === 'GET' && path === '/health') {
    return standin.send(res, 200, { status: 'healthy', timestamp: new Date().toISOString(), version: standin.VERSION });
  }
  if (req.method === 'GET' && path === '/health/live') {
    return standin.send(res, 200, { status: 'alive', uptime: Math.round((Date.now() - started) / 1000) });
  }
  if (req.method === 'GET' && path === '/health/ready') {
    const checks = deps();
    const ok = checks.database === 'healthy' && checks.redis === 'healthy';
    return standin.send(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', checks });
  }
  if (req.method === 'POST' && path === '/api/invites') {
    const body = await standin.readBody(req);
    if (!body.email) return standin.send(res, 400, { error: 'email required' });
    const { rows } = await standin.db().query('INSERT INTO invites (email) VALUES ($1) RETURNING id, email, status', [body.email]);
    await cache.lPush(QUEUE, JSON.stringify({ kind: 'invite', id: rows[0].id }));
    return standin.send(res, 202, rows[0]);
  }
  const m = path.match(/^\/api\/invites\/(\d+)$/);
  if (req.method === 'GET' && m) {
    const { rows } = await standin.db().query('SELECT * FROM invites WHERE id = $1', [Number(m[1])]);
    return rows.length ? standin.send(res, 200, rows[0]) : standin.send(res, 404, { error: 'no such invite' });
  }
  req.resume();
  return standin.send(res, 404, { error: 'not found' });
}

standin.serve('household api listening on', route);
