'use strict';
// Household background jobs stand-in (no port): takes the jobs the API queued in Redis list
// `household:jobs` and "sends" each invite (marks it sent, by this host and version). SIGTERM: finishes
// the job in hand, then exits.
const standin = require('./standin'); // first: it installs the SIGTERM handler
const os = require('os');

standin.requireEnv(['DATABASE_URL', 'REDIS_URL']);
const QUEUE = 'household:jobs';
let running = true;
let idle = null;
const stopped = new Promise((resolve) => { idle = resolve; });
standin.onStop(() => { running = false; return stopped; });

(async () => {
  const queue = standin.redisClient();
  console.log(`household jobs started (version ${standin.VERSION})`);
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
      await standin.db().query("UPDATE invites SET status = 'sent', sent_by = $2, sent_by_version = $3, sent_at = now() WHERE id = $1",
        [job.id, os.hostname(), standin.VERSION]);
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
