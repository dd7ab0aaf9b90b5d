-- since: 2
CREATE TABLE stores (
  id serial PRIMARY KEY,
  name text NOT NULL
);
CREATE TABLE prices (
  food_id integer NOT NULL REFERENCES foods (id),
  store_id integer NOT NULL REFERENCES stores (id),
  price_cents integer NOT NULL,
  PRIMARY KEY (food_id, store_id)
);
