'use strict';
// PetForce web stand-in (Next.js-shaped): GET /health {status, version, checks}, GET / and other pages.
// Environment: SUPABASE_URL, SUPABASE_ANON_KEY (the browser's public key), PORT (3000).
const standin = require('./standin'); // first: it installs the SIGTERM handler
const fs = require('fs');

standin.requireEnv(['SUPABASE_URL', 'SUPABASE_ANON_KEY']);
const page = fs.readFileSync('/app/public/index.html', 'utf8');

standin.serve('petforce web ready on', (req, res) => {
  req.resume();
  const path = req.url.split('?')[0];
  if (path === '/health') {
    return standin.send(res, 200, { status: 'healthy', version: standin.VERSION, checks: { supabase: 'configured' },
      timestamp: new Date().toISOString() });
  }
  if (req.method === 'GET') return standin.send(res, 200, page, 'text/html; charset=utf-8');
  return standin.send(res, 405, { error: 'method not allowed' });
}, { unready: [{ status: 'unavailable' }] });
