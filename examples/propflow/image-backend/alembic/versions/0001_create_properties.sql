CREATE TABLE properties (
  id serial PRIMARY KEY,
  address text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE valuations (
  id serial PRIMARY KEY,
  property_id integer NOT NULL REFERENCES properties (id),
  status text NOT NULL DEFAULT 'pending',
  value_cents bigint,
  processed_by text,
  worker_version text,
  created_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz
);
CREATE TABLE beat_ticks (
  id bigserial PRIMARY KEY,
  host text NOT NULL,
  version text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
