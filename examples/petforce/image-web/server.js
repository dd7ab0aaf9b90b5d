'use strict';
// PID 1 ignores SIGTERM without a handler: install it before anything else happens.
let server = null;
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  if (!server) process.exit(0);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 15000).unref();
});
// PetForce web stand-in (Next.js-shaped): GET /health {status, version, checks}, GET / and other pages.
// Environment: SUPABASE_URL, SUPABASE_ANON_KEY (the browser's public key), PORT (3000).
const fs = require('fs');
const http = require('http');

const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');
const missing = ['SUPABASE_URL', 'SUPABASE_ANON_KEY'].filter((n) => !process.env[n]);
if (missing.length) {
  console.error(`refusing to start: missing environment ${missing.join(', ')}`);
  process.exit(1);
}
const page = fs.readFileSync('/app/public/index.html', 'utf8');

function send(res, status, text, type) {
  const headers = { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) };
  if (stopping) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

server = http.createServer((req, res) => {
  req.resume();
  const path = req.url.split('?')[0];
  if (NEVER_READY) return send(res, 503, '{"status":"unavailable"}', 'application/json');
  if (path === '/health') {
    return send(res, 200, JSON.stringify({ status: 'healthy', version: VERSION, checks: { supabase: 'configured' },
      timestamp: new Date().toISOString() }), 'application/json');
  }
  if (req.method === 'GET') return send(res, 200, page, 'text/html; charset=utf-8');
  return send(res, 405, '{"error":"method not allowed"}', 'application/json');
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT || 3000), '0.0.0.0', () => {
  console.log(`petforce web ready on ${server.address().port} (version ${VERSION})`);
});
