'use strict';
// PropFlow valuer dashboard stand-in (Next.js-shaped): every GET path but /api/* renders the dashboard
// page (the guide's frontend health check is `GET /`). Environment: NEXT_PUBLIC_API_URL, PORT (3000).
const standin = require('./standin'); // first: it installs the SIGTERM handler
const fs = require('fs');

const page = fs.readFileSync('/app/public/index.html', 'utf8')
  .replace('</body>', `<script>window.API_URL=${JSON.stringify(process.env.NEXT_PUBLIC_API_URL || '/api/v1')}</script></body>`);

standin.serve('propflow dashboard ready on', (req, res) => {
  req.resume();
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && !path.startsWith('/api/')) return standin.send(res, 200, page, 'text/html; charset=utf-8');
  return standin.send(res, 404, 'not found', 'text/plain');
}, { unready: ['never-ready test build', 'text/plain'] });
