'use strict';
// Sports nutrition API stand-in: GET /health (ALB health check: 200 when PostgreSQL and Redis answer),
// GET /api/health (details), GET /api/foods, POST /api/auth/token (signs with JWT_SECRET).
// Reads DATABASE_URL, REDIS_URL, JWT_SECRET, PORT. SIGTERM: stops accepting, finishes in-flight requests.
const standin = require('./standin'); // first: it installs the SIGTERM handler
const crypto = require('crypto');

standin.requireEnv(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']);
standin.requireSecretLength('JWT_SECRET', 32);
const db = standin.db(process.env.DATABASE_URL);
const cache = standin.redisClient({ url: process.env.REDIS_URL });

const deps = standin.watchDependencies({ database: () => db.query('SELECT 1'), redis: () => cache.ping() },
  ['connected', 'disconnected']);

async function route(req, res) {
  req.resume();
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && (path === '/health' || path === '/api/health')) {
    const { database, redis } = deps();
    const ok = database === 'connected' && redis === 'connected';
    return standin.send(res, ok ? 200 : 503, { status: ok ? 'healthy' : 'unhealthy', database, redis });
  }
  if (req.method === 'GET' && path === '/api/foods') {
    const { rows } = await db.query('SELECT id, name, kcal_per_100g FROM foods ORDER BY id');
    return standin.send(res, 200, { foods: rows });
  }
  if (req.method === 'POST' && path === '/api/auth/token') {
    const payload = Buffer.from(JSON.stringify({ sub: 'athlete', iat: Date.now() })).toString('base64url');
    const sig = crypto.createHmac('sha256', process.env.JWT_SECRET).update(payload).digest('base64url');
    await cache.incr('tokens_issued').catch(() => {});
    return standin.send(res, 200, { token: `${payload}.${sig}` });
  }
  return standin.send(res, 404, { error: 'not found' });
}

standin.serve('Server started on port', route);
