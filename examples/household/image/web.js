'use strict';
// Household web app stand-in (React build served as static files): GET / (the app), GET /health.
const standin = require('./standin'); // first: it installs the SIGTERM handler
const fs = require('fs');

const page = fs.readFileSync(`${__dirname}/public/index.html`, 'utf8');
standin.serve('household web listening on', async (req, res) => {
  req.resume();
  const path = req.url.split('?')[0];
  if (path === '/health') return standin.send(res, 200, { status: 'healthy', version: standin.VERSION });
  if (req.method === 'GET' && !path.startsWith('/api/')) return standin.send(res, 200, page, 'text/html; charset=utf-8');
  return standin.send(res, 404, { error: 'not found' });
});
