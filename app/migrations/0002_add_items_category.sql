-- Version 2: a column with a default (existing rows get it without a table rewrite).
ALTER TABLE items ADD COLUMN IF NOT EXISTS category text NOT NULL DEFAULT 'general';
CREATE INDEX IF NOT EXISTS items_category_idx ON items (category);
