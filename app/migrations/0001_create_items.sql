-- Version 1: the items table the reference application lists and inserts into.
CREATE TABLE IF NOT EXISTS items (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
