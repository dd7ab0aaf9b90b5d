CREATE TABLE households (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  invite_code text NOT NULL DEFAULT substr(md5(random()::text), 1, 8),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE household_members (
  household_id bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  role text NOT NULL DEFAULT 'member',
  PRIMARY KEY (household_id, user_id)
);
ALTER TABLE households ENABLE ROW LEVEL SECURITY;
ALTER TABLE household_members ENABLE ROW LEVEL SECURITY;
