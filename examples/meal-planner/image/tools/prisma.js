#!/usr/bin/env node
'use strict';
// Minimal stand-in for `prisma migrate deploy`: applies prisma/migrations/<name>/migration.sql not yet
// recorded in _prisma_migrations, in name order, each in its own transaction, under an advisory lock;
// prints what it applied; exits 1 naming the failed migration with the database's error.
const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

async function main() {
  const args = process.argv.slice(2).join(' ');
  if (args !== 'migrate deploy') {
    console.error(`prisma stand-in: only "prisma migrate deploy" is supported (got "${args}")`);
    return 2;
  }
  if (!process.env.DATABASE_URL) {
    console.error('Error: Environment variable not found: DATABASE_URL.');
    return 1;
  }
  const dir = path.join(process.cwd(), 'prisma', 'migrations');
  const names = fs.readdirSync(dir).filter((n) => fs.existsSync(path.join(dir, n, 'migration.sql'))).sort();
  console.log(`Prisma schema loaded from prisma/schema.prisma\n${names.length} migrations found in prisma/migrations`);
  const db = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 30000 });
  await db.connect();
  try {
    await db.query('SELECT pg_advisory_lock(72707369)');
    await db.query(`CREATE TABLE IF NOT EXISTS _prisma_migrations (
      id text PRIMARY KEY, migration_name text NOT NULL UNIQUE, checksum text NOT NULL,
      finished_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)`);
    const done = new Set((await db.query('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL')).rows
      .map((r) => r.migration_name));
    const applied = [];
    for (const name of names) {
      if (done.has(name)) continue;
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      const checksum = require('crypto').createHash('sha256').update(sql).digest('hex');
      try {
        await db.query('BEGIN');
        await db.query(sql);
        await db.query(`INSERT INTO _prisma_migrations (id, migration_name, checksum, finished_at, applied_steps_count)
          VALUES ($1, $1, $2, now(), 1)`, [name, checksum]);
        await db.query('COMMIT');
      } catch (err) {
        await db.query('ROLLBACK').catch(() => {});
        console.error(`Error: P3018\n\nA migration failed to apply. New migrations cannot be applied before the error is recovered from.\n\nMigration name: ${name}\n\nDatabase error: ${err.message}`);
        return 1;
      }
      applied.push(name);
    }
    console.log(applied.length ? `The following migration(s) have been applied:\n${applied.map((n) => `  ${n}`).join('\n')}`
      : 'No pending migrations to apply.');
    console.log('All migrations have been successfully applied.');
    return 0;
  } finally {
    await db.end().catch(() => {});
  }
}
main().then((code) => process.exit(code), (err) => { console.error(`Error: ${err.message}`); process.exit(1); });
