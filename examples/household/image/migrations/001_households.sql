CREATE TABLE households (
  id serial PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE invites (
  id serial PRIMARY KEY,
  email text NOT NULL,
  status text NOT NULL DEFAULT 'queued',
  sent_by text,
  sent_by_version text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
