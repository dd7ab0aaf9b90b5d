'use strict';
// Household background jobs stand-in (no port): takes the jobs the API queued in Redis list
// `household:jobs` and "sends" each invite (marks it sent, by this host and version). SIGTERM: finishes
// the job in hand, then exits.
const os = require('os');
const lib = require('./lib');

lib.requireEnv(['DATABASE_URL', 'REDIS_URL']);
const QUEUE = 'household:jobs';
let running = true;
let idle = null;
const stopped = new Promise((resolve) => { idle = resolve; });
lib.onStop(() => { running = false; return stopped; });

(async () => {
  const queue = lib.redisClient();
  console.log(`household jobs started (version ${lib.VERSION})`);
  while (running) {
    let item = null;
    try {
      item = await queue.brPop(QUEUE, 1);
    } catch (err) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (!item) continue;
    const job = JSON.parse(item.element);
    try {
      await lib.db().query("UPDATE invites SET status = 'sent', sent_by = $2, sent_by_version = $3, sent_at = now() WHERE id = $1",
        [job.id, os.hostname(), lib.VERSION]);
      console.log(`sent invite ${job.id}`);
    } catch (err) {
      console.error(`invite ${job.id}: ${err.message}; requeued`);
      await queue.rPush(QUEUE, item.element).catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  await queue.quit().catch(() => {});
  idle();
})();
