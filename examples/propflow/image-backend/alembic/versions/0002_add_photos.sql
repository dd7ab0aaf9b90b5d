-- since: 2
CREATE TABLE photos (
  id serial PRIMARY KEY,
  property_id integer NOT NULL REFERENCES properties (id),
  s3_key text NOT NULL
);
