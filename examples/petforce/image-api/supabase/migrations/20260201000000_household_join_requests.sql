-- since: 2
CREATE TABLE household_join_requests (
  id bigserial PRIMARY KEY,
  household_id bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  status text NOT NULL DEFAULT 'pending'
);
ALTER TABLE household_join_requests ENABLE ROW LEVEL SECURITY;
