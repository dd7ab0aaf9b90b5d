'use strict';
// Meal planner API stand-in: GET /health (the guide's handler: database + cache, 200 healthy / 503),
// the same under /api/v1/health, GET /api/v1/recipes, POST /api/v1/auth/login, GET|POST /api/v1/meal-plans.
// Reads DATABASE_URL, REDIS_URL, PORT. SIGTERM: stops accepting, finishes in-flight requests.
const standin = require('./standin'); // first: it installs the SIGTERM handler
const crypto = require('crypto');

standin.requireEnv(['DATABASE_URL', 'REDIS_URL']);
const db = standin.db(process.env.DATABASE_URL);
const cache = standin.redisClient({ url: process.env.REDIS_URL });
const started = Date.now();

// The guide's checks (database, then cache), run every second in the background.
let checked = { status: 'unhealthy', database: 'unknown', cache: 'unknown' };
standin.watch(async () => {
  const h = { status: 'healthy', database: 'unknown', cache: 'unknown' };
  try { await standin.within(db.query('SELECT 1'), 3000); h.database = 'healthy'; } catch {
    h.database = 'unhealthy'; h.status = 'unhealthy';
  }
  try { await standin.within(cache.ping(), 3000); h.cache = 'healthy'; } catch {
    h.cache = 'unhealthy'; if (h.status === 'healthy') h.status = 'degraded';
  }
  checked = h;
});
function health() {
  return { status: checked.status, timestamp: new Date().toISOString(), uptime: (Date.now() - started) / 1000,
    database: checked.database, cache: checked.cache };
}

async function route(req, res) {
  if (req.method === 'GET') req.resume();
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && (path === '/health' || path === '/api/v1/health')) {
    const h = health();
    return standin.send(res, h.status === 'healthy' ? 200 : 503, h);
  }
  if (req.method === 'GET' && path === '/api/v1/recipes') {
    const cached = await cache.get('recipes').catch(() => null);
    if (cached) return standin.send(res, 200, { data: JSON.parse(cached), cached: true });
    const { rows } = await db.query('SELECT * FROM "Recipe" ORDER BY "id"');
    await cache.set('recipes', JSON.stringify(rows), { EX: 5 }).catch(() => {});
    return standin.send(res, 200, { data: rows, cached: false });
  }
  if (req.method === 'POST' && path === '/api/v1/auth/login') {
    const body = await standin.readBody(req);
    if (!body.email) return standin.send(res, 400, { error: 'email required' });
    const accessToken = crypto.randomBytes(16).toString('hex');
    await cache.set(`session:${accessToken}`, body.email, { EX: 3600 });
    return standin.send(res, 200, { data: { tokens: { accessToken } } });
  }
  if (path === '/api/v1/meal-plans') {
    if (req.method === 'POST') {
      const body = await standin.readBody(req);
      const { rows } = await db.query('INSERT INTO "MealPlan" ("weekStart") VALUES ($1) RETURNING *',
        [body.weekStart || new Date().toISOString().slice(0, 10)]);
      return standin.send(res, 201, { data: rows[0] });
    }
    const { rows } = await db.query('SELECT * FROM "MealPlan" ORDER BY "id" DESC LIMIT 20');
    return standin.send(res, 200, { data: rows });
  }
  return standin.send(res, 404, { error: 'not found' });
}

standin.serve('meal-planner api listening on', route);
