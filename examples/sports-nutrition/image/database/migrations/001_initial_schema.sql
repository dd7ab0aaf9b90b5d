CREATE TABLE athletes (
  id serial PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE foods (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  kcal_per_100g integer NOT NULL
);
INSERT INTO foods (name, kcal_per_100g) VALUES ('oats', 389), ('banana', 89), ('chicken breast', 165);
