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
// PropFlow valuer dashboard stand-in (Next.js-shaped): every GET path but /api/* renders the dashboard
// page (the guide's frontend health check is `GET /`). Environment: NEXT_PUBLIC_API_URL, PORT (3000).
const fs = require('fs');
const http = require('http');

const VERSION = fs.readFileSync('/app/VERSION', 'utf8').trim();
const NEVER_READY = VERSION.includes('never-ready');
const page = fs.readFileSync('/app/public/index.html', 'utf8')
  .replace('</body>', `<script>window.API_URL=${JSON.stringify(process.env.NEXT_PUBLIC_API_URL || '/api/v1')}</script></body>`);

function send(res, status, text, type) {
  const headers = { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) };
  if (stopping) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

server = http.createServer((req, res) => {
  req.resume();
  const path = req.url.split('?')[0];
  if (NEVER_READY) return send(res, 503, 'never-ready test build', 'text/plain');
  if (req.method === 'GET' && !path.startsWith('/api/')) return send(res, 200, page, 'text/html; charset=utf-8');
  return send(res, 404, 'not found', 'text/plain');
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT || 3000), '0.0.0.0', () => {
  console.log(`propflow dashboard ready on ${server.address().port} (version ${VERSION})`);
});
