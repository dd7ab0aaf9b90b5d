'use strict';
// Household web app stand-in (React build served as static files): GET / (the app), GET /health.
const fs = require('fs');
const lib = require('./lib');

const page = fs.readFileSync(`${__dirname}/public/index.html`, 'utf8');
lib.serve('household web', async (req, res) => {
  req.resume();
  const path = req.url.split('?')[0];
  if (path === '/health') return lib.send(res, 200, { status: 'healthy', version: lib.VERSION });
  if (req.method === 'GET' && !path.startsWith('/api/')) return lib.send(res, 200, page, 'text/html; charset=utf-8');
  return lib.send(res, 404, { error: 'not found' });
});
