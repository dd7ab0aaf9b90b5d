'use strict';
// `npm run migrate`: applies migrations/NNN_name.sql not yet in household_migrations, in order, each in
// its own transaction, under an advisory lock. Exits 1 naming the failed file with the database's error.
const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

(async () => {
  if (!process.env.DATABASE_URL) throw new Error('DATABASE_URL is not set');
  const dir = path.join(__dirname, '..', 'migrations');
  const files = fs.readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const db = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 30000 });
  await db.connect();
  try {
    await db.query('SELECT pg_advisory_lock(4867)');
    await db.query('CREATE TABLE IF NOT EXISTS household_migrations (name text PRIMARY KEY, run_on timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await db.query('SELECT name FROM household_migrations')).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      try {
        await db.query('BEGIN');
        await db.query(fs.readFileSync(path.join(dir, file), 'utf8'));
        await db.query('INSERT INTO household_migrations (name) VALUES ($1)', [file]);
        await db.query('COMMIT');
        console.log(`migrated ${file}`);
      } catch (err) {
        await db.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${file} failed: ${err.message}`);
      }
    }
    console.log(`migrations complete (${files.length} files)`);
  } finally {
    await db.end().catch(() => {});
  }
})().catch((err) => { console.error(err.message); process.exit(1); });
