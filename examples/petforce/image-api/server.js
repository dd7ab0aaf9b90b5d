'use strict';
// PetForce mobile API stand-in (Express-shaped): GET /health (the guide's body: status, version, checks),
// GET|POST /api/households. Environment: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL,
// REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_TLS_ENABLED, JWT_SECRET, PORT (4000).
const standin = require('./standin'); // first: it installs the SIGTERM handler

standin.requireEnv(['SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_DB_URL', 'REDIS_HOST', 'REDIS_PASSWORD',
  'JWT_SECRET']);
standin.requireSecretLength('JWT_SECRET', 32);
const db = standin.db(process.env.SUPABASE_DB_URL);
const cache = standin.redisClient({
  socket: { host: process.env.REDIS_HOST, port: Number(process.env.REDIS_PORT || 6379),
    tls: process.env.REDIS_TLS_ENABLED === 'true' },
  password: process.env.REDIS_PASSWORD,
});

const deps = standin.watchDependencies({ database: () => db.query('SELECT 1'), redis: () => cache.ping() });

async function route(req, res) {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/health') {
    const { database, redis: cacheState } = deps();
    const supabase = /^https?:\/\//.test(process.env.SUPABASE_URL) ? 'healthy' : 'unhealthy';
    const ok = database === 'healthy' && cacheState === 'healthy' && supabase === 'healthy';
    return standin.send(res, ok ? 200 : 503, { status: ok ? 'healthy' : 'unhealthy', version: standin.VERSION,
      checks: { database, redis: cacheState, supabase }, timestamp: new Date().toISOString() });
  }
  if (path === '/api/households') {
    if (req.method === 'POST') {
      const body = await standin.readBody(req);
      const { rows } = await db.query('INSERT INTO households (name) VALUES ($1) RETURNING id, name', [body.name || 'home']);
      await cache.incr('households_created').catch(() => {});
      return standin.send(res, 201, rows[0]);
    }
    const { rows } = await db.query('SELECT id, name FROM households ORDER BY id DESC LIMIT 20');
    return standin.send(res, 200, { households: rows });
  }
  req.resume();
  return standin.send(res, 404, { error: 'not found' });
}

standin.serve('petforce api listening on', route, { port: 4000 });
