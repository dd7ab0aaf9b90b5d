-- since: 2
CREATE TABLE household_members (
  household_id integer NOT NULL REFERENCES households (id),
  user_id text NOT NULL,
  role text NOT NULL DEFAULT 'member',
  PRIMARY KEY (household_id, user_id)
);
